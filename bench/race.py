"""6. The naive read-then-write redemption next to ours: calls, latency, and the race.

32 threads released together redeem one single-use link, round after round,
on dynalite (whose conditional writes are atomic, like DynamoDB's).  The naive
version reads, checks in Python, then writes: every thread that reads before
the first write lands gets the file.  Ours checks inside the one write.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import boto3

from bench.calls import Hooks
from bench.common import (
    LinkFactory,
    Section,
    bare_client,
    environment,
    fresh_default_session,
    ms,
    ratio,
    reset_app_caches,
)
from bench.naive import NaiveRedeemer, Refused
from chalicelib.domain.errors import LinkUsedUpError
from chalicelib.services.redemption import Requester
from tools.samples import SMALL_SAMPLE
from tools.stack import Stack

THREADS = 32
ROUNDS = 20
BARRIER_SECONDS = 30

Attempt = Callable[[str], str]  # "ok", "refused" or "error: <type>"


def naive_calls(stack: Stack) -> list[str]:
    """The AWS operations of one naive redemption."""
    hooks = Hooks()
    session = boto3.session.Session()
    session.events.register("before-call.*.*", hooks.before_call)
    naive = NaiveRedeemer(
        bare_client(stack, "dynamodb", session=session),
        bare_client(stack, "s3", session=session),
        stack.table,
        stack.bucket,
    )
    naive.redeem(LinkFactory(stack).mint(SMALL_SAMPLE))
    return hooks.calls


def race(attempt: Attempt, token: str, pool: ThreadPoolExecutor) -> Counter[str]:
    barrier = threading.Barrier(THREADS)

    def one(_: int) -> str:
        barrier.wait(BARRIER_SECONDS)
        return attempt(token)

    return Counter(pool.map(one, range(THREADS)))


def measure(app: ModuleType, stack: Stack, medians: dict[str, float], ours_calls: str) -> Section:
    links = LinkFactory(stack)
    naive = NaiveRedeemer(
        bare_client(stack, "dynamodb", pool=THREADS),
        bare_client(stack, "s3", pool=THREADS),
        stack.table,
        stack.bucket,
    )

    def naive_attempt(token: str) -> str:
        try:
            naive.redeem(token)
        except Refused:
            return "refused"
        except Exception as exc:
            return f"error: {type(exc).__name__}"
        return "ok"

    with environment(stack.app_env()):
        fresh_default_session()
        reset_app_caches(app)
        service = app.get_services().redeeming
        who = Requester(accept="application/json", client_ip="127.0.0.1", user_agent="bench")

        def ours_attempt(token: str) -> str:
            try:
                service.post(token, who)
            except LinkUsedUpError:
                return "refused"
            except Exception as exc:
                return f"error: {type(exc).__name__}"
            return "ok"

        attempts: dict[str, Attempt] = {"naive": naive_attempt, "ours": ours_attempt}
        wins: dict[str, list[int]] = {name: [] for name in attempts}
        recorded: dict[str, list[int]] = {name: [] for name in attempts}
        errors: dict[str, Counter[str]] = {name: Counter() for name in attempts}
        with ThreadPoolExecutor(THREADS) as pool:
            for round_ in range(ROUNDS):
                order = list(attempts) if round_ % 2 == 0 else list(reversed(attempts))
                for name in order:
                    token = links.mint(SMALL_SAMPLE, uses=1)
                    outcome = race(attempts[name], token, pool)
                    wins[name].append(outcome["ok"])
                    recorded[name].append(links.uses(token))
                    errors[name].update(
                        {key: n for key, n in outcome.items() if key.startswith("error")}
                    )
        reset_app_caches(app)

    calls = naive_calls(stack)
    section = Section(
        "6. The naive read-then-write redemption (bench/naive.py) next to ours",
        ["measure", "naive", "ours"],
    )
    client = medians["redirect: app (chalice.test.Client)"]
    handler = medians["redirect: app (Lambda handler)"]
    naive_p50 = medians["redirect: naive GetItem + UpdateItem + HeadObject + presign"]
    section.rows += [
        [
            "AWS calls per redirect redemption",
            f"{len(calls)} ({' + '.join(op.split(':')[1] for op in calls)})",
            ours_calls,
        ],
        [
            "p50 latency, redirect (§2, in-process, same stand-ins)",
            ms(naive_p50),
            f"{ms(handler)} handler / {ms(client)} test client",
        ],
        [
            "latency naive / ours",
            f"{ratio(naive_p50, handler):.2f}x handler, {ratio(naive_p50, client):.2f}x client",
            "1.00",
        ],
        [
            f"race: successes on one single-use link, {THREADS} threads x {ROUNDS} rounds",
            describe(wins["naive"]),
            describe(wins["ours"]),
        ],
        [
            "race: `uses` recorded in the table per round (max_uses = 1)",
            describe(recorded["naive"]),
            describe(recorded["ours"]),
        ],
        [
            "race: errors (neither success nor refusal)",
            format_errors(errors["naive"]),
            format_errors(errors["ours"]),
        ],
    ]
    section.notes += [
        "Naive: `GetItem`, uses/expiry checked in Python, unconditional "
        "`UpdateItem SET uses = uses + 1`, `HeadObject` (does the file still exist?), "
        "presign. Ours: `Redeeming.post` (the app's service layer, its own clients) - "
        "one conditional `UpdateItem`, then presign. Rounds alternate which goes first; "
        "a fresh link each round; all threads wait on a barrier, then redeem at once.",
        "moto's DynamoDB is not used here: its conditional writes are not atomic "
        "(FACTS.md), so it would let ours through twice too.",
    ]
    return section


def describe(per_round: list[int]) -> str:
    if not per_round:
        return "no rounds"
    exact = sum(count == 1 for count in per_round)
    return (
        f"total {sum(per_round)} in {len(per_round)} rounds; per round "
        f"{min(per_round)}-{max(per_round)}; exactly 1 in {exact}/{len(per_round)}"
    )


def format_errors(found: Counter[str]) -> str:
    return ", ".join(f"{key.removeprefix('error: ')} x{n}" for key, n in found.items()) or "none"
