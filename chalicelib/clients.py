"""boto3 clients, configured once per Lambda container.

Endpoints are never set here: boto3 reads ``AWS_ENDPOINT_URL_S3`` and
``AWS_ENDPOINT_URL_DYNAMODB`` itself, so the same code runs on AWS and on
the local stand-ins.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

# A failing redemption makes at most three AWS calls (claim, read, give-back).
# Each is bounded so that even all three, retried, end inside API Gateway's
# 29 s: 3 calls x 2 attempts x (1 s connect + 3 s read) = 24 s at worst.
# In-region, a claim takes a few ms and a 4 MiB read well under a second.
_COMMON = Config(
    connect_timeout=1,
    read_timeout=3,
    retries={"mode": "standard", "max_attempts": 2},
)


def dynamodb_client() -> Any:
    return boto3.client("dynamodb", config=_COMMON)


def s3_client() -> Any:
    # SigV4 explicitly: boto3 still presigns with SigV2 in us-east-1 otherwise.
    return boto3.client("s3", config=_COMMON.merge(Config(signature_version="s3v4")))


def ses_client() -> Any:
    return boto3.client("sesv2", config=_COMMON)


def ssm_client() -> Any:
    return boto3.client("ssm", config=_COMMON)
