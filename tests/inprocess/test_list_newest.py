"""Issue 22, item 9: ``GET /links`` with neither ``file`` nor ``email`` lists the newest
links, from the keys-only ``by-day`` index and one ``BatchGetItem``; and the index costs a
claim nothing (its keys are written at mint only)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import InProcess

DAY = 86_400
BODY = b"%PDF-1.4 newest links\n" * 20


def call(service: InProcess, path: str) -> Any:
    return service.client.http.get(path, headers=service.auth())


def listed(service: InProcess, query: str = "") -> Any:
    response = call(service, f"/links?{query}" if query else "/links")
    assert response.status_code == 200, response.body
    return response.json_body


def every_id(service: InProcess, limit: int) -> tuple[list[str], int]:
    """The ids of the whole newest-first listing, page by page, and the number of pages."""
    seen: list[str] = []
    cursor: str | None = None
    for pages in range(1, 50):  # bounded: a listing that never ends fails here
        page = listed(service, f"limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        seen += [link["id"] for link in page["links"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, pages
    raise AssertionError("the listing did not end")


def test_get_links_alone_lists_the_newest_links_across_days(service: InProcess) -> None:
    service.put("a.pdf", BODY)
    service.put("b.pdf", BODY)
    minted = []
    for n in range(5):  # over three days, two files, one emailed-looking note
        minted.append(service.mint("a.pdf" if n % 2 else "b.pdf")["id"])
        service.clock.advance(DAY // 2 + 1)
    first = listed(service)
    assert [link["id"] for link in first["links"]] == minted[::-1]
    assert first["next_cursor"] is None
    assert {link["file"] for link in first["links"]} == {"a.pdf", "b.pdf"}
    ids, pages = every_id(service, limit=2)
    assert ids == minted[::-1] and pages == 3


def test_the_listing_reads_keys_from_the_index_then_one_batch_get(service: InProcess) -> None:
    service.put("a.pdf", BODY)
    for _ in range(3):
        service.mint("a.pdf")
        service.clock.advance(1)
    service.hooks.calls.clear()
    assert len(listed(service, "limit=3")["links"]) == 3
    assert service.hooks.calls == ["dynamodb:Query", "dynamodb:BatchGetItem"]


def test_a_page_walks_back_over_empty_days(service: InProcess) -> None:
    service.put("a.pdf", BODY)
    old = service.mint("a.pdf")["id"]
    service.clock.advance(20 * DAY)
    new = service.mint("a.pdf")["id"]
    page = listed(service, "limit=5")
    assert [link["id"] for link in page["links"]] == [new, old]
    assert page["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("file=a.pdf&email=a%40example.com", "invalid_query"),
        ("file=", "invalid_file"),
        ("limit=0", "invalid_limit"),
        ("limit=101", "invalid_limit"),
        ("cursor=bogus", "invalid_cursor"),
        ("cursor=eyJwayI6IDF9", "invalid_cursor"),
    ],
)
def test_bad_listings_are_400_and_name_the_problem(
    service: InProcess, query: str, code: str
) -> None:
    response = call(service, f"/links?{query}")
    assert response.status_code == 400, response.body
    assert response.json_body["error"] == code


def test_a_cursor_of_another_listing_is_refused(service: InProcess) -> None:
    service.put("a.pdf", BODY)
    for _ in range(3):
        service.mint("a.pdf")
        service.clock.advance(1)
    by_file = listed(service, "file=a.pdf&limit=1")["next_cursor"]
    newest = listed(service, "limit=1")["next_cursor"]
    assert by_file and newest
    assert call(service, f"/links?cursor={by_file}").status_code == 400
    assert call(service, f"/links?file=a.pdf&cursor={newest}").status_code == 400


# What the by-day index costs.  DynamoDB writes a global secondary index only when a write
# adds, changes or removes one of its key attributes, or a projected one; a keys-only index
# projects nothing else.  So a write that leaves pk, created_day and created_at as they were
# costs the index nothing.
INDEX_KEYS = ("pk", "created_day", "created_at")


def index_entry(item: dict[str, Any]) -> dict[str, Any]:
    return {name: item[name] for name in INDEX_KEYS}


def test_only_the_mint_writes_the_by_day_index(service: InProcess) -> None:
    service.put("a.pdf", BODY)
    minted = service.mint("a.pdf", uses=3, confirm="false", ttl=30 * DAY)
    link_id, token = minted["id"], minted["url"].split("token=", 1)[1]
    at_mint = service.item(link_id)
    assert at_mint["created_day"] == {"S": _day(service)}
    http = service.client.http
    writes: list[Callable[[], Any]] = [
        lambda: http.get(f"/download?token={token}", headers={"Accept": "*/*"}),  # a claim
        lambda: http.get(f"/download?token={token}", headers={"Accept": "text/html"}),
        lambda: http.head(f"/download?token={token}"),
        lambda: http.post(f"/links/{link_id}/refund", headers=service.auth()),
        lambda: http.request(
            "PATCH",
            f"/links/{link_id}",
            headers={**service.auth(), "Content-Type": "application/json"},
            body=json.dumps({"ttl": 600, "note": "n"}).encode(),
        ),
        lambda: http.delete(f"/links/{link_id}", headers=service.auth()),
    ]
    for write in writes:
        service.clock.advance(DAY)  # a later day: a day derived at write time would show
        before = service.item(link_id)
        assert write().status_code < 400
        after = service.item(link_id)
        assert after != before  # the write landed
        assert index_entry(after) == index_entry(before) == index_entry(at_mint)


def test_the_index_entry_is_one_write_unit(service: InProcess) -> None:
    """A keys-only entry: the table's key and the index's keys, plus DynamoDB's 100 bytes
    of overhead per index item; under 1 KB, so 1 WRU per mint."""
    service.put("a.pdf", BODY)
    item = service.item(service.mint("a.pdf")["id"])
    size = sum(len(name.encode()) + _value_bytes(item[name]) for name in INDEX_KEYS) + 100
    assert 150 <= size <= 170, size  # COSTS.md quotes "about 160 bytes"


def _value_bytes(value: dict[str, str]) -> int:
    ((kind, text),) = value.items()
    if kind == "S":
        return len(text.encode())
    # A number: about one byte per two significant digits, plus one.
    digits = text.replace(".", "").lstrip("0").rstrip("0")
    return (len(digits) + 1) // 2 + 1


def _day(service: InProcess) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(service.clock(), dt.UTC).strftime("%Y-%m-%d")
