"""Why a link will not deliver, decided once and worded once.

The rule (``check``) is shared by the DynamoDB store, which applies it after a
failed conditional write to say *why*, and by the in-memory store of the unit
tests.  Its sentences are the JSON ``message``; the pages reuse the headings.
"""

from __future__ import annotations

import hmac

from chalicelib.errors import (
    ConflictError,
    LinkExpiredError,
    LinkNotFoundError,
    LinkRevokedError,
    LinkUsedUpError,
)
from chalicelib.link import Link

ASK_SENDER = "Ask the sender for a new one."
NOT_FOUND = "This link does not exist. Check it was copied whole, or ask the sender for a new one."
USED = "This link has already been used"
EXPIRED = "This link has expired"
REVOKED = "This link was withdrawn"
FILE_CHANGED = "This file is no longer available"
NOT_GRANTED = "You have no purchase that includes this file. Contact the shop if you think you do."


def times(uses: int) -> str:
    return "once" if uses == 1 else f"{uses} times"


def check(link: Link | None, digest: str, now: float) -> Link:
    """The link, if a redemption could take a use now; otherwise raise why not.

    Order matters: a withdrawn link says so even when it is also used up or expired.
    """
    if link is None or not hmac.compare_digest(link.token_digest, digest):
        raise LinkNotFoundError(NOT_FOUND)
    if link.revoked_at is not None:
        raise LinkRevokedError(f"{REVOKED} by its sender. Ask them for a new one.", link.revoked_at)
    if link.uses >= link.max_uses:
        raise LinkUsedUpError(
            f"{USED} ({times(link.uses)}). {ASK_SENDER}", link.uses, link.last_used_at
        )
    if link.expires_at <= now:
        raise LinkExpiredError(f"{EXPIRED}. {ASK_SENDER}", link.expires_at)
    return link


def unchangeable(link: Link) -> ConflictError:
    """Why an operator's change to this link was refused (by the write's condition)."""
    if link.revoked_at is not None:
        return ConflictError(
            "The link was withdrawn; more time or uses would not bring it back. "
            "Mint a new link instead."
        )
    return ConflictError(
        f"The link has already been used {link.uses} time(s); the limit cannot go below that."
    )
