"""The file request record: an upload link a person fills in with a file, and the
files it has received.

A file request is a token of the same kind as a download link (``chalicelib.domain.tokens``):
random, stored only as its SHA-256, its first 16 characters the public request id.
Each file that arrives is confirmed by one conditional write that takes one of the
request's ``max_files`` and records the upload under its form's nonce, so the same
upload confirmed twice is recognised and refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

# The tag an upload carries from its form until the service confirms it.  The bucket's
# lifecycle rule removes objects still tagged ``pending``: uploads nobody confirmed.
UPLOAD_TAG = "onetime-upload"
PENDING = "pending"
CONFIRMED = "confirmed"


@dataclass(frozen=True)
class Receipt:
    """One confirmed upload, recorded by the write that confirmed it."""

    nonce: str  # the upload form's fresh key segment: names this upload
    at: float
    key: str
    size: int
    content_type: str
    filename: str
    link_id: str  # the download link minted for it


class OpenUpload(NamedTuple):
    """A multipart upload started through the request (issue 25), recorded so that the
    request can cap how many are open at once and abort them when it is withdrawn."""

    nonce: str  # the key segment, as a receipt's: the same upload once received
    key: str
    upload_id: str
    at: float


# S3's lifecycle rule aborts a multipart upload a day after it started (infra/resources.yaml):
# an older one is over, whatever its record says.
OPEN_UPLOAD_SECONDS = 86_400


@dataclass(frozen=True)
class FileRequest:
    request_id: str
    token_digest: str
    created_at: float
    expires_at: int
    max_files: int
    max_bytes: int
    content_types: tuple[str, ...] = ()  # empty: any type
    note: str = ""
    # Who gets each download link: the uploader's confirmation page, and/or this address.
    show_link: bool = True
    notify: str | None = None
    link_uses: int = 1
    link_ttl: int = 86_400
    files: int = 0
    revoked_at: float | None = None
    receipts: tuple[Receipt, ...] = ()
    uploads: tuple[OpenUpload, ...] = ()  # multipart uploads started, received or not
    # A bundling request (issue 25) mints, besides each file's link, one link to every
    # file received, once: when it is filled or closed.  ``bundle_link`` names that link.
    bundle: bool = False
    bundle_link: str | None = None

    def open_uploads(self, now: float) -> tuple[OpenUpload, ...]:
        """The multipart uploads that may still be under way: not received, not over."""
        received = {r.nonce for r in self.receipts}
        return tuple(
            u for u in self.uploads if u.nonce not in received and u.at > now - OPEN_UPLOAD_SECONDS
        )

    @property
    def remaining(self) -> int:
        return max(self.max_files - self.files, 0)

    def accepts_type(self, content_type: str) -> bool:
        return not self.content_types or content_type.lower() in self.content_types

    def status(self, now: float) -> str:
        """``revoked``, ``used``, ``expired`` or ``active``: the first that applies."""
        if self.revoked_at is not None:
            return "revoked"
        if self.files >= self.max_files:
            return "used"
        if self.expires_at <= now:
            return "expired"
        return "active"
