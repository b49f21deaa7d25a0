"""What the services need from storage: small protocols, so that the services run
unchanged on DynamoDB and S3 (``linkstore``, ``grantstore``, ``objectstore``) and,
in the unit tests, on in-memory fakes that pass the same contract suite."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.domain.filerequest import FileRequest, OpenUpload, Receipt
from chalicelib.domain.link import Changes, Claim, Link, Redelivery, StoredObject, Visit
from chalicelib.domain.multipart import HeldPart


@dataclass(frozen=True)
class Page:
    links: list[Link]
    cursor: str | None


# The newest links are listed day by day, newest day first: one index partition a day
# (``created_day``), so that a day's mints, and only they, share one partition's write
# rate.  One page reads at most this many days; its cursor then says where to go on.
DAYS_PER_PAGE = 62


def created_day(at: float) -> str:
    """The UTC day a link created at ``at`` is listed under: ``2026-12-07``."""
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Grant:
    subject: str
    file: str
    created_at: float


@dataclass(frozen=True)
class GrantPage:
    grants: list[Grant]
    cursor: str | None


@dataclass(frozen=True)
class UploadForm:
    """What a browser's upload form may send: any key under ``key_prefix`` (the file's own
    name is appended by S3), a body of 1 to ``max_bytes``, a content type that is exactly
    ``content_type`` or, when that is None, any; tagged as ``tag``; S3 then answers with
    a redirect to ``redirect`` or, when that is None, with status 201 (for a script)."""

    key_prefix: str
    max_bytes: int
    content_type: str | None
    tag: tuple[str, str]
    lifetime: int
    redirect: str | None = None


@dataclass(frozen=True)
class RequestPage:
    requests: list[FileRequest]
    cursor: str | None


@dataclass(frozen=True)
class ClaimOutcome:
    """What a claim did.  ``claimed`` is False only when the caller asked to spare links
    that wait for a person to confirm, and this one does: nothing was spent."""

    link: Link
    claimed: bool
    # The claim's id was already recorded by an earlier request: a landing page's form sent
    # again (a reload of the page that answered it).  Nothing was spent.
    repeated: bool = False


@dataclass(frozen=True)
class Viewed:
    """What a visit found.  ``recorded`` is False when the visit was not written: the
    link redeems on GET (and the caller asked to spare those), or recording failed."""

    link: Link
    recorded: bool


class LinkStore(Protocol):
    def create(self, link: Link) -> None: ...

    def claim(
        self, link_id: str, digest: str, claim: Claim, *, unless_confirm: bool = False
    ) -> ClaimOutcome:
        """Take one use atomically, or raise why not (``chalicelib.domain.refusals``)."""
        ...

    def view(
        self, link_id: str, digest: str, visit: Visit, *, unless_direct: bool = False
    ) -> Viewed:
        """Record a visit that spends nothing; the link as it is (refused only if unknown)."""
        ...

    def refund(self, link_id: str, at: float, claim_id: str | None = None) -> Link:
        """Give one use back atomically, or raise ``ConflictError`` if there is none."""
        ...

    def redeliver(self, link_id: str, digest: str, asked: Redelivery) -> Link | None:
        """Count one re-delivery of a download session atomically (``Link.session`` is the
        rule; for ``asked.file`` of a bundle, against that file's own cap, and None if the bundle
        has no such file), marked with ``attempt``; None if the session does not allow one, or if
        ``attempt`` was fenced by ``give_back_redelivery``.  Spends no use.
        ``SessionRefundedError`` when ``session_digest`` is the session of a redemption
        that was refunded (``Link.refunded_session``)."""
        ...

    def give_back_redelivery(self, link_id: str, asked: Redelivery, fence: bool = False) -> bool:
        """Undo the re-delivery ``asked`` counted (its delivery failed): the count
        goes down by one only while ``attempt`` is the last one recorded, so a repeated or
        late undo changes nothing.  With ``fence`` (the count's own answer was lost), first
        mark ``attempt`` so that the count, should it land later, is refused.  True when
        a count was given back."""
        ...

    def peek(self, link_id: str, digest: str, now: float) -> Link: ...

    def unlock(self, link_id: str, at: float) -> Link:
        """Forget the wrong answers to the link's check since the last unlock."""
        ...

    def record_message(self, link_id: str, message_id: str) -> None: ...

    def release(self, link_id: str, claim_id: str) -> bool:
        """Give a claimed use back; False when that claim is not (or no longer) recorded."""
        ...

    def get(self, link_id: str) -> Link: ...

    def change(self, link_id: str, changes: Changes) -> Link: ...

    def revoke(self, link_id: str, at: float) -> Link: ...

    def for_file(self, key: str, limit: int, cursor: str | None) -> Page: ...

    def for_recipient(self, address: str, limit: int, cursor: str | None) -> Page:
        """Links emailed to ``address``, whatever its case, newest first."""
        ...

    def newest(self, now: float, since: float, limit: int, cursor: str | None) -> Page:
        """Every link created from ``since``'s day to ``now``'s, newest first.  A page reads
        at most ``DAYS_PER_PAGE`` days, so it may hold fewer than ``limit`` links and still
        have a cursor; the cursor carries the listing's days, not ``now`` and ``since``."""
        ...

    def bury(self, link: Link, at: float) -> None:
        """Store the link withdrawn, whether or not its ``create`` landed; a ``create``
        arriving later then fails.  Safe to repeat."""
        ...

    def supersede(
        self, link_id: str, replacement: str, at: float, *, uses: int, fence: int
    ) -> Link:
        """Revoke the link as replaced by ``replacement``, atomically, unless it is revoked
        or replaced already (``ConflictError``) or its ``uses`` or ``fence`` differ from
        those given (``ChangedMeanwhileError``)."""
        ...

    def close_resends(self, link_id: str) -> None:
        """Make any ``supersede`` given the link's current fence fail from now on."""
        ...

    def restore(self, link_id: str, replacement: str) -> bool:
        """Undo ``supersede`` by this replacement; False when it is not the one recorded."""
        ...

    def ping(self) -> None: ...


class RequestStore(Protocol):
    def create(self, request: FileRequest) -> None: ...

    def receive(self, request_id: str, digest: str, receipt: Receipt) -> FileRequest:
        """Take one file of the request for this upload atomically, or raise why not
        (``chalicelib.domain.refusals.check_request`` and ``check_file``; an attempt given up by
        ``release`` takes nothing: ``refusals.confirmation_abandoned``)."""
        ...

    def release(self, request_id: str, nonce: str, link_id: str) -> bool:
        """Give up the attempt that minted ``link_id``: fence it off so that its receive
        takes nothing, even arriving later, and give back the file it took, if any (True
        then).  Safe to repeat."""
        ...

    def peek(
        self, request_id: str, digest: str, now: float, nonce: str | None = None
    ) -> FileRequest: ...

    def open_upload(
        self,
        seen: FileRequest,
        digest: str,
        upload: OpenUpload,
        cap: int,
        gone: frozenset[str] = frozenset(),
    ) -> FileRequest:
        """Record a multipart upload started through the request, atomically, if the
        request still takes files and has fewer than ``cap`` uploads open; records of
        uploads over (``FileRequest.open_uploads``, and those whose nonces are in ``gone``:
        no longer under way in S3) go in the same write.  ``seen`` is the request as the
        caller read it: if its uploads changed since, nothing is written
        (``refusals.changed_meanwhile``)."""
        ...

    def get(self, request_id: str) -> FileRequest: ...

    def record_bundle(self, request_id: str, link_id: str) -> FileRequest:
        """Name ``link_id`` as the bundling request's one link to all its files,
        atomically: ``ConflictError`` (``refusals.bundle_minted``) when another is named.
        Naming the same link again is not an error (a retried write)."""
        ...

    def revoke(self, request_id: str, at: float) -> FileRequest: ...

    def recent(self, limit: int, cursor: str | None) -> RequestPage: ...


class GrantStore(Protocol):
    def put(self, subject: str, file: str, at: float) -> Grant: ...

    def delete(self, subject: str, file: str) -> None: ...

    def use(self, subject: str, file: str, day: str, daily_limit: int, retry_after: int) -> None:
        """Count one self-service link against the day's allowance, atomically."""
        ...

    def use_own(
        self, subject: str, file: str, day: str, daily_limit: int, retry_after: int
    ) -> None:
        """The same allowance for a file the buyer owns, needing no grant."""
        ...

    def give_back(self, subject: str, file: str, day: str, *, own: bool = False) -> None:
        """Undo one count (the mint it allowed failed); nothing to undo is not an error."""
        ...

    def for_subject(self, subject: str, limit: int, cursor: str | None) -> GrantPage: ...


class ObjectStore(Protocol):
    def describe(self, key: str) -> StoredObject: ...

    def fetch_base64(self, obj: StoredObject, byte_range: tuple[int, int] | None = None) -> str: ...

    def presign(self, obj: StoredObject, disposition: str, lifetime: int) -> str: ...

    def presign_upload(
        self, key: str, content_type: str, size: int, lifetime: int
    ) -> dict[str, Any]: ...

    def presign_form(self, form: UploadForm) -> dict[str, Any]:
        """A presigned POST for a browser form (``url`` and ``fields``): no AWS call."""
        ...

    def mark(self, obj: StoredObject, tag: str, value: str) -> None:
        """Tag the object's version (a confirmed upload), one ``PutObjectTagging``."""
        ...

    def start_multipart(self, key: str, content_type: str, tag: tuple[str, str] | None) -> str:
        """A new multipart upload (tagged ``tag``); its upload id."""
        ...

    def presign_part(
        self, key: str, upload_id: str, number: int, length: int, lifetime: int
    ) -> str:
        """A presigned ``PUT`` of one part of exactly ``length`` bytes: no AWS call."""
        ...

    def list_parts(self, key: str, upload_id: str) -> list[HeldPart]:
        """The parts held, by number; ``UploadGoneError`` when the upload is over."""
        ...

    def complete_multipart(self, key: str, upload_id: str, parts: list[HeldPart]) -> None:
        """Join ``parts`` into the object; ``UploadGoneError`` when the upload is over."""
        ...

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop the upload and its parts; safe to repeat."""
        ...

    def ping(self) -> None: ...
