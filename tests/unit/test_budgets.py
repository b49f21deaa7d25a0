"""Issue 16, item 4: every route's worst case, from the clients' declared limits, ends
inside the Lambda timeout, and the limits mean to botocore what the arithmetic assumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config
from botocore.retries.standard import ExponentialBackoff

from chalicelib.domain.errors import ConfigurationError
from chalicelib.storage import budgets, clients

CONFIG = Path(__file__).resolve().parents[2] / ".chalice" / "config.json"
API_GATEWAY_TIMEOUT = 29  # the REST API's integration timeout, seconds
MARGIN = 2.0  # a cold start and the handler's own work


def lambda_timeouts() -> dict[str, int]:
    stages = json.loads(CONFIG.read_text())["stages"]
    return {name: s["lambda_timeout"] for name, s in stages.items() if "lambda_timeout" in s}


def test_the_function_ends_before_api_gateway_gives_up() -> None:
    timeouts = lambda_timeouts()
    assert set(timeouts) == {"dev", "prod"}
    assert all(t < API_GATEWAY_TIMEOUT for t in timeouts.values())


@pytest.mark.parametrize("route", sorted(budgets.ROUTES))
def test_each_route_fits_inside_the_lambda_timeout(route: str) -> None:
    assert budgets.worst_case(route) <= min(lambda_timeouts().values()) - MARGIN


def test_minting_with_email_adds_up_as_declared() -> None:
    # GetParameter 2 x (0.5 + 1.0) + 1 backoff (a check's key), HeadObject 2 x (0.5 + 1.5)
    # + 1, PutItem and the final UpdateItem 2 x (0.25 + 0.75) + 1 each, SendEmail once
    # 0.5 + 2.5.
    assert budgets.worst_case("POST /links") == 4 + 5 + 3 + 3 + 3


def test_the_backoff_bound_is_botocores() -> None:
    # Private attributes on purpose: the bound must follow botocore if it changes.
    backoff: Any = ExponentialBackoff  # botocore's stubs do not declare these
    assert backoff._DEFAULT_BACKOFF_CONFIG["throttling_base_scale"] == budgets.BACKOFF_BASE
    assert backoff._MAX_BACKOFF == budgets.BACKOFF_CAP
    assert budgets.backoff(1) == 0 and budgets.backoff(2) == 1 and budgets.backoff(3) == 3


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)


@pytest.mark.usefixtures("credentials")
def test_every_client_is_built_with_its_declared_limits() -> None:
    # Credentials given: building a client resolves them, and without any botocore's
    # chain would ask the EC2 metadata address (169.254.169.254) off this machine.
    built = {
        "dynamodb": clients.dynamodb_client(),
        "s3": clients.s3_client(),
        "sesv2": clients.ses_client(),
        "ssm": clients.ssm_client(),
        "s3-complete": clients.s3_completion_client(),  # issue 25
    }
    assert set(built) == set(clients.LIMITS)
    for name, client in built.items():
        limits = clients.LIMITS[name]
        config: Any = client.meta.config  # the stubs do not type its fields
        assert (config.connect_timeout, config.read_timeout) == (
            limits.connect_timeout,
            limits.read_timeout,
        )
        assert config.retries["total_max_attempts"] == limits.attempts


def attempts_made(client: Any, call: str, params: dict[str, Any]) -> int:
    """Answer every attempt with a 500 at botocore's HTTP layer, and count them."""
    sent: list[object] = []

    def answer(request: object, **_: object) -> AWSResponse:
        sent.append(request)
        # A non-throttling error: botocore waits at most 25-50 ms x 2**i between tries.
        return AWSResponse("https://stub", 500, HTTPHeaders(), _Raw(b"{}"))

    client.meta.events.register("before-send", answer)
    with pytest.raises(client.exceptions.ClientError):
        getattr(client, call)(**params)
    return len(sent)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: object) -> list[bytes]:
        return [self._body]


CLAIM = {"TableName": "t", "Key": {"pk": {"S": "link#x"}}}


@pytest.mark.usefixtures("credentials")
def test_a_claim_is_tried_as_many_times_as_declared() -> None:
    assert attempts_made(clients.dynamodb_client(), "get_item", CLAIM) == (
        clients.LIMITS["dynamodb"].attempts
    )


@pytest.mark.usefixtures("credentials")
def test_botocores_max_attempts_counts_retries_not_tries() -> None:
    """Why clients.py says ``total_max_attempts``: ``max_attempts=2`` makes three tries."""
    old = Config(retries={"mode": "standard", "max_attempts": 2})
    assert attempts_made(boto3.client("dynamodb", config=old), "get_item", CLAIM) == 3


def test_only_the_local_stand_ins_scale_the_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clients.SCALE_VARIABLE, raising=False)
    assert clients.timeout_scale() == 1.0  # what AWS runs with: the budgets above
    monkeypatch.setenv(clients.SCALE_VARIABLE, "4")
    config: Any = clients.LIMITS["dynamodb"].config()  # the stubs do not type its fields
    assert config.read_timeout == clients.LIMITS["dynamodb"].read_timeout * 4
    for bad in ("0.5", "11", "fast"):
        monkeypatch.setenv(clients.SCALE_VARIABLE, bad)
        with pytest.raises(ConfigurationError):
            clients.timeout_scale()
