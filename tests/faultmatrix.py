"""The fault matrix: every operation that writes more than once, run once per AWS call it
makes, with that call

* ``refused``: it fails and was not applied;
* ``lost``: it was applied, and its answer was lost;
* ``late``: it fails now and is applied after the service has answered (a request that
  sat in a queue, or a write DynamoDB applied after the client gave up on it).

After each run the invariants of docs/CONSISTENCY.md are checked by reading the stores
and the outbox.  The faults are injected at the stores' and the mailer's interfaces, on
the in-memory fakes (each store method stands for one AWS call); a representative
subset runs against dynalite and moto server in tests/test_fault_stack.py.

``python -m tests.faultmatrix`` prints the table that ``make consistency`` writes into
docs/CONSISTENCY.md.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.domain.addresses import Addresses
from chalicelib.domain.errors import MailError, MailUncertainError, OnetimeError, UnavailableError
from chalicelib.domain.filerequest import FileRequest
from chalicelib.domain.link import HISTORY_KEPT, MAX_WRONG_ANSWERS, Claim, Link
from chalicelib.domain.tokens import parse_token
from chalicelib.events import receipts
from chalicelib.events.notifications import Notifier
from chalicelib.events.stream import Event, between
from chalicelib.events.webhooks import Webhooks
from chalicelib.mail.mailer import Letter, Mailer
from chalicelib.services import Services
from chalicelib.services.filerequests import Received, RequestSpec
from chalicelib.services.links import RefundRequest
from chalicelib.services.minting import MintedLink, MintRequest, ResendRequest
from chalicelib.services.redemption import Requester, Stream
from chalicelib.services.uploads import UploadRequest
from chalicelib.settings import Settings
from tests.fakes import FrozenClock, MemoryLinkStore, MemoryObjectStore, MemoryRequestStore

KINDS = ("refused", "lost", "late")
NOW = 1_800_000_000.0
FILE = "docs/a.bin"
BYTES = b"%PDF-1.7 fault matrix" * 20
TO = "customer@example.com"
NOTIFY = "shop@example.com"
WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# A client that takes the file in the response (the stream path): its GetObject can fail.
CURL = Requester(accept="application/octet-stream", client_ip="10.0.0.8", user_agent="curl/8")

# The store and mailer methods that stand for an AWS call (presigning is local).
CALLS = {
    "links": {
        "create",
        "bury",
        "claim",
        "view",
        "refund",
        "redeliver",
        "peek",
        "unlock",
        "record_message",
        "release",
        "get",
        "change",
        "revoke",
        "supersede",
        "close_resends",
        "restore",
        "give_back_redelivery",
    },
    "requests": {"create", "receive", "release", "peek", "get", "revoke", "open_upload"},
    "objects": {
        "describe",
        "fetch_base64",
        "mark",
        "start_multipart",
        "list_parts",
        "complete_multipart",
        "abort_multipart",
    },
    "mail": {"send", "send_request", "deliver"},
    "hooks": {"post"},
}
# What each AWS call is, for the table.
AWS = {
    "links.create": "PutItem",
    "links.bury": "PutItem",
    "links.get": "GetItem",
    "links.peek": "GetItem",
    "requests.get": "GetItem",
    "requests.peek": "GetItem",
    "requests.create": "PutItem",
    "objects.describe": "HeadObject",
    "objects.fetch_base64": "GetObject",
    "objects.mark": "PutObjectTagging",
    "objects.start_multipart": "CreateMultipartUpload",
    "objects.list_parts": "ListParts",
    "objects.complete_multipart": "CompleteMultipartUpload",
    "objects.abort_multipart": "AbortMultipartUpload",
    "mail.send": "SendEmail",
    "mail.send_request": "SendEmail",
    "mail.deliver": "SendEmail",
    "hooks.post": "webhook POST",
}


class Injected(UnavailableError):
    """The fault: what the stores raise for a timeout or a refused request."""

    def __init__(self) -> None:
        super().__init__("injected fault")


class Faults:
    """Counts the calls made through the wrapped objects while armed, and makes call
    number ``at`` fail in the way ``kind`` says."""

    def __init__(self, kind: str | None = None, at: int | None = None) -> None:
        self.kind, self.at = kind, at
        self.armed = False
        self.calls: list[str] = []
        self._late: list[Callable[[], object]] = []

    def wrap(self, name: str, target: Any) -> Any:
        return _Wrapped(self, name, target)

    def run(self, label: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self.armed:
            return method(*args, **kwargs)
        index = len(self.calls)
        self.calls.append(label)
        if index != self.at:
            return method(*args, **kwargs)
        refused, unanswered = _errors(label)
        if self.kind == "refused":
            raise refused
        if self.kind == "lost":
            # Applied: its condition decided, and nobody heard what it said.
            with contextlib.suppress(OnetimeError):
                method(*args, **kwargs)
        else:
            self._late.append(functools.partial(method, *args, **kwargs))
        raise unanswered

    def land_late(self) -> None:
        """Apply the held calls, after the operation has answered."""
        self.armed = False
        for call in self._late:
            # A refusal here is its condition at work: what an undo's marker is for.
            with contextlib.suppress(OnetimeError):
                call()


def _errors(label: str) -> tuple[Exception, Exception]:
    """What a refused call raises, and what one whose answer never came raises."""
    if label.startswith("mail."):
        return MailError("injected refusal"), MailUncertainError("injected timeout")
    if label.startswith("hooks."):
        return ConnectionRefusedError("injected"), TimeoutError("injected")
    return Injected(), Injected()


class _Wrapped:
    def __init__(self, faults: Faults, name: str, target: Any) -> None:
        self._faults, self._name, self._target = faults, name, target

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._target, attribute)
        if attribute not in CALLS[self._name]:
            return value
        return functools.partial(self._faults.run, f"{self._name}.{attribute}", value)


class Receiver:
    """A webhook endpoint: the ids of the messages it accepted, repeats included."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.ids.append(headers["webhook-id"])
        return 204


class Outbox(Mailer):
    """What was handed to SES: the link (by id) in each message."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []  # (address, link id or request id)

    def send(
        self, letter: Letter, link: Link, url: str, now: float, code: str | None = None
    ) -> str:
        self.sent.append((letter.email, link.link_id))
        return f"ses-{len(self.sent)}"

    def send_request(self, letter: Letter, request: FileRequest, url: str, now: float) -> str:
        self.sent.append((letter.email, request.request_id))
        return f"ses-{len(self.sent)}"

    def deliver(self, to: str, subject: str, text: str, page: str) -> str:
        self.sent.append((to, subject))
        return f"ses-{len(self.sent)}"


@dataclass
class World:
    faults: Faults
    links: MemoryLinkStore
    objects: MemoryObjectStore
    requests: MemoryRequestStore
    outbox: Outbox
    receiver: Receiver
    notifier: Notifier
    clock: FrozenClock
    services: Services
    # What the operation's setup left, for its checks: the customer's link, its token...
    given: dict[str, Any] = field(default_factory=dict)
    # What the operation answered: a value, or the error it raised.
    answer: object = None

    def seen(self) -> Seen:
        named = {self.answer.link.link_id} if isinstance(self.answer, MintedLink) else set()
        if isinstance(self.answer, Received):
            named = {self.answer.minted.link.link_id}
        return Seen(
            links=dict(self.links.links),
            now=self.clock(),
            emailed={sent for _, sent in self.outbox.sent},
            given=self.given,
            named=named,
            failed=isinstance(self.answer, OnetimeError),
            requests=dict(self.requests.requests),
            webhooks=list(self.receiver.ids),
            receipts=[subject for _, subject in self.outbox.sent],
            open_uploads={
                upload_id: (upload.key, len(upload.parts))
                for upload_id, upload in self.objects.uploads.items()
            },
        )


@dataclass(frozen=True)
class Seen:
    """What the checks read after an operation, on the fakes or in DynamoDB and SES."""

    links: dict[str, Link]
    now: float
    emailed: set[str]  # ids of the links (or requests) handed to SES
    given: dict[str, Any]  # what the setup left: the customer's link id, its uses...
    named: set[str]  # link ids the answer named
    failed: bool  # the answer was an error
    requests: dict[str, FileRequest] = field(default_factory=dict)
    webhooks: list[str] = field(default_factory=list)  # ids the endpoint accepted
    receipts: list[str] = field(default_factory=list)  # subjects of what SES took
    # The multipart uploads S3 holds open: upload id -> (key, parts held).
    open_uploads: dict[str, tuple[str, int]] = field(default_factory=dict)


def world(faults: Faults) -> World:
    links, objects, requests = MemoryLinkStore(), MemoryObjectStore(), MemoryRequestStore()
    objects.put(FILE, BYTES, "application/octet-stream")
    outbox, clock = Outbox(), FrozenClock(NOW)
    settings = Settings(
        table="t",
        bucket="b",
        api_key_hashes=("0" * 64,),
        stream_max_bytes=10_000,
        redirect_ttl=10,
        session_seconds=3600,
        multipart_threshold=MULTIPART_PART,
        multipart_part_bytes=MULTIPART_PART,
    )
    services = Services(
        settings=settings,
        clock=clock,
        links=faults.wrap("links", links),
        objects=faults.wrap("objects", objects),
        requests=faults.wrap("requests", requests),
        mailer=lambda: faults.wrap("mail", outbox),
        answer_key=lambda: b"k" * 32,
    )
    receiver = Receiver()
    hooks = faults.wrap("hooks", receiver)
    notifier = Notifier(
        webhooks=Webhooks(
            ["https://hooks.example/onetime"],
            WEBHOOK_SECRET,
            post=hooks.post,
            sleep=lambda _: None,  # the backoff between attempts, skipped
        ),
        mailer=faults.wrap("mail", outbox),
        compose=receipts.compose,
        endpoints=1,
    )
    return World(faults, links, objects, requests, outbox, receiver, notifier, clock, services)


# ---- The invariants: each returns what it found wrong, or nothing. ----------------------


def live(link: Link, now: float) -> bool:
    return link.status(now) == "active"


def chains(links: dict[str, Link]) -> dict[str, list[Link]]:
    """Links grouped by the first link of their resend chain."""

    def root(link: Link) -> str:
        while link.replaces is not None and link.replaces in links:
            link = links[link.replaces]
        return link.link_id

    grouped: dict[str, list[Link]] = {}
    for link in links.values():
        grouped.setdefault(root(link), []).append(link)
    return grouped


def chain_of(seen: Seen, link_id: str) -> list[Link]:
    (chain,) = [c for c in chains(seen.links).values() if link_id in {x.link_id for x in c}]
    return chain


def one_live_link_per_chain(seen: Seen) -> list[str]:
    return [
        f"chain {root} has {count} live links"
        for root, chain in chains(seen.links).items()
        if (count := sum(live(link, seen.now) for link in chain)) > 1
    ]


def no_live_link_nobody_knows(seen: Seen) -> list[str]:
    """Every live link was there before, or the answer names it, or it was emailed."""
    known = set(seen.given.get("before", ())) | seen.emailed | seen.named
    return [
        f"live link {link.link_id} nobody knows of"
        for link in seen.links.values()
        if live(link, seen.now) and link.link_id not in known
    ]


def customer_holds_the_live_link(seen: Seen) -> list[str]:
    """The chain that was live before still is, and its live link is one the customer
    holds: the one they had, or one emailed to them (never zero links)."""
    first = seen.given["link_id"]
    held = {first} | seen.emailed
    if any(live(link, seen.now) and link.link_id in held for link in chain_of(seen, first)):
        return []
    return [f"the customer holds no live link of chain {first}"]


def uses_carried_over_exactly(seen: Seen) -> list[str]:
    """A chain never delivers more than its first link allowed plus its refunds: the uses
    spent on every link, plus what the live link has left."""
    chain = chain_of(seen, seen.given["link_id"])
    allowed = seen.given["max_uses"]
    spent = sum(link.uses for link in chain)
    left = sum(link.remaining for link in chain if live(link, seen.now))
    return [] if spent + left <= allowed else [f"chain allows {spent + left} > {allowed}"]


def uses_match_records(seen: Seen) -> list[str]:
    """A link's count of uses is its unrefunded redemption records, within its limit."""
    problems = []
    for link in seen.links.values():
        records = sum(use.refunded_at is None for use in link.uses_log)
        if link.uses != records:
            problems.append(f"link {link.link_id} counts {link.uses} uses, records {records}")
        if link.uses > link.max_uses:
            problems.append(f"link {link.link_id} spent {link.uses} of {link.max_uses}")
    return problems


def no_use_lost(seen: Seen) -> list[str]:
    """An answer that is an error spent nothing."""
    if not seen.failed:
        return []
    uses, before = seen.links[seen.given["link_id"]].uses, seen.given["uses"]
    return [] if uses == before else [f"error answered, uses {before} -> {uses}"]


def redeliveries_match_deliveries(seen: Seen) -> list[str]:
    """A re-delivery counts towards the session's cap only if the file went out."""
    link = seen.links[seen.given["link_id"]]
    (use,) = [u for u in link.uses_log if u.claim_id == seen.given["claim_id"]]
    delivered = 0 if seen.failed else 1
    if use.redeliveries == delivered:
        return []
    return [f"{use.redeliveries} re-deliveries counted, {delivered} made"]


def every_event_told(seen: Seen) -> list[str]:
    """Each event reached the endpoint and the receipt's address at least once (Lambda
    retries a failed record; a receiver drops repeats by webhook id)."""
    problems = []
    for event_id, subject in seen.given["events"]:
        if event_id not in seen.webhooks:
            problems.append(f"webhook {event_id} never accepted")
        if subject not in seen.receipts:
            problems.append(f"receipt {subject!r} never sent")
    return problems


def no_receipt_claims_a_download(seen: Seen) -> list[str]:
    return [f"receipt says {s!r}" for s in seen.receipts if "ownloaded" in s and "Not" not in s]


def files_are_their_receipts(seen: Seen) -> list[str]:
    """A request counts exactly its receipts, never more than it takes, and each receipt's
    link works: an uploader told "received" has a link; a file without one is not
    counted."""
    problems = []
    for request in seen.requests.values():
        if request.files != len(request.receipts) or request.files > request.max_files:
            problems.append(f"request counts {request.files}, {len(request.receipts)} receipts")
        for receipt in request.receipts:
            link = seen.links.get(receipt.link_id or "")
            if link is None or not live(link, seen.now):
                problems.append(f"receipt {receipt.nonce} names no live link")
    return problems


def no_upload_nobody_can_finish(seen: Seen) -> list[str]:
    """Every multipart upload S3 holds parts of is recorded by its request, so that it
    counts against the request's cap and a withdrawal aborts it.  An unrecorded one
    without parts costs nothing, and the bucket's lifecycle rule aborts it after a day."""
    recorded = {u.upload_id for r in seen.requests.values() for u in r.uploads}
    return [
        f"upload {upload_id} ({parts} parts) is no request's"
        for upload_id, (_, parts) in seen.open_uploads.items()
        if parts and upload_id not in recorded
    ]


def upload_links_are_receipts(seen: Seen) -> list[str]:
    """Every live link to an uploaded file is a receipt's, and a "received" answer names
    one; an answer that is an error names none."""
    receipts = {r.link_id for request in seen.requests.values() for r in request.receipts}
    problems = [
        f"live upload link {link.link_id} is no receipt's"
        for link in seen.links.values()
        if link.object.key.startswith("requests/")
        and live(link, seen.now)
        and link.link_id not in receipts
    ]
    if not seen.failed and not seen.named <= receipts:
        problems.append("the answer names a link that is no receipt's")
    keys = {r.key for request in seen.requests.values() for r in request.receipts}
    if seen.failed and seen.given["key"] in keys:
        # The uploader was told it failed: a reload must confirm it, not say "received".
        problems.append("an upload answered with an error kept its receipt")
    return problems


def wrong_answers_bounded(seen: Seen) -> list[str]:
    link = seen.links[seen.given["link_id"]]
    return [] if link.wrong_answers <= MAX_WRONG_ANSWERS else ["more than five wrong answers"]


def history_bounded(seen: Seen) -> list[str]:
    """Each history shows at most its newest HISTORY_KEPT records, and its total counts
    at least those (every record kept was counted)."""
    problems = []
    for link in seen.links.values():
        for name, kept, total in (
            ("guesses", link.guesses, link.guess_total),
            ("unlocks", link.unlocked, link.unlock_total),
            ("refunds", link.refunds, link.refund_total),
        ):
            if len(kept) > HISTORY_KEPT or total < len(kept):
                problems.append(f"link {link.link_id}: {len(kept)} {name} kept, total {total}")
    return problems


# ---- The operations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    name: str
    setup: Callable[[World], None]
    run: Callable[[World], object]
    invariants: tuple[Callable[[Seen], list[str]], ...]
    # Calls whose uncertain answer the DynamoDB store undoes itself, below the interface
    # the fakes stand behind (the claim: ``DynamoLinkStore.claim`` gives the use back when
    # its answer is lost): their cells run on dynalite, in tests/test_fault_stack.py.
    undone_by_store: frozenset[str] = frozenset()


def _emailed_link(w: World, **fields: Any) -> None:
    minted = w.services.minting.mint_and_mail(
        MintRequest(file=FILE, **fields), Letter(email=TO), Addresses("u")
    )
    w.given.update(
        link_id=minted.link.link_id,
        token=minted.token.value,
        code=minted.code,
        max_uses=minted.link.max_uses,
        uses=0,
    )


def _before(w: World) -> None:
    w.given["before"] = {lid for lid, link in w.links.links.items() if live(link, w.clock())}


def _setup_nothing(w: World) -> None:
    w.given.update(before=set())


def _mint_with_email(w: World) -> object:
    return w.services.minting.mint_and_mail(
        MintRequest(file=FILE), Letter(email=TO), Addresses("u")
    )


def _setup_emailed(w: World) -> None:
    _emailed_link(w, uses=2)
    _before(w)


def _resend(w: World) -> object:
    return w.services.minting.resend(w.given["link_id"], ResendRequest(), Addresses("u"))


def _setup_redeemed(w: World) -> None:
    """A 2-use link redeemed once by curl (its redemption's id kept)."""
    _emailed_link(w, uses=2, confirm=False)
    redeemed = w.services.redeeming.post(w.given["token"], CURL)
    assert isinstance(redeemed, Stream) and redeemed.session is not None
    link = w.links.links[w.given["link_id"]]
    w.given.update(uses=link.uses, claim_id=link.uses_log[0].claim_id, session=redeemed.session.key)
    _before(w)


def _setup_refunded_often(w: World) -> None:
    """A 1-use link redeemed and refunded HISTORY_KEPT times, then redeemed again: its
    next refund finds its list of refunds full (two writes)."""
    _emailed_link(w, uses=1, confirm=False)
    for _ in range(HISTORY_KEPT + 1):
        w.clock.advance(1)
        redeemed = w.services.redeeming.post(w.given["token"], CURL)
        assert isinstance(redeemed, Stream)
        claim_id = w.links.links[w.given["link_id"]].uses_log[-1].claim_id
        if w.links.links[w.given["link_id"]].refund_total < HISTORY_KEPT:
            w.services.links.refund(w.given["link_id"], RefundRequest(claim_id))
    w.given.update(uses=1, claim_id=claim_id)
    _before(w)


def _refund(w: World) -> object:
    return w.services.links.refund(w.given["link_id"], RefundRequest(w.given["claim_id"]))


def _redeliver(w: World) -> object:
    """The same client again, within its download session: the file, spending nothing."""
    return w.services.redeeming.post(w.given["token"], CURL, session=w.given["session"])


def _redeem(w: World) -> object:
    return w.services.redeeming.post(w.given["token"], CURL)


def _setup_checked(w: World) -> None:
    _emailed_link(w, verify="code")
    _before(w)


def _wrong_answer(w: World) -> object:
    return w.services.redeeming.post(w.given["token"], CURL, answer="000000")


def _setup_locked(w: World) -> None:
    _setup_checked(w)
    for _ in range(MAX_WRONG_ANSWERS):
        with contextlib.suppress(OnetimeError):
            _wrong_answer(w)


def _unlock(w: World) -> object:
    return w.services.links.unlock(w.given["link_id"])


def _setup_given_back(w: World) -> None:
    """A claim whose delivery failed, given back: the two writes the stream reports."""
    _emailed_link(w, uses=2, confirm=False, notify=NOTIFY)
    link_id, digest = w.given["link_id"], parse_token(w.given["token"]).digest
    first = w.links.get(link_id)
    w.links.claim(link_id, digest, Claim(claim_id="c1", at=NOW + 30))
    claimed = w.links.get(link_id)
    w.links.release(link_id, "c1")
    found = [
        *between(first, claimed, sequence="100", written_at=NOW + 30),
        *between(claimed, w.links.get(link_id), sequence="101", written_at=NOW + 31),
    ]
    w.given["stream"] = found
    w.given["events"] = [(e.event_id, receipts.compose(e, False)[0]) for e in found]
    _before(w)


def _notify(w: World) -> object:
    """The notify function on those records: a record that fails is handed back, and
    Lambda retries it (here, at once, up to three times)."""
    stream: list[Event] = w.given["stream"]
    for event in stream:
        for _ in range(LAMBDA_RETRIES):
            if not w.notifier.notify(event):
                break
        else:
            raise UnavailableError("the record went to the dead-letter queue")
    return "told"


LAMBDA_RETRIES = 3


def _setup_upload(w: World, **spec: Any) -> None:
    """A file request for two files, and one file uploaded through its form."""
    minted = w.services.requesting.request(RequestSpec(files=2, **spec))
    page = w.services.receiving.page(minted.token.value, "https://x/upload/done")
    key = page.key_prefix + "scan.pdf"
    w.objects.put(key, b"%PDF-1.7 uploaded")
    w.given.update(request_token=minted.token.value, key=key)
    _before(w)


def _setup_upload_for_notify(w: World) -> None:
    _setup_upload(w, show_link=False, notify=NOTIFY)


def _confirm(w: World) -> object:
    return w.services.receiving.confirm(w.given["request_token"], w.given["key"], Addresses("u"))


def _setup_multipart_request(w: World) -> None:
    minted = w.services.requesting.request(RequestSpec(files=2))
    w.given.update(request_token=minted.token.value)
    _before(w)


def _start_multipart(w: World) -> object:
    """A large file's start; then the browser sends its first part (what the invariant
    reads: an upload with parts)."""
    file = UploadRequest(filename="big.bin", size=MULTIPART_PART + 1, content_type="a/b")
    started = w.services.receiving.start_multipart(w.given["request_token"], file)
    w.objects.put_part(started.upload_id, 1, b"p" * MULTIPART_PART)
    return "started"


def _setup_multipart_sent(w: World) -> None:
    """A large file started through a file request, and all its parts sent."""
    minted = w.services.requesting.request(RequestSpec(files=2))
    token = minted.token.value
    file = UploadRequest(filename="big.bin", size=MULTIPART_PART + 1, content_type="a/b")
    started = w.services.receiving.start_multipart(token, file)
    w.objects.put_part(started.upload_id, 1, b"p" * MULTIPART_PART)
    w.objects.put_part(started.upload_id, 2, b"q")
    w.given.update(request_token=token, ticket=started.ticket, key=started.key)
    _before(w)


def _complete_and_confirm(w: World) -> object:
    """The page completes the upload, then confirms it, as it does for any file."""
    token = w.given["request_token"]
    key, _ = w.services.receiving.complete_multipart(token, w.given["ticket"])
    return w.services.receiving.confirm(token, key, Addresses("u"))


MULTIPART_PART = 5 * 1024 * 1024  # S3's smallest part

UPLOADS = (files_are_their_receipts, upload_links_are_receipts, no_live_link_nobody_knows)

LINKS = (one_live_link_per_chain, no_live_link_nobody_knows, uses_match_records, history_bounded)

OPERATIONS: tuple[Operation, ...] = (
    Operation("mint with email", _setup_nothing, _mint_with_email, LINKS),
    Operation(
        "resend",
        _setup_emailed,
        _resend,
        (*LINKS, customer_holds_the_live_link, uses_carried_over_exactly),
    ),
    Operation(
        "redemption (stream)",
        _setup_redeemed,
        _redeem,
        (*LINKS, no_use_lost),
        undone_by_store=frozenset({"links.claim"}),
    ),
    Operation(
        "re-delivery (stream)",
        _setup_redeemed,
        _redeliver,
        (*LINKS, no_use_lost, redeliveries_match_deliveries),
    ),
    Operation("refund", _setup_redeemed, _refund, LINKS),
    Operation("refund (a full history)", _setup_refunded_often, _refund, LINKS),
    Operation(
        "wrong answer", _setup_checked, _wrong_answer, (*LINKS, no_use_lost, wrong_answers_bounded)
    ),
    Operation("unlock", _setup_locked, _unlock, (*LINKS, wrong_answers_bounded)),
    Operation("upload confirmation", _setup_upload, _confirm, UPLOADS),
    Operation(
        "upload confirmation, link emailed only", _setup_upload_for_notify, _confirm, UPLOADS
    ),
    Operation(
        "multipart start (file request)",
        _setup_multipart_request,
        _start_multipart,
        (no_upload_nobody_can_finish,),
    ),
    Operation(
        "multipart completion and confirmation",
        _setup_multipart_sent,
        _complete_and_confirm,
        (*UPLOADS, no_upload_nobody_can_finish),
    ),
    Operation(
        "notification (a use given back)",
        _setup_given_back,
        _notify,
        (every_event_told, no_receipt_claims_a_download),
    ),
)


# ---- Running it --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    operation: str
    index: int  # which call of the operation's fault-free run
    call: str  # e.g. "links.supersede"
    kind: str
    problems: tuple[str, ...]
    answer: str

    @property
    def held(self) -> bool:
        return not self.problems


def attempt(operation: Operation, kind: str | None = None, at: int | None = None) -> World:
    faults = Faults(kind, at)
    w = world(faults)
    operation.setup(w)
    faults.armed = True
    try:
        w.answer = operation.run(w)
    except OnetimeError as error:
        w.answer = error
    faults.land_late()
    return w


def problems(operation: Operation, seen: Seen) -> tuple[str, ...]:
    return tuple(problem for check in operation.invariants for problem in check(seen))


def cells(operation: Operation) -> Iterator[Cell]:
    clean = attempt(operation)
    if found := problems(operation, clean.seen()):
        raise AssertionError(f"{operation.name} breaks its invariants without a fault: {found}")
    for index, call in enumerate(clean.faults.calls):
        if call in operation.undone_by_store:
            continue
        for kind in KINDS:
            w = attempt(operation, kind, index)
            yield Cell(
                operation.name, index, call, kind, problems(operation, w.seen()), _said(w.answer)
            )


def _said(answer: object) -> str:
    if isinstance(answer, str):
        return answer
    if isinstance(answer, OnetimeError):
        return answer.code
    if isinstance(answer, MintedLink) and answer.email:
        return f"minted, email {answer.email}"
    if isinstance(answer, Received):
        return "received" + (", emailed" if answer.emailed else "")
    return type(answer).__name__


def matrix() -> list[Cell]:
    return [cell for operation in OPERATIONS for cell in cells(operation)]


def table(found: list[Cell]) -> str:
    """The matrix as Markdown: one row per operation and call, one column per fault."""
    lines = [
        "| operation | call | AWS | " + " | ".join(KINDS) + " |",
        "|---|---|---|" + "---|" * len(KINDS),
    ]
    rows: dict[tuple[str, int, str], dict[str, Cell]] = {}
    for cell in found:
        rows.setdefault((cell.operation, cell.index, cell.call), {})[cell.kind] = cell
    for (operation, index, call), by_kind in rows.items():
        aws = AWS.get(call, "UpdateItem")
        marks = [("held: " + by_kind[k].answer) if by_kind[k].held else "BROKEN" for k in KINDS]
        lines.append(f"| {operation} | {index + 1}. `{call}` | {aws} | " + " | ".join(marks) + " |")
    held = sum(cell.held for cell in found)
    lines.append("")
    lines.append(f"{len(found)} cells, {held} held, over {len(OPERATIONS)} operations.")
    return "\n".join(lines)


BEGIN, END = "<!-- matrix: written by `make consistency` -->", "<!-- end of matrix -->"


def write(path: Path) -> None:
    """Put the matrix between the document's markers."""
    text = path.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{BEGIN}\n{table(matrix())}\n{END}{tail}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write(Path(sys.argv[2]))
    else:
        sys.stdout.write(table(matrix()) + "\n")
