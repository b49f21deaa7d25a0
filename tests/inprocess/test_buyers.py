"""Self-service links for signed-in buyers (JWT), grants, and CORS for a shop's page."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.helpers import (
    CLIENT,
    ISSUER,
    SMALL,
    InProcess,
    Issuer,
    app_log,
    aws_error,
    call,
    redeem,
    reset_app_caches,
    token_of,
)

SHOP = "https://shop.example"


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    running = Issuer()
    yield running
    running.server.shutdown()


@pytest.fixture
def shop(service: InProcess, issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> InProcess:
    monkeypatch.setenv("ONETIME_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("ONETIME_JWT_AUDIENCE", CLIENT)
    monkeypatch.setenv("ONETIME_JWT_JWKS_URL", issuer.url)
    monkeypatch.setenv("ONETIME_CORS_ORIGINS", SHOP)
    monkeypatch.setenv("ONETIME_GRANT_DAILY_LINKS", "3")
    reset_app_caches()

    service.put("products/course.pdf", SMALL)
    return service


def as_buyer(shop: InProcess, token: str, query: str = "file=products/course.pdf") -> Any:
    return shop.client.http.get(
        f"/get-link?{query}", headers={"Authorization": f"Bearer {token}", "Origin": SHOP}
    )


def grant(shop: InProcess, subject: str = "buyer-1", file: str = "products/course.pdf") -> Any:
    return call(shop, "POST", "/grants", {"subject": subject, "file": file})


def test_buyer_with_a_grant_gets_a_working_link(shop: InProcess, issuer: Issuer) -> None:
    assert grant(shop).status_code == 201
    response = as_buyer(shop, issuer.token())
    assert response.status_code == 200, response.body
    minted = response.json_body
    assert minted["max_uses"] == 1
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    assert redeem(shop, token_of(minted), "application/pdf").body == SMALL


def test_stranger_is_refused_and_nothing_is_minted(shop: InProcess, issuer: Issuer) -> None:
    grant(shop, subject="someone-else")
    for query in ("file=products/course.pdf", "file=products/missing.pdf"):
        response = as_buyer(shop, issuer.token(sub="stranger"), query)
        assert response.status_code == 403  # a missing file looks the same: no probing
        assert response.json_body["error"] == "forbidden"
        assert "purchase" in response.json_body["message"]
    assert [i for i in shop.table_items() if i["pk"]["S"].startswith("link#")] == []


def test_owner_needs_no_grant(shop: InProcess, issuer: Issuer) -> None:
    shop.s3.put_object(
        Bucket=shop.bucket,
        Key="mine/photo.png",
        Body=b"\x89PNG",
        ContentType="image/png",
        Metadata={"owner": "buyer-7"},
    )
    assert as_buyer(shop, issuer.token(sub="buyer-7"), "file=mine/photo.png").status_code == 200
    assert as_buyer(shop, issuer.token(sub="buyer-8"), "file=mine/photo.png").status_code == 403


def test_cognito_access_tokens_use_client_id(shop: InProcess, issuer: Issuer) -> None:
    grant(shop)
    token = issuer.token(aud=None, client_id=CLIENT, token_use="access")
    assert as_buyer(shop, token).status_code == 200


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 120},
        {"iss": "https://evil.example"},
        {"aud": "another-app"},
        {"token_use": "refresh"},
        {"sub": None},
    ],
    ids=["expired", "issuer", "audience", "token-use", "no-sub"],
)
def test_invalid_tokens_are_401(shop: InProcess, issuer: Issuer, claims: dict[str, Any]) -> None:
    grant(shop)
    response = as_buyer(shop, issuer.token(**claims))
    assert response.status_code == 401
    assert response.json_body["error"] == "unauthorized"


def test_forged_tokens_are_401(shop: InProcess, issuer: Issuer) -> None:
    grant(shop)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = issuer.token(key=other_key)
    header, payload, _ = issuer.token().split(".")
    unsigned = jwt.encode({"sub": "buyer-1"}, key="", algorithm="none")
    hs256 = jwt.encode(
        {"iss": ISSUER, "sub": "buyer-1", "aud": CLIENT, "exp": 2**31},
        key="a-guessed-secret-of-32-bytes-len",
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    for token in (forged, f"{header}.{payload}.AAAA", unsigned, hs256):
        assert as_buyer(shop, token).status_code == 401, token


def test_daily_allowance_per_grant(shop: InProcess, issuer: Issuer) -> None:
    grant(shop)
    statuses = [as_buyer(shop, issuer.token()).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = as_buyer(shop, issuer.token())
    assert 0 < int(refused.headers["Retry-After"]) <= 86_400
    assert "today" in refused.json_body["message"]


def test_buyer_cannot_choose_uses(shop: InProcess, issuer: Issuer) -> None:
    grant(shop)
    response = as_buyer(shop, issuer.token(), "file=products/course.pdf&uses=50")
    assert response.status_code == 400


def test_api_keys_keep_working(shop: InProcess) -> None:
    assert shop.mint("products/course.pdf", uses=3)["max_uses"] == 3


def test_keys_are_fetched_once(shop: InProcess, issuer: Issuer) -> None:
    grant(shop)
    before = issuer.fetches
    for _ in range(3):
        as_buyer(shop, issuer.token())
    assert issuer.fetches - before == 1


def test_grants_api(shop: InProcess, issuer: Issuer) -> None:
    for file in ("products/a.pdf", "products/b.pdf"):
        assert grant(shop, "buyer-9", file).status_code == 201
    listed = call(shop, "GET", "/grants?subject=buyer-9")
    assert listed.status_code == 200
    assert sorted(g["file"] for g in listed.json_body["grants"]) == [
        "products/a.pdf",
        "products/b.pdf",
    ]
    assert call(shop, "DELETE", "/grants?subject=buyer-9&file=products/a.pdf").status_code == 204
    assert call(shop, "DELETE", "/grants?subject=buyer-9&file=products/a.pdf").status_code == 404
    left = call(shop, "GET", "/grants?subject=buyer-9").json_body["grants"]
    assert [g["file"] for g in left] == ["products/b.pdf"]
    # Grants are for operators: a buyer's token is not an API key.
    response = shop.client.http.get(
        "/grants?subject=buyer-9", headers={"Authorization": f"Bearer {issuer.token()}"}
    )
    assert response.status_code == 401
    assert call(shop, "POST", "/grants", {"subject": "", "file": "x"}).status_code == 400


def test_grants_never_show_up_as_links(shop: InProcess) -> None:
    grant(shop)
    listed = call(shop, "GET", "/links?file=products/course.pdf").json_body
    assert listed["links"] == []


def test_cors_preflight_only_for_configured_origins(shop: InProcess) -> None:
    allowed = shop.client.http.request(
        "OPTIONS",
        "/get-link",
        headers={
            "Origin": SHOP,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    other = shop.client.http.request(
        "OPTIONS", "/get-link", headers={"Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in other.headers
    refused = shop.client.http.get("/get-link?file=x", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in refused.headers


@pytest.mark.parametrize("subject", ["a\x00b", "\ud800", "line\nbreak"])
def test_grant_fields_refuse_control_characters(shop: InProcess, subject: str) -> None:
    response = call(shop, "POST", "/grants", {"subject": subject, "file": "products/course.pdf"})
    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_subject"
    assert shop.table_items() == []


def test_unknown_parameters_share_one_metric_reason(shop: InProcess, issuer: Issuer) -> None:
    grant(shop)
    with app_log() as capture:
        for name in ("colour", "x" * 40, "uses"):
            response = as_buyer(shop, issuer.token(), f"file=products/course.pdf&{name}=1")
            assert response.status_code == 400
            assert response.json_body["error"] == "invalid_parameter"
    metrics = [json.loads(line) for line in capture.lines if '"Refused"' in line]
    assert [m["Reason"] for m in metrics] == ["invalid_parameter"] * 3


def today_count(shop: InProcess, pk: str, attribute: str) -> int:
    item = shop.dynamodb.get_item(TableName=shop.table, Key={"pk": {"S": pk}})["Item"]
    day = time.strftime("%Y-%m-%d", time.gmtime(shop.clock()))
    if attribute == "minted":
        return int(item["minted"]["M"].get(day, {"N": "0"})["N"])
    return int(item.get(f"minted_{day}", {"N": "0"})["N"])


def test_a_failed_mint_gives_the_allowance_back(shop: InProcess, issuer: Issuer) -> None:
    grant(shop)
    shop.hooks.fail("dynamodb:PutItem", aws_error("InternalServerError", 500))
    assert as_buyer(shop, issuer.token()).status_code == 503
    pk = "grant#" + json.dumps(["buyer-1", "products/course.pdf"])
    assert today_count(shop, pk, "minted") == 0
    shop.hooks.faults.clear()
    for _ in range(3):  # the whole allowance (3) is still there
        assert as_buyer(shop, issuer.token()).status_code == 200
    assert as_buyer(shop, issuer.token()).status_code == 429


def test_owners_are_bound_by_the_allowance_too(shop: InProcess, issuer: Issuer) -> None:
    shop.s3.put_object(
        Bucket=shop.bucket, Key="mine/a.png", Body=b"\x89PNG", Metadata={"owner": "buyer-7"}
    )
    token = issuer.token(sub="buyer-7")
    statuses = [as_buyer(shop, token, "file=mine/a.png").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    links = [i for i in shop.table_items() if i["pk"]["S"].startswith("link#")]
    assert len(links) == 3
    shop.clock.advance(86_400)  # a new UTC day
    assert as_buyer(shop, token, "file=mine/a.png").status_code == 200
