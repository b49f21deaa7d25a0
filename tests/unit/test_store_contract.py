"""The link and grant store contract (tests/contracts/stores.py) on the in-memory fakes."""

from __future__ import annotations

import pytest

from chalicelib.storage.stores import GrantStore, LinkStore
from tests.contracts.stores import *  # noqa: F403 -- the shared body: its tests are collected here
from tests.fakes import MemoryGrantStore, MemoryLinkStore


@pytest.fixture
def stores() -> tuple[LinkStore, GrantStore]:
    return MemoryLinkStore(), MemoryGrantStore()


@pytest.fixture
def atomic_links() -> LinkStore:
    return MemoryLinkStore()  # one lock around every method
