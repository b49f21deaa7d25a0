"""Issue 24, item 5: a mint or a resend with ``verify`` reads the recipient checks' secret
from SSM first in its container (chalicelib/storage/secrets.py); the budgets count it."""

from __future__ import annotations

import re
from pathlib import Path

from chalicelib.storage import budgets


def test_a_checked_mint_and_resend_count_the_ssm_read() -> None:
    for route in ("POST /links", "POST /links/{id}/resend"):
        assert ("ssm", "GetParameter") in budgets.ROUTES[route], route


def test_their_worst_cases_add_up() -> None:
    # GetParameter: 2 x (0.5 + 1.0) + 1 s of backoff = 4 s on top of the email path.
    assert budgets.step_seconds("ssm") == 4
    assert budgets.worst_case("POST /links") == 4 + 5 + 3 + 3 + 3 == 18
    assert budgets.worst_case("POST /links/{id}/resend") == 4 + 6 * 3 == 22


def test_deploy_md_gives_the_same_worst_cases() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "DEPLOY.md").read_text()
    written = {
        match[1]: float(match[2])
        for match in re.finditer(
            r"^\| `([A-Z]+ /[^`]*)`[^|]*\|[^|]*\| (\d+(?:\.\d)?) s \|$", text, re.M
        )
    }
    assert written == {route: budgets.worst_case(route) for route in budgets.ROUTES}
