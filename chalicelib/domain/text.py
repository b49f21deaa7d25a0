"""What counts as unusable text in anything a caller sends: one rule for every field,
and one way to keep text that must be stored as sent (a User-Agent) harmless."""

from __future__ import annotations

import re
import unicodedata

# Control characters (Cc: NUL, CR, LF, ESC ...) could split headers or log lines, or drive
# an operator's terminal; lone surrogates (Cs) cannot be encoded as UTF-8, so DynamoDB, SES
# and HTTP headers would refuse them later, after something had been done; the Unicode line
# and paragraph separators (Zl, Zp) end a line for JavaScript, email headers and many
# terminals, so they count as line breaks.
_UNUSABLE = frozenset({"Cc", "Cs", "Zl", "Zp"})
_LINE_BREAKS = "\n\u2028\u2029"
# Deliberately plain: one local part, one domain with a dot, no spaces, commas or
# angle brackets (so no "Name <addr>", no lists, no header tricks).
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def has_control_characters(value: str, allowed: str = "") -> bool:
    """Control characters, lone surrogates or line separators.

    ``allowed`` lists controls a field may keep (a note's ``\\n`` and ``\\t``); a field
    that may break lines keeps the Unicode line separators too.
    """
    if "\n" in allowed:
        allowed += _LINE_BREAKS
    return any(unicodedata.category(ch) in _UNUSABLE and ch not in allowed for ch in value)


def is_email_address(value: str) -> bool:
    """One plain address (``customer@example.com``): what may go in a To or Reply-To header.

    ``fullmatch``, not ``match`` with ``$``: ``$`` also matches before a final newline."""
    return len(value) <= 254 and _ADDRESS.fullmatch(value) is not None


def has_format_characters(value: str) -> bool:
    """Invisible format characters (Cf: bidi marks and overrides such as U+061C and U+202E,
    zero-width spaces and joiners): they make a name display as something it is not."""
    return any(unicodedata.category(ch) == "Cf" for ch in value)


def printable(value: str) -> str:
    """``value`` with every unusable or invisible character written as a visible escape
    (``\\x1b``, ``\\u202e``), for text kept as a client sent it, such as a User-Agent."""
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch) in _UNUSABLE or unicodedata.category(ch) == "Cf"
        else ch
        for ch in value
    )


def human_size(size: int) -> str:
    """``10.0 KiB``, ``5.0 MiB``: 1024-based, as the CLI shows the same file (pages, emails
    and the CLI all say one thing for one size)."""
    if size < 1024:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")
