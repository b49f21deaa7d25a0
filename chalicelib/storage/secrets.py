"""Secrets from SSM Parameter Store, each read by the first request that needs it, never at
start-up: the key of recipient checks (one ``GetParameter`` per container, made by a
recipient check) and the notifications' webhook secret."""

from __future__ import annotations

import hashlib

from chalicelib.logs import get_logger
from chalicelib.storage.failures import Failure, translated

log = get_logger("secrets")


def read_secret(name: str) -> bytes:
    """A 256-bit key from the SecureString ``name`` (whatever its length or encoding)."""
    # Nothing has been spent yet when this fails: the check is computed before the claim.
    return key_from(read_parameter(name, "The service cannot check answers just now; try again."))


def read_parameter(name: str, unavailable: str) -> str:
    """The SecureString ``name``, decrypted; ``UnavailableError(unavailable)`` if SSM
    does not give it."""
    from chalicelib.storage.clients import ssm_client

    with translated(unavailable, _logged):
        response = ssm_client().get_parameter(Name=name, WithDecryption=True)
    return response["Parameter"]["Value"]


def _logged(failure: Failure) -> None:
    log.error("secret parameter unreadable", extra={"error": failure.name})


def key_from(value: str) -> bytes:
    """A 256-bit key from the parameter's value, whatever its length or encoding."""
    return hashlib.sha256(b"onetime recipient check\0" + value.encode()).digest()
