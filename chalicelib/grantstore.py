"""Grants: which buyer (a JWT subject) may mint links to which file.

Grants live in the links' table (single-table design), one item each, keyed
``pk = "grant#" + JSON [subject, file]`` so no subject or key can collide with
another.  Attributes are named ``grant_*`` so grants never appear in the
``by-file`` index of links; the sparse ``by-subject`` index lists them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import (
    ForbiddenError,
    InvalidRequestError,
    LinkNotFoundError,
    RateLimitedError,
    UnavailableError,
)
from chalicelib.linkstore import newest_first
from chalicelib.text import has_control_characters

SUBJECT_INDEX = "by-subject"
NOT_GRANTED = "You have no purchase that includes this file. Contact the shop if you think you do."


@dataclass(frozen=True)
class Grant:
    subject: str
    file: str
    created_at: float


@dataclass(frozen=True)
class GrantPage:
    grants: list[Grant]
    cursor: str | None


class GrantStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def put(self, subject: str, file: str, at: float) -> Grant:
        """Grant (idempotent: granting twice keeps the first grant and its counts)."""
        response = self._call(
            "update_item",
            TableName=self._table,
            Key=_key(subject, file),
            UpdateExpression=(
                "SET grant_subject = :s, grant_file = :f,"
                " created_at = if_not_exists(created_at, :now),"
                " minted = if_not_exists(minted, :empty)"
            ),
            ExpressionAttributeValues={
                ":s": {"S": subject},
                ":f": {"S": file},
                ":now": {"N": repr(round(at, 3))},
                ":empty": {"M": {}},
            },
            ReturnValues="ALL_NEW",
        )
        return _grant(response["Attributes"])

    def delete(self, subject: str, file: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=_key(subject, file),
                ConditionExpression="attribute_exists(pk)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise LinkNotFoundError("There is no such grant.") from None
            raise UnavailableError("The grant store is busy; try again shortly.") from exc
        except BotoCoreError as exc:
            raise UnavailableError("The grant store is not answering; try again.") from exc

    def use(self, subject: str, file: str, day: str, daily_limit: int, retry_after: int) -> None:
        """Count one self-service link against today's allowance, in one conditional write.

        The same request checks that the grant exists and that today's count is
        under the limit, so concurrent requests cannot exceed it.
        """
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(subject, file),
                UpdateExpression="SET minted.#day = if_not_exists(minted.#day, :zero) + :one",
                ConditionExpression=(
                    "attribute_exists(pk) AND"
                    " (attribute_not_exists(minted.#day) OR minted.#day < :limit)"
                ),
                ExpressionAttributeNames={"#day": day},
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                    ":limit": {"N": str(daily_limit)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise UnavailableError("The grant store is busy; try again shortly.") from exc
            old = exc.response.get("Item") or self._read(subject, file)
            if old is None:
                raise ForbiddenError(NOT_GRANTED) from None
            raise RateLimitedError(
                f"You have already made {daily_limit} links to this file today; "
                "try again tomorrow or contact the shop.",
                retry_after,
            ) from None
        except BotoCoreError as exc:
            raise UnavailableError("The grant store is not answering; try again.") from exc

    def for_subject(self, subject: str, limit: int, cursor: str | None) -> GrantPage:
        items, next_cursor = newest_first(
            self._client, self._table, SUBJECT_INDEX, "grant_subject", subject, limit, cursor
        )
        return GrantPage(grants=[_grant(item) for item in items], cursor=next_cursor)

    def _read(self, subject: str, file: str) -> dict[str, Any] | None:
        response = self._call(
            "get_item", TableName=self._table, Key=_key(subject, file), ConsistentRead=True
        )
        item: dict[str, Any] | None = response.get("Item")
        return item

    def _call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self._client, operation)(**params)
        except (BotoCoreError, ClientError) as exc:
            raise UnavailableError("The grant store is busy; try again shortly.") from exc


def check_grant(subject: str | None, file: str | None) -> tuple[str, str]:
    for name, value in (("subject", subject), ("file", file)):
        if not value or len(value) > 1024 or has_control_characters(value):
            raise InvalidRequestError(f"invalid_{name}", f"{name} must be a non-empty line.")
    assert subject is not None and file is not None
    return subject, file


def _key(subject: str, file: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": "grant#" + json.dumps([subject, file], ensure_ascii=False)}}


def _grant(item: dict[str, Any]) -> Grant:
    return Grant(
        subject=item["grant_subject"]["S"],
        file=item["grant_file"]["S"],
        created_at=float(item["created_at"]["N"]),
    )
