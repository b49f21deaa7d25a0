"""The link record: what was minted, and what has happened to it since."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.delivery import Delivery, choose
from chalicelib.settings import DEFAULT_STREAM_MAX_BYTES


@dataclass(frozen=True)
class StoredObject:
    """The S3 object a link delivers, as it was when the link was minted."""

    key: str
    size: int
    content_type: str
    etag: str
    version_id: str | None = None
    # x-amz-meta-owner: the buyer (JWT subject) who may always link their own file.
    # Read at mint time only; not stored with the link.
    owner: str | None = None


@dataclass(frozen=True)
class Use:
    """One redemption, recorded by the same write that claimed it."""

    at: float
    client_ip: str
    user_agent: str
    # Whether the client could take a streamed body, and the stream limit in force
    # then: with the link's size and type they say how the file went out.
    binary: bool
    stream_max_bytes: int | None = None  # not recorded by claims made before it was


@dataclass(frozen=True)
class Claim:
    """One redemption attempt.  Its id makes the claim's write recognisable and undoable;
    the store records it as a ``Use`` in the same write."""

    claim_id: str
    at: float
    client_ip: str = ""
    user_agent: str = ""
    binary: bool = False
    stream_max_bytes: int | None = None


@dataclass(frozen=True)
class Link:
    link_id: str
    token_digest: str
    object: StoredObject
    filename: str
    max_uses: int
    uses: int
    created_at: float
    expires_at: int
    confirm: bool
    revoked_at: float | None = None
    note: str = ""
    uses_log: tuple[Use, ...] = ()

    @property
    def last_used_at(self) -> float | None:
        """Derived from the audit records, so a use given back is forgotten with them."""
        return max((use.at for use in self.uses_log), default=None)

    def delivery_of(self, use: Use) -> Delivery:
        """How a recorded use went out, by the rule and the limit in force at the time."""
        limit = use.stream_max_bytes
        return choose(
            use.binary,
            self.object.size,
            self.object.content_type,
            DEFAULT_STREAM_MAX_BYTES if limit is None else limit,
        )

    @property
    def remaining(self) -> int:
        return max(self.max_uses - self.uses, 0)

    def status(self, now: float) -> str:
        """``revoked``, ``used``, ``expired`` or ``active``: the first that applies."""
        if self.revoked_at is not None:
            return "revoked"
        if self.uses >= self.max_uses:
            return "used"
        if self.expires_at <= now:
            return "expired"
        return "active"
