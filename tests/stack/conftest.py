"""The stack tier's exceptions to make test's 5-minute budget: the longest proofs on
dynalite run in the slow tier (.ci/run runs it right after make test).  Each has a shorter
sibling that stays in make test: the same contract on the in-memory fake (tests/unit), and
the plain races of tests/stack/test_races.py."""

from __future__ import annotations

import pytest

SLOW = (
    # 200 wrong answers, 40 unlocks and 100 refunds on one item: about 6 s and 4 s.
    "tests/stack/test_store_contract.py::test_a_long_history_keeps",
    # 50-way races, each about 5 to 7 s: wrong answers against unlocks, refunds against
    # redemptions, two resends, confirmations of one request's uploads.
    "tests/stack/test_store_contract.py::test_unlocks_racing_wrong_answers_never_count_past_five",
    "tests/stack/test_store_contract.py::test_refunds_racing_redemptions_deliver_at_most",
    "tests/stack/test_resend_races.py::test_two_resends_racing_leave_one_live_link",
    "tests/stack/test_requests_stack.py::test_confirmation_races_take_one_receipt_per_upload",
    # The limit raised during a race (about 3 s): lowering it and revoking stay.
    "tests/stack/test_races.py::test_raising_the_limit_while_redeeming",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
