"""The request store's multipart records (tests/contracts/multipartstores.py) on moto in this
process: one table for the module, and a table of its own for each listing test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.storage.requeststore import DynamoRequestStore
from chalicelib.storage.stores import RequestStore
from tests.contracts.multipartstores import *  # noqa: F403 -- the shared body, collected here
from tests.world import moto_dynamodb
from tools.resources import create_table

TABLE = "contract"


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    with moto_dynamodb() as client:
        create_table(client, TABLE)
        yield client


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
