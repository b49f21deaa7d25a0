"""The file request store contract (tests/contracts/requeststores.py) on dynalite, whose
conditional writes are atomic, so the race is proven here: the session's table."""

from __future__ import annotations

import pytest

from chalicelib.storage.requeststore import DynamoRequestStore
from chalicelib.storage.stores import RequestStore
from tests.contracts.requeststores import *  # noqa: F403 -- the shared body, collected here
from tools.stack import Stack


@pytest.fixture
def store(stack: Stack) -> RequestStore:
    return DynamoRequestStore(stack.client("dynamodb"), stack.table)


@pytest.fixture
def fresh_store() -> RequestStore:
    pytest.skip("listing needs a table of its own; the stack's is shared by the whole session")


@pytest.fixture
def atomic_store(stack: Stack) -> RequestStore:
    return DynamoRequestStore(stack.client("dynamodb"), stack.table)
