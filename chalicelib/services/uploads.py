"""Uploads: a presigned S3 POST for a file that is not in the bucket yet."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from chalicelib.clock import Clock
from chalicelib.domain.errors import InvalidRequestError
from chalicelib.domain.filenames import validate_filename
from chalicelib.logs import annotate
from chalicelib.storage.stores import ObjectStore

UPLOAD_LIFETIME = 600  # seconds a presigned upload form stays valid
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


@dataclass(frozen=True)
class UploadRequest:
    """What the caller will upload.  Its fields are the JSON API's upload fields."""

    filename: str
    size: int
    content_type: str = "application/octet-stream"

    def __post_init__(self) -> None:
        validate_filename(self.filename)
        if any(sep in self.filename for sep in "/\\") or self.filename.strip(".") == "":
            raise InvalidRequestError(
                "invalid_filename", "filename must be a plain file name, not a path."
            )
        if not _MEDIA_TYPE.match(self.content_type.lower()):
            raise InvalidRequestError(
                "invalid_content_type", "content_type must look like application/pdf."
            )


@dataclass(frozen=True)
class Upload:
    key: str
    url: str
    fields: dict[str, str]
    expires_at: int


@dataclass(kw_only=True, eq=False, repr=False)
class Uploading:
    objects: ObjectStore
    clock: Clock
    upload_prefix: str
    max_upload_bytes: int

    def start(self, request: UploadRequest) -> Upload:
        """A presigned POST that lets the caller put one file of the declared size
        under the upload prefix, for a fresh key; mint a link to ``key`` afterwards."""
        if not 1 <= request.size <= self.max_upload_bytes:
            raise InvalidRequestError(
                "invalid_size", f"size must be between 1 and {self.max_upload_bytes} bytes."
            )
        key = f"{self.upload_prefix}{secrets.token_hex(8)}/{request.filename}"
        post = self.objects.presign_upload(
            key, request.content_type.lower(), request.size, UPLOAD_LIFETIME
        )
        annotate(outcome="upload_started")
        return Upload(
            key=key,
            url=post["url"],
            fields=dict(post["fields"]),
            expires_at=int(self.clock()) + UPLOAD_LIFETIME,
        )
