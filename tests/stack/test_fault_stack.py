"""The fault matrix's representative cells on the real stand-ins: the app in this process,
its clients talking to dynalite (atomic conditional writes) and moto server (S3, SES),
faults injected with botocore's event hooks on the app's own clients.

* refused: the call answers an AWS error and is not applied (before-call);
* lost: the request is sent for real, then its answer is dropped (before-send);
* late: the request is held, and sent only after the app has answered.

The same invariants as the in-memory matrix (tests/faultmatrix.py) are then checked on
the table's items and on the messages moto's SES accepted.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import BotoCoreError
from chalice.test import Client

import app as app_module
from chalicelib.domain.link import HISTORY_KEPT, Link
from chalicelib.domain.sessions import HEADER as SESSION_HEADER
from chalicelib.domain.tokens import parse_token
from chalicelib.storage.linkstore import link_from_item
from tests import faultmatrix
from tests.fakes import FrozenClock
from tests.helpers import API_KEY, aws_error
from tools.outbox import outbox
from tools.stack import Stack

TOKEN = re.compile(r"token=([A-Za-z0-9_-]{20,})")


class Stalled(BotoCoreError):
    """The request went out (or is held) and no answer comes back.  Not an HTTP client
    error, so botocore gives up at once instead of retrying with a backoff."""

    fmt = "injected: the answer never came"


@dataclass
class Injector:
    """Fails call number ``at`` (counted by before-call) of the armed operation."""

    kind: str | None = None
    at: int | None = None
    armed: bool = False
    calls: list[str] = field(default_factory=list)
    held: list[Callable[[], object]] = field(default_factory=list)
    # Called with each AWS operation's name before it is made: to act in its window.
    watch: Callable[[str], None] | None = None
    _target: bool = False

    def before_call(self, model: Any, **_: Any) -> Any:
        if self.watch is not None:
            self.watch(model.name)
        if not self.armed:
            return None
        self.calls.append(f"{model.service_model.service_name}:{model.name}")
        self._target = len(self.calls) - 1 == self.at
        if self._target and self.kind == "refused":
            return aws_error("AccessDeniedException", 400)()
        return None

    def before_send(self, request: Any, **_: Any) -> Any:
        if not (self.armed and self._target):
            return None
        self._target = False  # one attempt; botocore does not retry a Stalled
        method, url = request.method, request.url
        headers, body = dict(request.headers.items()), request.body
        if self.kind == "lost":
            requests.request(method, url, headers=headers, data=body, timeout=30)
        else:
            self.held.append(
                lambda: requests.request(method, url, headers=headers, data=body, timeout=30)
            )
        raise Stalled()

    def land_late(self) -> None:
        self.armed = False
        for send in self.held:
            send()


@dataclass
class OnStack:
    client: Client
    stack: Stack
    injector: Injector
    dynamodb: Any
    s3: Any

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

    def links_to(self, key: str) -> dict[str, Link]:
        items = self.dynamodb.scan(
            TableName=self.stack.table,
            FilterExpression="#file = :key",
            ExpressionAttributeNames={"#file": "file"},
            ExpressionAttributeValues={":key": {"S": key}},
            ConsistentRead=True,
        )["Items"]
        return {link.link_id: link for link in map(link_from_item, items)}

    def emailed_to(self, address: str) -> set[str]:
        """Ids of the links in the messages moto's SES accepted for ``address``."""
        found = set()
        for message in outbox(self.stack.s3_port, last=200):
            if address not in json.dumps(message.get("destinations")):
                continue
            parsed = email.message_from_string(message["raw_data"], policy=email.policy.default)
            text = parsed.get_body(preferencelist=("plain",))
            assert text is not None
            found |= {parse_token(t).link_id for t in TOKEN.findall(text.get_content())}
        return found


@pytest.fixture(scope="module")
def onstack(stack: Stack) -> Iterator[OnStack]:
    patch = pytest.MonkeyPatch()
    for name, value in stack.app_env().items():
        patch.setenv(name, value)
    patch.setenv("ONETIME_CLIENT_TIMEOUT_SCALE", "1")
    injector = Injector()
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.*.*", injector.before_call)
    boto3.DEFAULT_SESSION.events.register_first("before-send.*.*", injector.before_send)
    app_module.configure(clock=FrozenClock())
    try:
        with Client(app_module.app, stage_name="local") as client:
            yield OnStack(client, stack, injector, stack.client("dynamodb"), stack.client("s3"))
    finally:
        app_module.configure()
        boto3.setup_default_session()
        patch.undo()


@dataclass
class Cell:
    """One run: a fresh file and recipient, so the checks see only this cell's links."""

    on: OnStack
    key: str = field(default_factory=lambda: f"faults/{uuid.uuid4().hex}.bin")
    to: str = field(default_factory=lambda: f"c-{uuid.uuid4().hex[:10]}@example.com")
    given: dict[str, Any] = field(default_factory=dict)
    status: int = 0
    body: Any = None

    def __post_init__(self) -> None:
        self.on.s3.put_object(
            Bucket=self.on.stack.bucket,
            Key=self.key,
            Body=faultmatrix.BYTES,
            ContentType="application/octet-stream",
        )

    def mint(self, **fields: Any) -> Any:
        return self.on.client.http.post(
            "/links",
            headers=self.on.auth(),
            body=json.dumps({"file": self.key, "email": self.to, **fields}),
        )

    def given_link(self, **fields: Any) -> None:
        minted = self.mint(**fields)
        assert minted.status_code == 201, minted.body
        link = minted.json_body
        self.given.update(
            link_id=link["id"],
            token=parse_token(TOKEN.search(link["url"]).group(1)).value,  # type: ignore[union-attr]
            max_uses=link["max_uses"],
            uses=0,
        )
        self.given["before"] = {link["id"]}

    def run(self, kind: str | None, at: int | None, act: Callable[[Cell], Any]) -> None:
        injector = self.on.injector
        injector.kind, injector.at, injector.calls, injector.held = kind, at, [], []
        injector.armed = True
        try:
            response = act(self)
        finally:
            injector.land_late()
        self.status, self.body = response.status_code, response.json_body

    def seen(self) -> faultmatrix.Seen:
        named = {self.body["id"]} if self.status in (200, 201) and "id" in self.body else set()
        return faultmatrix.Seen(
            links=self.on.links_to(self.key),
            now=time.time(),
            emailed=self.on.emailed_to(self.to),
            given=self.given,
            named=named,
            failed=self.status >= 400,
        )


def redeemed_once(cell: Cell) -> None:
    """A 2-use link redeemed once by a client that keeps its download session."""
    cell.given_link(uses=2, confirm=False)
    first = redeem(cell)
    assert first.status_code == 200
    state = cell.on.client.http.get(f"/links/{cell.given['link_id']}", headers=cell.on.auth())
    cell.given.update(
        uses=1,
        claim_id=state.json_body["redemptions"][0]["id"],
        session=first.headers[SESSION_HEADER],
    )


def post_token(cell: Cell, **headers: str) -> Any:
    """The cell's token posted to ``/download`` by a client that asks for the file."""
    return cell.on.client.http.post(
        "/download",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/octet-stream",
            **headers,
        },
        body=f"token={cell.given['token']}",
    )


def redeliver(cell: Cell) -> Any:
    return post_token(cell, **{SESSION_HEADER: cell.given["session"]})


def refunded_often(cell: Cell) -> None:
    """A 1-use link redeemed and refunded HISTORY_KEPT times, then redeemed again: its
    next refund finds its list of refunds full, so it takes a second UpdateItem."""
    cell.given_link(uses=1, confirm=False)
    for round_ in range(HISTORY_KEPT + 1):
        assert redeem(cell).status_code == 200
        state = cell.on.client.http.get(f"/links/{cell.given['link_id']}", headers=cell.on.auth())
        claim_id = state.json_body["redemptions"][-1]["id"]
        if round_ < HISTORY_KEPT:
            assert refund_it(cell, claim_id).status_code == 200
    cell.given.update(uses=1, claim_id=claim_id)


def refund_it(cell: Cell, claim_id: str) -> Any:
    return cell.on.client.http.post(
        f"/links/{cell.given['link_id']}/refund",
        headers=cell.on.auth(),
        body=json.dumps({"redemption": claim_id}),
    )


def refund(cell: Cell) -> Any:
    return refund_it(cell, cell.given["claim_id"])


def resend(cell: Cell) -> Any:
    return cell.on.client.http.post(
        f"/links/{cell.given['link_id']}/resend", headers=cell.on.auth(), body="{}"
    )


def mint_with_email(cell: Cell) -> Any:
    return cell.mint(uses=2)


def redeem(cell: Cell) -> Any:
    return post_token(cell)


@dataclass(frozen=True)
class StackCell:
    operation: str
    call: str  # the AWS operation, e.g. "dynamodb:UpdateItem"
    nth: int  # which call of that operation in the fault-free run (0 = the first)
    kind: str
    act: Callable[[Cell], Any]
    setup: Callable[[Cell], None]
    invariants: tuple[Callable[[faultmatrix.Seen], list[str]], ...]


def nothing(cell: Cell) -> None:
    cell.given.update(before=set())


def emailed_link(cell: Cell) -> None:
    cell.given_link(uses=2)


def direct_link(cell: Cell) -> None:
    cell.given_link(uses=2, confirm=False)


M = faultmatrix
LINKS = (M.one_live_link_per_chain, M.no_live_link_nobody_knows, M.uses_match_records)
RESEND = (*LINKS, M.customer_holds_the_live_link, M.uses_carried_over_exactly)
AGAIN = (*LINKS, M.no_use_lost, M.redeliveries_match_deliveries)
CELLS = [
    StackCell("mint with email", "dynamodb:PutItem", 0, "late", mint_with_email, nothing, LINKS),
    StackCell("mint with email", "sesv2:SendEmail", 0, "lost", mint_with_email, nothing, LINKS),
    StackCell("mint with email", "sesv2:SendEmail", 0, "refused", mint_with_email, nothing, LINKS),
    StackCell("resend", "dynamodb:PutItem", 0, "late", resend, emailed_link, RESEND),
    StackCell("resend", "dynamodb:UpdateItem", 0, "lost", resend, emailed_link, RESEND),
    StackCell("resend", "dynamodb:UpdateItem", 0, "late", resend, emailed_link, RESEND),
    StackCell("resend", "sesv2:SendEmail", 0, "lost", resend, emailed_link, RESEND),
    StackCell("resend", "sesv2:SendEmail", 0, "refused", resend, emailed_link, RESEND),
    StackCell(
        "redemption", "dynamodb:UpdateItem", 0, "lost", redeem, direct_link, (*LINKS, M.no_use_lost)
    ),
    StackCell(
        "refund, full history", "dynamodb:UpdateItem", 1, "lost", refund, refunded_often, LINKS
    ),
    StackCell(
        "refund, full history", "dynamodb:UpdateItem", 1, "late", refund, refunded_often, LINKS
    ),
    StackCell("re-delivery", "dynamodb:UpdateItem", 0, "lost", redeliver, redeemed_once, AGAIN),
    StackCell("re-delivery", "dynamodb:UpdateItem", 0, "late", redeliver, redeemed_once, AGAIN),
    StackCell("re-delivery", "s3:GetObject", 0, "refused", redeliver, redeemed_once, AGAIN),
]


@pytest.mark.parametrize(
    "cell", CELLS, ids=[f"{c.operation}-{c.call}-{c.nth}-{c.kind}" for c in CELLS]
)
def test_cell_holds_on_the_stand_ins(onstack: OnStack, cell: StackCell) -> None:
    clean = Cell(onstack)
    cell.setup(clean)
    clean.run(None, None, cell.act)
    assert clean.status < 400, clean.body
    positions = [i for i, call in enumerate(onstack.injector.calls) if call == cell.call]
    at = positions[cell.nth]

    faulted = Cell(onstack)
    cell.setup(faulted)
    faulted.run(cell.kind, at, cell.act)
    seen = faulted.seen()
    problems = [problem for check in cell.invariants for problem in check(seen)]
    assert problems == [], (faulted.status, faulted.body)
    assert faulted.status != 500, faulted.body  # every fault is answered in words


def test_a_redemption_inside_the_resends_window_is_not_carried_over(onstack: OnStack) -> None:
    """Break 1, at its exact interleaving: a customer redeems (through the chalice local
    process, on the same dynalite) after the resend read the link and before it writes.
    The resend must not hand out the use the customer just had."""
    cell = Cell(onstack)
    cell.given_link(uses=1, confirm=False)
    url = f"{onstack.stack.base_url}/download?token={cell.given['token']}"
    redeemed: list[int] = []

    def redeem_now(operation: str) -> None:
        if operation == "PutItem" and not redeemed:  # the replacement's create
            answer = requests.get(url, allow_redirects=False, timeout=30)
            redeemed.append(answer.status_code)

    onstack.injector.watch = redeem_now
    try:
        answer = resend(cell)
    finally:
        onstack.injector.watch = None
    assert redeemed == [302]
    assert answer.status_code == 409 and "used up" in answer.json_body["message"]
    links = onstack.links_to(cell.key)
    assert [link.link_id for link in links.values() if link.status(time.time()) == "active"] == []
    assert links[cell.given["link_id"]].replaced_by is None
