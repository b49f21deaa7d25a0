"""The in-process tier's one exception to make test's budget."""

from __future__ import annotations

import pytest

# The long-history contract test takes about 20 s on moto (1 s on the fake, 4 s on
# dynalite, which stay in make test): on moto it runs in the slow tier.
SLOW = "tests/inprocess/test_store_contract.py::test_a_long_history_keeps_its_last_records"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
