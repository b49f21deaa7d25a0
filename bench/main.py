"""Start the stand-ins, run every measurement in turn, write the table."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import calls, coldstart, memory, overhead, race, report, throughput
from bench.common import Section, load_app, new_stack
from tools.samples import upload_samples
from tools.stack import running


def main() -> int:
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

    with running(stack, api=True):
        upload_samples(stack)
        app = load_app()
        counted = attempt("1. calls per request", lambda: calls.measure(app, stack))
        ours_calls = "?"
        if counted is not None:
            redirect = next(row for row in counted.rows if row[0] == "redeem, redirect (POST)")
            ours_calls = f"{redirect[2]} ({redirect[3]})"
        timed: list[overhead.Overhead] = []

        def overhead_step() -> Section:
            timed.append(overhead.measure(app, stack))
            return timed[0].section

        attempt("2. redemption overhead", overhead_step)
        if timed:
            medians = timed[0].medians
            attempt("6. naive baseline", lambda: race.measure(app, stack, medians, ours_calls))
        attempt("3. cold start", lambda: coldstart.measure(stack))
        attempt("4. stream memory", lambda: memory.measure(stack))
        attempt("5. throughput", lambda: throughput.measure(stack))

    order = {title: index for index, title in enumerate("123456")}
    sections.sort(key=lambda section: order.get(section.title[:1], 99))
    text = report.render(
        sections, failures, started, time.monotonic() - clock, (load_start, os.getloadavg())
    )
    report.write(text)
    if failures:
        print(f"bench: failed: {failures}; logs in {stack.log_dir}", file=sys.stderr)
        return 1
    shutil.rmtree(stack.log_dir, ignore_errors=True)
    return 0
