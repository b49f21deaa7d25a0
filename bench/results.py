"""The figures, for turns to compare: bench/results.json (tracked: each goal under its stable
key, beside its goal) and build/bench.json (every section's rows, untracked)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

from bench.common import Goal, Section
from tools import ROOT

RESULTS = ROOT / "bench" / "results.json"
EVERYTHING = ROOT / "build" / "bench.json"


def figure(goal: Goal, measured: str) -> dict[str, Any]:
    value = None if math.isnan(goal.value) else round(goal.value, 4)
    return {
        "value": value,
        "goal": goal.goal,
        "met": goal.met,
        "unit": goal.unit,
        "measure": goal.name,
        "note": goal.note,
        "measured": measured,
    }


def write(sections: list[Section], machine: Mapping[str, str], started: float) -> None:
    """Each goal's figure replaces the one of its key; figures this run did not measure (a
    run of some sections only) keep their last values, each with its own date."""
    measured = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started))
    kept: dict[str, Any] = {}
    if RESULTS.exists():
        kept = json.loads(RESULTS.read_text()).get("figures", {})
    goals = [goal for section in sections for goal in section.goals if goal.key]
    figures = kept | {goal.key: figure(goal, measured) for goal in goals}
    document = {
        "written_by": "make bench (python -m bench); do not edit by hand",
        "machine": machine,
        "figures": dict(sorted(figures.items())),
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    EVERYTHING.parent.mkdir(parents=True, exist_ok=True)
    everything = {
        "date": measured,
        "machine": machine,
        "sections": [
            {
                "title": section.title,
                "header": section.header,
                "rows": section.rows,
                "notes": section.notes,
                "goals": [figure(goal, measured) | {"key": goal.key} for goal in section.goals],
            }
            for section in sections
        ],
    }
    EVERYTHING.write_text(json.dumps(everything, indent=2) + "\n", encoding="utf-8")
