"""The file request store contract (tests/contracts/requeststores.py, and its multipart records:
tests/contracts/multipartstores.py) on the in-memory fake."""

from __future__ import annotations

import pytest

from chalicelib.storage.stores import RequestStore
from tests.contracts.multipartstores import *  # noqa: F403 -- its multipart records too
from tests.contracts.requeststores import *  # noqa: F403 -- the shared body, collected here
from tests.fakes import MemoryRequestStore


@pytest.fixture
def store() -> RequestStore:
    return MemoryRequestStore()


@pytest.fixture
def fresh_store() -> RequestStore:
    return MemoryRequestStore()


@pytest.fixture
def atomic_store() -> RequestStore:
    return MemoryRequestStore()  # one lock around every method
