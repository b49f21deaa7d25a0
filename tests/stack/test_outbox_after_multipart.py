"""Issue 22, item 7: `make outbox` keeps reading the sent emails after any S3 activity.

moto 5.2.5's ``/moto-api/data.json`` walks every model it tracks and answers 500
(MissingBucket) once a multipart upload has left part keys behind, and the outbox said
"is `make serve` running?" of a stand-in that was running.
"""

from __future__ import annotations

import io
import os
import re

import requests
from boto3.s3.transfer import TransferConfig

from tests.helpers import python
from tools.outbox import outbox
from tools.samples import SMALL_SAMPLE
from tools.stack import Stack

PART = 5 * 1024 * 1024  # S3's smallest part but the last
STEERING = re.compile(r"^(AWS_|ONETIME_|S3_PORT$|SERVE_LOG_DIR$|LAST$)")


def test_the_outbox_lists_a_sent_email_after_a_multipart_upload(stack: Stack) -> None:
    s3 = stack.client("s3")
    # As the README invites: boto3's upload_fileobj, which goes multipart over its threshold.
    s3.upload_fileobj(
        io.BytesIO(b"m" * (PART + 1)),
        stack.bucket,
        "uploads/multipart.bin",
        Config=TransferConfig(multipart_threshold=PART, multipart_chunksize=PART),
    )
    assert s3.head_object(Bucket=stack.bucket, Key="uploads/multipart.bin")["ContentLength"] == (
        PART + 1
    )
    subject = "Sent after a multipart upload"
    response = requests.post(
        f"{stack.base_url}/links",
        json={"file": SMALL_SAMPLE, "email": "after-multipart@example.com", "subject": subject},
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text

    [last] = outbox(stack.s3_port, last=1)
    assert subject in last["raw_data"]

    # And `make outbox` itself, as a user runs it.
    env = {name: value for name, value in os.environ.items() if not STEERING.match(name)}
    result = python("-m", "tools.outbox", env={**env, "S3_PORT": str(stack.s3_port), "LAST": "1"})
    assert result.returncode == 0, result.stderr
    assert f"Subject: {subject}" in result.stdout
    assert "To:      after-multipart@example.com" in result.stdout
