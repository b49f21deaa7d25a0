"""Recipient checks: the answer a person types before a press of Download counts (the
address a link was emailed to, or a code passed on by another channel), kept only as a
keyed digest.

The digest is HMAC-SHA256 over the link id and the normalised answer, with a deployment
secret: a copy of the table reveals neither an address's presence nor a six-digit code
(which a plain hash would give away in a million tries).  The secret is a SecureString in
SSM Parameter Store (``ONETIME_SECRET_PARAMETER``), read once per container and only when a
check is made or minted; without that setting it is derived from the API key digests
(``chalicelib.domain.signing``), which works but ties every outstanding check to today's keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Callable

CODE_DIGITS = 6
ANSWER_LABEL = "onetime recipient check"  # the key derived without a parameter


def normalised(answer: str) -> str:
    """One form for what people type: no spaces anywhere, case folded (addresses are
    compared case-insensitively in practice), and a code's dashes dropped (``482-913``)."""
    text = "".join(unicodedata.normalize("NFKC", answer).split()).casefold()
    if text and set(text) <= set("0123456789-"):
        text = text.replace("-", "")
    return text


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


class Answers:
    def __init__(self, key: Callable[[], bytes]) -> None:
        # A provider: the secret is fetched on the first check, not at start-up.
        self._key = key

    def digest(self, link_id: str, answer: str) -> str:
        message = f"{link_id}\0{normalised(answer)}".encode()
        return hmac.new(self._key(), message, hashlib.sha256).hexdigest()
