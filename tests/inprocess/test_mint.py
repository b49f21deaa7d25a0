"""Minting links: GET /get-link, through Chalice's test client on in-memory AWS."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.helpers import API_KEY, InProcess, reset_app_caches

PDF = b"%PDF-1.4 tiny test file\n"


def get_link(service: InProcess, query: str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return service.client.http.get(f"/get-link?{query}", headers=headers or service.auth())


def test_mint_returns_link_and_stores_only_the_token_hash(service: InProcess) -> None:
    service.put("docs/report.pdf", PDF)
    before = dt.datetime.now(dt.UTC)
    response = get_link(service, "file=docs/report.pdf&uses=3&ttl=3600")
    assert response.status_code == 200
    body = response.json_body
    assert body["file"] == "docs/report.pdf"
    assert body["filename"] == "report.pdf"
    assert body["size"] == len(PDF)
    assert body["max_uses"] == 3
    assert body["confirm"] is True
    expires = dt.datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert 3590 <= (expires - before).total_seconds() <= 3610

    url = urlsplit(body["url"])
    assert url.path == "/download"
    token = parse_qs(url.query)["token"][0]
    assert len(token) >= 43 and token.startswith(body["id"])
    assert token != body["id"]

    item = service.item(body["id"])
    assert item["token_digest"]["S"] == hashlib.sha256(token.encode()).hexdigest()
    assert item["size"]["N"] == str(len(PDF))
    assert item["content_type"]["S"] == "application/pdf"
    assert item["etag"]["S"].strip('"')
    assert item["version_id"]["S"]  # the bucket is versioned: the version is pinned
    assert item["uses"]["N"] == "0" and item["max_uses"]["N"] == "3"
    # A leaked table must not yield working links: the token appears nowhere.
    everything = json.dumps(service.table_items())
    secret = token[len(body["id"]) :]
    assert token not in everything and secret not in everything


def test_defaults_and_custom_filename(service: InProcess) -> None:
    service.put("a/b/c.pdf", PDF)
    body = service.mint("a/b/c.pdf", filename="Résumé café 2026.pdf", confirm="false")
    assert body["filename"] == "Résumé café 2026.pdf"
    assert body["confirm"] is False
    assert body["max_uses"] == 1
    assert service.item(body["id"])["confirm"]["BOOL"] is False


def test_url_honours_public_url(service: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONETIME_PUBLIC_URL", "https://files.example.com/dl/")
    reset_app_caches()
    service.put("x.pdf", PDF)
    url = service.mint("x.pdf")["url"]
    assert url.startswith("https://files.example.com/dl/download?token=")


def test_url_honours_api_gateway_stage_prefix() -> None:
    from chalicelib.web.urls import base_url

    context = {"path": "/api/get-link", "resourcePath": "/get-link", "stage": "api"}
    headers = {"host": "abc.execute-api.eu-west-1.amazonaws.com", "x-forwarded-proto": "https"}
    assert base_url(None, headers, context) == "https://abc.execute-api.eu-west-1.amazonaws.com/api"
    local = {"path": "/get-link", "resourcePath": "/get-link"}
    assert base_url(None, {"host": "127.0.0.1:8000"}, local) == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": f"Basic {API_KEY}"},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "wrong", "not-bearer", "empty"],
)
def test_bad_api_key_is_401_and_writes_nothing(service: InProcess, headers: dict[str, str]) -> None:
    service.put("x.pdf", PDF)
    response = service.client.http.get("/get-link?file=x.pdf", headers=headers)
    assert response.status_code == 401
    assert response.json_body["error"] == "unauthorized"
    assert response.json_body["message"]
    assert service.table_items() == []


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "invalid_file"),
        ("file=", "invalid_file"),
        ("file=../secret.pdf", "invalid_file"),
        ("file=a/../../secret.pdf", "invalid_file"),
        ("file=a\\..\\secret.pdf", "invalid_file"),
        ("file=/etc/passwd", "invalid_file"),
        ("file=a%0Ab.pdf", "invalid_file"),
        ("file=a%00b.pdf", "invalid_file"),
        ("file=" + "k" * 1025, "invalid_file"),
        ("file=x.pdf&uses=0", "invalid_uses"),
        ("file=x.pdf&uses=101", "invalid_uses"),
        ("file=x.pdf&uses=two", "invalid_uses"),
        ("file=x.pdf&uses=-1", "invalid_uses"),
        ("file=x.pdf&uses=1&uses=2", "invalid_uses"),
        ("file=x.pdf&ttl=0", "invalid_ttl"),
        ("file=x.pdf&ttl=2592001", "invalid_ttl"),
        ("file=x.pdf&ttl=1.5", "invalid_ttl"),
        ("file=x.pdf&confirm=yes", "invalid_confirm"),
        ("file=x.pdf&filename=a%0D%0ASet-Cookie:x", "invalid_filename"),
        ("file=x.pdf&filename=invoice%E2%80%AEfdp.exe", "invalid_filename"),
        ("file=x.pdf&filename=", "invalid_filename"),
    ],
)
def test_bad_mint_input_is_400_and_writes_nothing(
    service: InProcess, query: str, code: str
) -> None:
    service.put("x.pdf", PDF)
    response = get_link(service, query)
    assert response.status_code == 400, response.body
    assert response.json_body["error"] == code
    assert response.json_body["message"].endswith(".")
    assert service.table_items() == []


def test_key_outside_prefix_is_400(service: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONETIME_KEY_PREFIX", "public/")
    reset_app_caches()
    service.put("private/x.pdf", PDF)
    service.put("public/x.pdf", PDF)
    assert get_link(service, "file=private/x.pdf").status_code == 400
    assert get_link(service, "file=public/x.pdf").status_code == 200


def test_missing_object_is_404_and_writes_nothing(service: InProcess) -> None:
    response = get_link(service, urlencode({"file": "nope/missing.pdf"}))
    assert response.status_code == 404
    assert response.json_body["error"] == "file_not_found"
    assert service.table_items() == []


def test_mint_makes_two_aws_calls(service: InProcess) -> None:
    service.put("x.pdf", PDF)
    service.mint("x.pdf")  # first request builds the clients
    service.hooks.calls.clear()
    service.mint("x.pdf")
    assert service.hooks.calls == ["s3:HeadObject", "dynamodb:PutItem"]
