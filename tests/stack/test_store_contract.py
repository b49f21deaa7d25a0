"""The link and grant store contract (tests/contracts/stores.py) on dynalite, a real
process whose conditional writes are atomic: the session's table, fresh ids and keys."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.link import HISTORY_KEPT
from chalicelib.storage.grantstore import DynamoGrantStore
from chalicelib.storage.linkstore import DynamoLinkStore
from chalicelib.storage.stores import GrantStore, LinkStore
from tests.contracts.stores import *  # noqa: F403 -- the shared body, collected here
from tests.contracts.stores import (
    HISTORY_ITEM_BOUND,
    check_legacy_item,
    item_bytes,
    long_history,
)
from tools.stack import Stack


@pytest.fixture
def stores(stack: Stack) -> tuple[LinkStore, GrantStore]:
    client = stack.client("dynamodb")
    return DynamoLinkStore(client, stack.table), DynamoGrantStore(client, stack.table)


@pytest.fixture
def atomic_links(stack: Stack) -> LinkStore:
    return DynamoLinkStore(stack.client("dynamodb"), stack.table)


def test_a_long_history_keeps_the_stored_item_small(stack: Stack) -> None:
    """Measured on dynalite's stored item: every list and map is bounded, whatever the
    link went through, so its size (and with it a claim's WCU) stops growing."""
    client: Any = stack.client("dynamodb")
    store = DynamoLinkStore(client, stack.table)
    after = long_history(store)
    item = client.get_item(
        TableName=stack.table, Key={"pk": {"S": f"link#{after.link_id}"}}, ConsistentRead=True
    )["Item"]
    for name, value in item.items():
        ((kind, inner),) = value.items()
        if name == "redemptions":
            # the uses made, plus the given-back ones of at most two refund generations
            assert len(inner) <= after.max_uses + 2 * HISTORY_KEPT, name
        elif kind in ("L", "M"):
            assert len(inner) <= HISTORY_KEPT, name
    size = item_bytes(item)
    print(f"item after a long history: {size} bytes")
    assert size < HISTORY_ITEM_BOUND


def test_an_item_written_before_bounded_history_still_reads_and_takes_writes(
    stack: Stack,
) -> None:
    """Items from before hold lists under the old names (see check_legacy_item)."""
    check_legacy_item(stack.client("dynamodb"), stack.table)
