"""Which S3 keys a link may point at."""

from __future__ import annotations

from chalicelib.domain.errors import InvalidRequestError
from chalicelib.domain.text import has_control_characters

MAX_KEY_BYTES = 1024  # S3's own limit on a key's UTF-8 length


def check_length(key: str) -> None:
    """A key no longer than S3 allows (also what a listing by file may ask DynamoDB for:
    an index key over 2,048 bytes is a ValidationException there, not an empty page)."""
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidRequestError("invalid_file", "The file key is longer than S3 allows.")


def validate_key(key: str | None, prefix: str) -> str:
    if not key:
        raise InvalidRequestError("invalid_file", "Say which file to link with ?file=KEY.")
    check_length(key)
    if has_control_characters(key):
        raise InvalidRequestError("invalid_file", "The file key contains control characters.")
    if key.startswith("/"):
        raise InvalidRequestError("invalid_file", "The file key must not start with '/'.")
    # S3 keys are flat strings, but a key with '..' segments is nearly always an
    # attempt to escape the configured prefix; backslashes count as separators
    # because some clients and proxies translate them.
    if any(part in ("..", ".") for part in key.replace("\\", "/").split("/")):
        raise InvalidRequestError(
            "invalid_file", "The file key must not contain '.' or '..' segments."
        )
    if not key.startswith(prefix):
        raise InvalidRequestError("invalid_file", f"Only files under {prefix!r} can be linked.")
    return key
