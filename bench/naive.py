"""The naive redemption the blog posts show, for comparison only (never in the app).

Read the link (``GetItem``), check uses and expiry in Python, write the new
count back (``UpdateItem``, unconditional), ask S3 whether the file is still
there (``HeadObject``), then presign.  Three calls, and a race: every request
that reads before the first write lands sees a use left.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Refused(Exception):
    """The naive check said no (unknown link, used up or expired)."""


@dataclass(eq=False, repr=False)
class NaiveRedeemer:
    dynamodb: Any
    s3: Any
    table: str
    bucket: str
    clock: Callable[[], float] = time.time

    def redeem(self, token: str) -> str:
        """A presigned URL, or ``Refused``."""
        key = {"pk": {"S": f"link#{token[:16]}"}}
        digest = hashlib.sha256(token.encode("ascii")).hexdigest()
        item = self.dynamodb.get_item(TableName=self.table, Key=key).get("Item")
        now = self.clock()
        if item is None or item["token_digest"]["S"] != digest:
            raise Refused("not found")
        if int(item["uses"]["N"]) >= int(item["max_uses"]["N"]):
            raise Refused("used")
        if int(item["expires_at"]["N"]) <= now:
            raise Refused("expired")
        # The check above and this write are two requests: the race.
        self.dynamodb.update_item(
            TableName=self.table,
            Key=key,
            UpdateExpression="SET uses = uses + :one, last_used_at = :now",
            ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"N": str(round(now, 3))}},
        )
        file_key = item["file"]["S"]
        head = self.s3.head_object(Bucket=self.bucket, Key=file_key)
        url: str = self.s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": file_key,
                "ResponseContentDisposition": f'attachment; filename="{item["filename"]["S"]}"',
                "ResponseContentType": head.get("ContentType", "application/octet-stream"),
            },
            ExpiresIn=30,
        )
        return url
