"""Each route's worst case in seconds, derived from the clients' declared limits.

A route's worst case is the longest sequence of calls it can make in one request (read
from chalicelib/services/ and the stores; on AWS a refused conditional write returns the
old item, so no extra read), each call timing out on every attempt, with botocore's
largest backoff between attempts.  tests/unit/test_budgets.py checks that each fits
inside the Lambda timeout with a margin.
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.settings import JWKS_TIMEOUT, MAX_OPEN_UPLOADS
from chalicelib.storage.clients import LIMITS, Limits

# botocore/retries/standard.py ``ExponentialBackoff``: retry i waits up to
# base * 2**(i-1), capped; the base is 1 s for throttling (50 ms otherwise), so a
# throttled call waits longest.  tests/unit/test_budgets.py checks these against botocore.
BACKOFF_BASE = 1.0
BACKOFF_CAP = 20.0


def backoff(attempts: int) -> float:
    return sum(min(BACKOFF_BASE * 2.0 ** (i - 1), BACKOFF_CAP) for i in range(1, attempts))


def call_seconds(limits: Limits) -> float:
    return limits.attempts * (limits.connect_timeout + limits.read_timeout) + backoff(
        limits.attempts
    )


# The JWKS fetch: its one attempt may spend the timeout connecting and again reading.
JWKS_SECONDS = 2 * JWKS_TIMEOUT

# (client, operation) per call, in order, on each route's longest path.
ROUTES: dict[str, Sequence[tuple[str, str]]] = {
    # Minting with email and a recipient check: the check's key (first in a container:
    # chalicelib/storage/secrets.py), the link, the email, then record_message or
    # (failure) revoke.
    "POST /links": [
        ("ssm", "GetParameter"),
        ("s3", "HeadObject"),
        ("dynamodb", "PutItem"),
        ("sesv2", "SendEmail"),
        ("dynamodb", "UpdateItem"),
    ],
    # Resend of a checked link: the check's key, read, new link, supersede, email, and on
    # failure restore + withdraw.
    "POST /links/{id}/resend": [
        ("ssm", "GetParameter"),
        ("dynamodb", "GetItem"),
        ("dynamodb", "PutItem"),
        ("dynamodb", "UpdateItem"),
        ("sesv2", "SendEmail"),
        ("dynamodb", "UpdateItem"),
        ("dynamodb", "UpdateItem"),
    ],
    # An upload's confirmation: the object, the take, its tag, the link, the email,
    # and on failure the link withdrawn and the file given back.
    "GET /upload/done": [
        ("s3", "HeadObject"),
        ("dynamodb", "UpdateItem"),
        ("s3", "PutObjectTagging"),
        ("dynamodb", "PutItem"),
        ("sesv2", "SendEmail"),
        ("dynamodb", "UpdateItem"),
        ("dynamodb", "UpdateItem"),
    ],
    # A checked redemption, first in its container: the answer key, a claim refused
    # (an answer to a link that asks none) and made again, the file, and the give-back.
    "POST /download": [
        ("ssm", "GetParameter"),
        ("dynamodb", "UpdateItem"),
        ("dynamodb", "UpdateItem"),
        ("s3", "GetObject"),
        ("dynamodb", "UpdateItem"),
    ],
    # A plain redemption: claim, file, give-back.
    "GET /download": [
        ("dynamodb", "UpdateItem"),
        ("s3", "GetObject"),
        ("dynamodb", "UpdateItem"),
    ],
    # A buyer's link: keys, no grant, owner check, own count, the link, count given back.
    "GET /get-link": [
        ("http", "JWKS"),
        ("dynamodb", "UpdateItem"),
        ("s3", "HeadObject"),
        ("dynamodb", "UpdateItem"),
        ("dynamodb", "PutItem"),
        ("dynamodb", "UpdateItem"),
    ],
    # A file request by email: the request, the email, revoked if it failed.
    "POST /requests": [
        ("dynamodb", "PutItem"),
        ("sesv2", "SendEmail"),
        ("dynamodb", "UpdateItem"),
    ],
    # Multipart uploads (issue 25).  A start through a file request: the request, the
    # upload, its record, and the upload aborted if recording failed.
    "POST /upload/multipart": [
        ("dynamodb", "GetItem"),
        ("s3", "ListParts"),  # at the cap: is the oldest upload counted still under way?
        ("s3", "CreateMultipartUpload"),
        ("dynamodb", "UpdateItem"),
        ("s3", "AbortMultipartUpload"),
    ],
    # A completion: the request, the parts (one page: at most 1,000), the join, and the
    # object read when another tab joined it first (or the abort, when over the limit).
    "POST /upload/complete": [
        ("dynamodb", "GetItem"),
        ("s3", "ListParts"),
        ("s3-complete", "CompleteMultipartUpload"),
        ("s3", "HeadObject"),
    ],
    "POST /uploads/complete": [
        ("s3", "ListParts"),
        ("s3-complete", "CompleteMultipartUpload"),
        ("s3", "HeadObject"),
    ],
    # Withdrawing a request: the write, then each upload still open through it aborted.
    "DELETE /requests/{id}": [
        ("dynamodb", "UpdateItem"),
        *[("s3", "AbortMultipartUpload")] * MAX_OPEN_UPLOADS,
    ],
    # The table, then the bucket's probe object, written and read back if missing.
    "GET /health": [
        ("dynamodb", "GetItem"),
        ("s3", "GetObject"),
        ("s3", "PutObject"),
        ("s3", "GetObject"),
    ],
}


def step_seconds(client: str) -> float:
    return JWKS_SECONDS if client == "http" else call_seconds(LIMITS[client])


def worst_case(route: str) -> float:
    return sum(step_seconds(client) for client, _ in ROUTES[route])
