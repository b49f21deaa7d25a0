"""Every cell of the fault matrix holds (tests/faultmatrix.py), and docs/CONSISTENCY.md
shows the matrix as it is now (``make consistency`` rewrites it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import faultmatrix

DOC = Path(__file__).resolve().parents[2] / "docs" / "CONSISTENCY.md"


@pytest.fixture(scope="module")
def cells() -> list[faultmatrix.Cell]:
    return faultmatrix.matrix()


@pytest.mark.parametrize("operation", [op.name for op in faultmatrix.OPERATIONS])
def test_every_cell_holds(cells: list[faultmatrix.Cell], operation: str) -> None:
    mine = [cell for cell in cells if cell.operation == operation]
    assert mine, "an operation with no AWS call to fault"
    assert {cell.kind for cell in mine} == set(faultmatrix.KINDS)
    broken = [(cell.call, cell.kind, cell.problems) for cell in mine if not cell.held]
    assert broken == []


def test_the_document_shows_the_matrix_as_it_is(cells: list[faultmatrix.Cell]) -> None:
    assert faultmatrix.table(cells) in DOC.read_text(), "stale: run `make consistency`"


def test_a_fault_the_service_ignored_would_be_seen() -> None:
    """The checks can fail: a resend that forgot to bury its replacement leaves a live
    link nobody knows of, and the invariant says so."""
    w = faultmatrix.attempt(faultmatrix.OPERATIONS[1])  # resend, no fault
    new = next(link for link in w.links.links.values() if link.replaces == w.given["link_id"])
    w.outbox.sent.clear()  # as if the email had never been sent,
    w.answer = None  # and the answer had not named the new link
    found = faultmatrix.no_live_link_nobody_knows(w.seen())
    assert found == [f"live link {new.link_id} nobody knows of"]
    w.links.restore(w.given["link_id"], new.link_id)  # the old link live again, beside it
    assert faultmatrix.one_live_link_per_chain(w.seen())
