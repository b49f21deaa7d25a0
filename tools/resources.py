"""The table and the bucket as infra/resources.yaml declares them (with its parameters'
defaults), for the local stand-ins; tests/tooling/test_infra.py compares the two."""

from __future__ import annotations

from typing import Any

UPLOAD_PREFIX = "uploads/"
REQUEST_PREFIX = "requests/"
# The file request form tags each upload so; the service retags it when it confirms it.
PENDING_TAG = {"Key": "onetime-upload", "Value": "pending"}
UPLOAD_EXPIRATION_DAYS = 60
UNCONFIRMED_UPLOAD_DAYS = 1
NONCURRENT_VERSION_DAYS = 31
CORS_MAX_AGE_SECONDS = 600

# The table's indexes: each by its hash key, sorted by created_at, and what it projects.
# by-subject and by-recipient are sparse: only grant items carry grant_subject, and only
# links emailed to someone carry recipient_key.  by-day is the newest links, one partition
# a day.  All hold keys only: their entries never change after the mint, so no later
# write (a claim, a visit, a refund) writes an index, and listings read the items
# themselves (chalicelib/storage/dynamo.py, Table._items).
INDEXES = {
    "by-file": ("file", "KEYS_ONLY"),
    "by-subject": ("grant_subject", "KEYS_ONLY"),
    "by-recipient": ("recipient_key", "KEYS_ONLY"),
    "by-day": ("created_day", "KEYS_ONLY"),
}


def create_table(client: Any, name: str) -> None:
    """The table (keys and indexes), and wait until it exists."""
    keys = ["pk", *(key for key, _ in INDEXES.values())]
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            *({"AttributeName": key, "AttributeType": "S"} for key in keys),
            {"AttributeName": "created_at", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": key, "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": projection},
            }
            for index, (key, projection) in INDEXES.items()
        ],
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})


def bucket_cors(origin: str) -> dict[str, Any]:
    """The bucket's one CORS rule (infra/resources.yaml's): pages from ``origin`` (the
    service's) may POST an upload form with a script and read the answer, and PUT a large
    file's parts and read each one's ETag.  No request header is allowed."""
    return {
        "CORSRules": [
            {
                "ID": "request-uploads-from-the-service",
                "AllowedMethods": ["POST", "PUT"],
                "ExposeHeaders": ["ETag"],
                "AllowedOrigins": [origin],
                "MaxAgeSeconds": CORS_MAX_AGE_SECONDS,
            }
        ]
    }


def bucket_lifecycle() -> dict[str, Any]:
    """The bucket's lifecycle rules, in the S3 API's shape."""
    everything = {"Prefix": ""}
    unconfirmed = {"And": {"Prefix": REQUEST_PREFIX, "Tags": [PENDING_TAG]}}
    rules: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("expire-uploads", {"Prefix": UPLOAD_PREFIX}, _expire(UPLOAD_EXPIRATION_DAYS)),
        (
            "expire-unconfirmed-request-uploads",
            unconfirmed,
            {**_expire(UNCONFIRMED_UPLOAD_DAYS), **_expire_noncurrent(UNCONFIRMED_UPLOAD_DAYS)},
        ),
        ("expire-request-uploads", {"Prefix": REQUEST_PREFIX}, _expire(UPLOAD_EXPIRATION_DAYS)),
        ("expire-noncurrent-versions", everything, _expire_noncurrent(NONCURRENT_VERSION_DAYS)),
        (
            "remove-expired-delete-markers",
            everything,
            {"Expiration": {"ExpiredObjectDeleteMarker": True}},
        ),
        (
            "abort-incomplete-multipart-uploads",
            everything,
            {"AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
        ),
    ]
    return {
        "Rules": [
            {"ID": rule_id, "Status": "Enabled", "Filter": scope, **action}
            for rule_id, scope, action in rules
        ]
    }


def _expire(days: int) -> dict[str, Any]:
    return {"Expiration": {"Days": days}}


def _expire_noncurrent(days: int) -> dict[str, Any]:
    return {"NoncurrentVersionExpiration": {"NoncurrentDays": days}}
