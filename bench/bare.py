"""The least a correct redemption can do, with boto3 directly: the yardstick.

One conditional ``UpdateItem`` that takes a use (token, expiry and uses checked
in the write; the new item returned, since the redemption must learn which
object to deliver), then either a SigV4 presign (redirect) or one ``GetObject``
pinned to the version and ETag (stream).  No audit record, no logging, no
Chalice, no error mapping.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

CONDITION = (
    "attribute_exists(pk) AND token_digest = :digest AND expires_at > :now AND uses < max_uses"
)


@dataclass(eq=False, repr=False)
class BareRedeemer:
    dynamodb: Any
    s3: Any
    table: str
    bucket: str

    def claim(self, token: str) -> dict[str, Any]:
        digest = hashlib.sha256(token.encode("ascii")).hexdigest()
        response = self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": f"link#{token[:16]}"}},
            UpdateExpression="SET uses = uses + :one",
            ConditionExpression=CONDITION,
            ExpressionAttributeValues={
                ":digest": {"S": digest},
                ":now": {"N": str(round(time.time(), 3))},
                ":one": {"N": "1"},
            },
            ReturnValues="ALL_NEW",
        )
        item: dict[str, Any] = response["Attributes"]
        return item

    def redirect(self, token: str) -> str:
        item = self.claim(token)
        params = {
            "Bucket": self.bucket,
            "Key": item["file"]["S"],
            "ResponseContentDisposition": f'attachment; filename="{item["filename"]["S"]}"',
            "ResponseContentType": item["content_type"]["S"],
        }
        if "version_id" in item:
            params["VersionId"] = item["version_id"]["S"]
        url: str = self.s3.generate_presigned_url("get_object", Params=params, ExpiresIn=30)
        return url

    def stream(self, token: str) -> bytes:
        item = self.claim(token)
        params = {"Bucket": self.bucket, "Key": item["file"]["S"], "IfMatch": item["etag"]["S"]}
        if "version_id" in item:
            params["VersionId"] = item["version_id"]["S"]
        body: bytes = self.s3.get_object(**params)["Body"].read()
        return body
