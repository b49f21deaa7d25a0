"""The link record: what was minted, and what has happened to it since."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StoredObject:
    """The S3 object a link delivers, as it was when the link was minted."""

    key: str
    size: int
    content_type: str
    etag: str
    version_id: str | None = None


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
    last_used_at: float | None = None

    @property
    def remaining(self) -> int:
        return max(self.max_uses - self.uses, 0)
