"""Shared fixtures.

Two tiers: ``service`` runs the app in-process (chalice.test.Client) on moto's
in-memory AWS, for fast endpoint tests; ``stack`` runs real processes
(dynalite, moto server, chalice local) over HTTP, for round trips and races.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client

# As in the notify function's own environment (infra/resources.yaml): app.py registers
# the stream handler, so tests call ``app.notify`` as Lambda calls it.
os.environ["ONETIME_NOTIFY_HANDLER"] = "1"

import app as app_module
from tests.fakes import FrozenClock
from tools.ports import free_port
from tools.resources import create_table
from tools.samples import upload_samples
from tools.stack import Stack, running


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test's tier, from where it lives and what it needs (see pyproject's markers)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        path = item.path.as_posix()
        if "/tests/unit/" in path or "[memory]" in item.nodeid:
            item.add_marker(pytest.mark.unit)
        if "stack" in fixtures or "[dynalite]" in item.nodeid:
            item.add_marker(pytest.mark.stack)
        if "service" in fixtures or "[moto]" in item.nodeid:
            item.add_marker(pytest.mark.inprocess)
        if path.endswith("test_browser.py"):
            item.add_marker(pytest.mark.browser)


API_KEY = "test-api-key"
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def reset_app_caches() -> None:
    """Forget the app's cached settings and clients (the one reset: ``app.reset``)."""
    app_module.reset()


SIGNED: set[tuple[str, str]] = set()  # (service, operation), over the whole session


class Hooks:
    """Sees every AWS operation the app's clients make (botocore's event hooks),
    and can make chosen operations fail, without touching the app's code."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.faults: dict[str, Callable[[], Any]] = {}

    def before_sign(self, event_name: str, **_: Any) -> None:
        # Every request the app signs, presigned URLs and POST forms included:
        # what its IAM policy must allow (tests/test_policy.py).
        _prefix, service, operation = event_name.split(".", 2)
        SIGNED.add((service, operation))

    def before_call(self, model: Any, **_: Any) -> Any:
        name = f"{model.service_model.service_name}:{model.name}"
        self.calls.append(name)
        fault = self.faults.get(name)
        return fault() if fault else None

    def fail(self, operation: str, fault: Callable[[], Any]) -> None:
        self.faults[operation] = fault


class FakeHttp:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = b""


def aws_error(code: str, status: int) -> Callable[[], Any]:
    """A fault: the operation answers with this AWS error code."""

    def answer() -> Any:
        parsed = {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return FakeHttp(status), parsed

    return answer


@dataclass
class InProcess:
    """The app in this process, on moto's in-memory AWS."""

    client: Client
    dynamodb: Any
    s3: Any
    table: str
    bucket: str
    hooks: Hooks
    clock: FrozenClock  # the app's one clock: advance it instead of editing items

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {API_KEY}"}

    def put(self, key: str, body: bytes, content_type: str = "application/pdf") -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def mint(self, key: str, **params: Any) -> dict[str, Any]:
        from urllib.parse import urlencode

        query = urlencode({"file": key, **params})
        response = self.client.http.get(f"/get-link?{query}", headers=self.auth())
        assert response.status_code == 200, response.body
        minted: dict[str, Any] = response.json_body
        return minted

    def item(self, link_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": f"link#{link_id}"}}, ConsistentRead=True
        ).get("Item", {})
        return found

    def uses(self, link_id: str) -> int:
        return int(self.item(link_id)["uses"]["N"])

    def table_items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.dynamodb.scan(TableName=self.table)["Items"]
        return items


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SES",
        "AWS_ENDPOINT_URL_SESV2",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("ONETIME_TABLE", "links-test")
    monkeypatch.setenv("ONETIME_BUCKET", "files-test")
    monkeypatch.setenv("ONETIME_API_KEY_SHA256", hashlib.sha256(API_KEY.encode()).hexdigest())


@pytest.fixture
def service(aws_env: None) -> Iterator[InProcess]:
    from moto import mock_aws  # only the tiers that use moto import it

    clock = FrozenClock()
    with mock_aws():
        app_module.configure(clock=clock)
        # The app's clients come from boto3's default session, created after
        # these hooks; the test's own clients come from a session of their own.
        hooks = Hooks()
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-call.*.*", hooks.before_call)
        boto3.DEFAULT_SESSION.events.register("before-sign.*.*", hooks.before_sign)
        own = boto3.session.Session()
        dynamodb = own.client("dynamodb")
        s3 = own.client("s3")
        create_table(dynamodb, "links-test")
        s3.create_bucket(Bucket="files-test")
        s3.put_bucket_versioning(Bucket="files-test", VersioningConfiguration={"Status": "Enabled"})
        with Client(app_module.app, stage_name="local") as client:
            yield InProcess(client, dynamodb, s3, "links-test", "files-test", hooks, clock)
    app_module.configure()


@pytest.fixture
def mailing(service: InProcess, monkeypatch: pytest.MonkeyPatch) -> InProcess:
    """The in-process service with email on: a sender moto's SES has verified."""
    from tools.stack import MAIL_FROM

    monkeypatch.setenv("ONETIME_MAIL_FROM", MAIL_FROM)
    reset_app_caches()
    boto3.session.Session().client("ses").verify_email_identity(EmailAddress=MAIL_FROM)
    return service


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:8]
    local = Stack(
        api_port=free_port(),
        s3_port=free_port(),
        dynamodb_port=free_port(),
        table=f"links-{suffix}",
        bucket=f"files-{suffix}",
        api_key=API_KEY,
        log_dir=tmp_path_factory.mktemp("stack-logs"),
    )
    with running(local):
        upload_samples(local)
        yield local
