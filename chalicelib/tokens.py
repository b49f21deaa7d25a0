"""Link tokens: a public link id followed by a secret.

A token is 16 lowercase base32 characters of link id (80 bits, public: it
names the link to operators and never grants a download) followed by 43
base64url characters of secret (256 bits).  Only the token's SHA-256 is
stored, so a copy of the table cannot be turned back into working links.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass

from chalicelib.errors import InvalidRequestError

ID_LENGTH = 16
SECRET_LENGTH = 43
_TOKEN = re.compile(r"[a-z2-7]{16}[A-Za-z0-9_-]{43}")
_LINK_ID = re.compile(r"[a-z2-7]{16}")


@dataclass(frozen=True)
class Token:
    value: str

    @property
    def link_id(self) -> str:
        return self.value[:ID_LENGTH]

    @property
    def digest(self) -> str:
        return token_digest(self.value)


def new_token() -> Token:
    link_id = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()
    return Token(link_id + secrets.token_urlsafe(32))


def parse_token(value: str | None) -> Token:
    if not value:
        raise InvalidRequestError("missing_token", "The link has no token in it.")
    # fullmatch: "$" would let a trailing newline through.
    if not _TOKEN.fullmatch(value):
        raise InvalidRequestError(
            "malformed_token", "The link is incomplete or damaged; check it was copied whole."
        )
    return Token(value)


def is_link_id(value: str) -> bool:
    return bool(_LINK_ID.fullmatch(value))


def token_digest(value: str) -> str:
    return hashlib.sha256(value.encode("ascii")).hexdigest()
