"""Redeeming links: GET/POST /download through Chalice's test client on in-memory AWS."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
from botocore.exceptions import ReadTimeoutError

from tests.helpers import (
    BROWSER_ACCEPT,
    CLAIM_ON_MOTO,
    SMALL,
    InProcess,
    aws_error,
    download,
    redeem,
    reset_app_caches,
    token_of,
)

NAME = "Résumé café 2026.pdf"


@pytest.fixture
def small(service: InProcess) -> dict[str, Any]:
    service.put("docs/cv.pdf", SMALL)
    # confirm=false: a browser's GET redeems directly (the landing page: test_pages.py)
    return service.mint("docs/cv.pdf", filename=NAME, confirm="false")


@pytest.fixture
def large(service: InProcess, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("ONETIME_STREAM_MAX_BYTES", "1000")  # so SMALL counts as large
    monkeypatch.setenv("ONETIME_REDIRECT_TTL", "45")
    reset_app_caches()
    service.put("big/data.zip", SMALL, content_type="application/zip")
    return service.mint("big/data.zip", filename=NAME, confirm="false")


def assert_private_headers(headers: dict[str, str]) -> None:
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_browser_gets_small_file_streamed_then_410(
    service: InProcess, small: dict[str, Any]
) -> None:
    token = token_of(small)
    response = download(service, token, BROWSER_ACCEPT)
    assert response.status_code == 200
    assert response.body == SMALL
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"Resume cafe 2026.pdf\"; filename*=UTF-8''" + quote(NAME, safe="")
    )
    assert_private_headers(response.headers)
    assert service.uses(small["id"]) == 1

    again = download(service, token)
    assert again.status_code == 410
    assert again.json_body["error"] == "link_used"
    assert "already been used" in again.json_body["message"]
    assert again.json_body["uses"] == 1 and again.json_body["last_used_at"].endswith("Z")
    assert service.uses(small["id"]) == 1


@pytest.mark.parametrize(
    "accept", [None, "*/*", "application/json"], ids=["no-accept", "any", "json"]
)
def test_clients_that_cannot_take_binary_get_a_redirect(
    service: InProcess, small: dict[str, Any], accept: str | None
) -> None:
    # Chalice would turn a binary body into a 400 for these (after the view ran),
    # and API Gateway would send base64 text: they get the 302 instead.
    response = download(service, token_of(small), accept)
    assert response.status_code == 302
    location = response.headers["Location"]
    s3_response = service.s3.get_object(**s3_params(service, location))
    assert s3_response["Body"].read() == SMALL
    assert service.uses(small["id"]) == 1
    assert download(service, token_of(small), accept).status_code == 410
    assert service.uses(small["id"]) == 1


def s3_params(service: InProcess, location: str) -> dict[str, Any]:
    """Read the object the presigned URL names (moto does not check signatures)."""
    url = urlsplit(location)
    query = parse_qs(url.query)
    bucket, _, key = url.path.lstrip("/").partition("/")
    if url.netloc.startswith(f"{service.bucket}."):  # virtual-hosted style
        bucket, key = service.bucket, url.path.lstrip("/")
    return {"Bucket": bucket, "Key": unquote(key), "VersionId": query["versionId"][0]}


def test_large_file_redirects_with_a_short_lived_sigv4_url(
    service: InProcess, large: dict[str, Any]
) -> None:
    response = download(service, token_of(large))
    assert response.status_code == 302
    assert_private_headers(response.headers)
    url = urlsplit(response.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "45"
    assert query["X-Amz-Signature"]
    assert "Signature" not in query and "AWSAccessKeyId" not in query  # not SigV2
    assert query["response-content-type"] == "application/zip"
    assert query["response-content-disposition"] == (
        "attachment; filename=\"Resume cafe 2026.pdf\"; filename*=UTF-8''" + quote(NAME, safe="")
    )
    assert query["versionId"] == service.item(large["id"])["version_id"]["S"]
    assert service.uses(large["id"]) == 1
    assert download(service, token_of(large)).status_code == 410


def test_post_with_form_token_redeems(service: InProcess, small: dict[str, Any]) -> None:
    response = service.client.http.post(
        "/download",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": BROWSER_ACCEPT},
        body=f"token={token_of(small)}",
    )
    assert response.status_code == 200
    assert response.body == SMALL
    assert service.uses(small["id"]) == 1


def test_post_with_query_token_redeems(service: InProcess, small: dict[str, Any]) -> None:
    response = service.client.http.post(
        f"/download?token={token_of(small)}", headers={"Accept": "application/pdf"}
    )
    assert response.status_code == 200
    assert response.body == SMALL


def test_multi_use_link_counts_down(service: InProcess) -> None:
    service.put("m.pdf", SMALL)
    minted = service.mint("m.pdf", uses=3, confirm="false")
    token = token_of(minted)
    remaining = [download(service, token).headers["X-Remaining-Uses"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    assert download(service, token).status_code == 410
    assert service.uses(minted["id"]) == 3


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        ("", 400, "missing_token"),
        ("short", 400, "malformed_token"),
        ("a" * 10_000, 400, "malformed_token"),
        ("aaaaaaaaaaaaaaaa" + "A" * 42 + "%00", 400, "malformed_token"),
        ("aaaaaaaaaaaaaaaa" + "A" * 43, 404, "link_not_found"),
    ],
    ids=["empty", "short", "10kb", "nul", "unknown"],
)
def test_bad_tokens(service: InProcess, token: str, status: int, code: str) -> None:
    response = download(service, token)
    assert response.status_code == status
    assert response.json_body["error"] == code
    assert response.json_body["message"]


def test_missing_token_parameter_is_400(service: InProcess) -> None:
    response = service.client.http.get("/download")
    assert response.status_code == 400
    assert response.json_body["error"] == "missing_token"


def test_right_id_wrong_secret_is_404_and_spends_nothing(
    service: InProcess, small: dict[str, Any]
) -> None:
    forged = small["id"] + "B" * 43
    response = download(service, forged)
    assert response.status_code == 404
    assert service.uses(small["id"]) == 0
    assert download(service, token_of(small)).status_code == 200


def test_expired_link_is_410(service: InProcess, small: dict[str, Any]) -> None:
    service.clock.advance(86_400)  # the default lifetime
    response = download(service, token_of(small))
    assert response.status_code == 410
    assert response.json_body["error"] == "link_expired"
    assert "expired" in response.json_body["message"]
    assert service.uses(small["id"]) == 0


def test_revoked_link_is_410(service: InProcess, small: dict[str, Any]) -> None:
    revoked = service.client.http.delete(f"/links/{small['id']}", headers=service.auth())
    assert revoked.status_code == 200
    response = download(service, token_of(small))
    assert response.status_code == 410
    assert response.json_body["error"] == "link_revoked"
    assert service.uses(small["id"]) == 0


@pytest.mark.parametrize(
    "fault",
    [
        aws_error("ThrottlingException", 400),
        aws_error("ProvisionedThroughputExceededException", 400),
        aws_error("InternalServerError", 500),
    ],
    ids=["throttled", "provisioned", "500"],
)
def test_dynamodb_failure_is_503_and_spends_nothing(
    service: InProcess, small: dict[str, Any], fault: Any
) -> None:
    service.hooks.fail("dynamodb:UpdateItem", fault)
    response = download(service, token_of(small))
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.json_body["error"] == "unavailable"
    assert "Exception" not in response.body.decode()
    assert service.uses(small["id"]) == 0


def test_s3_failure_after_claim_gives_the_use_back(
    service: InProcess, small: dict[str, Any]
) -> None:
    def timeout() -> Any:
        raise ReadTimeoutError(endpoint_url="https://s3.amazonaws.com")

    service.hooks.fail("s3:GetObject", timeout)
    response = download(service, token_of(small))
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert service.uses(small["id"]) == 0
    assert service.item(small["id"])["redemptions"]["M"] == {}
    del service.hooks.faults["s3:GetObject"]
    assert download(service, token_of(small)).body == SMALL


def test_replaced_file_is_not_served_in_its_place(
    service: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unversioned bucket: the ETag check is the only guard on the stream path.
    service.s3.create_bucket(Bucket="plain-bucket")
    monkeypatch.setenv("ONETIME_BUCKET", "plain-bucket")
    reset_app_caches()
    service.bucket = "plain-bucket"
    service.put("f.pdf", SMALL)
    minted = service.mint("f.pdf", confirm="false")
    assert "version_id" not in service.item(minted["id"])
    service.put("f.pdf", b"other bytes")
    response = download(service, token_of(minted))
    assert response.status_code == 410
    assert response.json_body["error"] == "file_changed"
    assert "replaced" in response.json_body["message"]
    assert service.uses(minted["id"]) == 0


def test_versioned_bucket_serves_the_pinned_version(
    service: InProcess, small: dict[str, Any]
) -> None:
    service.put("docs/cv.pdf", b"replaced after minting")
    response = download(service, token_of(small))
    assert response.status_code == 200
    assert response.body == SMALL


def test_redeem_aws_call_counts(service: InProcess, small: dict[str, Any]) -> None:
    service.hooks.calls.clear()
    assert download(service, token_of(small)).status_code == 200
    assert service.hooks.calls == [*CLAIM_ON_MOTO, "s3:GetObject"]

    service.put("r.pdf", SMALL)
    minted = service.mint("r.pdf")
    service.hooks.calls.clear()
    assert redeem(service, token_of(minted), accept=None).status_code == 302
    assert service.hooks.calls == CLAIM_ON_MOTO  # presigning is local
    direct = service.mint("r.pdf", confirm="false")
    service.hooks.calls.clear()
    assert download(service, token_of(direct), accept="*/*").status_code == 302
    assert service.hooks.calls == CLAIM_ON_MOTO  # the token says which write


HEALTHY = {"status": "ok", "checks": {"table": "ok", "bucket": "ok"}}


def unhealthy(service: InProcess, table: str = "ok", bucket: str = "ok") -> Any:
    """``/health`` answering 503 with these checks."""
    response = service.client.http.get("/health")
    assert response.status_code == 503
    assert response.json_body == {
        "status": "unavailable",
        "checks": {"table": table, "bucket": bucket},
    }
    return response


def test_health(service: InProcess) -> None:
    response = service.client.http.get("/health")
    assert response.status_code == 200
    assert response.json_body == HEALTHY
    service.hooks.fail("dynamodb:GetItem", aws_error("InternalServerError", 500))
    unhealthy(service, table="unavailable")


def test_health_fails_when_the_role_cannot_read_the_bucket(service: InProcess) -> None:
    """Issue 16, item 6: AccessDenied used to count as healthy.  Without s3:ListBucket a
    missing key is AccessDenied too, so the check reads an object it writes itself."""
    service.hooks.fail("s3:GetObject", aws_error("AccessDenied", 403))
    response = unhealthy(service, bucket="unavailable")
    assert "AccessDenied" not in response.body.decode()  # our words, never AWS's


def test_health_writes_its_probe_again_when_it_is_gone(service: InProcess) -> None:
    # A fresh bucket (or the lifecycle rule) has no probe yet: written, then read.
    service.hooks.calls.clear()
    assert service.client.http.get("/health").json_body == HEALTHY
    assert service.hooks.calls == [
        "dynamodb:GetItem",
        "s3:GetObject",
        "s3:PutObject",
        "s3:GetObject",
    ]
    body = service.s3.get_object(Bucket=service.bucket, Key="uploads/.onetime-health")["Body"]
    assert body.read() == b"onetime health"
    service.hooks.calls.clear()
    assert service.client.http.get("/health").json_body == HEALTHY
    assert service.hooks.calls == ["dynamodb:GetItem", "s3:GetObject"]  # there now: one read
