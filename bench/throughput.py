"""5. Throughput at 32-way concurrency: redemptions through ``chalice local``
against the bare conditional ``UpdateItem`` on the same dynalite."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from bench.bare import BareRedeemer
from bench.common import (
    LinkFactory,
    Section,
    bare_client,
    median,
    ms,
    percentile,
    ratio,
)
from tools.samples import SMALL_SAMPLE
from tools.stack import Stack

CONCURRENCY = 32
ROUNDS = 3
APP_PER_ROUND = 300
BARE_PER_ROUND = 400
ROUND_SECONDS = 30.0
TIMEOUT = 30

Worker = Callable[[int, str], bool]


@dataclass
class Run:
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    def add(self, other: Run) -> None:
        self.wall += other.wall
        self.latencies += other.latencies
        self.failures += other.failures


def concurrent(worker: Worker, tokens: list[str], seconds: float) -> Run:
    """CONCURRENCY threads drain ``tokens``; wall time from a common start to the last answer."""
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for token in tokens:
        todo.put(token)
    start = threading.Barrier(CONCURRENCY + 1)
    deadline = time.monotonic() + seconds
    run = Run()
    lock = threading.Lock()

    def loop(slot: int) -> None:
        mine: list[float] = []
        failed = 0
        start.wait()
        while time.monotonic() < deadline:
            try:
                token = todo.get_nowait()
            except queue.Empty:
                break
            began = time.perf_counter()
            ok = worker(slot, token)
            mine.append(time.perf_counter() - began)
            failed += not ok
        with lock:
            run.latencies += mine
            run.failures += failed

    threads = [threading.Thread(target=loop, args=(slot,)) for slot in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(seconds + TIMEOUT)
    run.wall = time.perf_counter() - began
    return run


def measure(stack: Stack) -> Section:
    links = LinkFactory(stack)
    app_tokens = links.mint_many(SMALL_SAMPLE, ROUNDS * APP_PER_ROUND)
    bare_tokens = links.mint_many(SMALL_SAMPLE, ROUNDS * BARE_PER_ROUND)
    bare = BareRedeemer(
        bare_client(stack, "dynamodb", pool=CONCURRENCY),
        bare_client(stack, "s3"),
        stack.table,
        stack.bucket,
    )
    url = f"{stack.base_url}/download"
    sessions = [requests.Session() for _ in range(CONCURRENCY)]
    # chalice local listens with a backlog of 5: open the keep-alive connections one by one.
    for session in sessions:
        session.get(url, params={"token": "x"}, timeout=TIMEOUT)

    def through_app(slot: int, token: str) -> bool:
        response = sessions[slot].get(
            url,
            params={"token": token},
            headers={"Accept": "application/json"},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        return response.status_code == 302

    def bare_claim(_: int, token: str) -> bool:
        try:
            bare.claim(token)
        except Exception:
            return False
        return True

    concurrent(bare_claim, links.mint_many(SMALL_SAMPLE, CONCURRENCY), ROUND_SECONDS)  # warm-up
    app_run, bare_run = Run(), Run()
    for index in range(ROUNDS):
        app_slice = app_tokens[index * APP_PER_ROUND : (index + 1) * APP_PER_ROUND]
        bare_slice = bare_tokens[index * BARE_PER_ROUND : (index + 1) * BARE_PER_ROUND]
        app_run.add(concurrent(through_app, app_slice, ROUND_SECONDS))
        bare_run.add(concurrent(bare_claim, bare_slice, ROUND_SECONDS))
    for session in sessions:
        with contextlib.suppress(Exception):
            session.close()

    section = Section(
        f"5. Throughput at {CONCURRENCY}-way concurrency, distinct single-use links",
        ["variant", "requests", "failures", "per second", "p50", "p99"],
    )
    rates = {}
    for name, run in (
        ("redemption via `chalice local` (302 path)", app_run),
        ("bare conditional `UpdateItem`, 32 threads", bare_run),
    ):
        rates[name] = ratio(len(run.latencies), run.wall)
        section.rows.append(
            [
                name,
                str(len(run.latencies)),
                str(run.failures),
                f"{rates[name]:.0f}",
                ms(median(run.latencies)),
                ms(percentile(run.latencies, 99)),
            ]
        )
    app_rate, bare_rate = rates.values()
    section.rows.append(["ratio app / bare", "", "", f"{ratio(app_rate, bare_rate):.2f}", "", ""])
    section.notes += [
        f"{ROUNDS} rounds of each, interleaved (app, bare, app, …); each round drains its own "
        f"fresh links with {CONCURRENCY} threads released together. App requests: "
        "`Accept: application/json` on keep-alive `requests` sessions opened beforehand "
        "(chalice local's listen backlog is 5).",
        "The stand-ins bound these numbers, not the design: `chalice local` is one Python "
        "process (a thread per connection, one GIL, one boto3 client whose 10-connection pool "
        "is shared by 32 threads), dynalite is one node process, and the load generator "
        "shares the same two cores. On Lambda each concurrent request has its own container "
        "and DynamoDB scales per partition.",
    ]
    return section
