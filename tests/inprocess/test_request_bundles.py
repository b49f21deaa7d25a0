"""Bundling file requests (issue 25, part 2): a request for several files with
``bundle: true`` mints each file's link as before and, when it is filled or closed, one
link to every file received, once.  In-process, on moto."""

from __future__ import annotations

import base64
import html
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.helpers import BROWSER_ACCEPT, InProcess, call, token_of

BODIES = [b"first file " * 50, b"second file " * 70, b"third " * 90]
FORM = "application/x-www-form-urlencoded"


def make_request(service: InProcess, **fields: Any) -> tuple[str, str]:
    """A new request's id and token."""
    answer = call(service, "POST", "/requests", fields)
    assert answer.status_code == 201, answer.body
    token = parse_qs(urlsplit(answer.json_body["url"]).query)["token"][0]
    return answer.json_body["id"], token


def send(service: InProcess, token: str, name: str, body: bytes, accept: str = "*/*") -> Any:
    """What the page's form and S3 do, then the confirmation S3 sends the browser to."""
    page = service.client.http.get(
        f"/upload?{urlencode({'token': token})}", headers={"Accept": BROWSER_ACCEPT}
    )
    fields = dict(
        re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.body.decode())
    )
    key = html.unescape(fields["key"]).replace("${filename}", name)
    service.s3.put_object(Bucket=service.bucket, Key=key, Body=body, ContentType="application/pdf")
    query = urlencode({"token": token, "bucket": service.bucket, "key": key})
    return service.client.http.get(f"/upload/done?{query}", headers={"Accept": accept})


def fetched_files(service: InProcess, url: str) -> list[bytes]:
    """Every file of a bundle link, for its one use, through its session."""
    token = parse_qs(urlsplit(url).query)["token"][0]
    headers = {"Content-Type": FORM, "Accept": "*/*"}
    opened = service.client.http.post("/download", headers=headers, body=f"token={token}")
    assert opened.status_code == 200, opened.body
    session = opened.headers["X-Download-Session"]
    got = []
    for entry in opened.json_body["files"]:
        answer = service.client.http.post(
            "/download",
            headers={
                **headers,
                "Accept": "application/octet-stream",
                "X-Download-Session": session,
            },
            body=f"token={token}&file={entry['file']}",
        )
        assert answer.status_code == 200, answer.body
        got.append(base64.b64decode(answer.body) if isinstance(answer.body, str) else answer.body)
    return got


def test_the_upload_that_fills_it_gets_one_link_to_every_file(service: InProcess) -> None:
    request_id, token = make_request(service, files=2, bundle=True)
    first = send(service, token, "a.txt", BODIES[0])
    assert first.status_code == 201 and "bundle_url" not in first.json_body
    second = send(service, token, "b.txt", BODIES[1])
    assert second.status_code == 201, second.body
    bundle_url = second.json_body["bundle_url"]
    assert fetched_files(service, bundle_url) == BODIES[:2]
    state = call(service, "GET", f"/requests/{request_id}").json_body
    assert state["bundle"] is True
    assert state["bundle_link"] == token_of(bundle_url)[:16]
    # Each file kept its own link too.
    assert len({r["link_id"] for r in state["received"]}) == 2


def test_closing_it_bundles_what_was_received_once(service: InProcess) -> None:
    request_id, token = make_request(service, files=3, bundle=True)
    send(service, token, "a.txt", BODIES[0])
    send(service, token, "c.txt", BODIES[2])
    closed = call(service, "DELETE", f"/requests/{request_id}")
    assert closed.status_code == 200, closed.body
    assert fetched_files(service, closed.json_body["bundle_url"]) == [BODIES[0], BODIES[2]]
    assert closed.json_body["bundle_link"] is not None
    again = call(service, "DELETE", f"/requests/{request_id}")
    assert "bundle_url" not in again.json_body  # one bundle, whatever is repeated
    assert again.json_body["bundle_link"] == closed.json_body["bundle_link"]


def test_a_request_without_bundle_is_unchanged(service: InProcess) -> None:
    request_id, token = make_request(service, files=2)
    send(service, token, "a.txt", BODIES[0])
    filled = send(service, token, "b.txt", BODIES[1])
    assert "bundle_url" not in filled.json_body
    state = call(service, "GET", f"/requests/{request_id}").json_body
    assert "bundle" not in state and "bundle_link" not in state
    closed = call(service, "DELETE", f"/requests/{request_id}").json_body
    assert "bundle_url" not in closed


@pytest.mark.parametrize("files", [1, 51])
def test_bundle_needs_two_to_fifty_files(service: InProcess, files: int) -> None:
    answer = call(service, "POST", "/requests", {"files": files, "bundle": True})
    assert answer.status_code == 400
    assert answer.json_body["error"] == "invalid_bundle"


def test_the_uploaders_page_shows_the_bundle_with_the_file_that_filled_it(
    service: InProcess,
) -> None:
    _request_id, token = make_request(service, files=2, bundle=True)
    send(service, token, "a.txt", BODIES[0])
    page = send(service, token, "b.txt", BODIES[1], accept=BROWSER_ACCEPT)
    assert page.status_code == 201
    text = html.unescape(page.body.decode())
    found = re.search(r'is also in one link.*?<a href="([^"]+)">', text, re.S)
    assert found is not None, text
    assert fetched_files(service, found.group(1)) == BODIES[:2]
