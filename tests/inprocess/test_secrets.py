"""Secrets stay secret: no token, no token's secret half and no presigned-URL signature is
ever stored in the table or written to the app's logs.

Over HTTP (the stack): links are minted, landed on, redeemed (stream and redirect),
refused, inspected and revoked; then the dynalite table and every JSON line the app
wrote (the stack's log files; the dev server's own access lines, which are not JSON, are
not the app's) are searched for those tokens and signatures -- and for anything shaped
like a token at all, so links minted by every earlier test of the session count too.
In-process, the ``onetime`` logger is captured through a mint, a landing page, redemptions,
refusals and faults (including "USE UNCERTAIN" and "USE LOST") and searched the same way.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from botocore.exceptions import ReadTimeoutError

from tests.helpers import (
    API_KEY,
    BROWSER_ACCEPT,
    InProcess,
    JsonLines,
    app_log,
    aws_error,
    operator,
    redeem,
    sent,
    token_of,
)
from tests.inprocess.notifying import (
    NOTIFY,
    Receiver,
    Stream,
    mint,
    modified,
    notifier,
    ttl_deleted,
    turn_on,
)
from tools.samples import LARGE_SAMPLE, SMALL_SAMPLE
from tools.stack import Stack

TIMEOUT = 30
# A token anywhere, not part of a longer run (a 64-hex SHA-256 digest is not one).
TOKEN_SHAPE = re.compile(r"(?<![A-Za-z0-9_-])[a-z2-7]{16}[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
SIGNATURE_MARKS = ("X-Amz-Signature", "X-Amz-Credential", "Signature=")


def signature_of(location: str) -> str:
    return str(parse_qs(urlsplit(location).query)["X-Amz-Signature"][0])


def secrets_in(text: str, tokens: list[str], signatures: list[str]) -> list[str]:
    """Every secret (or secret-shaped string) found in ``text``."""
    found = [t for t in tokens if t in text]
    found += [f"secret half of {t[:16]}" for t in tokens if t[16:] in text]
    found += [f"signature {s[:8]}…" for s in signatures if s in text]
    found += [f"token-shaped {m[:16]}…" for m in TOKEN_SHAPE.findall(text)]
    found += [mark for mark in SIGNATURE_MARKS if mark in text]
    if API_KEY in text:
        found.append("the API key")
    return found


# ---------------------------------------------------------------- over HTTP


class Session:
    """A client of the stack that keeps every token and signature it was given."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = requests.Session()
        # No cookie jar: each request stands alone, so a used link answers 410 here.  The
        # download sessions it is handed are secrets too, and searched for like tokens.
        self.http.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self.tokens: list[str] = []
        self.signatures: list[str] = []
        self.ids: list[str] = []

    def mint(self, key: str, **params: Any) -> str:
        fields = {"file": key, **params}
        if fields.pop("post", False):
            minted = operator(self.stack, "POST", "/links", 201, json=fields, http=self.http)
        else:
            minted = operator(self.stack, "GET", "/get-link", params=fields, http=self.http)
        url: str = minted["url"]
        self.tokens.append(token_of(url))
        self.ids.append(minted["id"])
        return url

    def get(self, url: str, accept: str) -> requests.Response:
        response = self.http.get(
            url, headers={"Accept": accept}, allow_redirects=False, timeout=TIMEOUT
        )
        if "X-Amz-Signature" in response.headers.get("Location", ""):
            self.signatures.append(signature_of(response.headers["Location"]))
        if "X-Download-Session" in response.headers:
            self.tokens.append(response.headers["X-Download-Session"].split(".", 1)[1])
        return response


def app_log_lines(log_dir: Path) -> list[dict[str, Any]]:
    """The app's own log lines: those that are JSON objects."""
    lines = []
    for path in sorted(log_dir.glob("*.log")):
        for line in path.read_text("utf-8", "replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # the dev server's access lines, boto3's notices, the stand-ins'
            if isinstance(entry, dict):
                lines.append(entry)
    return lines


def scan_table(stack: Stack) -> str:
    items = []
    for page in stack.client("dynamodb").get_paginator("scan").paginate(TableName=stack.table):
        items += page["Items"]
    assert items
    return json.dumps(items, ensure_ascii=False)


def test_no_secret_in_the_table_or_the_app_logs(stack: Stack) -> None:
    client = Session(stack)
    base = stack.base_url

    # Landing page (confirm=true): nothing spent, the token is only in the page itself.
    landing = client.mint(SMALL_SAMPLE)
    assert client.get(landing, BROWSER_ACCEPT).status_code == 200
    assert requests.head(landing, timeout=TIMEOUT).status_code == 200
    # Redeemed by the page's POST, streamed; then refused.
    posted = client.http.post(
        f"{base}/download",
        data={"token": token_of(landing)},
        headers={"Accept": BROWSER_ACCEPT},
        timeout=TIMEOUT,
    )
    assert posted.status_code == 200
    assert client.get(landing, "application/json").status_code == 410
    # Streamed to an API client, twice, then used up.
    streamed = client.mint(SMALL_SAMPLE, uses=2, confirm=False, post=True)
    for _ in range(2):
        assert client.get(streamed, "application/pdf").status_code == 200
    assert client.get(streamed, "application/pdf").status_code == 410
    # Redirected, with a presigned URL whose signature must go nowhere.
    for _ in range(3):
        redirected = client.mint(LARGE_SAMPLE, confirm="false")
        assert client.get(redirected, "*/*").status_code == 302
        assert client.get(redirected, BROWSER_ACCEPT).status_code == 410
    # Refused: wrong secret, damaged, unknown; expired by revocation.
    token = token_of(client.mint(SMALL_SAMPLE, confirm="false"))
    wrong = token[:16] + ("A" if token[16] != "A" else "B") + token[17:]
    assert client.get(f"{base}/download?token={wrong}", "*/*").status_code == 404
    assert client.get(f"{base}/download?token={token}x", "*/*").status_code == 400
    assert client.get(f"{base}/download?token={token}&token={token}", "*/*").status_code == 400
    revoked = client.ids[-1]
    auth = {"Authorization": f"Bearer {stack.api_key}"}
    assert client.http.delete(f"{base}/links/{revoked}", headers=auth, timeout=30).ok
    assert client.get(f"{base}/download?token={token}", BROWSER_ACCEPT).status_code == 410
    # What operators see of every one of them.
    for link_id in client.ids:
        shown = client.http.get(f"{base}/links/{link_id}", headers=auth, timeout=TIMEOUT)
        assert shown.status_code == 200
        assert not secrets_in(shown.text, client.tokens, client.signatures)
    listed = client.http.get(
        f"{base}/links", params={"file": SMALL_SAMPLE}, headers=auth, timeout=TIMEOUT
    )
    assert not secrets_in(listed.text, client.tokens, client.signatures)
    assert len(client.signatures) == 3

    assert not secrets_in(scan_table(stack), client.tokens, client.signatures)

    assert stack.log_dir is not None
    lines = app_log_lines(stack.log_dir)
    # The search reads the right log: every link of this test is in it, by its id.
    logged = json.dumps(lines, ensure_ascii=False)
    assert all(link_id in logged for link_id in client.ids)
    leaks = {
        found
        for line in lines
        for found in secrets_in(
            json.dumps(line, ensure_ascii=False), client.tokens, client.signatures
        )
    }
    assert not leaks, leaks
    # Nor any other line the API's process wrote: chalice local's own access lines
    # are redacted on their way to the file (tools/stack.py).  (moto.log is the S3
    # stand-in's access log: like S3's own server access logs, it records the
    # presigned URLs it was asked for, signatures included.)
    api_log = (stack.log_dir / "chalice.log").read_text(encoding="utf-8", errors="replace")
    assert "GET /download?token=<redacted>" in api_log  # the access lines are there
    assert not secrets_in(api_log, client.tokens, client.signatures)


# ---------------------------------------------------------------- in-process


@pytest.fixture
def captured() -> Iterator[JsonLines]:
    with app_log(logging.DEBUG) as capture:  # whatever the app would log at any level
        yield capture


SMALL = bytes(range(256)) * 40


def test_no_secret_in_the_log_in_process(service: InProcess, captured: JsonLines) -> None:
    tokens: list[str] = []
    signatures: list[str] = []
    http = service.client.http
    service.put("secret/report.pdf", SMALL)

    def mint(**params: Any) -> str:
        url = service.mint("secret/report.pdf", **params)["url"]
        tokens.append(token_of(url))
        return tokens[-1]

    def get(token: str, accept: str) -> Any:
        response = http.get(f"/download?token={token}", headers={"Accept": accept})
        if "X-Amz-Signature" in response.headers.get("Location", ""):
            signatures.append(signature_of(response.headers["Location"]))
        return response

    # Mint (both ways), landing page, HEAD, the page's POST.
    landing = mint(uses=3)
    body = json.dumps({"file": "secret/report.pdf", "confirm": False}).encode()
    created = http.post(
        "/links", headers={**service.auth(), "Content-Type": "application/json"}, body=body
    )
    assert created.status_code == 201
    tokens.append(token_of(created.json_body["url"]))
    assert get(landing, BROWSER_ACCEPT).status_code == 200
    assert http.head(f"/download?token={landing}").status_code == 200
    posted = http.post(
        "/download",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": BROWSER_ACCEPT},
        body=f"token={landing}",
    )
    assert posted.status_code == 200
    # A GET that must confirm; stream, redirect and refusals by POST.
    assert get(landing, "*/*").status_code == 409

    def post(token: str, accept: str) -> Any:
        response = http.post(
            "/download",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": accept},
            body=f"token={token}",
        )
        if "X-Amz-Signature" in response.headers.get("Location", ""):
            signatures.append(signature_of(response.headers["Location"]))
        return response

    assert post(landing, "application/pdf").status_code == 200
    assert post(landing, "*/*").status_code == 302
    assert post(landing, "*/*").status_code == 410
    assert post(landing[:16] + "A" * 43, "*/*").status_code == 404
    assert post(landing + "x", "*/*").status_code == 400
    # Faults: DynamoDB down on the claim; S3 failing after it; the give-back failing too.
    faulty = mint(uses=5, confirm="false")
    service.hooks.fail("dynamodb:UpdateItem", aws_error("InternalServerError", 500))
    assert get(faulty, "application/pdf").status_code == 503
    service.hooks.faults.clear()

    def timeout() -> Any:
        raise ReadTimeoutError(endpoint_url="https://s3.amazonaws.com")

    service.hooks.fail("s3:GetObject", timeout)
    assert get(faulty, "application/pdf").status_code == 503
    calls = [0]

    def second_update_fails() -> Any:
        calls[0] += 1
        return aws_error("InternalServerError", 500)() if calls[0] == 2 else None

    service.hooks.fail("dynamodb:UpdateItem", second_update_fails)
    assert get(faulty, "application/pdf").status_code == 503
    service.hooks.faults.clear()

    assert len(signatures) == 1 and len(tokens) == 3
    text = "\n".join(captured.lines)
    # The faults were logged, so the search covers their lines: the claim failing with its
    # undo (a doubt) and the give-back failing after a claim that landed (a certain loss).
    assert "USE UNCERTAIN" in text and "USE LOST" in text
    assert not secrets_in(text, tokens, signatures), secrets_in(text, tokens, signatures)
    table = json.dumps(service.table_items(), ensure_ascii=False)
    assert not secrets_in(table, tokens, signatures), secrets_in(table, tokens, signatures)


# ---------------------------------------------------------------- "token", spelled otherwise

# chalice local percent-decodes query parameter names (parse_qs) before the app reads
# "token", so each of these redeems the link (hex digits in either case), and each
# must be redacted in the log.
ENCODED_NAMES = ["tok%65n", "%74oken", "%74%6F%6b%65n"]


def raw_get(stack: Stack, target: str) -> int:
    """A GET of exactly ``target``: requests would re-quote %65 back to "e" before sending."""
    connection = http.client.HTTPConnection("127.0.0.1", stack.api_port, timeout=TIMEOUT)
    try:
        connection.request("GET", target, headers={"Accept": "*/*"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def logged_line_with(log_dir: Path, needle: str) -> str:
    """The first line of any log holding ``needle``, once the copier has written it."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        for path in sorted(log_dir.glob("*.log")):
            for line in path.read_text("utf-8", "replace").splitlines():
                if needle in line:
                    return line
        time.sleep(0.1)
    raise AssertionError(f"no log line holds {needle!r} within {TIMEOUT} s")


@pytest.mark.parametrize("name", ENCODED_NAMES)
def test_no_token_in_the_logs_whatever_the_spelling_of_its_name(stack: Stack, name: str) -> None:
    client = Session(stack)
    token = token_of(client.mint(SMALL_SAMPLE, confirm="false"))
    # Redeemed: the app saw "token", so the name really was decoded on the way in.
    assert raw_get(stack, f"/download?{name}={token}") in (200, 302)
    assert client.get(f"{stack.base_url}/download?token={token}", "*/*").status_code == 410
    assert stack.log_dir is not None
    line = logged_line_with(stack.log_dir, f"GET /download?{name}=")
    assert f"GET /download?{name}=<redacted>" in line
    for path in sorted(stack.log_dir.glob("*.log")):
        text = path.read_text("utf-8", "replace")
        assert token not in text, path.name
        assert token[16:] not in text, path.name
        assert not TOKEN_SHAPE.findall(text), path.name


def test_no_session_secret_in_the_log_the_table_or_a_url(
    service: InProcess, captured: JsonLines
) -> None:
    """A download session's secret lives only in the client's cookie (and the header that
    carries it): never in a log line, the table, or an address we hand out."""
    service.put("secret/session.pdf", SMALL)
    http = service.client.http
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    minted = service.mint("secret/session.pdf", uses=2)
    token = token_of(minted["url"])
    sessions: list[str] = []
    locations: list[str] = []
    for accept in ("*/*", "application/pdf", BROWSER_ACCEPT):
        first = http.post("/download", headers={**form, "Accept": accept}, body=f"token={token}")
        if "X-Download-Session" in first.headers:
            sessions.append(first.headers["X-Download-Session"])
        locations.append(first.headers.get("Location", ""))
        if sessions:
            again = http.post(
                "/download",
                headers={**form, "Accept": accept, "X-Download-Session": sessions[-1]},
                body=f"token={token}",
            )
            locations.append(again.headers.get("Location", ""))
    forged = sessions[0].split(".")[0] + "." + "A" * 43
    assert (
        http.post(
            "/download",
            headers={**form, "Accept": "*/*", "X-Download-Session": forged},
            body=f"token={token}",
        ).status_code
        == 410
    )
    secrets_ = [value.split(".", 1)[1] for value in sessions]
    assert len(secrets_) == 2
    text = "\n".join(captured.lines) + json.dumps(service.table_items()) + "".join(locations)
    assert [secret for secret in secrets_ if secret in text] == []
    assert "A" * 43 not in "\n".join(captured.lines)


def test_no_recipient_code_or_answer_in_the_log_or_the_table(
    service: InProcess, captured: JsonLines
) -> None:
    """A check's code is handed out once, in the mint's answer; the answers people type are
    compared as digests.  Neither is ever logged or stored."""
    http = service.client.http
    service.put("secret/contract.pdf", SMALL)
    body = json.dumps({"file": "secret/contract.pdf", "verify": "code"}).encode()
    minted = http.post(
        "/links", headers={**service.auth(), "Content-Type": "application/json"}, body=body
    ).json_body
    code, token = minted["code"], token_of(minted["url"])
    wrong = "31415926"  # not six digits: cannot collide with the code
    form = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "*/*"}
    for answer in (wrong, code):
        http.post("/download", headers=form, body=f"token={token}&answer={answer}")
    assert service.uses(minted["id"]) == 1
    # As numbers of their own: six digits also occur inside timestamps and digests.
    alone = [re.compile(rf"(?<![0-9]){answer}(?![0-9])") for answer in (code, wrong)]
    logged = "\n".join(captured.lines)
    stored = json.dumps(service.table_items())
    assert logged and not any(p.search(logged) or p.search(stored) for p in alone)


# ---------------------------------------------------------------- notifications


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def test_no_token_and_no_download_address_in_any_notification(
    mailing: InProcess, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every kind of notification, with every option on, searched like the logs: the
    webhook bodies and headers, and the receipts' every part."""
    turn_on(mailing, receiver, monkeypatch)
    notifying = mailing
    tokens: list[str] = []
    signatures: list[str] = []
    stream = Stream()
    records = []
    cases: list[tuple[dict[str, Any], str]] = [
        ({"notify": NOTIFY}, "application/pdf"),  # streamed
        ({"notify": NOTIFY, "uses": 2}, "*/*"),  # redirected: a presigned URL exists
    ]
    for fields, accept in cases:
        minted = mint(notifying, **fields)
        token = token_of(minted["url"])
        tokens.append(token)

        def spend(token: str = token, accept: str = accept) -> None:
            response = redeem(notifying, token, accept)
            if "X-Amz-Signature" in response.headers.get("Location", ""):
                signatures.append(signature_of(response.headers["Location"]))

        records.append(modified(notifying, stream, minted["id"], spend))
    visited = mint(notifying, confirm=True, notify=NOTIFY)
    tokens.append(token_of(visited["url"]))
    records.append(
        modified(
            notifying,
            stream,
            visited["id"],
            lambda: notifying.client.http.get(
                f"/download?token={tokens[-1]}", headers={"Accept": BROWSER_ACCEPT}
            ),
        )
    )
    records.append(ttl_deleted(notifying, stream, visited["id"]))
    handler, _ = notifier(receiver, [], visits=True, client_details=True)

    assert handler.handle(records) == []

    kinds = [payload["type"] for payload in receiver.verified()]
    assert kinds == ["link.redeemed", "link.redeemed", "link.visited", "link.expired_unused"]
    assert len(signatures) == 1
    corpus = [json.dumps(headers) + body.decode() for headers, body in receiver.received]
    corpus += [message.as_string() for message in sent()]
    assert len(corpus) == 4 + 3  # a receipt for each but the visit
    for text in corpus:
        assert not secrets_in(text, tokens, signatures), secrets_in(text, tokens, signatures)
        assert "/download" not in text and "token=" not in text
        assert "http://" not in text and "https://" not in text  # no address of any kind
