"""The operators' API: create, inspect, change, revoke and list links."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.helpers import SMALL, InProcess, app_log, call, download, epoch, token_of


@pytest.fixture
def created(service: InProcess) -> dict[str, Any]:
    service.put("reports/q3.pdf", SMALL)
    response = call(
        service,
        "POST",
        "/links",
        {"file": "reports/q3.pdf", "uses": 2, "ttl": 600, "note": "order 1042", "confirm": False},
    )
    assert response.status_code == 201, response.body
    body: dict[str, Any] = response.json_body
    assert response.headers["Location"].endswith(f"/links/{body['id']}")
    return body


def test_post_links_mints_like_get_link(service: InProcess, created: dict[str, Any]) -> None:
    assert set(created) == {
        "url",
        "id",
        "file",
        "filename",
        "size",
        "max_uses",
        "expires_at",
        "confirm",
    }
    assert created["max_uses"] == 2 and created["confirm"] is False
    assert service.item(created["id"])["note"]["S"] == "order 1042"


@pytest.mark.parametrize(
    ("body", "code", "named"),
    [
        ("not json", "invalid_json", "JSON"),
        ("[1, 2]", "invalid_json", "JSON"),
        ({"file": "reports/q3.pdf", "colour": "red"}, "unknown_field", "colour"),
        ({"file": "reports/q3.pdf", "uses": "2"}, "invalid_uses", "uses"),
        ({"file": "reports/q3.pdf", "uses": True}, "invalid_uses", "uses"),
        ({"file": "reports/q3.pdf", "confirm": "yes"}, "invalid_confirm", "confirm"),
        ({"file": 7}, "invalid_file", "file"),
        ({"uses": 1}, "invalid_file", "file"),
        ({"file": "reports/q3.pdf", "note": "x" * 1001}, "invalid_note", "note"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(
    service: InProcess, body: Any, code: str, named: str
) -> None:
    service.put("reports/q3.pdf", SMALL)
    response = call(service, "POST", "/links", body)
    assert response.status_code == 400
    assert response.json_body["error"] == code
    assert named in response.json_body["message"]
    assert service.table_items() == []


def test_non_json_content_type_is_415(service: InProcess) -> None:
    response = call(service, "POST", "/links", "file=x", **{"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json_body["error"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/links"),
        ("GET", "/links?file=x"),
        ("GET", "/links/aaaaaaaaaaaaaaaa"),
        ("PATCH", "/links/aaaaaaaaaaaaaaaa"),
        ("DELETE", "/links/aaaaaaaaaaaaaaaa"),
    ],
)
def test_operator_routes_need_the_key(service: InProcess, method: str, path: str) -> None:
    response = service.client.http.request(
        method, path, headers={"Content-Type": "application/json"}, body=b"{}"
    )
    assert response.status_code == 401
    assert response.json_body["error"] == "unauthorized"


def test_show_has_state_and_redemptions_but_never_the_token(
    service: InProcess, created: dict[str, Any]
) -> None:
    token = token_of(created)
    assert (
        service.client.http.get(
            f"/download?token={token}",
            headers={"Accept": "application/pdf", "User-Agent": "TestBrowser/1.0"},
        ).status_code
        == 200
    )
    assert download(service, token, accept="*/*").status_code == 302

    response = call(service, "GET", f"/links/{created['id']}")
    assert response.status_code == 200
    state = response.json_body
    assert token not in json.dumps(state) and token[16:] not in json.dumps(state)
    assert state["uses"] == 2 and state["remaining"] == 0 and state["status"] == "used"
    assert state["note"] == "order 1042" and state["revoked_at"] is None
    assert [r["path"] for r in state["redemptions"]] == ["stream", "redirect"]
    assert state["redemptions"][0]["user_agent"] == "TestBrowser/1.0"
    assert state["redemptions"][0]["ip"]
    assert epoch(state["redemptions"][0]["at"]) <= epoch(state["redemptions"][1]["at"])


def test_unknown_or_malformed_id_is_404(service: InProcess) -> None:
    for link_id in ("aaaaaaaaaaaaaaaa", "not-an-id", "x" * 300):
        response = call(service, "GET", f"/links/{link_id}")
        assert response.status_code == 404
        assert response.json_body["error"] == "link_not_found"


def test_extend_changes_expiry_and_the_link_works_again(
    service: InProcess, created: dict[str, Any]
) -> None:
    service.dynamodb.update_item(
        TableName=service.table,
        Key={"pk": {"S": f"link#{created['id']}"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 10)}},
    )
    assert download(service, token_of(created)).status_code == 410
    response = call(service, "PATCH", f"/links/{created['id']}", {"ttl": 86400})
    assert response.status_code == 200
    assert abs(epoch(response.json_body["expires_at"]) - (time.time() + 86400)) < 5
    item = service.item(created["id"])
    assert int(item["purge_at"]["N"]) == int(item["expires_at"]["N"]) + 30 * 86400
    assert download(service, token_of(created)).status_code == 200


def test_use_limit_cannot_go_below_uses_made(service: InProcess, created: dict[str, Any]) -> None:
    assert download(service, token_of(created)).status_code == 200
    response = call(service, "PATCH", f"/links/{created['id']}", {"max_uses": 1})
    assert response.status_code == 200
    assert response.json_body["remaining"] == 0
    refused = call(service, "PATCH", f"/links/{created['id']}", {"max_uses": 0})
    assert refused.status_code == 400
    service.dynamodb.update_item(
        TableName=service.table,
        Key={"pk": {"S": f"link#{created['id']}"}},
        UpdateExpression="SET max_uses = :m",
        ExpressionAttributeValues={":m": {"N": "5"}},
    )
    assert download(service, token_of(created)).status_code == 200  # uses now 2
    conflict = call(service, "PATCH", f"/links/{created['id']}", {"max_uses": 1})
    assert conflict.status_code == 409
    assert "2" in conflict.json_body["message"]
    assert service.item(created["id"])["max_uses"]["N"] == "5"


def test_patch_rejects_unknown_fields_and_changes_nothing(
    service: InProcess, created: dict[str, Any]
) -> None:
    before = service.item(created["id"])
    response = call(service, "PATCH", f"/links/{created['id']}", {"uses": 5})
    assert response.status_code == 400 and "uses" in response.json_body["message"]
    assert service.item(created["id"]) == before


def test_revoke_then_410_and_still_inspectable(service: InProcess, created: dict[str, Any]) -> None:
    response = call(service, "DELETE", f"/links/{created['id']}")
    assert response.status_code == 200
    assert response.json_body["status"] == "revoked"
    revoked_at = response.json_body["revoked_at"]
    refused = download(service, token_of(created))
    assert refused.status_code == 410
    assert refused.json_body["error"] == "link_revoked"
    again = call(service, "DELETE", f"/links/{created['id']}")
    assert again.status_code == 200 and again.json_body["revoked_at"] == revoked_at
    assert call(service, "GET", f"/links/{created['id']}").json_body["status"] == "revoked"
    assert call(service, "DELETE", "/links/aaaaaaaaaaaaaaaa").status_code == 404


def test_list_for_file_newest_first_with_cursor(service: InProcess) -> None:
    service.put("shared/a.pdf", SMALL)
    service.put("shared/b.pdf", SMALL)
    ids = []
    for _ in range(5):
        ids.append(service.mint("shared/a.pdf")["id"])
        service.clock.advance(1)  # newest first needs distinct mint times
    service.mint("shared/b.pdf")
    seen, cursor, pages = [], None, 0
    while True:
        path = "/links?file=shared/a.pdf&limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = call(service, "GET", path)
        assert response.status_code == 200
        seen += [link["id"] for link in response.json_body["links"]]
        cursor = response.json_body["next_cursor"]
        pages += 1
        if not cursor:
            break
    assert seen == list(reversed(ids))
    assert pages >= 3


@pytest.mark.parametrize(
    "query",
    [
        "file=",
        "file=x&limit=0",
        "file=x&limit=101",
        "file=x&cursor=bogus",
        "file=x&cursor=eyJwayI6IDF9",
    ],
)
def test_list_rejects_bad_queries(service: InProcess, query: str) -> None:
    response = call(service, "GET", f"/links?{query}")
    assert response.status_code == 400, response.body


def test_refusals_are_logged_not_stored(service: InProcess, created: dict[str, Any]) -> None:
    token = token_of(created)
    with app_log() as capture:
        for _ in range(3):
            download(service, token)  # two uses, then a refusal
    lines = [json.loads(line) for line in capture.lines]
    requests = [line for line in lines if line["message"] == "request"]
    assert [r.get("outcome") for r in requests[-3:]] == [
        "redeemed_stream",
        "redeemed_stream",
        "refused",
    ]
    refused = requests[-1]
    assert refused["reason"] == "link_used" and refused["status"] == 410
    assert refused["link_id"] == created["id"] and refused["request_id"]
    assert all(token not in json.dumps(line) for line in lines)
    assert len(service.item(created["id"])["redemptions"]["M"]) == 2


def test_metrics_are_embedded_metric_format(service: InProcess, created: dict[str, Any]) -> None:
    with app_log() as capture:
        for _ in range(3):
            download(service, token_of(created))
    metrics = [json.loads(line) for line in capture.lines if '"_aws"' in line]
    seen = []
    for entry in metrics:
        assert entry["message"] == "request"  # the metric rides in the request's one line
        [directive] = entry["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "onetime"
        [definition] = directive["Metrics"]
        name = definition["Name"]
        assert entry[name] == 1  # the value sits at the top level, as EMF requires
        dimensions = {d: entry[d] for d in directive["Dimensions"][0]}
        seen.append((name, dimensions))
    assert seen == [
        ("Redeemed", {"Path": "stream"}),
        ("Redeemed", {"Path": "stream"}),
        ("Refused", {"Reason": "link_used"}),
    ]
