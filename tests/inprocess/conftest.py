"""The in-process tier's one exception to make test's budget, and the store contract
modules' moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

# The long-history contract test takes about 20 s on moto (1 s on the fake, 4 s on
# dynalite, which stay in make test): on moto it runs in the slow tier.
SLOW = "tests/inprocess/test_store_contract.py::test_a_long_history_keeps_its_last_records"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    """moto's DynamoDB for a whole store contract module (tests.world.CONTRACT_TABLE)."""
    from tests.world import moto_dynamodb

    with moto_dynamodb() as client:
        yield client
