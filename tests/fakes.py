"""In-memory stand-ins behind the stores' protocols (``chalicelib/storage/stores.py``), and a
clock that tests freeze and advance.  The store contract suite
(``tests/test_store_contract.py``) runs the same tests against these and against
DynamoDB stand-ins, so the unit tier can trust them."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import threading
import time
from typing import Any

from chalicelib.domain import refusals
from chalicelib.domain.errors import (
    ForbiddenError,
    InvalidRequestError,
    ObjectNotFoundError,
    RecipientCheckError,
    SessionRefundedError,
    UnavailableError,
)
from chalicelib.domain.filerequest import FileRequest, OpenUpload, Receipt
from chalicelib.domain.link import (
    HISTORY_KEPT,
    VISIT_KINDS,
    Changes,
    Claim,
    Link,
    Redelivery,
    Refund,
    StoredObject,
    Use,
    Visit,
    guess_of,
    recipient_key,
)
from chalicelib.domain.multipart import HeldPart, UploadGoneError
from chalicelib.storage.stores import (
    DAYS_PER_PAGE,
    ClaimOutcome,
    Grant,
    GrantPage,
    Page,
    RequestPage,
    UploadForm,
    Viewed,
    created_day,
)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, at: float | None = None) -> None:
        self.now = float(int(time.time()) if at is None else at)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _page_cursor(offset: int, partition: str) -> str:
    raw = json.dumps([partition, offset]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _page_offset(cursor: str | None, partition: str) -> int:
    if not cursor:
        return 0
    try:
        found, offset = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        assert found == partition and isinstance(offset, int) and offset > 0
    except (ValueError, TypeError, AssertionError):
        raise InvalidRequestError(
            "invalid_cursor", "The cursor is not one this service gave out."
        ) from None
    return offset


def _day_position(cursor: str) -> tuple[str, str, int]:
    try:
        day, end, offset = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        assert isinstance(offset, int) and offset >= 0
        assert dt.date.fromisoformat(end) <= dt.date.fromisoformat(day)
    except (ValueError, TypeError, AssertionError):
        raise InvalidRequestError(
            "invalid_cursor", "The cursor is not one this service gave out."
        ) from None
    return day, end, offset


def _day_before(day: str) -> str:
    return (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()


def _counted(use: Use, file: int | None, step: int, at: float | None) -> Use:
    """``use`` with ``step`` more re-deliveries of ``file`` (None: the single file's),
    stamped ``at`` when one is added."""
    when = use.redelivered_at if at is None else at
    if file is None:
        return dataclasses.replace(use, redeliveries=use.redeliveries + step, redelivered_at=when)
    counts = dict(use.fetches)
    counts[file] = counts.get(file, 0) + step
    return dataclasses.replace(use, fetches=tuple(sorted(counts.items())), redelivered_at=when)


class MemoryLinkStore:
    def __init__(self) -> None:
        self.links: dict[str, Link] = {}
        self._claims: dict[str, dict[str, Use]] = {}
        self._visits: dict[str, dict[str, Visit]] = {}
        # Per (link, claim): the last re-delivery's attempt, and the attempt fenced by an undo.
        self._again_ids: dict[tuple[str, str, int | None], str] = {}
        self._again_fences: dict[tuple[str, str, int | None], str] = {}
        self._lock = threading.Lock()  # one lock stands in for DynamoDB's conditional write
        self._withdrawn: set[str] = set()  # links an operator revoked (``withdrawn_at``)

    def create(self, link: Link) -> None:
        with self._lock:
            if link.link_id in self.links:  # the store's condition: attribute_not_exists(pk)
                raise UnavailableError("The link could not be saved; try again.")
            self.links[link.link_id] = link
            self._claims[link.link_id] = {}

    def bury(self, link: Link, at: float) -> None:
        with self._lock:
            there = self.links.get(link.link_id)
            if there is not None and there.token_digest != link.token_digest:
                return  # another link's id: not ours to bury
            self.links[link.link_id] = dataclasses.replace(link, revoked_at=at)
            self._claims[link.link_id] = {}

    def claim(
        self, link_id: str, digest: str, claim: Claim, *, unless_confirm: bool = False
    ) -> ClaimOutcome:
        with self._lock:
            current = self.links.get(link_id)
            recorded = self._claims.get(link_id, {}).get(claim.claim_id)
            if current is not None and recorded is not None:
                ours = (
                    recorded.session_digest == claim.session_digest
                    if claim.session_digest
                    else recorded.at == claim.at
                )
                return ClaimOutcome(current, claimed=ours, repeated=not ours)
            link = refusals.check(current, digest, claim.at)
            if unless_confirm and link.confirm:
                return ClaimOutcome(link, claimed=False)
            if link.answer_digest and link.answer_digest != claim.answer_digest:
                if not claim.answer_digest:
                    raise RecipientCheckError("answer_required", link)
                counted = self._update(
                    link_id,
                    wrong_answers=link.wrong_answers + 1,
                    guesses=(*link.guesses, guess_of(claim))[-HISTORY_KEPT:],
                    guess_total=link.guess_total + 1,
                )
                raise RecipientCheckError("wrong_answer", counted)
            use = Use(
                claim.at,
                claim.client_ip[:64],
                claim.user_agent[:512],
                claim.binary,
                claim.stream_max_bytes,
                claim_id=claim.claim_id,
                session_digest=claim.session_digest,
            )
            self._claims[link_id][claim.claim_id] = use
            return ClaimOutcome(self._update(link_id, uses=link.uses + 1), claimed=True)

    def unlock(self, link_id: str, at: float) -> Link:
        with self._lock:
            link = self.get(link_id)
            if link.answer_digest is None:
                raise refusals.no_check_to_unlock()
            return self._update(
                link_id,
                wrong_answers=0,
                unlocked=(*link.unlocked, at)[-HISTORY_KEPT:],
                unlock_total=link.unlock_total + 1,
            )

    def record_message(self, link_id: str, message_id: str) -> None:
        with self._lock:
            self._update(link_id, message_id=message_id)

    def view(
        self, link_id: str, digest: str, visit: Visit, *, unless_direct: bool = False
    ) -> Viewed:
        with self._lock:
            link = self.links.get(link_id)
            if link is None or link.token_digest != digest:
                refusals.check(None, digest, visit.at)
            assert link is not None
            if unless_direct and not link.confirm:
                return Viewed(link, recorded=False)
            counts = dict(link.visit_counts)
            counts[visit.kind] = counts.get(visit.kind, 0) + 1
            slot = visit.kind
            self._visits.setdefault(link_id, {})[slot] = dataclasses.replace(
                visit, client_ip=visit.client_ip[:64], user_agent=visit.user_agent[:512]
            )
            recent = tuple(sorted(self._visits[link_id].values(), key=lambda v: v.at))
            ordered = tuple((kind, counts[kind]) for kind in VISIT_KINDS if kind in counts)
            return Viewed(self._update(link_id, visits=recent, visit_counts=ordered), recorded=True)

    def refund(self, link_id: str, at: float, claim_id: str | None = None) -> Link:
        with self._lock:
            link = self.get(link_id)
            uses = dict(self._claims[link_id])
            named = uses.get(claim_id) if claim_id is not None else None
            if link.uses <= 0 or (
                claim_id is not None and (named is None or named.refunded_at is not None)
            ):
                raise refusals.nothing_to_refund(link, claim_id)
            if claim_id is not None and named is not None:
                self._claims[link_id][claim_id] = dataclasses.replace(named, refunded_at=at)
            if link.refund_total and link.refund_total % HISTORY_KEPT == 0:
                # DynamoDB's store starts a new generation of refunds here, and drops the
                # oldest redemption records past max_uses + HISTORY_KEPT (never the named one).
                newest = sorted(uses.values(), key=lambda u: (u.at, u.claim_id), reverse=True)
                for use in newest[link.max_uses + HISTORY_KEPT :]:
                    if use.claim_id != claim_id:
                        del self._claims[link_id][use.claim_id]
            return self._update(
                link_id,
                uses=link.uses - 1,
                refunds=(*link.refunds, Refund(at, claim_id))[-HISTORY_KEPT:],
                refund_total=link.refund_total + 1,
            )

    def redeliver(self, link_id: str, digest: str, asked: Redelivery) -> Link | None:
        claim_id, session_digest, at, seconds, attempt, new_session_digest, file = asked
        with self._lock:
            link = self.links.get(link_id)
            use = self._claims.get(link_id, {}).get(claim_id)
            if link is None or link.token_digest != digest or use is None:
                return None
            if file is not None and len(link.files) < file:
                return None  # the store's condition: size(files) >= :file
            proof = use.session_digest if session_digest is None else session_digest
            fenced = self._again_fences.get((link_id, claim_id, file)) == attempt
            if fenced or link.session(claim_id, proof, at, seconds, file) is None:
                if session_digest is not None and link.refunded_session(claim_id, session_digest):
                    raise SessionRefundedError(link)
                return None
            self._claims[link_id][claim_id] = dataclasses.replace(
                _counted(use, file, +1, at),
                session_digest=new_session_digest or use.session_digest,
            )
            self._again_ids[(link_id, claim_id, file)] = attempt
            return self._update(link_id)

    def give_back_redelivery(self, link_id: str, asked: Redelivery, fence: bool = False) -> bool:
        claim_id, attempt, file = asked.claim_id, asked.attempt, asked.file
        with self._lock:
            use = self._claims.get(link_id, {}).get(claim_id)
            if use is None:
                return False
            if fence:
                self._again_fences[(link_id, claim_id, file)] = attempt
            if self._again_ids.get((link_id, claim_id, file)) != attempt or use.fetched(file) <= 0:
                return False
            del self._again_ids[(link_id, claim_id, file)]
            self._claims[link_id][claim_id] = _counted(use, file, -1, None)
            self._update(link_id)
            return True

    def peek(self, link_id: str, digest: str, now: float) -> Link:
        return refusals.check(self.links.get(link_id), digest, now)

    def release(self, link_id: str, claim_id: str) -> bool:
        with self._lock:
            use = self._claims.get(link_id, {}).get(claim_id)
            if use is None or use.refunded_at is not None or self.links[link_id].uses <= 0:
                return False
            del self._claims[link_id][claim_id]
            self._update(link_id, uses=self.links[link_id].uses - 1)
            return True

    def get(self, link_id: str) -> Link:
        if link_id not in self.links:
            raise refusals.unknown_link(link_id)
        return self.links[link_id]

    def change(self, link_id: str, changes: Changes) -> Link:
        expires_at, max_uses, note = changes
        with self._lock:
            link = self.get(link_id)
            extending = expires_at is not None or max_uses is not None
            if (extending and link.revoked_at is not None) or (
                max_uses is not None and link.uses > max_uses
            ):
                raise refusals.unchangeable(link)
            fields: dict[str, Any] = {}
            if expires_at is not None:
                fields["expires_at"] = expires_at
            if max_uses is not None:
                fields["max_uses"] = max_uses
            if note is not None:
                fields["note"] = note
            if extending:
                fields["fence"] = link.fence + 1  # a resend under way must read again
            return self._update(link_id, **fields)

    def revoke(self, link_id: str, at: float) -> Link:
        with self._lock:
            link = self.get(link_id)
            self._withdrawn.add(link_id)  # the store's withdrawn_at: restore refuses it
            if link.revoked_at is not None:
                return link
            return self._update(link_id, revoked_at=at)

    def for_file(self, key: str, limit: int, cursor: str | None) -> Page:
        offset = _page_offset(cursor, key)
        matching = sorted(
            (link for link in self.links.values() if link.object.key == key),
            key=lambda link: link.created_at,
            reverse=True,
        )
        page = matching[offset : offset + limit]
        more = offset + limit < len(matching)
        return Page(page, _page_cursor(offset + limit, key) if more else None)

    def for_recipient(self, address: str, limit: int, cursor: str | None) -> Page:
        key = recipient_key(address)
        offset = _page_offset(cursor, key)
        matching = sorted(
            (
                link
                for link in self.links.values()
                if link.recipient is not None and recipient_key(link.recipient) == key
            ),
            key=lambda link: link.created_at,
            reverse=True,
        )
        more = offset + limit < len(matching)
        return Page(
            matching[offset : offset + limit], _page_cursor(offset + limit, key) if more else None
        )

    def newest(self, now: float, since: float, limit: int, cursor: str | None) -> Page:
        # The store's walk, day by day: one "query" per step, at most DAYS_PER_PAGE a page.
        day, end, offset = (
            _day_position(cursor) if cursor else (created_day(now), created_day(since), 0)
        )
        found: list[Link] = []
        done = False
        for _ in range(DAYS_PER_PAGE):
            of_day = sorted(
                (link for link in self.links.values() if created_day(link.created_at) == day),
                key=lambda link: link.created_at,
                reverse=True,
            )
            taken = of_day[offset : offset + limit - len(found)]
            found += taken
            offset += len(taken)
            if offset >= len(of_day):
                if day <= end:
                    done = True
                    break
                day, offset = _day_before(day), 0
            if len(found) == limit:
                break
        raw = json.dumps([day, end, offset]).encode()
        next_cursor = None if done else base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return Page(found, next_cursor)

    def supersede(
        self, link_id: str, replacement: str, at: float, *, uses: int, fence: int
    ) -> Link:
        with self._lock:
            link = self.get(link_id)
            if link.revoked_at is not None or link.replaced_by is not None:
                raise refusals.not_resendable(link)
            if link.uses != uses or link.fence != fence:
                raise refusals.resend_raced()
            return self._update(link_id, revoked_at=at, replaced_by=replacement, fence=fence + 1)

    def close_resends(self, link_id: str) -> None:
        with self._lock:
            self._update(link_id, fence=self.get(link_id).fence + 1)

    def restore(self, link_id: str, replacement: str) -> bool:
        with self._lock:
            link = self.links.get(link_id)
            if link is None or link.replaced_by != replacement or link_id in self._withdrawn:
                return False
            self._update(link_id, revoked_at=None, replaced_by=None)
            return True

    def ping(self) -> None:
        return None

    def _update(self, link_id: str, **changes: Any) -> Link:
        uses_log = tuple(sorted(self._claims[link_id].values(), key=lambda use: use.at))
        link = dataclasses.replace(self.links[link_id], uses_log=uses_log, **changes)
        self.links[link_id] = link
        return link


class MemoryGrantStore:
    def __init__(self) -> None:
        self.grants: dict[tuple[str, str], Grant] = {}
        self.minted: dict[tuple[str, ...], int] = {}
        self._lock = threading.Lock()

    def put(self, subject: str, file: str, at: float) -> Grant:
        with self._lock:
            return self.grants.setdefault((subject, file), Grant(subject, file, at))

    def delete(self, subject: str, file: str) -> None:
        with self._lock:
            if self.grants.pop((subject, file), None) is None:
                raise refusals.unknown_grant()

    def use(self, subject: str, file: str, day: str, daily_limit: int, retry_after: int) -> None:
        with self._lock:
            if (subject, file) not in self.grants:
                raise ForbiddenError(refusals.NOT_GRANTED)
            self._count((subject, file, day), daily_limit, retry_after)

    def use_own(
        self, subject: str, file: str, day: str, daily_limit: int, retry_after: int
    ) -> None:
        with self._lock:
            self._count(("own", subject, file, day), daily_limit, retry_after)

    def give_back(self, subject: str, file: str, day: str, *, own: bool = False) -> None:
        with self._lock:
            key = ("own", subject, file, day) if own else (subject, file, day)
            if self.minted.get(key, 0) > 0:
                self.minted[key] -= 1

    def _count(self, key: tuple[str, ...], daily_limit: int, retry_after: int) -> None:
        count = self.minted.get(key, 0)
        if count >= daily_limit:
            raise refusals.over_daily_limit(daily_limit, retry_after)
        self.minted[key] = count + 1

    def for_subject(self, subject: str, limit: int, cursor: str | None) -> GrantPage:
        offset = _page_offset(cursor, subject)
        matching = sorted(
            (g for g in self.grants.values() if g.subject == subject),
            key=lambda grant: grant.created_at,
            reverse=True,
        )
        more = offset + limit < len(matching)
        return GrantPage(
            matching[offset : offset + limit],
            _page_cursor(offset + limit, subject) if more else None,
        )


class MemoryRequestStore:
    def __init__(self) -> None:
        self.requests: dict[str, FileRequest] = {}
        self.voided: dict[str, set[str]] = {}  # per request: the attempts given up
        self._lock = threading.Lock()

    def create(self, request: FileRequest) -> None:
        with self._lock:
            self.requests[request.request_id] = request

    def receive(self, request_id: str, digest: str, receipt: Receipt) -> FileRequest:
        with self._lock:
            if receipt.link_id in self.voided.get(request_id, ()):
                raise refusals.confirmation_abandoned()
            request = refusals.check_request(
                self.requests.get(request_id), digest, receipt.at, receipt.nonce
            )
            refusals.check_file(request, receipt.size, receipt.content_type)
            return self._update(
                request_id, files=request.files + 1, receipts=(*request.receipts, receipt)
            )

    def record_bundle(self, request_id: str, link_id: str) -> FileRequest:
        with self._lock:
            request = self.requests.get(request_id)
            if request is None:
                raise refusals.unknown_request(request_id)
            if not request.bundle:
                raise refusals.changed_meanwhile()
            if request.bundle_link not in (None, link_id):
                raise refusals.bundle_minted(request.bundle_link)
            return self._update(request_id, bundle_link=link_id)

    def release(self, request_id: str, nonce: str, link_id: str) -> bool:
        with self._lock:
            request = self.requests.get(request_id)
            if request is None:
                return False
            self.voided.setdefault(request_id, set()).add(link_id)
            if not any(r.nonce == nonce and r.link_id == link_id for r in request.receipts):
                return False
            kept = tuple(r for r in request.receipts if r.nonce != nonce)
            self._update(request_id, files=request.files - 1, receipts=kept)
            return True

    def peek(
        self, request_id: str, digest: str, now: float, nonce: str | None = None
    ) -> FileRequest:
        return refusals.check_request(self.requests.get(request_id), digest, now, nonce)

    def get(self, request_id: str) -> FileRequest:
        if request_id not in self.requests:
            raise refusals.unknown_request(request_id)
        return self.requests[request_id]

    def open_upload(
        self,
        seen: FileRequest,
        digest: str,
        upload: OpenUpload,
        cap: int,
        gone: frozenset[str] = frozenset(),
    ) -> FileRequest:
        with self._lock:
            live = tuple(u for u in seen.open_uploads(upload.at) if u.nonce not in gone)
            if len(live) >= cap:
                raise refusals.too_many_uploads(cap)
            current = refusals.check_request(self.requests.get(seen.request_id), digest, upload.at)
            if current.uploads != seen.uploads:
                raise refusals.changed_meanwhile()
            return self._update(seen.request_id, uploads=(*live, upload))

    def revoke(self, request_id: str, at: float) -> FileRequest:
        with self._lock:
            request = self.get(request_id)
            if request.revoked_at is not None:
                return request
            return self._update(request_id, revoked_at=at)

    def recent(self, limit: int, cursor: str | None) -> RequestPage:
        ordered = sorted(self.requests.values(), key=lambda r: r.created_at, reverse=True)
        offset = _page_offset(cursor, "requests")
        more = offset + limit < len(ordered)
        return RequestPage(
            ordered[offset : offset + limit],
            _page_cursor(offset + limit, "requests") if more else None,
        )

    def _update(self, request_id: str, **changes: Any) -> FileRequest:
        updated = dataclasses.replace(self.requests[request_id], **changes)
        self.requests[request_id] = updated
        return updated


@dataclasses.dataclass
class FakeUpload:
    key: str
    content_type: str
    tag: tuple[str, str] | None
    parts: dict[int, bytes] = dataclasses.field(default_factory=dict)


class MemoryObjectStore:
    """Objects as bytes in a dict.  A presigned URL is a readable fake that names what
    S3's would sign: key, version, disposition and lifetime."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str, str | None]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.fail_reads: Exception | None = None
        self.fail_marks: Exception | None = None
        self.uploads: dict[str, FakeUpload] = {}
        self.finished: dict[str, FakeUpload] = {}
        self.aborted: list[str] = []

    def put(
        self, key: str, body: bytes, content_type: str = "application/pdf", owner: str | None = None
    ) -> None:
        self.objects[key] = (body, content_type, owner)

    def describe(self, key: str) -> StoredObject:
        if key not in self.objects:
            raise ObjectNotFoundError(f"There is no file {key!r} to link to.")
        body, content_type, owner = self.objects[key]
        return StoredObject(key, len(body), content_type, f'"{hash(body) & 0xFFFF:x}"', None, owner)

    def fetch_base64(self, obj: StoredObject, byte_range: tuple[int, int] | None = None) -> str:
        if self.fail_reads is not None:
            raise self.fail_reads
        body = self.objects[obj.key][0]
        if byte_range is not None:
            body = body[byte_range[0] : byte_range[1] + 1]
        return base64.b64encode(body).decode("ascii")

    def presign(self, obj: StoredObject, disposition: str, lifetime: int) -> str:
        return f"memory://{obj.key}?expires={lifetime}&disposition={disposition}"

    def presign_upload(
        self, key: str, content_type: str, size: int, lifetime: int
    ) -> dict[str, Any]:
        return {
            "url": "memory://uploads",
            "fields": {"key": key, "Content-Type": content_type, "size": str(size)},
        }

    def presign_form(self, form: UploadForm) -> dict[str, Any]:
        # What S3's policy would pin, readable: the key prefix, the largest body, the type.
        fields = {"key": form.key_prefix + "${filename}", "max_bytes": str(form.max_bytes)}
        if form.content_type is not None:
            fields["Content-Type"] = form.content_type
        if form.redirect is not None:
            fields["success_action_redirect"] = form.redirect
        else:
            fields["success_action_status"] = "201"
        return {"url": "memory://uploads", "fields": fields}

    def mark(self, obj: StoredObject, tag: str, value: str) -> None:
        if self.fail_marks is not None:
            raise self.fail_marks
        self.tags[obj.key] = {tag: value}

    # Multipart uploads: ``uploads`` maps an upload id to its key, type, tag and parts;
    # a test puts a part's bytes with ``put_part`` (what a client's PUT to S3 does).

    def start_multipart(self, key: str, content_type: str, tag: tuple[str, str] | None) -> str:
        upload_id = f"upload-{len(self.uploads) + len(self.finished) + 1}"
        self.uploads[upload_id] = FakeUpload(key, content_type, tag)
        return upload_id

    def put_part(self, upload_id: str, number: int, body: bytes) -> None:
        self.uploads[upload_id].parts[number] = body

    def presign_part(
        self, key: str, upload_id: str, number: int, length: int, lifetime: int
    ) -> str:
        return f"memory://{key}?uploadId={upload_id}&partNumber={number}&length={length}"

    def list_parts(self, key: str, upload_id: str) -> list[HeldPart]:
        upload = self._open(key, upload_id)
        return [
            HeldPart(n, len(body), f'"{hash(body) & 0xFFFF:x}"')
            for n, body in sorted(upload.parts.items())
        ]

    def complete_multipart(self, key: str, upload_id: str, parts: list[HeldPart]) -> None:
        upload = self._open(key, upload_id)
        self.objects[key] = (
            b"".join(upload.parts[p.number] for p in parts),
            upload.content_type,
            None,
        )
        if upload.tag is not None:
            self.tags[key] = {upload.tag[0]: upload.tag[1]}
        self.finished[upload_id] = self.uploads.pop(upload_id)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        if upload_id in self.uploads and self.uploads[upload_id].key == key:
            self.aborted.append(upload_id)
            self.finished[upload_id] = self.uploads.pop(upload_id)

    def _open(self, key: str, upload_id: str) -> FakeUpload:
        upload = self.uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise UploadGoneError("This upload is over.")
        return upload

    def ping(self) -> None:
        return None
