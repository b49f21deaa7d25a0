"""boto3 clients, configured once per Lambda container.

Endpoints are never set here: boto3 reads ``AWS_ENDPOINT_URL_S3`` and
``AWS_ENDPOINT_URL_DYNAMODB`` itself, so the same code runs on AWS and on
the local stand-ins.

Each client's timeouts and attempts are declared once, in ``LIMITS``;
chalicelib/storage/budgets.py adds them up per route, and tests/unit/test_budgets.py checks
that every route ends inside the Lambda timeout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from chalicelib.domain.errors import ConfigurationError

if TYPE_CHECKING:  # stubs for mypy only (requirements-dev.txt): nothing at runtime
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_s3 import S3Client
    from types_boto3_sesv2 import SESV2Client
    from types_boto3_ssm import SSMClient


@dataclass(frozen=True)
class Limits:
    """One client's bounds.  ``attempts`` counts the first try: botocore's
    ``retries={"max_attempts": n}`` means n *retries* (n + 1 tries, botocore/args.py
    ``_compute_retry_max_attempts``), so the config is built with ``total_max_attempts``,
    which means what it says."""

    connect_timeout: float
    read_timeout: float
    attempts: int

    def config(self) -> Config:
        scale = timeout_scale()
        return Config(
            connect_timeout=self.connect_timeout * scale,
            read_timeout=self.read_timeout * scale,
            retries={"mode": "standard", "total_max_attempts": self.attempts},
        )


SCALE_VARIABLE = "ONETIME_CLIENT_TIMEOUT_SCALE"


def timeout_scale() -> float:
    """1 on AWS.  The local stand-ins (tools/stack.py, Stack.app_env) set more: dynalite answers 64
    racing claims one after another on a shared two-core machine, far slower than
    DynamoDB, and a test must not fail on a timeout AWS would never hit.  Read when a
    client is made (once per container)."""
    raw = os.environ.get(SCALE_VARIABLE, "").strip()
    try:
        scale = float(raw) if raw else 1.0
    except ValueError:
        scale = 0.0
    if not 1.0 <= scale <= 10.0:
        raise ConfigurationError(f"{SCALE_VARIABLE}={raw!r} must be a number from 1 to 10.")
    return scale


# In-region, a DynamoDB single-item call takes a few ms, a HeadObject tens of ms and a
# 4 MiB GetObject well under a second (``read_timeout`` bounds each socket read, not the
# whole body).  The tightest route (a file request's confirmation: 2 S3 + 4 DynamoDB
# calls + an email) must still end inside the Lambda timeout, hence sub-second bounds.
LIMITS: dict[str, Limits] = {
    "dynamodb": Limits(connect_timeout=0.25, read_timeout=0.75, attempts=2),
    "s3": Limits(connect_timeout=0.5, read_timeout=1.5, attempts=2),
    # One attempt: SendEmail is not idempotent (a retry after a lost answer sends the
    # email twice), and every caller already undoes its link when the email fails.
    "sesv2": Limits(connect_timeout=0.5, read_timeout=2.5, attempts=1),
    "ssm": Limits(connect_timeout=0.5, read_timeout=1.0, attempts=2),
    # CompleteMultipartUpload: S3 may take seconds to join a large object, sending
    # whitespace meanwhile; one attempt (the client's retry completes it again, and a
    # completion that already happened is recognised: chalicelib/services/uploads.py).
    "s3-complete": Limits(connect_timeout=0.5, read_timeout=12.0, attempts=1),
}


def dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb", config=LIMITS["dynamodb"].config())


# Where boto3 reads an endpoint of its own (the local stand-ins set one): then the URLs it
# presigns must name that endpoint, in the path style moto answers.
S3_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def s3_config() -> Config:
    # SigV4 explicitly: boto3 still presigns with SigV2 in us-east-1 otherwise.
    config = LIMITS["s3"].config().merge(Config(signature_version="s3v4"))
    if any(os.environ.get(name, "").strip() for name in S3_ENDPOINT_VARIABLES):
        return config
    # On AWS, presign on the bucket's regional virtual-hosted name
    # (BUCKET.s3.<region>.amazonaws.com): without an addressing style boto3 names the
    # global BUCKET.s3.amazonaws.com, which a new bucket may answer with 307 redirects for
    # up to a day and regions opened after March 2019 do not serve at all.
    return config.merge(Config(s3={"addressing_style": "virtual"}))


def s3_client() -> S3Client:
    return boto3.client("s3", config=s3_config())


def s3_completion_client() -> S3Client:
    """For CompleteMultipartUpload alone; made on the first completion, not at a cold start."""
    config = LIMITS["s3-complete"].config().merge(Config(signature_version="s3v4"))
    return boto3.client("s3", config=config)


def ses_client() -> SESV2Client:
    return boto3.client("sesv2", config=LIMITS["sesv2"].config())


def ssm_client() -> SSMClient:
    return boto3.client("ssm", config=LIMITS["ssm"].config())
