"""What counts as unusable text in anything a caller sends: one rule for every field."""

from __future__ import annotations

import unicodedata


def has_control_characters(value: str, allowed: str = "") -> bool:
    """Control characters (category Cc, e.g. NUL, CR, LF) or lone surrogates (Cs).

    Control characters could split headers or log lines; lone surrogates cannot be
    encoded as UTF-8, so DynamoDB, SES and HTTP headers would all refuse them later,
    after something had been done.  ``allowed`` lists controls a field may keep
    (a note's newlines).
    """
    return any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed for ch in value)
