"""API keys for the people and services that mint links."""

from __future__ import annotations

import hashlib
import hmac

from chalicelib.domain.errors import UnauthorizedError


class ApiKeys:
    """Checks a bearer key against configured SHA-256 digests, in constant time."""

    def __init__(self, digests: tuple[str, ...]) -> None:
        self._digests = tuple(bytes.fromhex(d) for d in digests)

    def verify(self, authorization: str | None) -> None:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise UnauthorizedError("Send the API key as 'Authorization: Bearer <key>'.")
        presented = hashlib.sha256(key.strip().encode("utf-8", "surrogatepass")).digest()
        # Compare against every digest, never stopping early, so timing says nothing.
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(presented, digest)
        if not matched:
            raise UnauthorizedError("The API key is not valid.")
