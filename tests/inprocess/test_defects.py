"""Regression tests for the defects a review, a new user and an outside attack found
(issue 11).  Each failed before its fix."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

import app as app_module
from chalicelib.domain.errors import ConfigurationError
from chalicelib.settings import Settings
from tests.helpers import (
    BROWSER_ACCEPT,
    SMALL,
    TO,
    InProcess,
    aws_error,
    call,
    reset_app_caches,
    token_of,
)
from tools.stack import MAIL_FROM


def form_post(service: InProcess, token: str, content_type: str) -> Any:
    return service.client.http.post(
        "/download",
        headers={"Content-Type": content_type, "Accept": "application/json"},
        body=f"token={token}".encode(),
    )


def links_to(service: InProcess, key: str) -> list[dict[str, Any]]:
    return [
        item
        for item in service.table_items()
        if item.get("file", {}).get("S") == key and item["pk"]["S"].startswith("link#")
    ]


def test_head_of_an_error_keeps_the_gets_headers(service: InProcess) -> None:
    service.put("a.pdf", SMALL)
    token = token_of(service.mint("a.pdf"))
    for operation in ("dynamodb:UpdateItem", "dynamodb:GetItem"):
        service.hooks.fail(operation, aws_error("InternalServerError", 500))
    head = service.client.http.head(f"/download?token={token}", headers={"Accept": "*/*"})
    get = service.client.http.get(f"/download?token={token}", headers={"Accept": "*/*"})
    assert head.status_code == 503
    assert head.body == b""
    assert head.headers["Retry-After"] == "5"
    assert head.headers["Cache-Control"] == get.headers["Cache-Control"] == "no-store"


def test_past_uses_keep_the_path_they_went_out_by(
    service: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.put("a.pdf", SMALL)
    minted = service.mint("a.pdf", confirm="false", uses=2)
    got = service.client.http.get(
        f"/download?token={token_of(minted)}", headers={"Accept": BROWSER_ACCEPT}
    )
    assert got.status_code == 200 and got.body == SMALL  # streamed
    monkeypatch.setenv("ONETIME_STREAM_MAX_BYTES", "10")  # today every file redirects
    reset_app_caches()
    shown = call(service, "GET", f"/links/{minted['id']}").json_body
    assert [use["path"] for use in shown["redemptions"]] == ["stream"]


def test_extending_a_revoked_link_is_a_conflict(service: InProcess) -> None:
    service.put("a.pdf", SMALL)
    minted = service.mint("a.pdf")
    assert call(service, "DELETE", f"/links/{minted['id']}").status_code == 200
    for change in ({"ttl": 86_400}, {"max_uses": 5}):
        refused = call(service, "PATCH", f"/links/{minted['id']}", change)
        assert refused.status_code == 409, change
        assert "withdrawn" in refused.json_body["message"]
    item = service.item(minted["id"])
    assert int(item["max_uses"]["N"]) == 1
    noted = call(service, "PATCH", f"/links/{minted['id']}", {"note": "refunded"})
    assert noted.status_code == 200
    assert noted.json_body["status"] == "revoked"


def test_user_agents_are_stored_with_controls_escaped(service: InProcess) -> None:
    service.put("a.pdf", SMALL)
    minted = service.mint("a.pdf", confirm="false")
    agent = "evil\x1b[2J\r2026-01-01 00:00  10.0.0.1  forged\u202e\u2028"
    got = service.client.http.get(
        f"/download?token={token_of(minted)}", headers={"Accept": "*/*", "User-Agent": agent}
    )
    assert got.status_code == 302
    (record,) = service.item(minted["id"])["redemptions"]["M"].values()
    stored = record["M"]["ua"]["S"]
    assert stored == "evil\\x1b[2J\\r2026-01-01 00:00  10.0.0.1  forged\\u202e\\u2028"
    shown = call(service, "GET", f"/links/{minted['id']}").json_body
    assert shown["redemptions"][0]["user_agent"] == stored


@pytest.fixture
def mail(service: InProcess, monkeypatch: pytest.MonkeyPatch) -> InProcess:
    monkeypatch.setenv("ONETIME_MAIL_FROM", MAIL_FROM)
    reset_app_caches()
    boto3.session.Session().client("ses").verify_email_identity(EmailAddress=MAIL_FROM)
    service.put("books/a.pdf", SMALL)
    return service


@pytest.mark.parametrize(
    ("field", "value"),
    [("subject", "Your file\u2028Bcc: x@evil.test"), ("filename", "a\u2029b.pdf")],
)
def test_line_separators_are_refused_before_an_email_mint(
    mail: InProcess, field: str, value: str
) -> None:
    body = {"file": "books/a.pdf", "email": TO, field: value}
    response = call(mail, "POST", "/links", body)
    assert response.status_code == 400
    assert response.json_body["error"] == f"invalid_{field}"
    assert links_to(mail, "books/a.pdf") == []


def test_any_failure_to_send_revokes_the_link(mail: InProcess) -> None:
    def broken() -> Any:
        raise ValueError("the message could not be composed")

    mail.hooks.fail("sesv2:SendEmail", broken)
    response = call(mail, "POST", "/links", {"file": "books/a.pdf", "email": TO})
    assert response.status_code == 502
    (item,) = links_to(mail, "books/a.pdf")
    assert "revoked_at" in item


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-Proto": "https://evil.test/#"},
        {"X-Forwarded-Proto": "javascript"},
        {"Host": "evil.test/#"},
        {"Host": "user@evil.test"},
    ],
)
def test_link_host_from_the_request_must_be_well_formed(
    service: InProcess, headers: dict[str, str]
) -> None:
    service.put("a.pdf", SMALL)
    response = service.client.http.get(
        "/get-link?file=a.pdf", headers={**service.auth(), **headers}
    )
    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_host"
    assert links_to(service, "a.pdf") == []
    created = call(service, "POST", "/links", {"file": "a.pdf"}, **headers)
    assert created.status_code == 400
    assert links_to(service, "a.pdf") == []


def test_a_well_formed_forwarded_host_still_works(service: InProcess) -> None:
    service.put("a.pdf", SMALL)
    response = service.client.http.get(
        "/get-link?file=a.pdf",
        headers={**service.auth(), "Host": "files.example:8443", "X-Forwarded-Proto": "HTTPS"},
    )
    assert response.status_code == 200
    assert response.json_body["url"].startswith("https://files.example:8443/download?token=")


def test_key_prefix_must_be_a_folder() -> None:
    base = {"ONETIME_TABLE": "t", "ONETIME_BUCKET": "b", "ONETIME_API_KEY_SHA256": "0" * 64}
    with pytest.raises(ConfigurationError, match="must end with '/'"):
        Settings.from_environ({**base, "ONETIME_KEY_PREFIX": "samples"})
    assert Settings.from_environ({**base, "ONETIME_KEY_PREFIX": "samples/"}).key_prefix


def test_an_upper_case_form_content_type_still_reads_the_token(service: InProcess) -> None:
    service.put("a.pdf", SMALL)
    minted = service.mint("a.pdf")
    response = form_post(service, token_of(minted), "APPLICATION/X-WWW-FORM-URLENCODED")
    assert response.status_code == 302
    assert service.uses(minted["id"]) == 1


def test_a_token_with_a_trailing_newline_is_malformed(service: InProcess) -> None:
    service.put("a.pdf", SMALL)
    minted = service.mint("a.pdf")
    response = form_post(service, token_of(minted) + "%0A", "application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.json_body["error"] == "malformed_token"
    assert service.uses(minted["id"]) == 0


@pytest.mark.parametrize("name", ["..", ". .", "a\u061cb.pdf", "a\u200bb.pdf", "\ufeffa.pdf"])
def test_invisible_or_dot_only_download_names_are_refused(service: InProcess, name: str) -> None:
    service.put("a.pdf", SMALL)
    response = call(service, "POST", "/links", {"file": "a.pdf", "filename": name})
    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_filename"
    assert links_to(service, "a.pdf") == []


def test_reset_forgets_the_buyer_token_verifier(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "ONETIME_TABLE": "t",
        "ONETIME_BUCKET": "b",
        "ONETIME_API_KEY_SHA256": "0" * 64,
        "ONETIME_JWT_ISSUER": "https://issuer.example",
        "ONETIME_JWT_AUDIENCE": "client",
    }.items():
        monkeypatch.setenv(name, value)
    app_module.reset()
    assert app_module.get_buyer_tokens() is not None
    monkeypatch.delenv("ONETIME_JWT_ISSUER")
    app_module.reset()
    assert app_module.get_buyer_tokens() is None
    app_module.reset()


@pytest.mark.parametrize(
    "headers", [{"Host": "example.com."}, {"X-Forwarded-Proto": "ftp"}, {"Host": "a_b.example"}]
)
def test_a_bad_host_on_a_redemption_spends_nothing(
    service: InProcess, headers: dict[str, str]
) -> None:
    """Found by review: the session cookie's path was built after the claim."""
    service.put("a.pdf", SMALL)
    minted = service.mint("a.pdf")
    response = form_post_with(service, token_of(minted), headers)
    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_host"
    assert service.uses(minted["id"]) == 0


def form_post_with(service: InProcess, token: str, headers: dict[str, str]) -> Any:
    return service.client.http.post(
        "/download",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "*/*", **headers},
        body=f"token={token}",
    )
