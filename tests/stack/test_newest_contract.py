"""Issue 22, item 9: the newest links (``LinkStore.newest``) behave alike on the in-memory
fake, on moto and on dynalite: newest first across days, a bounded walk per page, the
listing's end, and cursors that belong to it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib.domain.errors import InvalidRequestError
from chalicelib.domain.link import Link, StoredObject
from chalicelib.domain.tokens import new_token
from chalicelib.storage.linkstore import DynamoLinkStore
from chalicelib.storage.stores import DAYS_PER_PAGE, LinkStore
from tests.fakes import MemoryLinkStore
from tools.resources import create_table
from tools.stack import Stack

DAY = 86_400


@pytest.fixture(params=["memory", "moto", "dynalite"])
def links(request: pytest.FixtureRequest) -> Iterator[LinkStore]:
    if request.param == "memory":
        yield MemoryLinkStore()
    elif request.param == "moto":
        request.getfixturevalue("aws_env")
        from moto import mock_aws

        with mock_aws():
            client: Any = boto3.client("dynamodb")
            create_table(client, "newest")
            yield DynamoLinkStore(client, "newest")
    else:
        stack: Stack = request.getfixturevalue("stack")
        yield DynamoLinkStore(stack.client("dynamodb"), stack.table)


@pytest.fixture
def today() -> float:
    """Noon of a day of its own, far from any other test's links in a shared table."""
    start = dt.datetime(2200, 1, 1, 12, tzinfo=dt.UTC) + dt.timedelta(
        days=uuid.uuid4().int % 300_000
    )
    return start.timestamp()


def made(store: LinkStore, at: float, key: str = "") -> str:
    link = _link_to(key or f"k/{uuid.uuid4().hex}.pdf", at)
    store.create(link)
    return link.link_id


def whole(store: LinkStore, now: float, since: float, limit: int) -> list[list[str]]:
    """Every page of the listing, as link ids."""
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(100):  # bounded: a listing that never ends fails here
        page = store.newest(now, since, limit, cursor)
        pages.append([link.link_id for link in page.links])
        cursor = page.cursor
        if cursor is None:
            return pages
    raise AssertionError("the listing did not end")


def test_newest_first_across_days_down_to_since(links: LinkStore, today: float) -> None:
    newest = [made(links, today + 2), made(links, today + 1)]
    yesterday = made(links, today - DAY)
    earlier = made(links, today - 40 * DAY)
    made(links, today - 80 * DAY)  # before the listing's first day
    made(links, today + DAY)  # after now: tomorrow's partition is not read
    since = today - 70 * DAY
    first = links.newest(today + 3, since, 2, None)
    assert [link.link_id for link in first.links] == newest
    assert first.cursor is not None
    every = [link_id for page in whole(links, today + 3, since, 2) for link_id in page]
    assert every == [*newest, yesterday, earlier]


def test_a_page_reads_a_bounded_number_of_days(links: LinkStore, today: float) -> None:
    listed = [made(links, today), made(links, today - (DAYS_PER_PAGE - 1) * DAY)]
    late = made(links, today - DAYS_PER_PAGE * DAY)  # the first day the first page leaves
    pages = whole(links, today + 1, today - (DAYS_PER_PAGE + 8) * DAY, 5)
    # The first page stops after DAYS_PER_PAGE days, short of its limit, and says where
    # to go on; the second reads the rest and ends.
    assert pages == [listed, [late]]


def test_a_listing_of_one_day_ends_on_it(links: LinkStore, today: float) -> None:
    only = made(links, today)
    page = links.newest(today + 1, today, 5, None)
    assert [link.link_id for link in page.links] == [only] and page.cursor is None
    assert links.newest(today + 1, today, 5, None).links[0].created_at == today


def test_bad_cursors_are_refused(links: LinkStore, today: float) -> None:
    key = f"k/{uuid.uuid4().hex}.pdf"
    for n in range(3):
        made(links, today + n)
    for _ in range(2):
        made(links, today, key)
    by_file = links.for_file(key, 1, None).cursor
    assert by_file is not None
    for cursor in ("not-a-cursor", "e30", by_file, "W10", "WyIyMjAwLTAxLTAxIl0"):
        with pytest.raises(InvalidRequestError):
            links.newest(today + 4, today - DAY, 2, cursor)


def _link_to(key: str, at: float) -> Link:
    token = new_token()
    return Link(
        link_id=token.link_id,
        token_digest=token.digest,
        object=StoredObject(key, 10, "application/pdf", '"e"'),
        filename="f.pdf",
        max_uses=1,
        uses=0,
        created_at=at,
        expires_at=int(at) + 3600,
        confirm=True,
    )
