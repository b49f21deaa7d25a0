"""DynamoDB plumbing the stores share: the item format, failures, and paged index reads.

The stores speak Python values; this module turns them into DynamoDB's typed
attribute values and back with boto3's own ``TypeSerializer``/``TypeDeserializer``
(importing them costs about 0.5 ms next to boto3, measured with ``-X importtime``),
and turns botocore's exceptions into the service's errors in one place.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import InvalidRequestError, UnavailableError
from chalicelib.storage.failures import error_code

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

# An item as DynamoDB's API carries it: attribute name -> typed value ({"S": ...}).
Item = dict[str, Any]

# BatchGetItem may leave keys unprocessed (throttling); asked again at most this often.
_BATCH_ATTEMPTS = 4

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class ConditionFailed(Exception):
    """A conditional write found the item otherwise.  ``old`` is the item as it was, when
    DynamoDB returned it (``ReturnValuesOnConditionCheckFailure``; dynalite never does)."""

    def __init__(self, old: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.old = old


def _plain(value: Any) -> Any:
    # Floats are stored rounded to milliseconds: epoch times are the only floats here.
    if isinstance(value, float):
        return Decimal(repr(round(value, 3)))
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(inner) for inner in value]
    return value


def _native(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _native(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_native(inner) for inner in value]
    return value


def to_item(values: Mapping[str, Any]) -> Item:
    """Python values (str, int, float, bool, dict, list) as DynamoDB attribute values."""
    return {name: attribute(value) for name, value in values.items()}


def attribute(value: Any) -> dict[str, Any]:
    # The types this service stores, typed directly: every request pays for this, and
    # boto3's serializer (kept for the rest) costs several times as much per value.
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": str(_plain(value))}
    if isinstance(value, dict):
        return {"M": {key: attribute(inner) for key, inner in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [attribute(inner) for inner in value]}
    return dict(_serializer.serialize(_plain(value)))


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item's attributes as Python values; numbers come back as int or float."""
    return {name: value_of(typed) for name, typed in item.items()}


def value_of(typed: Mapping[str, Any]) -> Any:
    """One attribute value as a Python value (the inverse of ``attribute``)."""
    ((kind, value),) = typed.items()
    if kind == "S" or kind == "BOOL":
        return value
    if kind == "N":
        return _native(Decimal(value))
    if kind == "M":
        return {key: value_of(inner) for key, inner in value.items()}
    if kind == "L":
        return [value_of(inner) for inner in value]
    return _native(_deserializer.deserialize(typed))  # type: ignore[arg-type]


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Run one DynamoDB request: a failed condition becomes ``ConditionFailed``, every
    other failure ``UnavailableError`` (nothing was changed that the caller can rely on)."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            old: Any = exc.response.get("Item")
            raise ConditionFailed(from_item(old) if old else None) from None
        raise UnavailableError(f"The {what} is busy; try again shortly.") from exc
    except BotoCoreError as exc:  # timeouts, connection resets
        raise UnavailableError(f"The {what} is not answering; try again shortly.") from exc


class Table:
    """A store's handle on the service's one table (single-table design): the client, the
    table's name, how long DynamoDB's TTL keeps an item past its end, and the requests
    every store makes in the same way.  Each store names itself in ``what``, for its
    errors, and keeps its own keys and item format."""

    what = "table"

    def __init__(
        self, client: DynamoDBClient, table: str, retention_seconds: int = 30 * 86_400
    ) -> None:
        self._client = client
        self._table = table
        self._retention = retention_seconds

    def _read(self, key: Item) -> dict[str, Any] | None:
        """The item under ``key`` as Python values (a consistent read), or None."""
        with translated(self.what):
            response = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        item = response.get("Item")
        return from_item(item) if item else None

    def _put(
        self,
        item: Item,
        condition: str = "attribute_not_exists(pk)",
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """One conditional ``PutItem``; by default it only creates.  ``ConditionFailed``
        when the condition fails."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "Item": item,
            "ConditionExpression": condition,
        }
        if values:
            params["ExpressionAttributeValues"] = to_item(values)
        with translated(self.what):
            self._client.put_item(**params)

    def _update(
        self,
        key: Item,
        update: str,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
        *,
        new: bool = False,
        old: bool = False,
        only_updated: bool = False,
    ) -> dict[str, Any]:
        """One ``UpdateItem`` (``values`` are Python values).  With ``new``, the item as it
        is after, as Python values (else nothing: {}); with ``only_updated`` too, only the
        attributes the update names.  ``ConditionFailed`` when the condition fails,
        carrying the item as it was if ``old`` asked DynamoDB for it."""
        params: dict[str, Any] = {"TableName": self._table, "Key": key, "UpdateExpression": update}
        if condition is not None:
            params["ConditionExpression"] = condition
        if names:
            params["ExpressionAttributeNames"] = dict(names)
        if values:
            params["ExpressionAttributeValues"] = to_item(values)
        if new:
            params["ReturnValues"] = "UPDATED_NEW" if only_updated else "ALL_NEW"
        if old:
            params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        with translated(self.what):
            response = self._client.update_item(**params)
        return from_item(response["Attributes"]) if new else {}

    def _as_it_was(self, failed: ConditionFailed, key: Item) -> dict[str, Any] | None:
        """The item a failed condition met: DynamoDB returns it; stand-ins such as
        dynalite don't, so only there does a refusal cost a second read."""
        return failed.old if failed.old is not None else self._read(key)

    def _found(self, key: Item, missing: Exception) -> dict[str, Any]:
        """The item under ``key`` (a consistent read); ``missing`` when there is none."""
        item = self._read(key)
        if item is None:
            raise missing
        return item

    def _withdraw(self, key: Item, at: float, missing: Exception) -> dict[str, Any]:
        """Mark the item revoked at ``at`` (revoking again keeps the first time); the item
        as it is after, or ``missing`` when there is no such item.  One ``UpdateItem``."""
        try:
            return self._update(
                key,
                "SET revoked_at = if_not_exists(revoked_at, :now)",
                "attribute_exists(pk)",
                {":now": at},
                new=True,
            )
        except ConditionFailed:
            raise missing from None

    def _newest_first(
        self, index: str, attribute_name: str, value: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of an index partition (range key ``created_at``), newest first, and the
        opaque cursor of the next page.  The indexes hold keys only, so that no write to an
        item rewrites its index entries (a claim writes 1 WCU, not 2 or 3): the page's
        items are then read in one ``BatchGetItem``."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#attribute = :value",
            "ExpressionAttributeNames": {"#attribute": attribute_name},
            "ExpressionAttributeValues": {":value": {"S": value}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            params["ExclusiveStartKey"] = decode_cursor(
                cursor, {"pk", attribute_name, "created_at"}, attribute_name, value
            )
        with translated("link service"):  # every store's listing says so, as it always has
            response = self._client.query(**params)
        last = response.get("LastEvaluatedKey")
        keys = [{"pk": dict(item)["pk"]} for item in response.get("Items", [])]
        return self._items(keys), encode_cursor(last) if last else None

    def _items(self, keys: list[Item]) -> list[dict[str, Any]]:
        """The items under ``keys`` (at most 100), in their order, as Python values: one
        ``BatchGetItem``, asked again for what it leaves unprocessed (throttling).  An item
        deleted since its key was read is left out."""
        found: dict[str, dict[str, Any]] = {}
        pending: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(_BATCH_ATTEMPTS):
            if not keys or not pending:
                break
            with translated(self.what):
                response = self._client.batch_get_item(RequestItems=pending)
            for item in response.get("Responses", {}).get(self._table, []):
                found[item["pk"]["S"]] = from_item(item)
            pending = dict(response.get("UnprocessedKeys") or {})
        else:
            if pending:
                raise UnavailableError(f"The {self.what} is busy; try again shortly.")
        return [found[key["pk"]["S"]] for key in keys if key["pk"]["S"] in found]


def encode_cursor(key: Mapping[str, Any]) -> str:
    """An index position (DynamoDB's LastEvaluatedKey) as an opaque URL-safe string."""
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, names: set[str], partition: str, value: str) -> Item:
    """The position a cursor names, if it has exactly these attributes and stays in
    the partition being listed; anything else is a bad request."""
    return checked_key(decoded_cursor(cursor), names, partition, value)


def decoded_cursor(cursor: str) -> Any:
    """What ``encode_cursor`` encoded, unchecked; a bad request if it is not JSON."""
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, RecursionError):
        raise bad_cursor() from None


def checked_key(key: Any, names: set[str], partition: str, value: str) -> Item:
    """``key`` if it is an index position with exactly these attributes, in the partition
    ``partition = value``, as this service writes them; else a bad request."""
    try:
        pk, created = key["pk"], key["created_at"]
        valid = (
            isinstance(key, dict)
            and set(key) == names
            and key[partition] == {"S": value}
            and set(pk) == {"S"}
            and isinstance(pk["S"], str)
            and pk["S"].startswith(("link#", "grant#", "request#"))
            and set(created) == {"N"}
            and isinstance(created["N"], str)
            # the numbers this service writes: epoch seconds with at most 3 decimals
            and re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,3})?", created["N"]) is not None
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        valid = False
    if not valid:
        raise bad_cursor()
    result: Item = key
    return result


def bad_cursor() -> InvalidRequestError:
    return InvalidRequestError("invalid_cursor", "The cursor is not one this service gave out.")
