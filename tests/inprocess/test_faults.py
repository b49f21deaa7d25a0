"""Faults at the boto3 layer: a failing dependency never costs a customer a use.

In-process (chalice.test.Client on moto).  Faults are injected only through
botocore's event hooks on boto3's default session -- the conftest ``Hooks``
(before-call: the operation answers an AWS error or raises), plus, registered
here before the app builds its clients, after-call hooks (the real call ran,
then its answer is lost or its body damaged) and a before-send hook (the first
HTTP attempt's write lands but its answer is lost, so botocore retries).
Every case asserts the link's ``uses`` (and its audit records) before and after.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, TypeVar, cast
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import urllib3.exceptions
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.response import StreamingBody

from tests.helpers import (
    BROWSER_ACCEPT,
    InProcess,
    JsonLines,
    app_log,
    aws_error,
    reset_app_caches,
    token_of,
)

SMALL = bytes(range(256)) * 40  # 10 KiB, every byte value
KEY = "faults/report.pdf"
LEAKS = ("Traceback", "botocore", "ClientError", "An error occurred (", "injected")
Fault = Callable[[], Any]


# ---------------------------------------------------------------- helpers


def raising(make: Callable[[], Exception]) -> Fault:
    def fault() -> Any:
        raise make()

    return fault


def only_calls(fault: Fault, *numbers: int) -> Fault:
    """A stateful fault: only the given calls (1-based, counted from now) fail."""
    seen = [0]

    def maybe() -> Any:
        seen[0] += 1
        return fault() if seen[0] in numbers else None

    return maybe


def read_timeout() -> Exception:
    return ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")


DYNAMODB_FAULTS: dict[str, Fault] = {
    "throttled": aws_error("ThrottlingException", 400),
    "provisioned": aws_error("ProvisionedThroughputExceededException", 400),
    "request-limit": aws_error("RequestLimitExceeded", 400),
    "500": aws_error("InternalServerError", 500),
    "503": aws_error("ServiceUnavailable", 503),
    "read-timeout": raising(read_timeout),
    "connect-timeout": raising(lambda: ConnectTimeoutError(endpoint_url="https://dynamodb")),
    "no-endpoint": raising(lambda: EndpointConnectionError(endpoint_url="https://dynamodb")),
    "closed": raising(lambda: ConnectionClosedError(endpoint_url="https://dynamodb")),
}

S3_FAULTS: dict[str, Fault] = {
    "500": aws_error("InternalError", 500),
    "slow-down": aws_error("SlowDown", 503),
    "403": aws_error("AccessDenied", 403),
    "read-timeout": raising(lambda: ReadTimeoutError(endpoint_url="https://s3")),
    "connect-timeout": raising(lambda: ConnectTimeoutError(endpoint_url="https://s3")),
    "no-endpoint": raising(lambda: EndpointConnectionError(endpoint_url="https://s3")),
}


class AfterCall:
    """after-call hooks: the real operation ran; ``handlers`` may damage or lose its answer."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[Any, dict[str, Any]], None]] = {}

    def __call__(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        handler = self.handlers.get(f"{model.service_model.service_name}:{model.name}")
        if handler is not None:
            handler(http_response, parsed)


class BeforeSend:
    """before-send hooks, ahead of moto's: may act on one HTTP attempt of an operation."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}

    def __call__(self, request: Any, event_name: str, **_: Any) -> Any:
        handler = self.handlers.get(event_name)
        return handler(request) if handler is not None else None


Hook = TypeVar("Hook", AfterCall, BeforeSend)


def on_app_session(event: str, hook: Hook, first: bool = False) -> Hook:
    """``hook`` on the app's boto3 session (ahead of moto's handlers, if ``first``).
    Registered before the app's first request builds its clients: they copy the
    session's handlers when created."""
    session = boto3.DEFAULT_SESSION
    assert session is not None
    (session.events.register_first if first else session.events.register)(event, hook)
    return hook


@pytest.fixture
def after(service: InProcess) -> AfterCall:
    return on_app_session("after-call.*.*", AfterCall())


@pytest.fixture
def before_send(service: InProcess) -> BeforeSend:
    return on_app_session("before-send.*.*", BeforeSend(), first=True)


# A use certainly spent without delivery (after a claim that succeeded), and a doubt:
# a claim whose answer was lost and whose undo failed too, which may have spent nothing.
LOST = "USE LOST"
UNCERTAIN = "USE UNCERTAIN"


def assert_uncertain(logged: JsonLines, link_id: str) -> dict[str, Any]:
    """Exactly one "USE UNCERTAIN" warning, naming the link and the claim; no "USE LOST"."""
    uncertain = logged.marked(UNCERTAIN)
    assert len(uncertain) == 1, logged.lines
    line = uncertain[0]
    assert line["message"].startswith("USE UNCERTAIN:")
    assert line["level"] == "WARNING"
    assert line["link_id"] == link_id
    assert re.fullmatch(r"[0-9a-f]{16}", line["claim_id"])
    assert link_id in line["message"] and line["claim_id"] in line["message"]
    assert line["request_id"]
    assert not logged.marked(LOST), logged.lines  # not a certain loss: no false alarm
    return line


@pytest.fixture
def logged() -> Iterator[JsonLines]:
    with app_log() as capture:
        yield capture


def direct_link(service: InProcess, **params: Any) -> dict[str, Any]:
    """A link to a fresh KEY (SMALL) that delivers at its first GET (``confirm=false``)."""
    service.put(KEY, SMALL)
    minted: dict[str, Any] = service.mint(KEY, confirm="false", **params)
    return minted


@pytest.fixture
def link(service: InProcess, after: AfterCall, before_send: BeforeSend) -> dict[str, Any]:
    return direct_link(service, uses=2)


def state(service: InProcess, link_id: str) -> tuple[int, dict[str, Any]]:
    item = service.item(link_id)
    return int(item["uses"]["N"]), item["redemptions"]["M"]


def get(service: InProcess, token: str, accept: str | None) -> Any:
    headers = {"Accept": accept} if accept is not None else {}
    return service.client.http.get(f"/download?token={token}", headers=headers)


def post(service: InProcess, token: str) -> Any:
    return service.client.http.post(
        "/download",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": BROWSER_ACCEPT},
        body=f"token={token}",
    )


ENTRIES: dict[str, Callable[[InProcess, str], Any]] = {
    "api-stream": lambda service, token: get(service, token, "application/pdf"),
    "curl-redirect": lambda service, token: get(service, token, "*/*"),
    "browser-post": post,
}


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, (response.status_code, response.body)
    assert response.headers["Retry-After"].isdigit()
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["Cache-Control"] == "no-store"
    text = response.body.decode("utf-8", "replace")
    for leak in LEAKS:
        assert leak not in text
    if response.headers["Content-Type"].startswith("application/json"):
        assert response.json_body["error"] == "unavailable"
    else:
        assert response.headers["Content-Type"].startswith("text/html")
        assert "<form" not in text  # an error page, never a Download button


def assert_still_redeemable(service: InProcess, minted: dict[str, Any], uses_before: int) -> None:
    """The use the fault did not spend is still there, and the file arrives whole."""
    service.hooks.faults.clear()
    response = get(service, token_of(minted), "application/pdf")
    assert response.status_code == 200
    assert response.body == SMALL
    uses, records = state(service, minted["id"])
    assert uses == uses_before + 1
    assert len(records) == uses


# ---------------------------------------------------------------- DynamoDB on the claim


# Every fault through the API client's GET; every entry (GET stream, GET redirect,
# the browser's POST) with one error answer and one timeout.
CLAIM_CASES = [(fault, "api-stream") for fault in DYNAMODB_FAULTS] + [
    (fault, entry)
    for fault in ("500", "read-timeout")
    for entry in ("curl-redirect", "browser-post")
]


@pytest.mark.parametrize(("fault", "entry"), CLAIM_CASES)
def test_claim_failing_is_503_and_spends_nothing(
    service: InProcess, link: dict[str, Any], logged: JsonLines, fault: str, entry: str
) -> None:
    before = state(service, link["id"])
    service.hooks.fail("dynamodb:UpdateItem", DYNAMODB_FAULTS[fault])  # the undo fails too
    assert_unavailable(ENTRIES[entry](service, token_of(link)))
    assert state(service, link["id"]) == before == (0, {})
    # Nothing was spent, but the app cannot know that: a doubt, never "USE LOST".
    assert_uncertain(logged, link["id"])
    assert_still_redeemable(service, link, 0)


@pytest.mark.parametrize("fault", list(DYNAMODB_FAULTS))
def test_claim_failing_once_then_the_undo_finds_nothing_to_undo(
    service: InProcess, link: dict[str, Any], logged: JsonLines, fault: str
) -> None:
    before = state(service, link["id"])
    service.hooks.fail("dynamodb:UpdateItem", only_calls(DYNAMODB_FAULTS[fault], 1))
    assert_unavailable(get(service, token_of(link), "application/pdf"))
    assert state(service, link["id"]) == before == (0, {})
    # The undo answered: no doubt is left, so no alarm of either kind.
    assert not logged.marked(UNCERTAIN) and not logged.marked(LOST), logged.lines
    assert_still_redeemable(service, link, 0)


def test_claim_failing_on_a_link_with_uses_made_keeps_them(
    service: InProcess, link: dict[str, Any]
) -> None:
    assert get(service, token_of(link), "application/pdf").status_code == 200
    before = state(service, link["id"])
    assert before[0] == 1
    service.hooks.fail("dynamodb:UpdateItem", DYNAMODB_FAULTS["throttled"])
    assert_unavailable(get(service, token_of(link), "application/pdf"))
    assert state(service, link["id"]) == before
    assert_still_redeemable(service, link, 1)


def write_then(exc: Callable[[], Exception] | None) -> Callable[[Any, dict[str, Any]], None]:
    """The claim's write happened; then its answer is lost (raise) or turned into a 500."""
    armed = [True]

    def handler(http_response: Any, parsed: dict[str, Any]) -> None:
        if not armed[0]:
            return  # the undo's own UpdateItem goes through untouched
        armed[0] = False
        if exc is not None:
            raise exc()
        http_response.status_code = 500
        parsed.clear()
        parsed.update(
            {
                "Error": {"Code": "InternalServerError", "Message": "injected"},
                "ResponseMetadata": {"HTTPStatusCode": 500},
            }
        )

    return handler


LOST_ANSWERS: dict[str, Callable[[], Exception] | None] = {
    "read-timeout": read_timeout,
    "closed": lambda: ConnectionClosedError(endpoint_url="https://dynamodb"),
    "500": None,
}


@pytest.mark.parametrize("lost", list(LOST_ANSWERS))
def test_claim_that_did_happen_but_whose_answer_was_lost_is_undone(
    service: InProcess, link: dict[str, Any], after: AfterCall, lost: str
) -> None:
    before = state(service, link["id"])
    after.handlers["dynamodb:UpdateItem"] = write_then(LOST_ANSWERS[lost])
    assert_unavailable(get(service, token_of(link), "application/pdf"))
    assert state(service, link["id"]) == before == (0, {})
    assert_still_redeemable(service, link, 0)


def test_claim_that_did_happen_and_cannot_be_undone_is_logged_with_its_claim(
    service: InProcess, link: dict[str, Any], after: AfterCall, logged: JsonLines
) -> None:
    before = state(service, link["id"])
    after.handlers["dynamodb:UpdateItem"] = write_then(read_timeout)
    service.hooks.fail("dynamodb:UpdateItem", only_calls(raising(read_timeout), 2))  # the undo
    assert_unavailable(get(service, token_of(link), "application/pdf"))
    uses, records = state(service, link["id"])
    assert (uses, len(records)) == (before[0] + 1, 1)  # spent here: an operator must act
    # The app could not tell this from a claim that never landed: it says "uncertain",
    # naming the claim id the operator finds in the item's redemptions map.
    line = assert_uncertain(logged, link["id"])
    assert set(records) == {line["claim_id"]}


def test_claim_that_never_happened_and_cannot_be_undone_names_a_claim_not_recorded(
    service: InProcess, link: dict[str, Any], logged: JsonLines
) -> None:
    # The same doubt, where the claim did not land: "USE LOST" here would be a false
    # alarm, and the claim id it names is absent from the item.
    service.hooks.fail("dynamodb:UpdateItem", only_calls(raising(read_timeout), 1, 2))
    assert_unavailable(get(service, token_of(link), "application/pdf"))
    assert state(service, link["id"]) == (0, {})
    line = assert_uncertain(logged, link["id"])
    assert line["claim_id"] not in service.item(link["id"])["redemptions"]["M"]
    assert_still_redeemable(service, link, 0)


class LostAnswers:
    """The claim's first ``lost`` HTTP attempts (every one, if None) reach DynamoDB and are
    evaluated there -- the write lands, or its condition refuses it -- but their answers
    never arrive; botocore's standard retry mode sends the same request again."""

    def __init__(self, service: InProcess, make: Callable[[], Exception], lost: int | None) -> None:
        self.service, self.make, self.lost, self.attempts = service, make, lost, 0

    def __call__(self, request: Any) -> Any:
        params = json.loads(request.body)
        if "uses + :one" not in params.get("UpdateExpression", ""):
            return None  # not a claim
        self.attempts += 1
        if self.lost is None or self.attempts <= self.lost:
            # The write lands, or the table refuses it, as it does a retry of a landed claim.
            refused = self.service.dynamodb.exceptions.ConditionalCheckFailedException
            with contextlib.suppress(refused):
                self.service.dynamodb.update_item(**params)
            raise self.make()  # ...and the answer is lost
        return None


def lost_answers(
    service: InProcess, before_send: BeforeSend, lost_kind: str, lost: int | None
) -> LostAnswers:
    handler = LostAnswers(service, LOST_ANSWERS[lost_kind] or read_timeout, lost)
    before_send.handlers["before-send.dynamodb.UpdateItem"] = handler
    return handler


@dataclass
class Retried:
    """A GET of a fresh direct link of ``uses`` uses, whose claim's answers were lost."""

    minted: dict[str, Any]
    uses: int
    handler: LostAnswers
    response: Any


@pytest.fixture(params=[1, 3], ids=lambda uses: f"{uses}-use")
def uses(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture(params=["read-timeout", "closed"])
def lost_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def retried(
    request: pytest.FixtureRequest,
    service: InProcess,
    before_send: BeforeSend,
    lost_kind: str,
    uses: int,
    logged: JsonLines,
) -> Retried:
    """``request.param``: how many of the claim's answers are lost (None: every one).
    (After ``logged``, which must hear what the GET logs.)"""
    minted = direct_link(service, uses=uses)
    handler = lost_answers(service, before_send, lost_kind, lost=request.param)
    return Retried(minted, uses, handler, get(service, token_of(minted), "application/pdf"))


@pytest.mark.parametrize("retried", [1], indirect=True, ids=["first-lost"])
def test_retried_claim_whose_first_answer_was_lost_delivers_on_one_use(
    service: InProcess, retried: Retried, logged: JsonLines
) -> None:
    # The retry's condition fails on the claim id the first attempt recorded; the store
    # recognises its own claim: delivered, one use spent, nothing undone.
    response, link_id = retried.response, retried.minted["id"]
    assert retried.handler.attempts == 2  # the fault happened: a write, a lost answer, a retry
    assert response.status_code == 200, (response.status_code, response.body[:200])
    assert response.body == SMALL
    assert response.headers["X-Remaining-Uses"] == str(retried.uses - 1)
    assert state(service, link_id)[0] == 1
    assert len(state(service, link_id)[1]) == 1
    assert not logged.marked(UNCERTAIN) and not logged.marked(LOST), logged.lines
    assert not logged.marked("undid a claim"), logged.lines


@pytest.mark.parametrize("retried", [None], indirect=True, ids=["every-lost"])
def test_retried_claim_whose_every_answer_was_lost_is_undone_and_refused(
    service: InProcess, retried: Retried, before_send: BeforeSend, logged: JsonLines
) -> None:
    # No attempt answered: the claim landed (first attempt) but the app cannot know, so it
    # undoes it -- the undo is answered -- and refuses: 503, nothing spent.
    assert retried.handler.attempts >= 2  # retried, and no attempt answered
    assert_unavailable(retried.response)
    assert SMALL[:64] not in retried.response.body
    assert state(service, retried.minted["id"]) == (0, {})
    assert len(logged.marked("undid a claim whose answer was lost", retried.minted["id"])) == 1
    assert not logged.marked(UNCERTAIN) and not logged.marked(LOST), logged.lines
    del before_send.handlers["before-send.dynamodb.UpdateItem"]
    assert_still_redeemable(service, retried.minted, 0)


# ---------------------------------------------------------------- S3 after the claim


@pytest.mark.parametrize("fault", list(S3_FAULTS))
def test_s3_failing_after_the_claim_gives_the_use_back(
    service: InProcess, link: dict[str, Any], fault: str
) -> None:
    before = state(service, link["id"])
    service.hooks.fail("s3:GetObject", S3_FAULTS[fault])
    assert_unavailable(get(service, token_of(link), "application/pdf"))
    assert state(service, link["id"]) == before == (0, {})
    assert_still_redeemable(service, link, 0)


class BrokenRaw:
    """A raw HTTP body that fails while being read."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def read(self, amt: int | None = None) -> bytes:
        raise self.error

    def readinto(self, buffer: Any) -> int:
        raise self.error

    def close(self) -> None:
        pass


def broken(error: Exception) -> IO[bytes]:
    # StreamingBody only ever calls read() and readinto() on its raw stream.
    return cast(IO[bytes], BrokenRaw(error))


BODY_FAULTS: dict[str, Callable[[], StreamingBody]] = {
    # The connection ends early and nothing notices: the length check must.
    "short-body": lambda: StreamingBody(io.BytesIO(SMALL[:1000]), 1000),
    # botocore notices the short read: IncompleteReadError.
    "incomplete-read": lambda: StreamingBody(io.BytesIO(SMALL[:1000]), len(SMALL)),
    # The stream breaks: ResponseStreamingError.
    "protocol-error": lambda: StreamingBody(
        broken(urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead")),
        len(SMALL),
    ),
    # A read timeout while streaming: botocore's ReadTimeoutError.
    "read-timeout": lambda: StreamingBody(
        broken(urllib3.exceptions.ReadTimeoutError(None, "https://s3", "Read timed out.")),  # type: ignore[arg-type]
        len(SMALL),
    ),
    # A socket error urllib3 did not wrap.
    "reset": lambda: StreamingBody(
        broken(ConnectionResetError(104, "reset")),
        len(SMALL),
    ),
    "empty": lambda: StreamingBody(io.BytesIO(b""), 0),
}


@pytest.mark.parametrize("damage", list(BODY_FAULTS))
def test_s3_body_damaged_after_the_claim_gives_the_use_back(
    service: InProcess, link: dict[str, Any], after: AfterCall, damage: str
) -> None:
    before = state(service, link["id"])

    def damaged(http_response: Any, parsed: dict[str, Any]) -> None:
        parsed["Body"] = BODY_FAULTS[damage]()

    after.handlers["s3:GetObject"] = damaged
    response = get(service, token_of(link), "application/pdf")
    assert_unavailable(response)
    assert SMALL[:1000] not in response.body
    assert state(service, link["id"]) == before == (0, {})
    del after.handlers["s3:GetObject"]
    assert_still_redeemable(service, link, 0)


GIVE_BACK_FAULTS: dict[str, Fault] = {
    "500": aws_error("InternalServerError", 500),
    "throttled": aws_error("ThrottlingException", 400),
    "read-timeout": raising(read_timeout),
}


@pytest.mark.parametrize("give_back", list(GIVE_BACK_FAULTS))
def test_give_back_failing_too_is_503_and_logs_use_lost(
    service: InProcess, link: dict[str, Any], logged: JsonLines, give_back: str
) -> None:
    before = state(service, link["id"])
    service.hooks.fail("s3:GetObject", S3_FAULTS["read-timeout"])
    # UpdateItem 1 is the claim (goes through), 2 is the give-back (fails).
    service.hooks.fail("dynamodb:UpdateItem", only_calls(GIVE_BACK_FAULTS[give_back], 2))
    assert_unavailable(get(service, token_of(link), "application/pdf"))
    lost = logged.marked(LOST, link["id"])
    assert len(lost) == 1, logged.lines
    assert lost[0]["level"] == "ERROR"
    assert lost[0]["message"].startswith("USE LOST:")
    assert not logged.marked(UNCERTAIN), logged.lines  # the claim's answer did arrive
    uses, records = state(service, link["id"])
    # The use really is lost; the log names the claim an operator must undo.
    assert (uses, len(records)) == (before[0] + 1, 1)
    assert lost[0]["claim_id"] in records
    assert lost[0]["request_id"]


# ---------------------------------------------------------------- the file changed


@pytest.fixture
def unversioned(service: InProcess, monkeypatch: pytest.MonkeyPatch) -> InProcess:
    service.s3.create_bucket(Bucket="plain-bucket")
    monkeypatch.setenv("ONETIME_BUCKET", "plain-bucket")
    reset_app_caches()
    service.bucket = "plain-bucket"
    return service


def replace(service: InProcess) -> None:
    service.put(KEY, b"not the minted bytes")


def delete(service: InProcess) -> None:
    service.s3.delete_object(Bucket=service.bucket, Key=KEY)


CHANGES = {"replaced": replace, "deleted": delete}


@pytest.mark.parametrize("change", list(CHANGES))
def test_unversioned_file_changed_is_410_and_the_use_given_back(
    unversioned: InProcess, change: str
) -> None:
    service = unversioned
    minted = direct_link(service)
    assert "version_id" not in service.item(minted["id"])
    CHANGES[change](service)
    before = state(service, minted["id"])
    for _ in range(2):  # and again: still file_changed, never link_used
        response = get(service, token_of(minted), "application/pdf")
        assert response.status_code == 410
        assert response.json_body["error"] == "file_changed"
        assert b"not the minted bytes" not in response.body
        assert state(service, minted["id"]) == before == (0, {})
    page = get(service, token_of(minted), BROWSER_ACCEPT)
    assert page.status_code == 410
    assert page.headers["Content-Type"].startswith("text/html")
    text = page.body.decode()
    assert "removed or replaced after the link was made" in text
    assert "<form" not in text  # never a Download button for a file that is not there
    assert b"not the minted bytes" not in page.body
    assert state(service, minted["id"]) == before


def test_unversioned_file_changed_and_give_back_failing_logs_use_lost(
    unversioned: InProcess, logged: JsonLines
) -> None:
    service = unversioned
    minted = direct_link(service)
    replace(service)
    service.hooks.fail("dynamodb:UpdateItem", only_calls(DYNAMODB_FAULTS["500"], 2))
    response = get(service, token_of(minted), "application/pdf")
    assert response.status_code == 410
    assert response.json_body["error"] == "file_changed"
    assert b"not the minted bytes" not in response.body
    # The claim certainly landed and the give-back certainly failed: a loss, not a doubt.
    lost = logged.marked(LOST, minted["id"])
    assert len(lost) == 1, logged.lines
    assert lost[0]["level"] == "ERROR"
    assert not logged.marked(UNCERTAIN), logged.lines
    uses, records = state(service, minted["id"])
    assert (uses, set(records)) == (1, {lost[0]["claim_id"]})


@pytest.mark.parametrize("change", list(CHANGES))
def test_versioned_stream_serves_the_pinned_version(service: InProcess, change: str) -> None:
    minted = direct_link(service)
    CHANGES[change](service)
    assert state(service, minted["id"]) == (0, {})
    response = get(service, token_of(minted), "application/pdf")
    # The fetch names the minted VersionId (and ETag): the replacement or the delete
    # marker on top never decides what arrives.
    assert response.status_code == 200, (response.status_code, response.body[:200])
    assert response.body == SMALL
    assert response.headers["X-Remaining-Uses"] == "0"
    uses, records = state(service, minted["id"])
    assert (uses, len(records)) == (1, 1)
    again = get(service, token_of(minted), "application/pdf")
    assert (again.status_code, again.json_body["error"]) == (410, "link_used")


@pytest.mark.parametrize("change", list(CHANGES))
def test_versioned_redirect_carries_the_pinned_version(service: InProcess, change: str) -> None:
    minted = direct_link(service)
    version = service.item(minted["id"])["version_id"]["S"]
    CHANGES[change](service)
    response = get(service, token_of(minted), "*/*")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["versionId"] == [version]
    pinned = service.s3.get_object(Bucket=service.bucket, Key=KEY, VersionId=version)
    assert pinned["Body"].read() == SMALL
    uses, records = state(service, minted["id"])
    assert (uses, len(records)) == (1, 1)


def test_versioned_pinned_version_destroyed_is_410_and_the_use_given_back(
    service: InProcess,
) -> None:
    minted = direct_link(service)
    version = service.item(minted["id"])["version_id"]["S"]
    replace(service)
    service.s3.delete_object(Bucket=service.bucket, Key=KEY, VersionId=version)
    before = state(service, minted["id"])
    response = get(service, token_of(minted), "application/pdf")
    assert response.status_code == 410
    assert response.json_body["error"] == "file_changed"
    assert b"not the minted bytes" not in response.body
    assert state(service, minted["id"]) == before == (0, {})


# ---------------------------------------------------------------- the other paths


def test_landing_page_survives_a_failed_visit_record(service: InProcess) -> None:
    """Recording a visit is best-effort: with the write failing (a scanner storm's
    throttling, say) the page is still shown from a read, and nothing is spent."""
    service.put(KEY, SMALL)
    minted = service.mint(KEY)  # confirm=true: a browser's GET shows the landing page
    before = state(service, minted["id"])
    service.hooks.fail("dynamodb:UpdateItem", DYNAMODB_FAULTS["throttled"])
    page = get(service, token_of(minted), BROWSER_ACCEPT)
    assert page.status_code == 200
    assert b"Download" in page.body
    assert state(service, minted["id"]) == before == (0, {})
    assert "seen_page" not in service.item(minted["id"])  # skipped, not half-written
    service.hooks.faults.clear()
    assert get(service, token_of(minted), BROWSER_ACCEPT).status_code == 200
    assert service.item(minted["id"])["seen_page"] == {"N": "1"}


def test_landing_page_with_dynamodb_down_is_503_and_spends_nothing(service: InProcess) -> None:
    service.put(KEY, SMALL)
    minted = service.mint(KEY)
    for operation in ("dynamodb:UpdateItem", "dynamodb:GetItem"):
        service.hooks.fail(operation, DYNAMODB_FAULTS["read-timeout"])
    assert_unavailable(get(service, token_of(minted), BROWSER_ACCEPT))
    service.hooks.faults.clear()
    assert state(service, minted["id"]) == (0, {})


def test_head_with_dynamodb_failing_is_503_and_spends_nothing(
    service: InProcess, link: dict[str, Any]
) -> None:
    for operation in ("dynamodb:UpdateItem", "dynamodb:GetItem"):
        service.hooks.fail(operation, DYNAMODB_FAULTS["500"])
    response = service.client.http.head(f"/download?token={token_of(link)}")
    assert response.status_code == 503
    assert response.body == b""
    assert response.headers["Retry-After"] == "5"
    service.hooks.faults.clear()
    assert state(service, link["id"]) == (0, {})


@pytest.mark.parametrize(
    ("operation", "fault"),
    [
        ("s3:HeadObject", S3_FAULTS["read-timeout"]),
        ("s3:HeadObject", S3_FAULTS["500"]),
        ("dynamodb:PutItem", DYNAMODB_FAULTS["throttled"]),
        ("dynamodb:PutItem", DYNAMODB_FAULTS["connect-timeout"]),
    ],
    ids=["head-timeout", "head-500", "put-throttled", "put-connect-timeout"],
)
def test_mint_failing_is_503_and_writes_nothing(
    service: InProcess, operation: str, fault: Fault
) -> None:
    service.put(KEY, SMALL)
    service.hooks.fail(operation, fault)
    response = service.client.http.get(f"/get-link?file={KEY}", headers=service.auth())
    assert_unavailable(response)
    assert service.table_items() == []


@pytest.mark.parametrize(
    ("method", "body"),
    [("PATCH", {"max_uses": 5}), ("PATCH", {"ttl": 60}), ("DELETE", None)],
    ids=["limit", "ttl", "revoke"],
)
def test_operator_change_failing_is_503_and_changes_nothing(
    service: InProcess, link: dict[str, Any], method: str, body: Any
) -> None:
    before = service.item(link["id"])
    service.hooks.fail("dynamodb:UpdateItem", DYNAMODB_FAULTS["throttled"])
    response = service.client.http.request(
        method,
        f"/links/{link['id']}",
        headers={**service.auth(), "Content-Type": "application/json"},
        body=json.dumps(body).encode() if body is not None else b"",
    )
    assert_unavailable(response)
    assert service.item(link["id"]) == before


@pytest.mark.parametrize(
    ("operation", "path"),
    [("dynamodb:GetItem", "/links/{id}"), ("dynamodb:Query", f"/links?file={KEY}")],
    ids=["show", "list"],
)
def test_operator_reads_failing_are_503(
    service: InProcess, link: dict[str, Any], operation: str, path: str
) -> None:
    service.hooks.fail(operation, DYNAMODB_FAULTS["read-timeout"])
    response = service.client.http.get(path.format(id=link["id"]), headers=service.auth())
    assert_unavailable(response)
