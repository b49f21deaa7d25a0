"""Link tokens: a public link id followed by a secret.

A token is 16 lowercase base32 characters of link id (80 bits, public: it
names the link to operators and never grants a download) followed by 43
base64url characters of secret (256 bits).  Only the token's SHA-256 is
stored, so a copy of the table cannot be turned back into working links.

The link id's first character hints at the link's kind: a digit (2-7) for links that
redeem on GET (``confirm=false``), a letter for links that wait for a person.  A GET then
knows which single conditional write to try (record a visit, or claim a use); the stored
``confirm`` flag stays the authority, so a wrong hint (a token minted before hints) costs
one more request, never a wrong answer.

The secret's last character says whether the link is a bundle (several files), exactly:
43 base64url characters carry 258 bits, and a 256-bit secret leaves the last character's
two low bits zero, so every token minted before bundles ends in one of 16 characters.  A
bundle's token sets the lowest bit (255 random bits remain).  Its claim then asks for the
file list in the same single write, and a single file's claim stays what it was.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass

from chalicelib.domain.errors import InvalidRequestError

ID_LENGTH = 16
SECRET_LENGTH = 43
_TOKEN = re.compile(r"[a-z2-7]{16}[A-Za-z0-9_-]{43}")
_LINK_ID = re.compile(r"[a-z2-7]{16}")


_DIRECT_FIRST = "234567"
_CONFIRM_FIRST = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Token:
    value: str

    @property
    def link_id(self) -> str:
        return self.value[:ID_LENGTH]

    @property
    def hints_confirm(self) -> bool:
        """Probably a link that waits for a person (see the module docstring)."""
        return self.value[0] not in _DIRECT_FIRST

    @property
    def hints_bundle(self) -> bool:
        """A bundle's token (see the module docstring): exact, not a guess."""
        return _B64.index(self.value[-1]) & 3 != 0

    @property
    def digest(self) -> str:
        return token_digest(self.value)


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def new_token(confirm: bool = True, *, bundle: bool = False) -> Token:
    link_id = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()
    first = secrets.choice(_CONFIRM_FIRST if confirm else _DIRECT_FIRST)
    secret = secrets.token_urlsafe(32)
    if bundle:
        secret = secret[:-1] + _B64[_B64.index(secret[-1]) | 1]
    return Token(first + link_id[1:] + secret)


# A link pasted into a sentence picks up what follows it: "see <URL>." or "(URL)".  These
# characters are outside the token's alphabet, so dropping them never changes a token.
_TRAILING = ".,)>]'\";:!?"


def parse_token(value: str | None) -> Token:
    if value:
        value = value.rstrip(_TRAILING)
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
