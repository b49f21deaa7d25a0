"""The presigner's URLs are botocore's, byte for byte, for the same inputs at the same
frozen instant (issue 23: "only if a test shows its URLs equal botocore's"); where a
client is set up in a way it does not reproduce, botocore signs.

botocore presigns offline: fixed credentials, no endpoint is ever asked anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import botocore.auth
import pytest
from botocore.config import Config

from chalicelib.storage.presigner import Presigner

NOW = 1_796_000_000.75  # 2026-11-30, and a fraction: both must drop it alike
BUCKET = "onetime-files-example"

KEYS = [
    "files/report.pdf",
    "a b/with spaces.txt",
    "unicode/Übergrößenträger \u2013 日本語 🎉.bin",
    "plus+sign/and~tilde",
    "percent%20already/100%.zip",
    "/leading//double/slashes/",
    "query?hash#semi;colon,comma=equals&amp@at:colon'quote\"(paren)*!$",
    "long/" + "x" * 900,
]
DISPOSITIONS = [
    'attachment; filename="report.pdf"',
    "attachment; filename=\"na ive.txt\"; filename*=UTF-8''na%C3%AFve%20%E2%82%AC.txt",
    "inline",
]
TYPES = ["application/pdf", "text/plain; charset=utf-8", "application/vnd.ms-excel+xml"]
VERSIONS = [None, "3sL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"]
EXPIRES = [1, 60, 3600, 604800]
TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+/=="


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()  # one, so botocore loads S3's model once


def s3_client(
    region: str, config: Config, token: str | None = None, endpoint: str | None = None
) -> Any:
    return _session().client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="AKIAEXAMPLE0000",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        aws_session_token=token,
        config=Config(signature_version="s3v4").merge(config),
    )


# (id, region, endpoint, Config): as chalicelib/storage/clients.py makes them on AWS
# (virtual) and on the stand-ins (an endpoint, no addressing style).
CLIENTS: list[tuple[str, str, str | None, Config]] = [
    ("virtual-us-east-1", "us-east-1", None, Config(s3={"addressing_style": "virtual"})),
    ("virtual-eu-west-1", "eu-west-1", None, Config(s3={"addressing_style": "virtual"})),
    ("virtual-ap-southeast-4", "ap-southeast-4", None, Config(s3={"addressing_style": "virtual"})),
    ("path-localhost", "us-east-1", "http://localhost:4566", Config()),
    ("path-127.0.0.1", "eu-west-1", "http://127.0.0.1:5000/", Config()),
    ("path-explicit", "eu-west-1", None, Config(s3={"addressing_style": "path"})),
]


@pytest.fixture(
    scope="module",
    params=[(*made, token) for made in CLIENTS for token in (None, TOKEN)],
    ids=lambda p: f"{p[0]}-{'token' if p[4] else 'keys'}",
)
def s3(request: pytest.FixtureRequest) -> Any:
    _, region, endpoint, config, token = request.param
    return s3_client(region, config, token, endpoint)


@contextlib.contextmanager
def botocore_frozen_at(now: float) -> Iterator[None]:
    """botocore's clock stopped at ``now``: ``get_current_datetime`` in botocore/auth.py,
    or ``datetime.datetime.utcnow`` where an older botocore reads that (1.35, as in
    .venv-scan, stands in for a Lambda runtime's)."""
    instant = dt.datetime.fromtimestamp(now, dt.UTC).replace(tzinfo=None)
    if hasattr(botocore.auth, "get_current_datetime"):
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=instant):
            yield
        return

    class Frozen(dt.datetime):
        @classmethod
        def utcnow(cls) -> Frozen:
            return cls.fromtimestamp(now, dt.UTC).replace(tzinfo=None)

    with mock.patch.object(botocore.auth, "datetime", mock.Mock(datetime=Frozen)):
        yield


@pytest.fixture
def frozen() -> Iterator[None]:
    with botocore_frozen_at(NOW):
        yield


def botocore_url(
    s3: Any, key: str, disposition: str, content_type: str, version: str | None, expires: int
) -> str:
    params: dict[str, Any] = {
        "Bucket": BUCKET,
        "Key": key,
        "ResponseContentDisposition": disposition,
        "ResponseContentType": content_type,
    }
    if version:
        params["VersionId"] = version
    url: str = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)
    return url


def cases() -> Iterator[tuple[str, str, str, str | None, int]]:
    # Every key and disposition; types, versions and expiries cycled through them.
    others = itertools.cycle(itertools.product(TYPES, VERSIONS, EXPIRES))
    for key, disposition in itertools.product(KEYS, DISPOSITIONS):
        content_type, version, expires = next(others)
        yield key, disposition, content_type, version, expires


def test_signed_here_equals_botocore_byte_for_byte(s3: Any, frozen: None) -> None:
    presigner = Presigner(s3, BUCKET)
    for case in cases():
        assert presigner.sign(*case, NOW) == botocore_url(s3, *case), case


def test_every_expiry_and_both_versions(s3: Any, frozen: None) -> None:
    presigner = Presigner(s3, BUCKET)
    for version, expires in itertools.product(VERSIONS, EXPIRES):
        case = ("files/a.pdf", "attachment", "application/pdf", version, expires)
        assert presigner.sign(*case, NOW) == botocore_url(s3, *case)


def test_the_first_url_is_botocores_and_checks_ours(s3: Any) -> None:
    presigner = Presigner(s3, BUCKET, clock=lambda: NOW)
    case = ("files/a b.pdf", "attachment", "application/pdf", None, 300)
    first = presigner.url(*case)  # botocore's, at the real time
    assert "X-Amz-Signature=" in first
    assert presigner.signs
    with mock.patch.object(s3, "generate_presigned_url", side_effect=AssertionError):
        later = presigner.url(*case)  # ours from now on: botocore is not asked
    with botocore_frozen_at(NOW):
        assert later == botocore_url(s3, *case)


def test_a_new_day_or_new_credentials_get_a_new_signing_key(frozen: None) -> None:
    s3 = s3_client("eu-west-1", Config(s3={"addressing_style": "virtual"}), TOKEN)
    presigner = Presigner(s3, BUCKET)
    case = ("k.txt", "inline", "text/plain", None, 60)
    presigner.sign(*case, NOW - 86_400)  # yesterday's key is kept ...
    credentials = s3._request_signer._credentials
    credentials.secret_key = "rotated/SECRET+key"  # ... and a refresh replaces the secret
    credentials.token = "rotated-token"
    assert presigner.sign(*case, NOW) == botocore_url(s3, *case)


UNSUPPORTED: list[tuple[str, str, Config, str]] = [
    ("sigv2", "us-east-1", Config(signature_version="s3"), BUCKET),
    ("dotted bucket", "eu-west-1", Config(s3={"addressing_style": "virtual"}), "files.example"),
    ("capital bucket", "eu-west-1", Config(s3={"addressing_style": "path"}), "Files-Example"),
    ("accelerate", "eu-west-1", Config(s3={"use_accelerate_endpoint": True}), BUCKET),
    ("dual-stack", "eu-west-1", Config(use_dualstack_endpoint=True), BUCKET),
    ("fips", "us-east-1", Config(use_fips_endpoint=True), BUCKET),
    ("auto on AWS", "eu-west-1", Config(), BUCKET),
]


@pytest.mark.parametrize(
    ("region", "config", "bucket"),
    [case[1:] for case in UNSUPPORTED],
    ids=[case[0] for case in UNSUPPORTED],
)
def test_botocore_signs_what_is_not_reproduced_here(
    region: str, config: Config, bucket: str, frozen: None
) -> None:
    s3 = s3_client(region, config)
    presigner = Presigner(s3, bucket)
    for _ in range(2):
        url = presigner.url("files/a.pdf", "attachment", "application/pdf", "v1", 60)
        assert url == s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": bucket,
                "Key": "files/a.pdf",
                "ResponseContentDisposition": "attachment",
                "ResponseContentType": "application/pdf",
                "VersionId": "v1",
            },
            ExpiresIn=60,
        )
    assert not presigner.signs


def test_a_url_that_differs_from_botocores_leaves_signing_to_botocore(frozen: None) -> None:
    # A hook of botocore's that this module does not run (here: a header it signs too)
    # makes the first comparison fail: every URL is then botocore's.
    s3 = s3_client("eu-west-1", Config(s3={"addressing_style": "virtual"}))

    def extra_header(request: Any, **_: Any) -> None:
        request.headers["x-amz-expected-bucket-owner"] = "111122223333"

    s3.meta.events.register("before-sign.s3.GetObject", extra_header)
    presigner = Presigner(s3, BUCKET, clock=lambda: NOW)
    case = ("files/a.pdf", "attachment", "application/pdf", None, 60)
    first = presigner.url(*case)
    assert "x-amz-expected-bucket-owner" in first
    assert not presigner.signs
    assert presigner.url(*case) == botocore_url(s3, *case)
    with pytest.raises(ValueError, match="botocore"):
        presigner.sign(*case, NOW)


def test_no_credentials_leave_botocore_to_say_so() -> None:
    from botocore import UNSIGNED

    s3 = s3_client("eu-west-1", Config(signature_version=UNSIGNED))
    assert not Presigner(s3, BUCKET).signs
