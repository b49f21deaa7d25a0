"""The file request store contract (tests/contracts/requeststores.py) on dynalite, whose
conditional writes are atomic, so the race is proven here.

The requests go into a table of the module's own, and each listing test into a table of its
own: the contract's requests are dated in the future (NOW), so in the session's table they
would come first in every later listing of the newest requests (the CLI tests list them).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chalicelib.storage.requeststore import DynamoRequestStore
from chalicelib.storage.stores import RequestStore
from tests.contracts.multipartstores import *  # noqa: F403 -- its multipart records too
from tests.contracts.requeststores import *  # noqa: F403 -- the shared body, collected here
from tools.resources import create_table
from tools.stack import Stack


def new_table(client: Any) -> str:
    # dynalite deletes tables asynchronously: a unique name is never one being deleted.
    table = f"contract-{uuid.uuid4().hex[:8]}"
    create_table(client, table)
    return table


@pytest.fixture(scope="module")
def table(stack: Stack) -> str:
    return new_table(stack.client("dynamodb"))


@pytest.fixture
def store(stack: Stack, table: str) -> RequestStore:
    return DynamoRequestStore(stack.client("dynamodb"), table)


@pytest.fixture
def fresh_store(stack: Stack) -> RequestStore:
    client = stack.client("dynamodb")
    return DynamoRequestStore(client, new_table(client))


@pytest.fixture
def atomic_store(store: RequestStore) -> RequestStore:
    return store
