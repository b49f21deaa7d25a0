"""Issue 22, item 9: the newest links' ``BatchGetItem`` asks again for keys DynamoDB left
unprocessed (bounded), keeps the index's order, and skips a link purged meanwhile."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.errors import UnavailableError
from chalicelib.domain.link import Link, StoredObject
from chalicelib.storage import dynamo
from chalicelib.storage.linkstore import DynamoLinkStore, _to_item

pytestmark = pytest.mark.unit
NOW = 1_800_000_000.0


def item(n: int) -> dynamo.Item:
    return _to_item(
        Link(
            link_id=f"link{n:012d}",
            token_digest="d",
            object=StoredObject("k.pdf", 1, "application/pdf", '"e"'),
            filename="k.pdf",
            max_uses=1,
            uses=0,
            created_at=NOW - n,
            expires_at=int(NOW) + 60,
            confirm=True,
        )
    )


class Table:
    """Answers one day's query with ``items``' keys, and each batch get with at most
    ``per_call`` of the keys asked for (the rest unprocessed), never ``missing``."""

    def __init__(self, items: list[dynamo.Item], per_call: int, missing: int = -1) -> None:
        self.items, self.per_call = items, per_call
        self.gone = items[missing]["pk"]["S"] if missing >= 0 else None
        self.batches = 0

    def query(self, **params: Any) -> dict[str, Any]:
        keys = [{k: i[k] for k in ("pk", "created_day", "created_at")} for i in self.items]
        return {"Items": keys}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.batches += 1
        asked = RequestItems["t"]["Keys"]
        done, rest = asked[: self.per_call], asked[self.per_call :]
        by_pk = {i["pk"]["S"]: i for i in self.items}
        found = [by_pk[k["pk"]["S"]] for k in reversed(done) if k["pk"]["S"] != self.gone]
        unprocessed = {"t": {"Keys": rest, "ConsistentRead": True}} if rest else {}
        return {"Responses": {"t": found}, "UnprocessedKeys": unprocessed}


def test_unprocessed_keys_are_asked_again_and_the_order_kept() -> None:
    items = [item(n) for n in range(5)]
    table = Table(items, per_call=2, missing=3)
    page = DynamoLinkStore(table, "t").newest(NOW, NOW, 5, None)  # type: ignore[arg-type]
    assert [link.link_id for link in page.links] == [f"link{n:012d}" for n in (0, 1, 2, 4)]
    assert table.batches == 3 and page.cursor is None


def test_keys_left_unprocessed_too_often_are_a_503() -> None:
    table = Table([item(n) for n in range(5)], per_call=1)
    with pytest.raises(UnavailableError):
        DynamoLinkStore(table, "t").newest(NOW, NOW, 5, None)  # type: ignore[arg-type]
    assert table.batches == 4
