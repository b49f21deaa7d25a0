"""Start the stand-ins, run every measurement in turn (or those named), write the tables."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from bench import calls, claims, coldstart, memory, overhead, race, report, results, throughput
from bench.common import Section, load_app, new_stack
from tools.samples import upload_samples
from tools.stack import Stack, running

# Each section by the name `python -m bench NAME...` takes, in the order they run.
SECTIONS = (
    "calls",
    "overhead",
    "naive",
    "coldstart",
    "memory",
    "throughput",
    "history",
    "capacity",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "sections",
        nargs="*",
        metavar="SECTION",
        help=f"run only these ({', '.join(SECTIONS)}); all of them by default, which alone "
        "rewrites BENCHMARKS.md (bench/results.json and build/bench.json either way)",
    )
    chosen = set(parser.parse_args(argv).sections) or set(SECTIONS)
    if unknown := sorted(chosen - set(SECTIONS)):
        parser.error(f"no section {', '.join(unknown)}: choose from {', '.join(SECTIONS)}")
    started = time.time()
    clock = time.monotonic()
    load_start = os.getloadavg()
    stack = new_stack()
    stack.log_dir = Path(tempfile.mkdtemp(prefix="onetime-bench-"))
    sections: list[Section] = []
    failures: list[str] = []

    def attempt(name: str, step: Callable[[], Section]) -> Section | None:
        began = time.monotonic()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        try:
            section = step()
        except Exception:
            failures.append(f"{name}: {traceback.format_exc().strip().splitlines()[-1]}")
            traceback.print_exc()
            return None
        print(f"bench: {name} done in {time.monotonic() - began:.0f} s", file=sys.stderr)
        sections.append(section)
        return section

    with running(stack, api="throughput" in chosen):
        upload_samples(stack)
        app = load_app()
        run_sections(app, stack, chosen, attempt)

    order = {title: index for index, title in enumerate("12345678")}
    sections.sort(key=lambda section: order.get(section.title[:1], 99))
    text = report.render(
        sections, failures, started, time.monotonic() - clock, (load_start, os.getloadavg())
    )
    loads = f"{load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end"
    results.write(sections, {**report.machine(), "load_average": loads}, started)
    if chosen == set(SECTIONS):
        report.write(text)
    else:
        sys.stdout.write(text)
        ran = ", ".join(sorted(chosen))
        print(f"bench: ran {ran}: BENCHMARKS.md left as it was", file=sys.stderr)
    if failures:
        print(f"bench: failed: {failures}; logs in {stack.log_dir}", file=sys.stderr)
        return 1
    shutil.rmtree(stack.log_dir, ignore_errors=True)
    return 0


def run_sections(
    app: ModuleType,
    stack: Stack,
    chosen: set[str],
    attempt: Callable[[str, Callable[[], Section]], Section | None],
) -> None:
    ours_calls = "?"
    if "calls" in chosen:
        counted = attempt("1. calls per request", lambda: calls.measure(app, stack))
        if counted is not None:
            redirect = next(row for row in counted.rows if row[0] == "redeem, redirect (POST)")
            ours_calls = f"{redirect[2]} ({redirect[3]})"
    timed: list[overhead.Overhead] = []

    def overhead_step() -> Section:
        timed.append(overhead.measure(app, stack))
        return timed[0].section

    if chosen & {"overhead", "naive"}:  # the naive baseline reuses the overhead's timings
        attempt("2. redemption overhead", overhead_step)
        if timed and "naive" in chosen:
            medians = timed[0].medians
            attempt("6. naive baseline", lambda: race.measure(app, stack, medians, ours_calls))
    if "coldstart" in chosen:
        attempt("3. cold start", lambda: coldstart.measure(stack))
    if "memory" in chosen:
        attempt("4. stream memory", lambda: memory.measure(stack))
    if "throughput" in chosen:
        attempt("5. throughput", lambda: throughput.measure(stack))
    if "history" in chosen:
        attempt("7. a claim as history grows", lambda: claims.measure_history(app, stack))
    if "capacity" in chosen:
        attempt("8. write capacity per claim", lambda: claims.measure_capacity(app, stack))
