"""File requests in process, on moto: the operator's API, the upload page, and the
confirmation S3 sends the browser to.  The upload itself is what S3 would store after
the form's POST: an object under the form's key prefix (moto in-process has no HTTP
endpoint to post to; tests/test_requests_stack.py posts for real)."""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from chalicelib.web.views.common import iso
from tests.helpers import (
    BROWSER_ACCEPT,
    InProcess,
    aws_error,
    call,
    created,
    parts,
    reset_app_caches,
    sent,
)

PDF = b"%PDF-1.7 request sample " * 20
NAME = "Reçu d'été – 2026.pdf"  # noqa: RUF001 - a dash outside ASCII, on purpose


@dataclass(frozen=True)
class Requested:
    id: str
    token: str
    terms: str
    body: dict[str, Any]


def make_request(service: InProcess, **fields: Any) -> Requested:
    response = call(service, "POST", "/requests", fields)
    assert response.status_code == 201, response.body
    body: dict[str, Any] = response.json_body
    query = parse_qs(urlsplit(body["url"]).query)
    return Requested(body["id"], query["token"][0], query["terms"][0], body)


def open_page(service: InProcess, requested: Requested, terms: str | None = None) -> Any:
    query = urlencode({"token": requested.token, "terms": terms or requested.terms})
    return service.client.http.get(f"/upload?{query}", headers={"Accept": BROWSER_ACCEPT})


def form_fields(page: Any) -> dict[str, str]:
    text = page.body.decode()
    return {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', text)
    }


def policy(fields: dict[str, str]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.b64decode(fields["policy"]))
    return decoded


def upload(
    service: InProcess,
    requested: Requested,
    body: bytes = PDF,
    name: str = NAME,
    content_type: str = "application/pdf",
) -> str:
    """What S3 does with the page's form: store the file under the form's key."""
    fields = form_fields(open_page(service, requested))
    key = fields["key"].replace("${filename}", name)
    service.s3.put_object(Bucket=service.bucket, Key=key, Body=body, ContentType=content_type)
    return key


def confirm(service: InProcess, requested: Requested, key: str) -> Any:
    query = urlencode({"token": requested.token, "bucket": service.bucket, "key": key})
    return service.client.http.get(f"/upload/done?{query}", headers={"Accept": BROWSER_ACCEPT})


def shown_link(page: Any) -> str:
    found = re.search(r'<input id="link" type="text" readonly value="([^"]+)">', page.body.decode())
    assert found, page.body.decode()
    return html.unescape(found.group(1))


def links_in_table(service: InProcess) -> list[dict[str, Any]]:
    return [i for i in service.table_items() if i["pk"]["S"].startswith("link#")]


def state(service: InProcess, request_id: str) -> dict[str, Any]:
    response = call(service, "GET", f"/requests/{request_id}")
    assert response.status_code == 200, response.body
    found: dict[str, Any] = response.json_body
    return found


def test_a_request_is_stored_by_hash_and_answers_its_page_url(service: InProcess) -> None:
    requested = make_request(
        service, files=2, max_size=5000, content_types=["application/pdf"], note="Q3 invoice"
    )
    body = requested.body
    assert body["url"].startswith("http://localhost/upload?token=")
    assert (body["max_files"], body["files"], body["max_size"]) == (2, 0, 5000)
    assert body["content_types"] == ["application/pdf"] and body["status"] == "active"
    (item,) = [i for i in service.table_items() if i["pk"]["S"] == f"request#{requested.id}"]
    assert requested.token not in json.dumps(item)  # only the token's hash is kept
    assert item["files"] == {"N": "0"} and item["max_bytes"] == {"N": "5000"}


def test_the_page_costs_one_read_and_signs_a_form_for_a_fresh_key(
    service: InProcess,
) -> None:
    requested = make_request(service, max_size=5000, content_types=["application/pdf"])
    service.hooks.calls.clear()
    page = open_page(service, requested)
    assert page.status_code == 200
    assert service.hooks.calls == ["dynamodb:GetItem"]  # the request as it is; signing is local
    fields = form_fields(page)
    conditions = policy(fields)["conditions"]
    prefix = fields["key"].removesuffix("${filename}")
    assert re.fullmatch(rf"requests/{requested.id}/[0-9a-f]{{16}}/", prefix)
    assert ["starts-with", "$key", prefix] in conditions
    assert ["content-length-range", 1, 5000] in conditions
    assert {"Content-Type": "application/pdf"} in conditions
    tagging = fields["tagging"]
    assert {"tagging": tagging} in conditions and "<Value>pending</Value>" in tagging
    done = fields["success_action_redirect"]
    assert done == f"http://localhost/upload/done?token={requested.token}"
    assert {"success_action_redirect": done} in conditions
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    again = form_fields(open_page(service, requested))
    assert again["key"] != fields["key"]  # every view a fresh key
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'sha256-" in csp
    assert "connect-src 'self' https://files-test.s3.amazonaws.com" in csp
    assert state(service, requested.id)["files"] == 0


def test_tampered_terms_change_nothing(service: InProcess) -> None:
    requested = make_request(service, max_size=5000)
    forged = base64.urlsafe_b64encode(b"[9999999999,999999999,[],9]").decode().rstrip("=")
    service.hooks.calls.clear()
    page = open_page(service, requested, terms=f"{forged}.{requested.terms.split('.')[1]}")
    assert page.status_code == 200
    assert service.hooks.calls == ["dynamodb:GetItem"]  # the stored request decides
    assert ["content-length-range", 1, 5000] in policy(form_fields(page))["conditions"]


@pytest.mark.parametrize("close", ["withdraw", "fill"])
def test_a_withdrawn_or_filled_request_offers_no_form(service: InProcess, close: str) -> None:
    """Break 6: the link's terms still verify, but the request takes no more files."""
    requested = make_request(service)
    if close == "withdraw":
        assert call(service, "DELETE", f"/requests/{requested.id}").status_code == 200
    else:
        assert confirm(service, requested, upload(service, requested)).status_code == 201
    page = open_page(service, requested)
    text = page.body.decode()
    assert page.status_code == 410, text
    assert '<form id="upload"' not in text and "x-amz-signature" not in text.lower()
    heading = "withdrawn" if close == "withdraw" else "already been used"
    assert heading in text
    fresh = service.client.http.get(
        f"/upload/form?{urlencode({'token': requested.token})}",
        headers={"Accept": "application/json"},
    )
    assert fresh.status_code == 410
    code = "request_revoked" if close == "withdraw" else "request_used"
    assert fresh.json_body["error"] == code


def test_the_script_gets_a_fresh_form_for_an_open_request(service: InProcess) -> None:
    requested = make_request(service, max_size=5000)
    page = open_page(service, requested)
    embedded = re.search(
        r'<script type="application/json" id="script-form">(.*?)</script>', page.body.decode()
    )
    assert embedded is not None
    refresh = json.loads(embedded.group(1))["refresh"]
    assert refresh == f"http://localhost/upload/form?token={requested.token}"
    assert "connect-src 'self' " in page.headers["Content-Security-Policy"]
    service.clock.advance(1000)  # the page's own form has expired by now
    service.hooks.calls.clear()
    fresh = service.client.http.get(
        refresh.removeprefix("http://localhost"), headers={"Accept": "application/json"}
    )
    assert fresh.status_code == 200
    assert service.hooks.calls == ["dynamodb:GetItem"]
    body = fresh.json_body
    assert body["prefix"].startswith(f"requests/{requested.id}/")
    assert body["fields"]["success_action_status"] == "201"
    signed = json.loads(base64.b64decode(body["fields"]["policy"]))
    assert ["content-length-range", 1, 5000] in signed["conditions"]
    # (boto3 signs with the real time, the app counts with its frozen clock.)
    assert body["expires_at"] == iso(service.clock() + 900)


def test_an_empty_upload_is_refused_and_takes_nothing(service: InProcess) -> None:
    """Break 9: the form's policy says 1 byte or more; the confirmation checks it too."""
    requested = make_request(service)
    refused = confirm(service, requested, upload(service, requested, body=b""))
    assert refused.status_code == 400 and "The file is empty" in refused.body.decode()
    assert state(service, requested.id)["files"] == 0 and links_in_table(service) == []


def test_head_and_get_of_the_page_spend_nothing(service: InProcess) -> None:
    requested = make_request(service)
    query = urlencode({"token": requested.token, "terms": requested.terms})
    head = service.client.http.request("HEAD", f"/upload?{query}", headers={})
    assert head.status_code == 200 and head.body == b""
    for accept in (BROWSER_ACCEPT, "*/*", "application/json"):
        assert (
            service.client.http.get(f"/upload?{query}", headers={"Accept": accept}).status_code
            == 200
        )
    assert state(service, requested.id)["files"] == 0


def test_a_confirmed_upload_gets_a_download_link_to_the_same_bytes_and_name(
    service: InProcess,
) -> None:
    requested = make_request(service, link_uses=2, link_ttl=3600)
    key = upload(service, requested)
    service.hooks.calls.clear()
    done = confirm(service, requested, key)
    assert done.status_code == 201, done.body
    # Read (refusals change nothing), mint (the link exists before any receipt names it),
    # tag, then take the file (docs/CONSISTENCY.md).
    assert service.hooks.calls == [
        "s3:HeadObject",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "s3:PutObjectTagging",
        "dynamodb:UpdateItem",
    ]
    assert "File received" in done.body.decode() and html.escape(NAME) in done.body.decode()
    url = shown_link(done)
    token = parse_qs(urlsplit(url).query)["token"][0]
    fetched = service.client.http.post(
        "/download",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/octet-stream",  # a client that takes the bytes streamed
        },
        body=urlencode({"token": token}),
    )
    assert fetched.status_code == 200 and fetched.body == PDF
    assert "filename*=UTF-8''Re%C3%A7u" in fetched.headers["Content-Disposition"]
    tags = service.s3.get_object_tagging(Bucket=service.bucket, Key=key)["TagSet"]
    assert tags == [{"Key": "onetime-upload", "Value": "confirmed"}]
    after = state(service, requested.id)
    assert after["status"] == "used" and after["files"] == 1
    (received,) = after["received"]
    assert received["file"] == key and received["filename"] == NAME
    assert received["size"] == len(PDF) and received["link_id"] == token[:16]
    (link,) = links_in_table(service)
    assert link["max_uses"] == {"N": "2"}


def test_a_second_confirmation_is_refused_and_mints_nothing(service: InProcess) -> None:
    requested = make_request(service, files=3)
    key = upload(service, requested)
    assert confirm(service, requested, key).status_code == 201
    again = confirm(service, requested, key)
    assert again.status_code == 409
    assert "This file was already received" in again.body.decode()
    assert len(links_in_table(service)) == 1
    assert state(service, requested.id)["files"] == 1


@pytest.mark.parametrize(
    ("fields", "size", "content_type", "status", "words"),
    [
        ({"max_size": 100}, 101, "application/pdf", 413, "This file is too big"),
        (
            {"content_types": ["application/pdf"]},
            10,
            "text/html",
            415,
            "This type of file is not accepted",
        ),
    ],
)
def test_an_oversized_or_wrong_type_upload_is_refused_at_confirmation(
    service: InProcess,
    fields: dict[str, Any],
    size: int,
    content_type: str,
    status: int,
    words: str,
) -> None:
    requested = make_request(service, **fields)
    key = upload(service, requested, body=b"x" * size, content_type=content_type)
    refused = confirm(service, requested, key)
    assert refused.status_code == status
    assert words in refused.body.decode() and "Nothing was used up" in refused.body.decode()
    assert links_in_table(service) == []
    assert state(service, requested.id)["files"] == 0


@pytest.mark.parametrize(
    "key",
    [
        None,
        "",
        "reports/q3.pdf",  # outside the request's prefix
        "requests/{id}/0123456789abcdef/never-uploaded.pdf",
        "requests/{id}/not-a-nonce/x.pdf",
        "requests/{id}/0123456789abcdef/",
    ],
)
def test_a_confirmation_without_its_upload_takes_nothing(
    service: InProcess, key: str | None
) -> None:
    requested = make_request(service)
    service.put("reports/q3.pdf", PDF)
    query = {"token": requested.token}
    if key is not None:
        query["key"] = key.format(id=requested.id)
    response = service.client.http.get(
        f"/upload/done?{urlencode(query)}", headers={"Accept": BROWSER_ACCEPT}
    )
    assert response.status_code == 400
    assert "The file did not arrive" in response.body.decode()
    assert links_in_table(service) == [] and state(service, requested.id)["files"] == 0


def test_expired_and_revoked_requests_say_so_on_the_page_and_take_nothing(
    service: InProcess,
) -> None:
    requested = make_request(service, ttl=60)
    key = upload(service, requested)
    service.clock.advance(61)
    late = open_page(service, requested)
    assert late.status_code == 410 and "This upload link has expired" in late.body.decode()
    assert confirm(service, requested, key).status_code == 410
    other = make_request(service)
    other_key = upload(service, other)
    revoked = call(service, "DELETE", f"/requests/{other.id}")
    assert revoked.status_code == 200 and revoked.json_body["status"] == "revoked"
    withdrawn = confirm(service, other, other_key)
    assert withdrawn.status_code == 410
    assert "This upload link was withdrawn" in withdrawn.body.decode()
    assert links_in_table(service) == []


def test_a_request_for_two_files_takes_two_then_says_used(service: InProcess) -> None:
    requested = make_request(service, files=2)
    first, second, third = (upload(service, requested, name=f"{n}.pdf") for n in "abc")
    assert "takes 1 more file" in confirm(service, requested, first).body.decode()
    assert "now used up" in confirm(service, requested, second).body.decode()
    used = confirm(service, requested, third)
    assert used.status_code == 410 and "already been used" in used.body.decode()
    assert len(links_in_table(service)) == 2


def test_a_failure_after_the_take_gives_the_file_back(service: InProcess) -> None:
    requested = make_request(service)
    key = upload(service, requested)
    service.hooks.fail("dynamodb:PutItem", aws_error("InternalServerError", 500))
    failed = confirm(service, requested, key)
    assert failed.status_code == 503
    assert state(service, requested.id)["files"] == 0  # given back
    service.hooks.faults.clear()
    assert confirm(service, requested, key).status_code == 201  # the reload succeeds
    assert len(links_in_table(service)) == 1


def test_a_failed_tag_gives_the_file_back_too(service: InProcess) -> None:
    requested = make_request(service)
    key = upload(service, requested)
    service.hooks.fail("s3:PutObjectTagging", aws_error("SlowDown", 503))
    assert confirm(service, requested, key).status_code == 503
    # The link minted for it is withdrawn: nobody was shown it.
    assert state(service, requested.id)["files"] == 0
    assert [link.get("revoked_at") is not None for link in links_in_table(service)] == [True]


def test_the_link_is_not_shown_when_it_goes_only_to_the_requester(mailing: InProcess) -> None:
    requested = make_request(mailing, show_link=False, notify="ops@example.com", note="order 7")
    key = upload(mailing, requested)
    done = confirm(mailing, requested, key)
    assert done.status_code == 201
    text = done.body.decode()
    assert 'id="link"' not in text and "/download?token=" not in text
    assert "emailed to the person who asked for it" in text
    (message,) = [m for m in sent() if m["To"] == "ops@example.com"]
    assert message["Subject"] == f"File received: {NAME}"
    plain, _ = parts(message)
    (link,) = links_in_table(mailing)
    token = re.search(r"/download\?token=([A-Za-z0-9_-]{59})", plain)
    assert token is not None and token.group(1)[:16] == link["pk"]["S"].removeprefix("link#")
    assert requested.id in plain and "order 7" in plain


def test_an_upload_link_can_be_emailed(mailing: InProcess) -> None:
    made = created(
        mailing,
        "/requests",
        {"email": "client@example.com", "message": "Your signed contract, please.", "files": 2},
    )
    assert made["message_id"]
    (message,) = [m for m in sent() if m["To"] == "client@example.com"]
    plain, page = parts(message)
    assert made["url"] in plain
    assert html.escape(made["url"]) in page
    assert "up to 2 files" in plain and "Your signed contract, please." in plain


def test_a_failed_notify_email_still_shows_the_link(
    mailing: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    requested = make_request(mailing, notify="ops@example.com")
    key = upload(mailing, requested)
    monkeypatch.setenv("ONETIME_MAIL_FROM", "unverified@onetime.local")  # SES refuses it
    reset_app_caches()
    done = confirm(mailing, requested, key)
    assert done.status_code == 201
    assert "could not email the link" in done.body.decode()
    assert shown_link(done).startswith("http://localhost/download?token=")


def test_a_failed_email_with_nobody_else_to_tell_takes_nothing(
    mailing: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    requested = make_request(mailing, show_link=False, notify="ops@example.com")
    key = upload(mailing, requested)
    monkeypatch.setenv("ONETIME_MAIL_FROM", "unverified@onetime.local")
    reset_app_caches()
    failed = confirm(mailing, requested, key)
    assert failed.status_code == 502
    assert state(mailing, requested.id)["files"] == 0
    (link,) = links_in_table(mailing)
    assert "revoked_at" in link  # the link nobody received is withdrawn at once


def test_operators_list_show_and_revoke_requests(service: InProcess) -> None:
    made = [make_request(service, note=f"n{i}").id for i in range(3)]
    listed = call(service, "GET", "/requests?limit=2")
    assert listed.status_code == 200
    first_ids = [r["id"] for r in listed.json_body["requests"]]
    rest = call(service, "GET", f"/requests?limit=2&cursor={listed.json_body['next_cursor']}")
    assert set(first_ids + [r["id"] for r in rest.json_body["requests"]]) == set(made)
    assert call(service, "GET", "/requests/aaaaaaaaaaaaaaaa").status_code == 404
    assert call(service, "GET", "/requests/not-an-id").status_code == 404
    assert call(service, "DELETE", "/requests/aaaaaaaaaaaaaaaa").status_code == 404
    unauthorised = service.client.http.get("/requests")
    assert unauthorised.status_code == 401


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"files": 0}, "invalid_files"),
        ({"files": 101}, "invalid_files"),
        ({"ttl": 0}, "invalid_ttl"),
        ({"max_size": 0}, "invalid_max_size"),
        ({"max_size": 6 * 1024**3}, "invalid_max_size"),
        ({"content_types": ["pdf"]}, "invalid_content_types"),
        ({"content_types": "application/pdf"}, "invalid_content_types"),
        ({"content_types": [1]}, "invalid_content_types"),
        ({"show_link": False}, "invalid_show_link"),
        ({"notify": "not an address"}, "invalid_email"),
        ({"link_uses": 0}, "invalid_link_uses"),
        ({"link_ttl": 0}, "invalid_link_ttl"),
        ({"subject": "hello"}, "invalid_email"),
        ({"bucket": "x"}, "unknown_field"),
    ],
)
def test_bad_requests_are_400_and_make_nothing(
    service: InProcess, body: dict[str, Any], code: str
) -> None:
    response = call(service, "POST", "/requests", body)
    assert response.status_code == 400, response.body
    assert response.json_body["error"] == code
    assert [i for i in service.table_items() if i["pk"]["S"].startswith("request#")] == []


@pytest.mark.parametrize(
    "query",
    [
        "",
        "token=short",
        "token=" + "a" * 59,  # well-formed, unknown, with no terms: one read says so
    ],
)
def test_a_damaged_upload_link_explains_itself(service: InProcess, query: str) -> None:
    response = service.client.http.get(f"/upload?{query}", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code in (400, 404)
    assert "<h1>" in response.body.decode()
