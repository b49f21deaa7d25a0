"""File requests over HTTP: chalice local on dynalite, and the upload posted for real to
moto server with the page's own form fields, as a browser without JavaScript would.

moto does not check a POST policy (content-length-range included), which is why the
confirmation checks the object itself: an oversized file that S3 would have refused gets
as far as the confirmation here, and must be refused there.
"""

from __future__ import annotations

import copy
import html
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest
import requests
from botocore.exceptions import ClientError, ReadTimeoutError
from chalice.test import Client

from tests.helpers import BROWSER_ACCEPT, operator
from tools.stack import Stack

TIMEOUT = 30
PDF = b"%PDF-1.7 " + bytes(range(256)) * 64
NAME = "Relevé de compte n°7.pdf"


def make_request(stack: Stack, **fields: Any) -> dict[str, Any]:
    made: dict[str, Any] = operator(stack, "POST", "/requests", 201, json=fields)
    return made


def state(stack: Stack, request_id: str) -> dict[str, Any]:
    found: dict[str, Any] = operator(stack, "GET", f"/requests/{request_id}")
    return found


def page_form(url: str) -> tuple[str, dict[str, str]]:
    page = requests.get(url, headers={"Accept": BROWSER_ACCEPT}, timeout=TIMEOUT)
    assert page.status_code == 200, page.text
    action = re.search(r'<form id="upload" method="post" action="([^"]+)"', page.text)
    assert action is not None
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text
        )
    }
    return html.unescape(action.group(1)), fields


def post_to_s3(url: str, body: bytes = PDF, name: str = NAME) -> str:
    """Send the page's form to S3 as a browser would; the address S3 sends it on to."""
    action, fields = page_form(url)
    posted = requests.post(
        action,
        data=fields,
        files={"file": (name, body, "application/pdf")},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert posted.status_code == 303, posted.text
    location: str = posted.headers["Location"]
    return location


def links_for(stack: Stack, request_id: str) -> list[dict[str, Any]]:
    """Download links minted to files sent through this request (a scan of the test's
    own table: it holds this session's items only)."""
    items = stack.client("dynamodb").scan(TableName=stack.table)["Items"]
    return [
        i
        for i in items
        if i["pk"]["S"].startswith("link#") and i["file"]["S"].startswith(f"requests/{request_id}/")
    ]


def test_the_form_posts_to_s3_which_sends_the_browser_to_the_confirmation(
    stack: Stack,
) -> None:
    made = make_request(stack, max_size=len(PDF), content_types=["application/pdf"])
    done = post_to_s3(made["url"])
    assert done.startswith(f"{stack.base_url}/upload/done?")
    query = parse_qs(urlsplit(done).query)
    key = query["key"][0]
    assert key.startswith(f"requests/{made['id']}/") and key.endswith("/" + NAME)
    # (moto ignores the form's tagging field, which AWS would store as "pending".)
    received = requests.get(done, headers={"Accept": BROWSER_ACCEPT}, timeout=TIMEOUT)
    assert received.status_code == 201
    link = re.search(r'id="link" type="text" readonly value="([^"]+)"', received.text)
    assert link is not None
    fetched = requests.post(
        f"{stack.base_url}/download",
        data={"token": parse_qs(urlsplit(html.unescape(link.group(1))).query)["token"][0]},
        headers={"Accept": "application/octet-stream"},
        timeout=TIMEOUT,
    )
    assert fetched.status_code == 200 and fetched.content == PDF
    tags = stack.client("s3").get_object_tagging(Bucket=stack.bucket, Key=key)["TagSet"]
    assert tags == [{"Key": "onetime-upload", "Value": "confirmed"}]
    assert state(stack, made["id"])["status"] == "used"


def test_an_oversized_upload_is_refused_at_confirmation_with_nothing_minted(
    stack: Stack,
) -> None:
    made = make_request(stack, max_size=1000)
    done = post_to_s3(made["url"], body=b"x" * 1001)  # S3 would refuse it; moto does not
    refused = requests.get(done, headers={"Accept": BROWSER_ACCEPT}, timeout=TIMEOUT)
    assert refused.status_code == 413
    assert "This file is too big" in refused.text
    assert links_for(stack, made["id"]) == []
    assert state(stack, made["id"])["files"] == 0


def test_a_second_confirmation_of_the_same_upload_is_refused(stack: Stack) -> None:
    made = make_request(stack, files=2)
    done = post_to_s3(made["url"])
    first = requests.get(done, headers={"Accept": BROWSER_ACCEPT}, timeout=TIMEOUT)
    assert first.status_code == 201
    again = requests.get(done, headers={"Accept": BROWSER_ACCEPT}, timeout=TIMEOUT)
    assert again.status_code == 409 and "already received" in again.text
    assert len(links_for(stack, made["id"])) == 1
    assert state(stack, made["id"])["files"] == 1


def test_a_scanners_get_and_head_of_the_page_spend_nothing(stack: Stack) -> None:
    made = make_request(stack)
    for accept in (BROWSER_ACCEPT, "*/*", None):
        headers = {"Accept": accept} if accept else {}
        assert requests.get(made["url"], headers=headers, timeout=TIMEOUT).status_code == 200
        assert requests.head(made["url"], headers=headers, timeout=TIMEOUT).status_code == 200
    assert state(stack, made["id"])["files"] == 0
    assert state(stack, made["id"])["status"] == "active"


def test_concurrent_confirmations_of_a_single_file_request_mint_one_link(
    stack: Stack,
) -> None:
    made = make_request(stack)
    # Six different uploads, each confirmed twice at once: twelve contenders for one file.
    targets = [post_to_s3(made["url"], name=f"part {n}.pdf") for n in range(6)] * 2
    sessions = [requests.Session() for _ in targets]
    for session in sessions:  # connections opened before the race (chalice local's backlog)
        assert session.get(f"{stack.base_url}/health", timeout=TIMEOUT).status_code == 200
    barrier = threading.Barrier(len(targets))
    statuses: list[int] = []

    def confirm(session: requests.Session, url: str) -> None:
        barrier.wait(timeout=TIMEOUT)
        response = session.get(url, headers={"Accept": BROWSER_ACCEPT}, timeout=TIMEOUT)
        statuses.append(response.status_code)

    threads = [
        threading.Thread(target=confirm, args=pair) for pair in zip(sessions, targets, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    assert sorted(statuses).count(201) == 1, statuses
    assert set(statuses) <= {201, 409, 410}, statuses
    # A contender that read the request before the winner took it minted a link, then lost
    # the conditional write and withdrew it: one link stays live.
    live = [i for i in links_for(stack, made["id"]) if "revoked_at" not in i]
    assert len(live) == 1
    after = state(stack, made["id"])
    assert after["files"] == 1 and len(after["received"]) == 1


RACE_ROUNDS = 20


def race_confirm(
    barrier: threading.Barrier,
    answers: list[tuple[str, requests.Response]],
    session: requests.Session,
    url: str,
) -> None:
    barrier.wait(timeout=TIMEOUT)
    response = session.get(url, headers={"Accept": "application/json"}, timeout=TIMEOUT)
    answers.append((url, response))


def test_confirmation_races_take_one_receipt_per_upload_and_never_more_than_files(
    stack: Stack,
) -> None:
    """Confirmation x confirmation (issue 20), on dynalite: two uploads, each confirmed
    twice at once, against a request for one file (odd rounds) or two (even rounds).
    Every round: one receipt per upload at most, never more receipts than ``files``, each
    201 carries a link that downloads the file, and the only live links are the receipts'.
    """
    sessions = [requests.Session() for _ in range(4)]
    for session in sessions:  # connections opened before the race (chalice local's backlog)
        assert session.get(f"{stack.base_url}/health", timeout=TIMEOUT).status_code == 200
    for round_number in range(RACE_ROUNDS):
        files = 1 + round_number % 2
        made = make_request(stack, files=files)
        uploads = [post_to_s3(made["url"], name=f"r{round_number} {n}.pdf") for n in range(2)]
        targets = [uploads[0], uploads[1], uploads[0], uploads[1]]
        barrier = threading.Barrier(len(targets))
        answers: list[tuple[str, requests.Response]] = []
        threads = [
            threading.Thread(target=race_confirm, args=(barrier, answers, session, url))
            for session, url in zip(sessions, targets, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=TIMEOUT)
        assert len(answers) == len(targets), f"round {round_number}: a contender hung"
        statuses = sorted(response.status_code for _, response in answers)
        won = [(url, response) for url, response in answers if response.status_code == 201]
        assert set(statuses) <= {201, 409, 410}, (round_number, statuses)
        assert len(won) == files, (round_number, statuses)
        assert len({url for url, _ in won}) == files  # one receipt per upload
        after = state(stack, made["id"])
        assert after["files"] == files == len(after["received"]), (round_number, after)
        receipts = {r["link_id"] for r in after["received"]}
        assert {response.json()["id"] for _, response in won} == receipts
        live = {
            i["pk"]["S"].removeprefix("link#")
            for i in links_for(stack, made["id"])
            if "revoked_at" not in i
        }
        assert live == receipts, (round_number, live, receipts)
        for _, response in won:
            fetched = requests.post(
                f"{stack.base_url}/download",
                data={"token": parse_qs(urlsplit(response.json()["url"]).query)["token"][0]},
                headers={"Accept": "application/octet-stream"},
                timeout=TIMEOUT,
            )
            assert fetched.status_code == 200 and fetched.content == PDF


# Break 2 at the stack tier: the app in this process on dynalite and moto server, the
# receive's UpdateItem stalled through botocore's event hooks.


class StalledReceive:
    """Stalls the next receive (the UpdateItem that adds a file): ``lost`` lets it run and
    then loses its answer; ``late`` keeps its parameters and answers a timeout, so the test
    can send the same write after the app has answered."""

    def __init__(self) -> None:
        self.mode: str | None = None
        self.stalling = False
        self.held: dict[str, Any] | None = None

    def parameters(self, params: dict[str, Any], **_: Any) -> None:
        if self.mode and str(params.get("UpdateExpression", "")).startswith("SET files = files +"):
            self.stalling = True
            if self.mode == "late":
                self.held = copy.deepcopy(params)

    def before_call(self, **_: Any) -> None:
        if self.stalling and self.mode == "late":
            self.mode, self.stalling = None, False
            raise ReadTimeoutError(endpoint_url="dynalite")

    def after_call(self, **_: Any) -> None:
        if self.stalling and self.mode == "lost":
            self.mode, self.stalling = None, False
            raise ReadTimeoutError(endpoint_url="dynalite")


@pytest.fixture
def in_process(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Client, StalledReceive]]:
    import app as app_module

    for name, value in stack.app_env().items():
        monkeypatch.setenv(name, value)
    stall = StalledReceive()
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    events = boto3.DEFAULT_SESSION.events
    events.register("before-parameter-build.dynamodb.UpdateItem", stall.parameters)
    events.register("before-call.dynamodb.UpdateItem", stall.before_call)
    events.register("after-call.dynamodb.UpdateItem", stall.after_call)
    app_module.configure()
    try:
        with Client(app_module.app, stage_name="local") as client:
            yield client, stall
    finally:
        boto3.setup_default_session()
        app_module.configure()


@pytest.mark.parametrize("mode", ["lost", "late"])
def test_a_stalled_receive_on_dynalite_counts_nothing_and_a_reload_finishes(
    stack: Stack, in_process: tuple[Client, StalledReceive], mode: str
) -> None:
    client, stall = in_process
    auth = {"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"}
    made = client.http.post("/requests", headers=auth, body=b"{}").json_body
    url = urlsplit(made["url"])
    token = parse_qs(url.query)["token"][0]
    page = client.http.get(f"{url.path}?{url.query}", headers={"Accept": BROWSER_ACCEPT})
    found = re.search(r'name="key" value="([^"]+)"', page.body.decode())
    assert found is not None, page.body
    key = html.unescape(found.group(1)).replace("${filename}", "stalled.pdf")
    stack.client("s3").put_object(
        Bucket=stack.bucket, Key=key, Body=PDF, ContentType="application/pdf"
    )
    done = f"/upload/done?{urlencode({'token': token, 'key': key})}"
    json_accept = {"Accept": "application/json"}
    stall.mode = mode
    assert client.http.get(done, headers=json_accept).status_code == 503
    if mode == "late":  # the held write arrives now, after the uploader was told to retry
        assert stall.held is not None
        with pytest.raises(ClientError) as refused:
            stack.client("dynamodb").update_item(**stall.held)
        assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    after = state(stack, made["id"])
    assert (after["files"], after["received"]) == (0, [])
    assert [i for i in links_for(stack, made["id"]) if "revoked_at" not in i] == []
    reload = client.http.get(done, headers=json_accept)  # the uploader's reload
    assert reload.status_code == 201, reload.body
    after = state(stack, made["id"])
    assert after["files"] == 1 and [r["link_id"] for r in after["received"]] == [
        reload.json_body["id"]
    ]
    fetched = requests.post(
        f"{stack.base_url}/download",
        data={"token": parse_qs(urlsplit(reload.json_body["url"]).query)["token"][0]},
        headers={"Accept": "application/octet-stream"},
        timeout=TIMEOUT,
    )
    assert fetched.status_code == 200 and fetched.content == PDF
