"""End to end over HTTP: dynalite, moto server and chalice local as real processes."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from tests.helpers import BROWSER_ACCEPT, TIMEOUT, item, mint, s3_bytes
from tools.samples import LARGE_SAMPLE, SMALL_SAMPLE, sample_pdf
from tools.stack import Stack


def get(url: str, accept: str | None) -> requests.Response:
    headers = {"Accept": accept} if accept is not None else {}
    session = requests.Session()
    if accept is None:
        session.headers.pop("Accept", None)  # requests sends "*/*" unless told not to
    return session.get(url, headers=headers, allow_redirects=False, timeout=TIMEOUT)


def test_small_file_round_trip(stack: Stack) -> None:
    minted = mint(stack, SMALL_SAMPLE, confirm="false")
    response = get(minted["url"], BROWSER_ACCEPT)
    assert response.status_code == 200
    assert response.content == sample_pdf()
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"Resume cafe 2026.pdf\"; filename*=UTF-8''"
        + quote("Résumé café 2026.pdf", safe="")
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    again = get(minted["url"], BROWSER_ACCEPT)
    assert again.status_code == 410
    assert "This link has already been used" in again.text
    assert get(minted["url"], "application/json").json()["error"] == "link_used"


def test_large_file_round_trip(stack: Stack) -> None:
    minted = mint(stack, LARGE_SAMPLE, confirm="false")
    assert minted["size"] > 4 * 1024 * 1024
    response = get(minted["url"], BROWSER_ACCEPT)
    assert response.status_code == 302
    followed = requests.get(response.headers["Location"], timeout=TIMEOUT)
    assert followed.status_code == 200
    assert followed.content == s3_bytes(stack, LARGE_SAMPLE)
    assert followed.headers["Content-Type"] == "application/zip"
    assert followed.headers["Content-Disposition"].startswith("attachment; filename=")
    assert get(minted["url"], BROWSER_ACCEPT).status_code == 410


@pytest.mark.parametrize(
    ("accept", "status"),
    [(BROWSER_ACCEPT, 200), ("*/*", 302), (None, 302), ("application/json", 302)],
    ids=["browser", "any", "no-accept", "json"],
)
def test_small_file_arrives_intact_for_every_accept(
    stack: Stack, accept: str | None, status: int
) -> None:
    minted = mint(stack, SMALL_SAMPLE, confirm="false")
    response = get(minted["url"], accept)
    assert response.status_code == status
    body = response.content
    if status == 302:
        body = requests.get(response.headers["Location"], timeout=TIMEOUT).content
    assert body == sample_pdf()
    assert item(stack, minted["id"])["uses"]["N"] == "1"
    assert get(minted["url"], accept).status_code == 410
    assert item(stack, minted["id"])["uses"]["N"] == "1"


def test_health_over_http(stack: Stack) -> None:
    response = requests.get(f"{stack.base_url}/health", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"table": "ok", "bucket": "ok"}}


def scan_all(stack: Stack, page_size: int) -> tuple[list[dict[str, Any]], int]:
    """Every item of the table (shared by the whole session), page by page, and the page count."""
    paginator = stack.client("dynamodb").get_paginator("scan")
    items: list[dict[str, Any]] = []
    pages = 0
    for page in paginator.paginate(
        TableName=stack.table, ConsistentRead=True, PaginationConfig={"PageSize": page_size}
    ):
        items.extend(page["Items"])
        pages += 1
    return items, pages


def test_table_never_holds_a_token(stack: Stack) -> None:
    links = [mint(stack, SMALL_SAMPLE) for _ in range(5)]
    tokens = [parse_qs(urlsplit(minted["url"]).query)["token"][0] for minted in links]
    # Small pages, so the search really follows LastEvaluatedKey (five links make >= 2 pages)
    # and covers the whole table, not whichever page one Scan happens to return.
    items, pages = scan_all(stack, page_size=4)
    assert pages >= 2
    searched = [item["link_id"]["S"] for item in items if "link_id" in item]
    assert {minted["id"] for minted in links} <= set(searched)  # every link this test made
    assert len(set(searched)) == len(searched)  # and no item was read twice
    dump = repr(items)
    for token in tokens:
        assert token not in dump
        assert token[16:] not in dump  # nor its secret half
