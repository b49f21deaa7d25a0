"""Uploads: a presigned S3 POST for a file that is not in the bucket yet, or, above the
multipart threshold, a multipart upload whose parts are signed in batches as the client
needs them.

``Multipart`` holds the steps operators' uploads and file requests share: start, sign
parts, list what S3 holds (to resume), complete.  No step keeps a record: the signed
ticket (``chalicelib.domain.multipart``) names the upload, its size and its part size.
AWS calls: start 1 (``CreateMultipartUpload``), signing 0, listing 1 per 1,000 parts,
completing 1 ``ListParts`` per 1,000 parts and 1 ``CompleteMultipartUpload`` (and an
``AbortMultipartUpload`` when what S3 holds is over the limit; a ``HeadObject`` when
another client completed the same upload first).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import NamedTuple

from chalicelib.clock import Clock
from chalicelib.domain.errors import ConflictError, InvalidRequestError, ObjectNotFoundError
from chalicelib.domain.filenames import validate_filename
from chalicelib.domain.multipart import (
    PART_URL_LIFETIME,
    HeldPart,
    Plan,
    Ticket,
    TicketSigner,
    UploadGoneError,
    part_numbers,
    plan,
)
from chalicelib.domain.refusals import over_declared, too_large
from chalicelib.logs import annotate, get_logger
from chalicelib.settings import SINGLE_POST_LIMIT
from chalicelib.storage.stores import ObjectStore

log = get_logger("uploads")

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


class MultipartUpload(NamedTuple):
    """A multipart upload just started: its key, the ticket every later step takes, and
    how the file is cut."""

    key: str
    upload_id: str
    ticket: str
    plan: Plan


class SignedPart(NamedTuple):
    number: int
    size: int
    url: str


class SignedParts(NamedTuple):
    parts: tuple[SignedPart, ...]
    expires_at: int


@dataclass(frozen=True)
class PartsRequest:
    """A batch of part URLs.  Its fields are the JSON API's fields."""

    upload: str
    parts: list[int]


@dataclass(frozen=True)
class CompleteRequest:
    upload: str


@dataclass(kw_only=True, eq=False, repr=False)
class Multipart:
    """The multipart steps, for keys under ``prefix`` (each caller checks its own)."""

    objects: ObjectStore
    clock: Clock
    signer: TicketSigner
    part_bytes: int

    def start(
        self, key: str, size: int, content_type: str, tag: tuple[str, str] | None = None
    ) -> MultipartUpload:
        cut = plan(size, self.part_bytes)
        upload_id = self.objects.start_multipart(key, content_type, tag)
        ticket = Ticket(key, upload_id, size, cut.part_size)
        annotate(outcome="multipart_started", parts=cut.parts)
        return MultipartUpload(key, upload_id, self.signer.sign(ticket), cut)

    def ticket(self, value: object, prefix: str) -> Ticket:
        """The ticket, if it is this service's and names a key under ``prefix``."""
        ticket = self.signer.verify(value)
        if not ticket.key.startswith(prefix):
            raise InvalidRequestError(
                "invalid_upload", "This upload belongs to another upload link."
            )
        return ticket

    def sign(self, ticket: Ticket, numbers: object) -> SignedParts:
        """URLs for these parts, each for exactly its part's length.  Local: no AWS call."""
        cut = ticket.plan
        parts = tuple(
            SignedPart(
                number,
                cut.length(number),
                self.objects.presign_part(
                    ticket.key, ticket.upload_id, number, cut.length(number), PART_URL_LIFETIME
                ),
            )
            for number in part_numbers(numbers, cut)
        )
        return SignedParts(parts, int(self.clock()) + PART_URL_LIFETIME)

    def held(self, ticket: Ticket) -> list[HeldPart]:
        """The parts S3 holds for the upload (what a resumed upload need not send)."""
        return self.objects.list_parts(ticket.key, ticket.upload_id)

    def complete(self, ticket: Ticket, limit: int) -> int:
        """Join the parts into the object, if they are exactly the upload's; the object's
        size.  What S3 holds beyond ``limit`` or beyond the declared size is dropped (the
        role cannot delete an object, so this is checked before completing)."""
        try:
            held = self.held(ticket)
        except UploadGoneError:
            return self._completed_before(ticket)
        total = sum(part.size for part in held)
        if total > min(limit, ticket.size):
            self.objects.abort_multipart(ticket.key, ticket.upload_id)
            annotate(outcome="multipart_over_limit")
            # Over the link's limit, or only over the size this upload declared: each
            # refusal names the limit the file broke.
            raise too_large(total, limit) if total > limit else over_declared(total, ticket.size)
        cut = ticket.plan
        wanted = {n: cut.length(n) for n in range(1, cut.parts + 1)}
        missing = [n for n in wanted if n not in {p.number for p in held}]
        wrong = [p.number for p in held if wanted.get(p.number) != p.size]
        if missing or wrong:
            raise PartsMissingError(missing, wrong)
        try:
            self.objects.complete_multipart(ticket.key, ticket.upload_id, held)
        except UploadGoneError:
            return self._completed_before(ticket)
        annotate(outcome="multipart_completed", parts=len(held))
        return total

    def under_way(self, key: str, upload_id: str) -> bool:
        """Whether S3 still holds this upload open (neither completed nor aborted)."""
        try:
            self.objects.list_parts(key, upload_id)
        except UploadGoneError:
            return False
        return True

    def abort(self, key: str, upload_id: str) -> None:
        self.objects.abort_multipart(key, upload_id)

    def _completed_before(self, ticket: Ticket) -> int:
        # Another client (a second tab, a retry whose answer was lost) completed it: the
        # object is there, of the declared size; or the upload was given up.
        try:
            found = self.objects.describe(ticket.key)
        except ObjectNotFoundError:
            raise UploadGoneError(
                "This upload is over: it was given up, or more than a day old. "
                "Start the upload again."
            ) from None
        if found.size != ticket.size:
            raise UploadGoneError("This upload is over. Start the upload again.")
        return found.size


class PartsMissingError(ConflictError):
    """Completion asked before every part is in S3 at its size; nothing was changed."""

    code = "parts_missing"

    def __init__(self, missing: list[int], wrong: list[int]) -> None:
        shown = ", ".join(str(n) for n in (missing + wrong)[:20])
        super().__init__(
            f"Parts {shown} are not in storage at their size yet: send them, then complete."
        )
        self.missing = missing
        self.wrong = wrong


@dataclass(kw_only=True, eq=False, repr=False)
class Uploading:
    objects: ObjectStore
    clock: Clock
    upload_prefix: str
    max_upload_bytes: int
    multipart: Multipart | None = None
    multipart_threshold: int | None = None

    def begin(self, request: UploadRequest) -> Upload | MultipartUpload:
        """``start``, or above the multipart threshold a multipart upload; either way
        mint a link to its ``key`` once the file is in."""
        if self.multipart is None or request.size <= (self.multipart_threshold or 0):
            return self.start(request)
        self._check_size(request)
        key = f"{self.upload_prefix}{secrets.token_hex(8)}/{request.filename}"
        return self.multipart.start(key, request.size, request.content_type.lower())

    def start(self, request: UploadRequest) -> Upload:
        """A presigned POST that lets the caller put one file of the declared size
        under the upload prefix, for a fresh key; mint a link to ``key`` afterwards."""
        self._check_size(request)
        if request.size > SINGLE_POST_LIMIT:
            raise InvalidRequestError(
                "invalid_size", f"One upload form takes at most {SINGLE_POST_LIMIT} bytes."
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

    def _check_size(self, request: UploadRequest) -> None:
        if not 1 <= request.size <= self.max_upload_bytes:
            raise InvalidRequestError(
                "invalid_size", f"size must be between 1 and {self.max_upload_bytes} bytes."
            )

    def sign_parts(self, request: PartsRequest) -> SignedParts:
        multipart = self._required()
        return multipart.sign(multipart.ticket(request.upload, self.upload_prefix), request.parts)

    def held_parts(self, upload: str | None) -> tuple[Ticket, list[HeldPart]]:
        multipart = self._required()
        ticket = multipart.ticket(upload, self.upload_prefix)
        return ticket, multipart.held(ticket)

    def complete(self, request: CompleteRequest) -> tuple[str, int]:
        """Complete an upload: its key and size; mint a link to the key afterwards."""
        multipart = self._required()
        ticket = multipart.ticket(request.upload, self.upload_prefix)
        return ticket.key, multipart.complete(ticket, self.max_upload_bytes)

    def _required(self) -> Multipart:
        if self.multipart is None:
            raise InvalidRequestError("invalid_upload", "This service takes no multipart uploads.")
        return self.multipart
