"""The IAM policies grant exactly what the code calls: nothing missing, nothing extra.

The operations come from botocore's ``before-sign`` hook on the app's clients
(tests/conftest.py), over a workload that uses every feature, plus whatever the
rest of the session's in-process tests signed.  Presigned URLs and POST forms
are signed too, so they count.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.helpers import (
    ISSUER,
    ROOT,
    SIGNED,
    SMALL,
    InProcess,
    Issuer,
    call,
    reset_app_caches,
    token_of,
)
from tools.stack import MAIL_FROM

POLICIES = ROOT / ".chalice"

# What each signed operation needs in IAM, and why.
REQUIRED: dict[tuple[str, str], set[str]] = {
    ("dynamodb", "PutItem"): {"dynamodb:PutItem"},  # mint
    ("dynamodb", "UpdateItem"): {"dynamodb:UpdateItem"},  # claim, release, change, revoke, grants
    ("dynamodb", "GetItem"): {"dynamodb:GetItem"},  # HEAD, show, health, refusal reasons
    ("dynamodb", "Query"): {"dynamodb:Query"},  # list links by file, grants by subject
    ("dynamodb", "BatchGetItem"): {"dynamodb:BatchGetItem"},  # the newest links' items
    ("dynamodb", "DeleteItem"): {"dynamodb:DeleteItem"},  # withdraw a grant
    ("s3", "HeadObject"): {"s3:GetObject"},  # mint describes the object (HEAD is a GetObject right)
    # stream and presigned redirect, always pinned to a version where there is one
    ("s3", "GetObject"): {"s3:GetObject", "s3:GetObjectVersion"},
    ("s3", "PutObject"): {"s3:PutObject"},  # the presigned upload forms
    # Multipart uploads (issue 25): starting, each presigned part and completing are
    # PutObject rights; listing the parts held and aborting have rights of their own.
    ("s3", "CreateMultipartUpload"): {"s3:PutObject"},
    ("s3", "UploadPart"): {"s3:PutObject"},
    ("s3", "CompleteMultipartUpload"): {"s3:PutObject"},
    ("s3", "ListParts"): {"s3:ListMultipartUploadParts"},
    ("s3", "AbortMultipartUpload"): {"s3:AbortMultipartUpload"},
    # A confirmed file request's upload is retagged, by version: IAM checks the version's
    # own action too when a VersionId is given.
    ("s3", "PutObjectTagging"): {"s3:PutObjectTagging", "s3:PutObjectVersionTagging"},
    # The email with the link.  IAM authorises SES v2 SendEmail by its content: raw
    # MIME (ours) is reported to be checked as ses:SendRawEmail; both are granted,
    # on the sender identity only, since this cannot be checked offline.
    ("sesv2", "SendEmail"): {"ses:SendEmail", "ses:SendRawEmail"},
    ("ssm", "GetParameter"): {"ssm:GetParameter"},  # the secret keying recipient checks
}


@pytest.fixture
def everything(service: InProcess, monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, str]]:
    """Use every feature once, in-process, and return what was signed."""
    import boto3

    issuer = Issuer()
    monkeypatch.setenv("ONETIME_MULTIPART_THRESHOLD", str(PART))
    monkeypatch.setenv("ONETIME_MULTIPART_PART_BYTES", str(PART))
    monkeypatch.setenv("ONETIME_MAIL_FROM", MAIL_FROM)
    monkeypatch.setenv("ONETIME_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("ONETIME_JWT_AUDIENCE", "shop-web-client")
    monkeypatch.setenv("ONETIME_JWT_JWKS_URL", issuer.url)
    monkeypatch.setenv("ONETIME_STREAM_MAX_BYTES", str(len(SMALL)))
    monkeypatch.setenv("ONETIME_SECRET_PARAMETER", "/onetime/test/secret")
    reset_app_caches()
    boto3.session.Session().client("ssm").put_parameter(
        Name="/onetime/test/secret", Value="s3cret", Type="SecureString"
    )

    boto3.session.Session().client("ses").verify_email_identity(EmailAddress=MAIL_FROM)
    service.put("f.pdf", SMALL)
    service.put("big.pdf", SMALL + b"!")
    http = service.client.http
    small = service.mint("f.pdf", uses=5)
    big = service.mint("big.pdf", confirm="false")
    for accept in ("text/html", "application/pdf"):
        http.get(f"/download?token={token_of(small)}", headers={"Accept": accept})
    http.head(f"/download?token={token_of(small)}")
    http.get(f"/download?token={token_of(big)}", headers={"Accept": "*/*"})
    call(service, "POST", "/links", {"file": "f.pdf", "email": "a@example.com"})
    call(service, "POST", "/links", {"file": "f.pdf", "verify": "code"})
    call(service, "GET", f"/links/{small['id']}")
    call(service, "PATCH", f"/links/{small['id']}", {"ttl": 60})
    call(service, "GET", "/links?file=f.pdf")
    call(service, "GET", "/links")
    call(service, "DELETE", f"/links/{small['id']}")
    call(service, "POST", "/uploads", {"filename": "u.pdf", "size": 3})
    call(service, "POST", "/grants", {"subject": "buyer-1", "file": "f.pdf"})
    http.get("/get-link?file=f.pdf", headers={"Authorization": f"Bearer {issuer.token()}"})
    call(service, "GET", "/grants?subject=buyer-1")
    call(service, "DELETE", "/grants?subject=buyer-1&file=f.pdf")
    made = call(service, "POST", "/requests", {"notify": "ops@example.com"}).json_body
    page = http.get(f"/upload?{made['url'].split('?', 1)[1]}", headers={"Accept": "text/html"})
    prefix = re.search(r'name="key" value="([^"]+)\$\{filename\}"', page.body.decode())
    assert prefix is not None
    service.put(prefix.group(1) + "r.pdf", SMALL)
    token = made["url"].split("token=", 1)[1].split("&", 1)[0]
    done = http.get(f"/upload/done?token={token}&key={prefix.group(1)}r.pdf")
    assert done.status_code == 201, done.body
    call(service, "GET", "/requests")
    call(service, "GET", f"/requests/{made['id']}")
    call(service, "DELETE", f"/requests/{made['id']}")
    multipart_workload(service)
    http.get("/health")
    issuer.server.shutdown()
    return set(SIGNED)


PART = 5 * 1024 * 1024


def multipart_workload(service: InProcess) -> None:
    """An operator's upload in two parts, sent, listed and completed; and a file request's
    upload started, then aborted by withdrawing the request."""
    started = call(service, "POST", "/uploads", {"filename": "big.bin", "size": PART + 10})
    assert started.status_code == 201, started.json_body
    ticket = started.json_body["upload"]
    signed = call(service, "POST", "/uploads/parts", {"upload": ticket, "parts": [1, 2]})
    for part, body in zip(signed.json_body["parts"], (b"a" * PART, b"b" * 10), strict=True):
        assert requests.put(part["url"], data=body, timeout=10).status_code == 200
    call(service, "GET", f"/uploads/parts?upload={quote(ticket)}")
    done = call(service, "POST", "/uploads/complete", {"upload": ticket})
    assert done.status_code == 200, done.json_body
    made = call(service, "POST", "/requests", {}).json_body
    token = made["url"].split("token=", 1)[1].split("&", 1)[0]
    begun = service.client.http.post(
        f"/upload/multipart?token={token}",
        body=json.dumps({"filename": "big.bin", "size": PART + 10}),
        headers={"Content-Type": "application/json"},
    )
    assert begun.status_code == 201, begun.body
    call(service, "DELETE", f"/requests/{made['id']}")


def actions(stage: str) -> set[str]:
    policy: dict[str, Any] = json.loads((POLICIES / f"policy-{stage}.json").read_text())
    granted = set()
    for statement in policy["Statement"]:
        listed = statement["Action"]
        granted |= {listed} if isinstance(listed, str) else set(listed)
    return {a for a in granted if not a.startswith("logs:")}  # Lambda's own logging


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_policy_matches_what_the_code_signs(everything: set[tuple[str, str]], stage: str) -> None:
    unknown = everything - set(REQUIRED)
    assert not unknown, f"the code calls {unknown}: add them to REQUIRED and to the policies"
    needed = set().union(*(REQUIRED[op] for op in everything))
    granted = actions(stage)
    assert needed - granted == set(), f"policy-{stage}.json lacks {needed - granted}"
    assert granted - needed == set(), f"policy-{stage}.json grants unused {granted - needed}"
