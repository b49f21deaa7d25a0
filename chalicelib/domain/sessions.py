"""Download sessions: the credential a redemption hands the client that redeemed, so
that client can get the file again (a broken, cancelled or repeated download) without
spending another use, for ``ONETIME_SESSION_SECONDS`` and up to ``REDELIVERY_CAP`` times.

The client holds ``<claim id>.<secret>`` (a cookie, and the same value in a response
header for clients without a cookie jar); the link's item keeps only the secret's SHA-256
with the claim.  A session belongs to one redemption of one link: another link's
credential, a forged one, or one past its window is no session at all.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

COOKIE_PREFIX = "onetime_"
HEADER = "X-Download-Session"
_VALUE = re.compile(r"([0-9a-f]{16})\.([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class SessionKey:
    claim_id: str
    secret: str

    @classmethod
    def new(cls, claim_id: str) -> SessionKey:
        return cls(claim_id, secrets.token_urlsafe(32))

    @classmethod
    def parse(cls, value: str | None) -> SessionKey | None:
        """The key in a cookie or header value, or None if it is not the shape of one."""
        found = _VALUE.fullmatch(value or "")
        return cls(found.group(1), found.group(2)) if found else None

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.secret.encode("ascii")).hexdigest()

    @property
    def value(self) -> str:
        return f"{self.claim_id}.{self.secret}"


def cookie_name(link_id: str) -> str:
    """One cookie per link, so a customer with several links keeps each session."""
    return COOKIE_PREFIX + link_id
