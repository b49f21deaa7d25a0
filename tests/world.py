"""Builds the in-process world: the app under chalice.test.Client on moto's in-memory AWS.

What made a world slow was not moto but botocore reading its service models again for
every new session (about 0.2 s a test for DynamoDB, S3 and SES); the sessions here share
one model loader, so each test still gets a world of its own (fresh table, bucket and
outbox, no state carried between tests) for about a tenth of the cost.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.session
from chalice.test import Client
from moto import mock_aws

import app as app_module
from tests.fakes import FrozenClock
from tests.helpers import Hooks, InProcess
from tools.resources import create_table

TABLE = "links-test"
BUCKET = "files-test"
CONTRACT_TABLE = "contract"  # the store contract modules' shared table


@functools.cache
def _loader() -> Any:
    return botocore.session.get_session().get_component("data_loader")


def session() -> boto3.session.Session:
    """A new boto3 session (its own credentials, events and clients) on the shared models."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _loader())
    return boto3.session.Session(botocore_session=core)


@functools.cache
def _own_clients() -> tuple[Any, Any]:
    """The tests' own DynamoDB and S3 clients, one pair for the process: a client holds no
    state of moto's (each world starts its own mock), and building one costs about 10 ms.
    Credentials and region are explicit, so none is read from a later test's environment
    (the first is built under ``aws_env``, with no endpoint variables)."""
    own = session()

    def client(name: str) -> Any:
        return own.client(
            name,  # type: ignore[call-overload]
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client("dynamodb"), client("s3")


@contextmanager
def in_process() -> Iterator[InProcess]:
    clock = FrozenClock()
    with mock_aws():
        app_module.configure(clock=clock)
        # The app's clients come from boto3's default session, created after
        # these hooks; the test's own clients come from a session of their own.
        hooks = Hooks()
        boto3.DEFAULT_SESSION = session()
        boto3.DEFAULT_SESSION.events.register("before-call.*.*", hooks.before_call)
        boto3.DEFAULT_SESSION.events.register("before-sign.*.*", hooks.before_sign)
        dynamodb, s3 = _own_clients()
        create_table(dynamodb, TABLE)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        try:
            with Client(app_module.app, stage_name="local") as client:
                yield InProcess(client, dynamodb, s3, TABLE, BUCKET, hooks, clock)
        finally:
            app_module.configure()


@contextmanager
def moto_dynamodb() -> Iterator[Any]:
    """A DynamoDB client on moto in this process, for a whole module's store tests, with
    CONTRACT_TABLE made: its credentials and region are explicit, so nothing is read from
    the environment (and no credential lookup leaves the machine); each test uses fresh
    ids and keys."""
    with mock_aws():
        client = session().client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url="https://dynamodb.us-east-1.amazonaws.com",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        create_table(client, CONTRACT_TABLE)
        yield client
