"""Grants in DynamoDB: which buyer (a JWT subject) may mint links to which file.

Grants live in the links' table (single-table design), one item each, keyed
``pk = "grant#" + JSON [subject, file]`` so no subject or key can collide with
another.  Attributes are named ``grant_*`` so grants never appear in the
``by-file`` index of links; the sparse ``by-subject`` index lists them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalicelib import dynamo
from chalicelib.dynamo import ConditionFailed, translated
from chalicelib.errors import ForbiddenError, LinkNotFoundError, RateLimitedError
from chalicelib.refusals import NOT_GRANTED
from chalicelib.stores import Grant, GrantPage

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

SUBJECT_INDEX = "by-subject"
WHAT = "grant store"


class DynamoGrantStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def put(self, subject: str, file: str, at: float) -> Grant:
        """Grant (idempotent: granting twice keeps the first grant and its counts)."""
        with translated(WHAT):
            response = self._client.update_item(
                TableName=self._table,
                Key=_key(subject, file),
                UpdateExpression=(
                    "SET grant_subject = :s, grant_file = :f,"
                    " created_at = if_not_exists(created_at, :now),"
                    " minted = if_not_exists(minted, :empty)"
                ),
                ExpressionAttributeValues=dynamo.to_item(
                    {":s": subject, ":f": file, ":now": at, ":empty": {}}
                ),
                ReturnValues="ALL_NEW",
            )
        return _grant(dynamo.from_item(response["Attributes"]))

    def delete(self, subject: str, file: str) -> None:
        try:
            with translated(WHAT):
                self._client.delete_item(
                    TableName=self._table,
                    Key=_key(subject, file),
                    ConditionExpression="attribute_exists(pk)",
                )
        except ConditionFailed:
            raise LinkNotFoundError("There is no such grant.") from None

    def use(self, subject: str, file: str, day: str, daily_limit: int, retry_after: int) -> None:
        """Count one self-service link against today's allowance, in one conditional write.

        The same request checks that the grant exists and that today's count is
        under the limit, so concurrent requests cannot exceed it.
        """
        try:
            with translated(WHAT):
                self._client.update_item(
                    TableName=self._table,
                    Key=_key(subject, file),
                    UpdateExpression="SET minted.#day = if_not_exists(minted.#day, :zero) + :one",
                    ConditionExpression=(
                        "attribute_exists(pk) AND"
                        " (attribute_not_exists(minted.#day) OR minted.#day < :limit)"
                    ),
                    ExpressionAttributeNames={"#day": day},
                    ExpressionAttributeValues=dynamo.to_item(
                        {":zero": 0, ":one": 1, ":limit": daily_limit}
                    ),
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ConditionFailed as failed:
            old = failed.old or self._read(subject, file)
            if old is None:
                raise ForbiddenError(NOT_GRANTED) from None
            raise RateLimitedError(
                f"You have already made {daily_limit} links to this file today; "
                "try again tomorrow or contact the shop.",
                retry_after,
            ) from None

    def for_subject(self, subject: str, limit: int, cursor: str | None) -> GrantPage:
        items, next_cursor = dynamo.newest_first(
            self._client, self._table, SUBJECT_INDEX, "grant_subject", subject, limit, cursor
        )
        return GrantPage(grants=[_grant(item) for item in items], cursor=next_cursor)

    def _read(self, subject: str, file: str) -> dict[str, Any] | None:
        with translated(WHAT):
            response = self._client.get_item(
                TableName=self._table, Key=_key(subject, file), ConsistentRead=True
            )
        item = response.get("Item")
        return dynamo.from_item(item) if item else None


def _key(subject: str, file: str) -> dynamo.Item:
    return {"pk": {"S": "grant#" + json.dumps([subject, file], ensure_ascii=False)}}


def _grant(item: Mapping[str, Any]) -> Grant:
    return Grant(
        subject=item["grant_subject"], file=item["grant_file"], created_at=item["created_at"]
    )
