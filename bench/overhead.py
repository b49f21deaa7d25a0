"""2. Redemption overhead: the app against the bare minimum, on the same dynalite.

Every sample redeems a fresh link minted beforehand (outside the timed region).
Variants are interleaved sample by sample, their order rotating, so drift on a
shared machine falls on all of them alike.  The naive read-then-write
redemption (``bench/naive.py``) runs in the same loop, for section 6.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType

from chalice.test import Client

from bench.bare import BareRedeemer
from bench.common import (
    Goal,
    LambdaContext,
    LinkFactory,
    Section,
    bare_client,
    block_ratio,
    blocks_of,
    bounded,
    environment,
    fresh_default_session,
    lambda_event,
    median,
    ms,
    percentile,
    put_object,
    ratio,
    reset_app_caches,
)
from bench.naive import NaiveRedeemer
from chalicelib.domain.link import Claim
from chalicelib.domain.tokens import token_digest
from chalicelib.services.redemption import Declined, Landing, Requester
from chalicelib.storage.linkstore import DynamoLinkStore
from tools import ROOT
from tools.samples import SMALL_SAMPLE
from tools.stack import Stack

SAMPLES = 300
BLOCKS = 5  # the samples' rounds cut into consecutive blocks, a ratio from each
WARMUP = 20
LOOP_SECONDS = 75.0
STREAM_SIZE = 64 * 1024
STREAM_KEY = "bench/stream-64KiB.pdf"
REDIRECT_KEY = SMALL_SAMPLE
GOAL = 1.15
HANDLER = "app (Lambda handler)"

Variant = Callable[[str], object]  # its result is ignored


@dataclass
class Overhead:
    section: Section
    medians: dict[str, float]


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # this process's CPU: the Python side


def interleaved(
    variants: Mapping[str, Variant], tokens: Mapping[str, list[str]], count: int, seconds: float
) -> dict[str, Samples]:
    """Time each variant once per round, in a rotating order, on its own fresh links."""
    names = list(variants)
    samples = {name: Samples() for name in names}
    for round_ in bounded(count, seconds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            token = tokens[name][round_]
            cpu = time.process_time()
            started = time.perf_counter()
            variants[name](token)
            samples[name].wall.append(time.perf_counter() - started)
            samples[name].cpu.append(time.process_time() - cpu)
    return samples


def measure(app: ModuleType, stack: Stack) -> Overhead:
    put_object(stack, STREAM_KEY, b"%PDF-1.4\n" + b"\0" * (STREAM_SIZE - 9), "application/pdf")
    links = LinkFactory(stack)
    dynamodb, s3 = bare_client(stack, "dynamodb"), bare_client(stack, "s3")
    bare = BareRedeemer(dynamodb, s3, stack.table, stack.bucket)
    naive = NaiveRedeemer(dynamodb, s3, stack.table, stack.bucket)
    context = LambdaContext()

    with environment(stack.app_env()):
        fresh_default_session()
        reset_app_caches(app)
        http = Client(app.app, stage_name="local", project_dir=str(ROOT)).http

        def through_client(accept: str, status: int) -> Variant:
            def run(token: str) -> None:
                response = http.get(f"/download?token={token}", headers={"Accept": accept})
                assert response.status_code == status, response.body

            return run

        def through_handler(accept: str, status: int) -> Variant:
            def run(token: str) -> None:
                response = app.app(lambda_event(token, accept), context)
                assert response["statusCode"] == status, response

            return run

        service = app.get_services().redeeming
        who = Requester(accept="application/json", client_ip="127.0.0.1", user_agent="bench")
        store = DynamoLinkStore(dynamodb, stack.table)

        def through_service(token: str) -> None:
            service.post(token, who)

        sessions: dict[str, str] = {}  # token -> its download session, opened beforehand

        def redelivered(token: str) -> None:
            event = lambda_event(token, "application/json")
            event["headers"]["x-download-session"] = sessions[token]
            event["multiValueHeaders"]["x-download-session"] = [sessions[token]]
            response = app.app(event, context)
            assert response["statusCode"] == 302, response

        def app_claim(token: str) -> None:
            claim = Claim(claim_id=secrets.token_hex(8), at=time.time(), client_ip="127.0.0.1")
            store.claim(token[:16], token_digest(token), claim)

        redirect: dict[str, Variant] = {
            "app (chalice.test.Client)": through_client("application/json", 302),
            "app (Lambda handler)": through_handler("application/json", 302),
            "app (Lambda handler), re-delivery in a download session": redelivered,
            "bare UpdateItem + presign": bare.redirect,
            "naive GetItem + UpdateItem + HeadObject + presign": naive.redeem,
            "breakdown: service layer (Redeeming.post, no Chalice)": through_service,
            "breakdown: the app's claim alone (DynamoLinkStore.claim)": app_claim,
            "breakdown: bare UpdateItem alone": bare.claim,
        }
        stream: dict[str, Variant] = {
            "app (chalice.test.Client)": through_client("application/pdf", 200),
            "app (Lambda handler)": through_handler("application/pdf", 200),
            "bare UpdateItem + GetObject": bare.stream,
        }
        total = SAMPLES + WARMUP
        tokens = {("redirect", name): links.mint_many(REDIRECT_KEY, total) for name in redirect} | {
            ("stream", name): links.mint_many(STREAM_KEY, total) for name in stream
        }

        # The re-delivery variant's links were redeemed once already (untimed): each sample
        # is then the second delivery, in that redemption's session, which spends nothing.
        for token in tokens[
            ("redirect", "app (Lambda handler), re-delivery in a download session")
        ]:
            first = service.post(token, who)
            assert not isinstance(first, (Landing, Declined)) and first.session is not None
            sessions[token] = first.session.key.value

        results: dict[str, dict[str, Samples]] = {}
        for kind, variants in (("redirect", redirect), ("stream", stream)):
            own = {name: tokens[(kind, name)] for name in variants}
            interleaved(variants, own, WARMUP, LOOP_SECONDS)
            rest = {name: found[WARMUP:] for name, found in own.items()}
            results[kind] = interleaved(variants, rest, SAMPLES, LOOP_SECONDS)
        reset_app_caches(app)

    section = Section(
        "2. Redemption overhead (in-process app vs bare boto3, same dynalite / moto server)",
        [
            "path",
            "variant",
            "n",
            "p50",
            "p99",
            "p50 / bare",
            "CPU p50 (this process)",
            f"CPU / bare ({BLOCKS} blocks)",
        ],
    )
    medians: dict[str, float] = {}
    for kind, samples in results.items():
        base_name = next(name for name in samples if name.startswith("bare"))  # the first
        base = median(samples[base_name].wall)

        def per_block(name: str, cpu: bool, found: dict[str, Samples] = samples) -> list[float]:
            values = found[name].cpu if cpu else found[name].wall
            return [median(block) for block in blocks_of(values, BLOCKS)]

        for name, found in samples.items():
            medians[f"{kind}: {name}"] = median(found.wall)
            section.rows.append(
                [
                    kind,
                    name,
                    str(len(found.wall)),
                    ms(median(found.wall)),
                    ms(percentile(found.wall, 99)),
                    f"{ratio(median(found.wall), base):.2f}",
                    ms(median(found.cpu)),
                    f"{block_ratio(per_block(name, True), per_block(base_name, True)):.2f}",
                ]
            )
        cpu = block_ratio(per_block(HANDLER, True), per_block(base_name, True))
        wall = block_ratio(per_block(HANDLER, False), per_block(base_name, False))
        pairs = zip(per_block(HANDLER, True), per_block(base_name, True), strict=True)
        spread = sorted(ratio(top, bottom) for top, bottom in pairs)
        section.goals += [
            Goal(
                f"{kind} redemption, Lambda handler CPU / {base_name} CPU",
                cpu,
                GOAL,
                note=f"median of {BLOCKS} interleaved blocks ({spread[0]:.2f}-{spread[-1]:.2f}); "
                f"wall {wall:.2f}x",
                key=f"{kind}_cpu_ratio",
            ),
            Goal(
                f"{kind} redemption, Lambda handler wall / bare wall",
                wall,
                None,
                note="beside the CPU ratio: waiting on the stand-ins pulls it to 1 under load",
                key=f"{kind}_wall_ratio",
            ),
        ]
    section.notes += [
        f"{SAMPLES} samples per variant after {WARMUP} warm-up rounds, each on a fresh link "
        "minted beforehand; variants interleaved round by round in rotating order. The goal "
        "rows are CPU-time ratios (`time.process_time` around each call) of the Lambda handler "
        "`app.app(event, context)` with a REST API event against the bare calls: the rounds "
        f"are cut into {BLOCKS} consecutive blocks, each block's medians give one ratio, and "
        "the goal row is the median of those ratios. Redirect: "
        "the small sample PDF with `Accept: application/json`; stream: a "
        f"{STREAM_SIZE // 1024} KiB PDF with `Accept: application/pdf`.",
        "`chalice.test.Client` adds Chalice's local gateway (event building, an `os.environ` "
        "copy per request, base64 decoding of the body); `app.app(event, context)` is what "
        "Lambda calls and includes `Response.to_dict` (the base64 body). Both include the "
        "app's JSON request log line (formatted, written to /dev/null).",
        "Bare: the same conditional `UpdateItem` (without the audit record) returning the "
        "item, then presign or `GetObject` pinned to version and ETag; plain boto3 clients "
        "with the app's timeouts and retry mode.",
        "CPU p50: CPU time of this (the calling) process per redemption, i.e. the Python "
        "side of the request (boto3, Chalice, the app), less disturbed by the other "
        "processes than wall time; the stand-ins' own work is not in it.",
        "Breakdown rows split the redirect's overhead: the service layer is the app without "
        "Chalice (no routing, response or log line); the app's claim is `DynamoLinkStore.claim`, "
        "its one `UpdateItem` (which also writes the audit record, and "
        "returns the whole item, parsed into a `Link`) on a bare client; compare it with the "
        "bare `UpdateItem` alone.",
    ]
    return Overhead(section, medians)
