"""The link and grant store contract (tests/contracts/stores.py) on moto in this process:
one table for the module (each test uses fresh ids and keys)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chalicelib.storage.grantstore import DynamoGrantStore
from chalicelib.storage.linkstore import DynamoLinkStore
from chalicelib.storage.stores import GrantStore, LinkStore
from tests.contracts.stores import *  # noqa: F403 -- the shared body, collected here
from tests.contracts.stores import check_legacy_item
from tests.world import CONTRACT_TABLE as TABLE
from tools.resources import create_table


@pytest.fixture
def stores(dynamodb: Any) -> tuple[LinkStore, GrantStore]:
    return DynamoLinkStore(dynamodb, TABLE), DynamoGrantStore(dynamodb, TABLE)


@pytest.fixture
def atomic_links() -> LinkStore:
    pytest.skip("moto's conditional writes are not atomic under concurrency (no proof)")


def test_an_item_written_before_bounded_history_still_reads_and_takes_writes(
    dynamodb: Any,
) -> None:
    """Items from before hold lists under the old names (see check_legacy_item)."""
    table = f"legacy-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, table)
    check_legacy_item(dynamodb, table)
