"""7. A claim as its link's history grows, and 8. what a claim writes (WCU).

7: the redirect redemption through the Lambda handler on links that already carry 0, 9 and
99 claims (made beforehand through the service, with a browser's user agent), interleaved
round by round; CPU ratios per block, then their median.

8: the write capacity one claim consumes, the table and every index.  The table's units come
from the ``ConsumedCapacity`` the stand-in returns (the app's ``UpdateItem`` asked for it by a
botocore hook), checked against DynamoDB's size rule; dynalite reports no index writes, so
each index's are worked out from the items before and after the claim and that index's
projection as the table describes it (``DescribeTable``, so a projection change shows).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from types import ModuleType
from typing import Any

import boto3

from bench.common import (
    Goal,
    LambdaContext,
    LinkFactory,
    Section,
    block_ratio,
    blocks_of,
    environment,
    fresh_default_session,
    lambda_event,
    median,
    ms,
    reset_app_caches,
)
from chalicelib.services.redemption import Declined, Landing, Requester
from tools.samples import SMALL_SAMPLE
from tools.stack import Stack

BLOCKS = 3
PER_BLOCK = 8
HISTORIES = (0, 9, 99)
LIMIT = 100  # uses per link: room for the longest history and the timed claim
CPU_GOAL = 1.5
WCU_GOAL = 1.0
KB = 1024
# A recent desktop browser's user agent: every claim records one.
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
)
RECIPIENT = "Client.Name@example.com"

Item = Mapping[str, Any]  # DynamoDB's attribute-value format


def redirect(app: ModuleType, token: str) -> None:
    event = lambda_event(token, "application/json", user_agent=BROWSER_UA)
    response = app.app(event, LambdaContext())
    assert response["statusCode"] == 302, response


def measure_history(app: ModuleType, stack: Stack) -> Section:
    links = LinkFactory(stack)
    count = BLOCKS * PER_BLOCK
    tokens = {prior: links.mint_many(SMALL_SAMPLE, count, uses=LIMIT) for prior in HISTORIES}
    with environment(stack.app_env()):
        fresh_default_session()
        reset_app_caches(app)
        service = app.get_services().redeeming
        who = Requester(accept="application/json", client_ip="203.0.113.7", user_agent=BROWSER_UA)

        def give_history(token: str, prior: int) -> None:
            for _ in range(prior):
                done = service.post(token, who)
                assert not isinstance(done, (Landing, Declined)), done

        with ThreadPoolExecutor(4) as pool:
            jobs = [
                pool.submit(give_history, token, prior)
                for prior, minted in tokens.items()
                for token in minted
            ]
            for job in jobs:
                job.result()
        redirect(app, links.mint(SMALL_SAMPLE))  # the code paths warm
        cpu: dict[int, list[float]] = {prior: [] for prior in HISTORIES}
        wall: dict[int, list[float]] = {prior: [] for prior in HISTORIES}
        for round_ in range(count):
            shift = round_ % len(HISTORIES)
            for prior in HISTORIES[shift:] + HISTORIES[:shift]:
                started_cpu, started = time.process_time(), time.perf_counter()
                redirect(app, tokens[prior][round_])
                wall[prior].append(time.perf_counter() - started)
                cpu[prior].append(time.process_time() - started_cpu)
        reset_app_caches(app)
    longest = stack.client("dynamodb").get_item(
        TableName=stack.table, Key={"pk": {"S": f"link#{tokens[99][0][:16]}"}}
    )["Item"]

    def blocks(found: dict[int, list[float]], prior: int) -> list[float]:
        return [median(block) for block in blocks_of(found[prior], BLOCKS)]

    section = Section(
        "7. A claim as history grows (redirect redemption, Lambda handler)",
        ["prior claims on the link", "n", "CPU median", "CPU / at 0", "wall median", "wall / at 0"],
    )
    for prior in HISTORIES:
        section.rows.append(
            [
                str(prior),
                str(len(cpu[prior])),
                ms(median(cpu[prior])),
                f"{block_ratio(blocks(cpu, prior), blocks(cpu, 0)):.2f}",
                ms(median(wall[prior])),
                f"{block_ratio(blocks(wall, prior), blocks(wall, 0)):.2f}",
            ]
        )
    for prior, goal in ((99, CPU_GOAL), (9, None)):
        section.goals.append(
            Goal(
                f"a claim's CPU at {prior} prior uses / at 0",
                block_ratio(blocks(cpu, prior), blocks(cpu, 0)),
                goal,
                note=f"median of {BLOCKS} interleaved blocks; wall "
                f"{block_ratio(blocks(wall, prior), blocks(wall, 0)):.2f}x",
                key=f"claim_cpu_ratio_{prior}",
            )
        )
    section.notes.append(
        f"Links of {LIMIT} uses given 0, 9 or 99 claims beforehand through the service (client "
        f"IP and a {len(BROWSER_UA)}-character browser user agent), then one timed redirect "
        f"redemption each through `app.app(event, context)`; {PER_BLOCK * BLOCKS} per history, "
        f"interleaved round by round in rotating order, cut into {BLOCKS} blocks. The item "
        f"after 100 claims: {item_size(longest):,} bytes by DynamoDB's size rule."
    )
    return section


# DynamoDB's item size rule (the Developer Guide, "Item sizes and formats")


def value_size(value: Mapping[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "B":
        return len(inner)
    if kind == "N":
        return number_size(str(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(each).encode()) for each in inner)
    if kind == "NS":
        return sum(number_size(str(each)) for each in inner)
    if kind == "BS":
        return sum(len(each) for each in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(each) for each in inner)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(each) for name, each in inner.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def number_size(text: str) -> int:
    """About one byte per two significant digits, plus one."""
    digits = Decimal(text).normalize().as_tuple().digits
    return math.ceil(len(digits) / 2) + 1


def item_size(item: Item) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def units(size: int) -> int:
    return max(1, math.ceil(size / KB))


@dataclass
class Index:
    name: str
    keys: tuple[str, ...]  # the index's own key attributes
    projection: str
    included: tuple[str, ...]

    def entry(self, item: Item | None, table_keys: tuple[str, ...]) -> dict[str, Any] | None:
        """The item as the index holds it, or None when the item is not in the index."""
        if item is None or any(key not in item for key in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        kept = set(self.keys) | set(table_keys) | set(self.included)
        return {name: value for name, value in item.items() if name in kept}

    def written(self, old: Item | None, new: Item | None, table_keys: tuple[str, ...]) -> int:
        """The index's write units for a table write that turned old into new."""
        before, after = self.entry(old, table_keys), self.entry(new, table_keys)
        if before == after:
            return 0  # not in the index, or nothing it holds changed
        if before is None or after is None:
            return units(item_size(before or after or {}))
        if any(before[key] != after[key] for key in self.keys):
            return units(item_size(before)) + units(item_size(after))  # moved: a delete, a put
        return units(max(item_size(before), item_size(after)))


def indexes_of(description: Mapping[str, Any]) -> tuple[tuple[str, ...], list[Index]]:
    table_keys = tuple(key["AttributeName"] for key in description["KeySchema"])
    found = [
        Index(
            index["IndexName"],
            tuple(key["AttributeName"] for key in index["KeySchema"]),
            index["Projection"]["ProjectionType"],
            tuple(index["Projection"].get("NonKeyAttributes", ())),
        )
        for index in description.get("GlobalSecondaryIndexes", ())
    ]
    return table_keys, found


@dataclass
class Written:
    consumed: float | None  # the table's units as the stand-in reported them
    table: int  # the table's units by the size rule
    indexes: dict[str, int]
    size_before: int
    size_after: int

    @property
    def total(self) -> float:
        table = self.consumed if self.consumed is not None else self.table
        return table + sum(self.indexes.values())


def claim_written(app: ModuleType, stack: Stack, token: str) -> Written:
    """One redirect redemption through the handler, and what its writes consumed."""
    dynamodb = stack.client("dynamodb")
    key = {"pk": {"S": f"link#{token[:16]}"}}
    described = dynamodb.describe_table(TableName=stack.table)["Table"]
    table_keys, indexes = indexes_of(described)

    def read() -> dict[str, Any]:
        found: dict[str, Any] = dynamodb.get_item(
            TableName=stack.table, Key=key, ConsistentRead=True
        )["Item"]
        return found

    consumed: list[float] = []
    reported: list[bool] = []

    def ask(params: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "INDEXES"

    def record(parsed: dict[str, Any], **_: Any) -> None:
        capacity = parsed.get("ConsumedCapacity")
        reported.append(capacity is not None)
        if capacity is not None:
            consumed.append(float(capacity.get("Table", capacity)["CapacityUnits"]))

    old = read()
    with environment(stack.app_env()):
        fresh_default_session()
        session = boto3.DEFAULT_SESSION
        assert session is not None
        session.events.register("provide-client-params.dynamodb.UpdateItem", ask)
        session.events.register("after-call.dynamodb.UpdateItem", record)
        reset_app_caches(app)
        redirect(app, token)
        reset_app_caches(app)
        fresh_default_session()
    new = read()
    assert reported, "the claim made no UpdateItem"
    return Written(
        consumed=sum(consumed) if all(reported) else None,
        table=units(max(item_size(old), item_size(new))),
        indexes={index.name: index.written(old, new, table_keys) for index in indexes},
        size_before=item_size(old),
        size_after=item_size(new),
    )


def measure_capacity(app: ModuleType, stack: Stack) -> Section:
    links = LinkFactory(stack)
    kinds: dict[str, Callable[[], str]] = {
        "single": lambda: links.mint(SMALL_SAMPLE),
        "emailed": lambda: links.mint(SMALL_SAMPLE, recipient=RECIPIENT),
    }
    found = {kind: claim_written(app, stack, mint()) for kind, mint in kinds.items()}
    names = sorted({name for written in found.values() for name in written.indexes})
    section = Section(
        "8. Write capacity of one claim (table plus every index)",
        [
            "link",
            "item before / after (bytes)",
            "table WCU (reported / size rule)",
            *(f"`{name}` WCU" for name in names),
            "total",
        ],
    )
    for kind, written in found.items():
        section.rows.append(
            [
                {"single": "single use", "emailed": "single use, emailed"}[kind],
                f"{written.size_before} / {written.size_after}",
                f"{'n/a' if written.consumed is None else f'{written.consumed:g}'} / "
                f"{written.table}",
                *(str(written.indexes.get(name, 0)) for name in names),
                f"{written.total:g}",
            ]
        )
        section.goals.append(
            Goal(
                f"WCU per claim, {'typical ' if kind == 'single' else ''}single-use link"
                + (" emailed to a recipient" if kind == "emailed" else "")
                + ", table + every index",
                written.total,
                WCU_GOAL,
                unit="",
                note=", ".join(
                    f"{name} {units_}" for name, units_ in written.indexes.items() if units_
                )
                or "no index rewritten",
                key=f"claim_wcu_{kind}",
            )
        )
    projections = json.dumps(
        {
            index.name: index.projection + (f" {list(index.included)}" if index.included else "")
            for index in indexes_of(
                stack.client("dynamodb").describe_table(TableName=stack.table)["Table"]
            )[1]
        }
    )
    section.notes.append(
        "The table's units: dynalite's `ConsumedCapacity` for the app's own `UpdateItem` "
        "(asked for by a botocore hook), beside DynamoDB's size rule (ceil(larger of the item "
        "before and after / 1 KB)). An index is written when the claim changes anything it "
        "holds: one write of its entry's size (projected attributes and keys, no per-entry "
        "overhead counted), two when the index key changes, none when it holds nothing that "
        f"changed. Projections as the table describes them: {projections}."
    )
    return section
