"""The file request store contract (tests/contracts/requeststores.py) on moto in this
process: one table for the module, and a table of its own for each listing test."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chalicelib.storage.linkstore import DynamoLinkStore
from chalicelib.storage.requeststore import DynamoRequestStore
from chalicelib.storage.stores import RequestStore
from tests.contracts.multipartstores import *  # noqa: F403 -- its multipart records too
from tests.contracts.requeststores import *  # noqa: F403 -- the shared body, collected here
from tests.contracts.requeststores import new_request
from tests.contracts.stores import new_link
from tests.world import CONTRACT_TABLE as TABLE
from tools.resources import create_table


def fresh_table(dynamodb: Any) -> str:
    table = f"contract-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, table)
    return table


@pytest.fixture
def store(dynamodb: Any) -> RequestStore:
    return DynamoRequestStore(dynamodb, TABLE)


@pytest.fixture
def fresh_store(dynamodb: Any) -> RequestStore:
    return DynamoRequestStore(dynamodb, fresh_table(dynamodb))


@pytest.fixture
def atomic_store() -> RequestStore:
    pytest.skip("moto's conditional writes are not atomic under concurrency (no proof)")


def test_links_in_the_table_are_not_listed_as_requests(dynamodb: Any) -> None:
    table = fresh_table(dynamodb)
    requests, links = DynamoRequestStore(dynamodb, table), DynamoLinkStore(dynamodb, table)
    new_link(links, key="#file-requests")  # a link to a key equal to the list's partition
    made, _ = new_request(requests)
    assert [r.request_id for r in requests.recent(10, None).requests] == [made.request_id]
