"""What every measurement shares: statistics, bounded loops, links minted
straight into the table, Lambda events, and the app loaded in this process."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import boto3
from botocore.config import Config

from chalicelib.domain.answers import Answers
from chalicelib.domain.link import Link, StoredObject
from chalicelib.domain.tokens import new_token
from chalicelib.storage.clients import LIMITS
from chalicelib.storage.linkstore import DynamoLinkStore
from chalicelib.storage.objectstore import S3ObjectStore
from tools import ROOT
from tools.ports import free_port
from tools.stack import Stack

BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
DAY = 86_400
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB")


# Statistics


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def bounded(count: int, seconds: float) -> Iterator[int]:
    """0, 1, ... count-1, stopping early once ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    for index in range(count):
        if time.monotonic() > deadline:
            return
        yield index


def block_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """The median of the blocks' ratios: block i's numerator over block i's denominator, each
    measured side by side in that block, so that a slower stretch of a shared machine
    changes both sides of one ratio alike."""
    pairs = zip(numerators, denominators, strict=True)
    return median([ratio(top, bottom) for top, bottom in pairs])


def blocks_of(values: Sequence[float], count: int) -> list[list[float]]:
    """values cut into ``count`` consecutive blocks of equal length (the rest dropped)."""
    size = len(values) // count
    return [list(values[index * size : (index + 1) * size]) for index in range(count)]


# Results


@dataclass
class Goal:
    """One headline number against its goal (``higher_is_better`` for none here); ``key``
    names it in bench/results.json, the same from run to run."""

    name: str
    value: float
    goal: float | None
    unit: str = "x"
    note: str = ""
    key: str = ""

    @property
    def met(self) -> bool | None:
        if self.goal is None or math.isnan(self.value):
            return None
        return self.value <= self.goal


@dataclass
class Section:
    """A titled markdown table with notes underneath."""

    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)


# Links minted straight into the table (in the app's own item format)


class LinkFactory:
    """Mints links without the API: one ``PutItem`` each, via the app's LinkStore."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._dynamodb = stack.client("dynamodb")
        self._store = DynamoLinkStore(self._dynamodb, stack.table)
        self._objects = S3ObjectStore(stack.client("s3"), stack.bucket)
        self._described: dict[str, StoredObject] = {}

    def describe(self, key: str) -> StoredObject:
        if key not in self._described:
            self._described[key] = self._objects.describe(key)
        return self._described[key]

    def mint(
        self,
        key: str,
        *,
        uses: int = 1,
        confirm: bool = False,
        answer: tuple[str, Callable[[], bytes]] | None = None,
        recipient: str | None = None,
    ) -> str:
        """A link; with ``answer`` (the answer and the key of its digest), one with a
        recipient check (``verify: code``); with ``recipient``, one emailed to that address
        (the message id as SES would have answered)."""
        obj = self.describe(key)
        token = new_token(confirm=confirm or answer is not None)
        now = time.time()
        digest = None
        if answer is not None:
            digest = Answers(answer[1]).digest(token.link_id, answer[0])
        self._store.create(
            Link(
                link_id=token.link_id,
                token_digest=token.digest,
                object=obj,
                filename=key.rsplit("/", 1)[-1],
                max_uses=uses,
                uses=0,
                created_at=now,
                expires_at=int(now) + DAY,
                confirm=confirm or answer is not None,
                check="code" if answer is not None else None,
                answer_digest=digest,
                recipient=recipient,
                message_id=None if recipient is None else f"{uuid.uuid4()}-000000",
            )
        )
        return token.value

    def mint_many(self, key: str, count: int, *, uses: int = 1, confirm: bool = False) -> list[str]:
        self.describe(key)
        with ThreadPoolExecutor(8) as pool:
            return list(
                pool.map(lambda _: self.mint(key, uses=uses, confirm=confirm), range(count))
            )

    def uses(self, token: str) -> int:
        item = self._dynamodb.get_item(
            TableName=self._stack.table,
            Key={"pk": {"S": f"link#{token[:16]}"}},
            ConsistentRead=True,
        )["Item"]
        return int(item["uses"]["N"])


def put_object(stack: Stack, key: str, body: bytes, content_type: str) -> None:
    stack.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=body, ContentType=content_type)


def new_stack() -> Stack:
    suffix = uuid.uuid4().hex[:8]
    return Stack(
        api_port=free_port(),
        s3_port=free_port(),
        dynamodb_port=free_port(),
        table=f"bench-{suffix}",
        bucket=f"bench-{suffix}",
    )


def bare_client(
    stack: Stack, service: str, pool: int = 10, session: boto3.session.Session | None = None
) -> Any:
    """A plain boto3 client on its own session, configured as the app configures its own
    on this stack (chalicelib/storage/clients.py's limits, endpoints and credentials from
    the stack's environment), with ``pool`` connections."""
    with environment(stack.app_env()):
        config = LIMITS[service].config().merge(Config(max_pool_connections=pool))
        make: Any = (session or boto3.session.Session()).client  # any service, by name
        return make(service, config=config)


# Lambda events: what API Gateway hands the handler


class LambdaContext:
    aws_request_id = "bench"
    function_name = "onetime"
    memory_limit_in_mb = 512


def lambda_event(
    token: str,
    accept: str | None = "application/json",
    method: str = "GET",
    form: dict[str, str] | None = None,
    user_agent: str = "bench",
) -> dict[str, Any]:
    """A REST API event for /download; with ``form``, a POST of that urlencoded body."""
    headers = {"host": "127.0.0.1", "user-agent": user_agent}
    if accept is not None:
        headers["accept"] = accept
    if form is not None:
        method = "POST"
        headers["content-type"] = "application/x-www-form-urlencoded"
    return {
        "resource": "/download",
        "path": "/download",
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {"token": token},
        "multiValueQueryStringParameters": {"token": [token]},
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/download",
            "httpMethod": method,
            "path": "/local/download",
            "stage": "local",
            "requestId": "bench",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": urlencode(form) if form is not None else None,
        "isBase64Encoded": False,
    }


# The app in this process


def reset_app_caches(app: ModuleType) -> None:
    """The app's one reset: settings and clients are read again on the next request."""
    app.reset()


def fresh_default_session(before_call: Callable[..., Any] | None = None) -> None:
    """A new boto3 default session (the one the app's clients come from), hooked if asked."""
    boto3.setup_default_session()
    if before_call is not None:
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-call.*.*", before_call)


@contextlib.contextmanager
def environment(values: Mapping[str, str], drop: Sequence[str] = ()) -> Iterator[None]:
    saved = dict(os.environ)
    try:
        for name in drop:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def load_app() -> ModuleType:
    """``import app`` with its per-request log line sent to /dev/null (still formatted)."""
    import app

    devnull = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the process
    for handler in logging.getLogger("onetime").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(devnull)
    # 32 threads on a client with a 10-connection pool make urllib3 warn on stderr.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    return app


def child_env(stack: Stack, **extra: str) -> dict[str, str]:
    """Environment of a fresh Python process that runs the app on this stack."""
    env = {k: v for k, v in os.environ.items() if k not in ENDPOINT_VARIABLES}
    env.update(stack.app_env())
    env.update(extra)
    env["PYTHONPATH"] = str(ROOT)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env
