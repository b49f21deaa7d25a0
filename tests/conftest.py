"""The tiers, and the fixtures the tiers above unit share.

A test's tier is the folder it lives in (tests/unit, inprocess, stack, browser, tooling;
see pyproject's markers).  ``service`` runs the app in-process (chalice.test.Client) on
moto's in-memory AWS; ``stack`` runs real processes (dynalite, moto server, chalice local)
over HTTP.  This module imports neither the app, moto, boto3 nor Playwright at import time
(the fixtures import them when they run), so ``make test-fast`` pays for none of them.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.helpers import API_KEY

if TYPE_CHECKING:
    from tests.helpers import InProcess
    from tools.stack import Stack

# As in the notify function's own environment (infra/resources.yaml): app.py registers
# the stream handler, so tests call ``app.notify`` as Lambda calls it.
os.environ["ONETIME_NOTIFY_HANDLER"] = "1"
# No test reaches beyond 127.0.0.1: botocore's credential chain, given no credentials,
# would ask the EC2 metadata address; this process and the stack's inherit the refusal.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

TIERS = ("unit", "inprocess", "stack", "browser", "tooling")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test's tier, from its folder; a test outside the tier folders is an error."""
    for item in items:
        parts = item.path.parts
        folder = parts[parts.index("tests") + 1] if "tests" in parts else ""
        if folder not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: every test lives in one of tests/{TIERS}")
        item.add_marker(getattr(pytest.mark, folder))
        if folder != "stack" and "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stack)  # it starts the stack too: `-m 'not stack'` skips it


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
    from tests.world import in_process

    with in_process() as world:
        yield world


@pytest.fixture
def mailing(service: InProcess, monkeypatch: pytest.MonkeyPatch) -> InProcess:
    """The in-process service with email on: a sender moto's SES has verified."""
    from tests.helpers import reset_app_caches
    from tests.world import session
    from tools.stack import MAIL_FROM

    monkeypatch.setenv("ONETIME_MAIL_FROM", MAIL_FROM)
    reset_app_caches()
    session().client("ses").verify_email_identity(EmailAddress=MAIL_FROM)
    return service


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from tools.ports import free_port
    from tools.samples import upload_samples
    from tools.stack import Stack, running

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
