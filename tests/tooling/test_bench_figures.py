"""The bench's arithmetic (bench/claims.py, bench/common.py, bench/results.py): the size
rule, which index a claim rewrites, the ratio of blocks, and the tracked figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import results
from bench.claims import Index, item_size, units
from bench.common import Goal, Section, block_ratio, blocks_of

TABLE_KEYS = ("pk",)
BEFORE = {
    "pk": {"S": "link#0123456789abcdef"},
    "file": {"S": "reports/q3.pdf"},
    "created_at": {"N": "1765000000.5"},
    "uses": {"N": "0"},
}
AFTER = {
    **BEFORE,
    "uses": {"N": "1"},
    "redemptions": {"M": {"c1": {"M": {"at": {"N": "1765000100"}, "ip": {"S": "203.0.113.7"}}}}},
}


def test_the_size_rule_counts_names_values_and_nesting() -> None:
    # "ab" + "xyz"; "n" + 3 significant digits (2 bytes + 1); a map: "m" + 3 + (1 + "k" + 1).
    assert item_size({"ab": {"S": "xyz"}}) == 5
    assert item_size({"n": {"N": "12.5"}}) == 4
    assert item_size({"m": {"M": {"k": {"BOOL": True}}}}) == 7
    assert units(1024) == 1 and units(1025) == 2 and units(10) == 1


@pytest.mark.parametrize(
    ("projection", "included", "written"),
    [("ALL", (), 1), ("KEYS_ONLY", (), 0), ("INCLUDE", ("uses",), 1), ("INCLUDE", ("ip",), 0)],
)
def test_a_claim_rewrites_an_index_only_if_it_holds_what_changed(
    projection: str, included: tuple[str, ...], written: int
) -> None:
    index = Index("by-file", ("file", "created_at"), projection, included)
    assert index.written(BEFORE, AFTER, TABLE_KEYS) == written


def test_an_item_outside_a_sparse_index_costs_it_nothing() -> None:
    index = Index("by-recipient", ("recipient_key", "created_at"), "ALL", ())
    assert index.written(BEFORE, AFTER, TABLE_KEYS) == 0
    moved = {**AFTER, "file": {"S": "reports/q4.pdf"}}
    by_file = Index("by-file", ("file", "created_at"), "KEYS_ONLY", ())
    assert by_file.written(BEFORE, moved, TABLE_KEYS) == 2  # a delete and a put


def test_the_ratio_is_the_median_of_the_blocks_ratios() -> None:
    assert blocks_of([1, 2, 3, 4, 5, 6, 7], 3) == [[1, 2], [3, 4], [5, 6]]
    # A slow middle block slows both sides alike: its ratio is still 1.5.
    assert block_ratio([3.0, 30.0, 3.3], [2.0, 20.0, 2.0]) == pytest.approx(1.5)


def test_a_run_of_some_sections_keeps_the_other_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results, "RESULTS", tmp_path / "results.json")
    monkeypatch.setattr(results, "EVERYTHING", tmp_path / "build" / "bench.json")
    first = Section("2. x", [], goals=[Goal("a", 1.3, 1.15, key="redirect_cpu_ratio")])
    second = Section("7. y", [], goals=[Goal("b", 2.0, 1.5, key="claim_cpu_ratio_99")])
    results.write([first, second], {"python": "3.11"}, 0.0)
    results.write(
        [Section("2. x", [], goals=[Goal("a", 1.1, 1.15, key="redirect_cpu_ratio")])],
        {"python": "3.11"},
        60.0,
    )
    figures = json.loads((tmp_path / "results.json").read_text())["figures"]
    assert figures["redirect_cpu_ratio"]["value"] == 1.1
    assert figures["redirect_cpu_ratio"]["met"] is True
    kept = figures["claim_cpu_ratio_99"]
    assert (kept["value"], kept["goal"], kept["met"]) == (2.0, 1.5, False)
    assert kept["measured"] != figures["redirect_cpu_ratio"]["measured"]  # each its own date
    assert json.loads((tmp_path / "build" / "bench.json").read_text())["sections"][0]["title"]
