"""The deployment's secret, from SSM Parameter Store: one ``GetParameter`` per container,
made by the first request that needs it (a recipient check), never at start-up."""

from __future__ import annotations

import hashlib

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import UnavailableError
from chalicelib.logs import get_logger

log = get_logger("secrets")


def read_secret(name: str) -> bytes:
    """A 256-bit key from the SecureString ``name`` (whatever its length or encoding)."""
    from chalicelib.storage.clients import ssm_client

    try:
        response = ssm_client().get_parameter(Name=name, WithDecryption=True)
    except (ClientError, BotoCoreError) as exc:
        # Nothing has been spent yet: the check is computed before the claim.
        log.error("secret parameter unreadable", extra={"error": type(exc).__name__})
        raise UnavailableError("The service cannot check answers just now; try again.") from exc
    value: str = response["Parameter"]["Value"]
    return key_from(value)


def key_from(value: str) -> bytes:
    """A 256-bit key from the parameter's value, whatever its length or encoding."""
    return hashlib.sha256(b"onetime recipient check\0" + value.encode()).digest()
