"""The name a customer's download is saved under, and its Content-Disposition."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from chalicelib.domain.errors import InvalidRequestError
from chalicelib.domain.text import has_control_characters, has_format_characters

MAX_FILENAME_LENGTH = 255


def default_filename(key: str) -> str:
    return key.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or "download"


def validate_filename(name: str) -> str:
    if not name.strip(" ."):
        # "", "." and ".." are no file name at all (and the last two name folders).
        raise InvalidRequestError("invalid_filename", "The file name is empty.")
    if len(name) > MAX_FILENAME_LENGTH:
        raise InvalidRequestError(
            "invalid_filename", f"The file name is longer than {MAX_FILENAME_LENGTH} characters."
        )
    # Bidirectional overrides make "invoice\u202efdp.exe" display as "invoiceexe.pdf";
    # zero-width characters hide in a name the same way.
    if has_control_characters(name) or has_format_characters(name):
        raise InvalidRequestError(
            "invalid_filename", "The file name contains control or direction characters."
        )
    return name


def ascii_fallback(name: str) -> str:
    """A plain-ASCII stand-in for clients that ignore ``filename*``."""
    decomposed = unicodedata.normalize("NFKD", name)
    chars = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue  # "é" becomes "e" rather than "_"
        # Quotes, backslashes and slashes would need escaping or be path separators;
        # '%' and ';' confuse some parsers.  filename* carries the exact name.
        if " " <= ch <= "~" and ch not in '"\\%;/':
            chars.append(ch)
        else:
            chars.append("_")
    return "".join(chars).strip() or "download"


def content_disposition(name: str) -> str:
    """``attachment`` with both an ASCII ``filename`` and RFC 5987 ``filename*``."""
    return (
        f"attachment; filename=\"{ascii_fallback(name)}\"; filename*=UTF-8''{quote(name, safe='')}"
    )
