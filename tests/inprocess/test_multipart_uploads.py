"""Issue 25 through the app on moto: an operator's multipart upload (its part URLs sign
their length; completion refuses and aborts what is over), and a file request withdrawn
while an upload through it is open (the upload is aborted)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from tests.helpers import InProcess, call, reset_app_caches

MiB = 1024 * 1024
PART = 5 * MiB


@pytest.fixture
def multipart(service: InProcess, monkeypatch: pytest.MonkeyPatch) -> InProcess:
    monkeypatch.setenv("ONETIME_MULTIPART_THRESHOLD", str(PART))
    monkeypatch.setenv("ONETIME_MULTIPART_PART_BYTES", str(PART))
    reset_app_caches()
    return service


def start(service: InProcess, size: int) -> dict[str, Any]:
    started = call(service, "POST", "/uploads", {"filename": "Été.bin", "size": size})
    assert started.status_code == 201, started.json_body
    body: dict[str, Any] = started.json_body
    return body


def sign(service: InProcess, ticket: str, parts: list[int]) -> list[dict[str, Any]]:
    signed = call(service, "POST", "/uploads/parts", {"upload": ticket, "parts": parts})
    assert signed.status_code == 200, signed.json_body
    found: list[dict[str, Any]] = signed.json_body["parts"]
    return found


def test_a_part_url_is_signed_for_its_exact_length(multipart: InProcess) -> None:
    started = start(multipart, PART + 10)
    assert (started["parts"], started["part_size"]) == (2, PART)
    first, last = sign(multipart, started["upload"], [1, 2])
    assert (first["size"], last["size"]) == (PART, 10)
    query = parse_qs(urlsplit(last["url"]).query)
    assert query["X-Amz-SignedHeaders"] == ["content-length;host"]
    assert int(query["X-Amz-Expires"][0]) == 900
    too_many = call(
        multipart, "POST", "/uploads/parts", {"upload": started["upload"], "parts": [3]}
    )
    assert too_many.status_code == 400 and too_many.json_body["error"] == "invalid_part"
    forged = call(multipart, "POST", "/uploads/parts", {"upload": "x.y", "parts": [1]})
    assert forged.status_code == 400 and forged.json_body["error"] == "invalid_upload"


def test_completed_upload_links_the_very_bytes(multipart: InProcess) -> None:
    data = bytes(range(256)) * (PART // 256) + b"end"
    started = start(multipart, len(data))
    for part in sign(multipart, started["upload"], [1, 2]):
        at = (part["number"] - 1) * PART
        assert requests.put(part["url"], data=data[at : at + part["size"]], timeout=10).ok
    held = call(multipart, "GET", f"/uploads/parts?upload={quote(started['upload'])}")
    assert [p["number"] for p in held.json_body["held"]] == [1, 2]
    done = call(multipart, "POST", "/uploads/complete", {"upload": started["upload"]})
    assert done.status_code == 200 and done.json_body == {"key": started["key"], "size": len(data)}
    body = multipart.s3.get_object(Bucket=multipart.bucket, Key=started["key"])["Body"].read()
    assert body == data


def test_parts_over_the_declared_size_are_aborted_and_refused(multipart: InProcess) -> None:
    started = start(multipart, PART + 10)
    first, last = sign(multipart, started["upload"], [1, 2])
    # S3 refuses a body whose length is not the signed one; moto does not check.
    assert requests.put(first["url"], data=b"a" * PART, timeout=10).ok
    assert requests.put(last["url"], data=b"b" * (MiB), timeout=10).ok
    refused = call(multipart, "POST", "/uploads/complete", {"upload": started["upload"]})
    assert (
        refused.status_code == 413 and refused.json_body["error"] == "upload_larger_than_declared"
    )
    gone = call(multipart, "GET", f"/uploads/parts?upload={quote(started['upload'])}")
    assert gone.status_code == 409 and gone.json_body["error"] == "upload_gone"
    listed = multipart.s3.list_objects_v2(Bucket=multipart.bucket, Prefix=started["key"])
    assert listed.get("KeyCount", 0) == 0


def test_a_missing_part_is_named_and_nothing_is_completed(multipart: InProcess) -> None:
    started = start(multipart, PART + 10)
    first, _ = sign(multipart, started["upload"], [1, 2])
    assert requests.put(first["url"], data=b"a" * PART, timeout=10).ok
    early = call(multipart, "POST", "/uploads/complete", {"upload": started["upload"]})
    assert early.status_code == 409 and early.json_body["error"] == "parts_missing"
    assert "2" in early.json_body["message"]


def test_withdrawing_a_request_aborts_the_upload_open_through_it(multipart: InProcess) -> None:
    made = call(multipart, "POST", "/requests", {"files": 2}).json_body
    token = made["url"].split("token=", 1)[1].split("&", 1)[0]
    begun = multipart.client.http.post(
        f"/upload/multipart?token={token}",
        body=json.dumps({"filename": "big.pdf", "size": PART + 1}),
        headers={"Content-Type": "application/json"},
    )
    assert begun.status_code == 201, begun.body
    ticket = begun.json_body["upload"]
    assert call(multipart, "DELETE", f"/requests/{made['id']}").status_code == 200
    listed = multipart.s3.list_multipart_uploads(Bucket=multipart.bucket)
    assert [u for u in listed.get("Uploads", []) if u["Key"] == begun.json_body["key"]] == []
    refused = multipart.client.http.post(
        f"/upload/parts?token={token}",
        body=json.dumps({"upload": ticket, "parts": [1]}),
        headers={"Content-Type": "application/json"},
    )
    assert refused.status_code == 410
