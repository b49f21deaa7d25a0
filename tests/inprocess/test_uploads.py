"""Upload, then share: a presigned S3 POST for one file, then a link to it."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

from tests.helpers import InProcess, call, created, reset_app_caches
from tools.stack import Stack


def policy_of(fields: dict[str, str]) -> dict[str, Any]:
    """The signed policy S3 enforces (moto does not check it, so the test reads it)."""
    decoded: dict[str, Any] = json.loads(base64.b64decode(fields["policy"]))
    return decoded


def test_upload_form_is_limited_to_the_declared_file(service: InProcess) -> None:
    upload = created(
        service,
        "/uploads",
        {"filename": "Rapport final.pdf", "content_type": "application/pdf", "size": 1234},
    )
    assert upload["key"].startswith("uploads/") and upload["key"].endswith("/Rapport final.pdf")
    assert upload["fields"]["key"] == upload["key"]
    assert upload["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    conditions = policy_of(upload["fields"])["conditions"]
    assert ["content-length-range", 1234, 1234] in conditions
    assert {"Content-Type": "application/pdf"} in conditions
    assert {"key": upload["key"]} in conditions
    other = call(service, "POST", "/uploads", {"filename": "Rapport final.pdf", "size": 1})
    assert other.json_body["key"] != upload["key"]  # a fresh key every time


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"filename": "a.pdf", "size": 0}, "invalid_size"),
        ({"filename": "a.pdf", "size": 5 * 1024**3 + 1}, "invalid_size"),
        ({"filename": "a.pdf"}, "invalid_size"),
        ({"filename": "", "size": 10}, "invalid_filename"),
        ({"filename": "../etc/passwd", "size": 10}, "invalid_filename"),
        ({"filename": "a/b.pdf", "size": 10}, "invalid_filename"),
        ({"filename": "a\\b.pdf", "size": 10}, "invalid_filename"),
        ({"filename": "..", "size": 10}, "invalid_filename"),
        ({"filename": "a.pdf", "size": 10, "content_type": "pdf"}, "invalid_content_type"),
        ({"filename": "a.pdf", "size": "10"}, "invalid_size"),
        ({"filename": "a.pdf", "size": 10, "bucket": "x"}, "unknown_field"),
    ],
)
def test_bad_upload_requests_are_400(service: InProcess, body: Any, code: str) -> None:
    response = call(service, "POST", "/uploads", body)
    assert response.status_code == 400
    assert response.json_body["error"] == code


def test_configured_maximum(service: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONETIME_MAX_UPLOAD_BYTES", "1000")
    reset_app_caches()
    assert call(service, "POST", "/uploads", {"filename": "a", "size": 1000}).status_code == 201
    assert call(service, "POST", "/uploads", {"filename": "a", "size": 1001}).status_code == 400


def test_uploads_need_the_api_key(service: InProcess) -> None:
    response = service.client.http.post(
        "/uploads",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"filename": "a.pdf", "size": 3}),
    )
    assert response.status_code == 401


def test_upload_then_share_then_download(stack: Stack) -> None:
    auth = {"Authorization": f"Bearer {stack.api_key}"}
    payload = b"%PDF-1.4 uploaded through a presigned POST\n" * 100
    upload = requests.post(
        f"{stack.base_url}/uploads",
        json={"filename": "Übergabe.pdf", "content_type": "application/pdf", "size": len(payload)},
        headers=auth,
        timeout=30,
    ).json()
    posted = requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("Übergabe.pdf", payload, "application/pdf")},
        timeout=30,
    )
    assert posted.status_code in (200, 201, 204), posted.text
    minted = requests.post(
        f"{stack.base_url}/links",
        json={"file": upload["key"], "confirm": False},
        headers=auth,
        timeout=30,
    ).json()
    assert minted["filename"] == "Übergabe.pdf" and minted["size"] == len(payload)
    download = requests.get(
        minted["url"], headers={"Accept": "application/pdf"}, allow_redirects=False, timeout=30
    )
    assert download.status_code == 200
    assert download.content == payload
