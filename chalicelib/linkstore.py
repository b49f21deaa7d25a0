"""Links in DynamoDB.  The table's item format never leaves this module.

One item per link, keyed ``pk = "link#<id>"``.  A redemption is one
conditional ``UpdateItem`` that checks everything (token, revocation, expiry,
remaining uses) and records the claim in the same write, so two concurrent
redemptions can never both take the last use.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import (
    ConfirmationRequiredError,
    ConflictError,
    InvalidRequestError,
    LinkExpiredError,
    LinkNotFoundError,
    LinkRevokedError,
    LinkUsedUpError,
    UnavailableError,
)
from chalicelib.link import Link, StoredObject, Use
from chalicelib.logs import get_logger

log = get_logger("linkstore")

Item = dict[str, dict[str, Any]]
FILE_INDEX = "by-file"

_CLAIM_CONDITION = (
    "attribute_exists(pk) AND token_digest = :digest AND attribute_not_exists(revoked_at)"
    " AND expires_at > :now AND uses < max_uses"
    # botocore retries a request whose answer was lost with the same claim id: the
    # retry must fail here (and be recognised as ours) rather than take a second use.
    " AND attribute_not_exists(redemptions.#claim)"
)
_CLAIM_UPDATE = "SET uses = uses + :one, redemptions.#claim = :record"
_RELEASE_UPDATE = "SET uses = uses - :one REMOVE redemptions.#claim"


@dataclass(frozen=True)
class Claim:
    """One redemption attempt.  Its id makes the claim's write recognisable and undoable."""

    claim_id: str
    at: float
    client_ip: str = ""
    user_agent: str = ""
    binary: bool = False

    def record(self) -> dict[str, Any]:
        return {
            "M": {
                "at": _num(self.at),
                "ip": {"S": self.client_ip[:64]},
                "ua": {"S": self.user_agent[:512]},
                "binary": {"BOOL": self.binary},
            }
        }


@dataclass(frozen=True)
class Page:
    links: list[Link]
    cursor: str | None


class LinkStore:
    def __init__(self, client: Any, table: str, retention_seconds: int = 30 * 86_400) -> None:
        self._client = client
        self._table = table
        self._retention = retention_seconds

    def create(self, link: Link) -> None:
        item = _to_item(link)
        # DynamoDB's TTL deletes the item some time after this; expiry itself is
        # enforced by the claim's condition, never by the deletion.
        item["purge_at"] = _num(link.expires_at + self._retention)
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
            )
        except (BotoCoreError, ClientError) as exc:
            # A collision of 80-bit random ids is not a realistic outcome; any
            # failure here means nothing was minted and the caller may retry.
            log.warning("mint write failed", extra={"link_id": link.link_id, "error": str(exc)})
            raise UnavailableError("The link could not be saved; try again.") from exc

    def claim(
        self, link_id: str, digest: str, claim: Claim, *, unless_confirm: bool = False
    ) -> Link:
        """Take one use, or raise why not.  Exactly one DynamoDB request on success.

        With ``unless_confirm``, a link minted with ``confirm=true`` is not claimed
        but raises ``ConfirmationRequiredError`` carrying the link, so a browser's
        GET learns "landing page or file?" from the same single request.
        """
        now = claim.at
        condition = _CLAIM_CONDITION
        values = {
            ":digest": {"S": digest},
            ":now": _num(now),
            ":one": {"N": "1"},
            ":record": claim.record(),
        }
        if unless_confirm:
            condition += " AND confirm = :false"
            values[":false"] = {"BOOL": False}
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=_key(link_id),
                UpdateExpression=_CLAIM_UPDATE,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#claim": claim.claim_id},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                self._undo_uncertain_claim(link_id, claim, exc)
                raise UnavailableError("The link service is busy; try again shortly.") from exc
            old = exc.response.get("Item")
            if old is None:
                # DynamoDB returns the old item itself; stand-ins such as dynalite
                # don't, so only there does a refusal cost a second read.
                old = self._read(link_id)
            if old is not None and claim.claim_id in old.get("redemptions", {}).get("M", {}):
                # A retry of our own write, whose first attempt did succeed.
                return _from_item(old)
            link = _redeemable(old, digest, now)
            if unless_confirm and link.confirm:
                raise ConfirmationRequiredError(link) from None
            # The link changed between our write and our read (extended, say):
            # nothing was spent, and trying again will see the new state.
            raise UnavailableError(
                "The link changed while we looked at it; try again.", retry_after=1
            ) from None
        except BotoCoreError as exc:  # timeouts, connection resets
            self._undo_uncertain_claim(link_id, claim, exc)
            raise UnavailableError("The link service is not answering; try again shortly.") from exc
        return _from_item(response["Attributes"])

    def peek(self, link_id: str, digest: str, now: float) -> Link:
        """The link if a redemption would succeed now, else the refusal; changes nothing."""
        return _redeemable(self._read(link_id), digest, now)

    def release(self, link_id: str, claim_id: str) -> bool:
        """Give a claimed use back.  Idempotent: only a recorded claim is undone."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(link_id),
                UpdateExpression=_RELEASE_UPDATE,
                ConditionExpression="attribute_exists(redemptions.#claim)",
                ExpressionAttributeNames={"#claim": claim_id},
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, link_id: str) -> Link:
        item = self._read(link_id)
        if item is None:
            raise LinkNotFoundError(f"There is no link {link_id}.")
        return _from_item(item)

    def change(
        self,
        link_id: str,
        expires_at: int | None = None,
        max_uses: int | None = None,
        note: str | None = None,
    ) -> Link:
        """Extend or shorten, change the use limit (never below uses made), or the note."""
        sets, values = [], {}
        condition = "attribute_exists(pk)"
        if expires_at is not None:
            sets.append("expires_at = :expires, purge_at = :purge")
            values[":expires"] = _num(expires_at)
            values[":purge"] = _num(expires_at + self._retention)
        if max_uses is not None:
            sets.append("max_uses = :max")
            values[":max"] = _num(max_uses)
            # Checked in the write itself: a redemption racing this change
            # cannot slip under the new limit.
            condition += " AND uses <= :max"
        if note is not None:
            sets.append("note = :note")
            values[":note"] = {"S": note}
        if not sets:
            return self.get(link_id)
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=_key(link_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise UnavailableError("The link service is busy; try again shortly.") from exc
            old = exc.response.get("Item") or self._read(link_id)
            if old is None:
                raise LinkNotFoundError(f"There is no link {link_id}.") from None
            uses = int(old["uses"]["N"])
            raise ConflictError(
                f"The link has already been used {uses} time(s); the limit cannot go below that."
            ) from None
        except BotoCoreError as exc:
            raise UnavailableError("The link service is not answering; try again.") from exc
        return _from_item(response["Attributes"])

    def revoke(self, link_id: str, at: float) -> Link:
        """Withdraw a link for good.  Revoking again keeps the first time."""
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=_key(link_id),
                UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :now)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":now": _num(at)},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                raise LinkNotFoundError(f"There is no link {link_id}.") from None
            raise UnavailableError("The link service is busy; try again shortly.") from exc
        except BotoCoreError as exc:
            raise UnavailableError("The link service is not answering; try again.") from exc
        return _from_item(response["Attributes"])

    def for_file(self, key: str, limit: int, cursor: str | None) -> Page:
        """Links to one file, newest first, from the ``by-file`` index (never a scan)."""
        items, next_cursor = newest_first(
            self._client, self._table, FILE_INDEX, "file", key, limit, cursor
        )
        return Page(links=[_from_item(item) for item in items], cursor=next_cursor)

    def ping(self) -> None:
        """Raise unless the table answers a read."""
        self._client.get_item(TableName=self._table, Key=_key("health-probe"))

    def _read(self, link_id: str) -> Item | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key=_key(link_id), ConsistentRead=True
            )
        except (BotoCoreError, ClientError) as exc:
            raise UnavailableError("The link service is busy; try again shortly.") from exc
        item: Item | None = response.get("Item")
        return item

    def _undo_uncertain_claim(self, link_id: str, claim: Claim, cause: Exception) -> None:
        # A timeout or 5xx may hide a write that DynamoDB did apply.  The claim's
        # record says whether it did; undo it so the customer keeps the use.
        try:
            if self.release(link_id, claim.claim_id):
                log.warning("undid a claim whose answer was lost", extra={"link_id": link_id})
        except (BotoCoreError, ClientError) as exc:
            log.error(
                "USE LOST? could not check for a half-done claim: the use may be spent",
                extra={
                    "link_id": link_id,
                    "claim_id": claim.claim_id,
                    "error": str(exc),
                    "cause": str(cause),
                },
            )


def _redeemable(item: Item | None, digest: str, now: float) -> Link:
    """The link, if a redemption could take a use now; otherwise raise why not."""
    if item is None or not hmac.compare_digest(item["token_digest"]["S"], digest):
        raise LinkNotFoundError(
            "This link does not exist. Check it was copied whole, or ask the sender for a new one."
        )
    link = _from_item(item)
    if link.revoked_at is not None:
        raise LinkRevokedError(
            "This link was withdrawn by its sender. Ask them for a new one.", link.revoked_at
        )
    if link.uses >= link.max_uses:
        times = "once" if link.uses == 1 else f"{link.uses} times"
        raise LinkUsedUpError(
            f"This link has already been used ({times}). Ask the sender for a new one.",
            link.uses,
            link.last_used_at,
        )
    if link.expires_at <= now:
        raise LinkExpiredError(
            "This link has expired. Ask the sender for a new one.", link.expires_at
        )
    return link


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _key(link_id: str) -> Item:
    return {"pk": {"S": f"link#{link_id}"}}


def _num(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 3)) if isinstance(value, float) else str(value)}


def _to_item(link: Link) -> Item:
    obj = link.object
    item: Item = {
        "pk": {"S": f"link#{link.link_id}"},
        "link_id": {"S": link.link_id},
        "token_digest": {"S": link.token_digest},
        "file": {"S": obj.key},
        "size": _num(obj.size),
        "content_type": {"S": obj.content_type},
        "etag": {"S": obj.etag},
        "filename": {"S": link.filename},
        "max_uses": _num(link.max_uses),
        "uses": _num(link.uses),
        "created_at": _num(link.created_at),
        "expires_at": _num(link.expires_at),
        "confirm": {"BOOL": link.confirm},
        "note": {"S": link.note},
        "redemptions": {"M": {}},
    }
    if obj.version_id:
        item["version_id"] = {"S": obj.version_id}
    return item


def _from_item(item: Mapping[str, Mapping[str, Any]]) -> Link:
    def opt_num(name: str) -> float | None:
        return float(item[name]["N"]) if name in item else None

    version = item.get("version_id")
    return Link(
        link_id=item["link_id"]["S"],
        token_digest=item["token_digest"]["S"],
        object=StoredObject(
            key=item["file"]["S"],
            size=int(item["size"]["N"]),
            content_type=item["content_type"]["S"],
            etag=item["etag"]["S"],
            version_id=version["S"] if version else None,
        ),
        filename=item["filename"]["S"],
        max_uses=int(item["max_uses"]["N"]),
        uses=int(item["uses"]["N"]),
        created_at=float(item["created_at"]["N"]),
        expires_at=int(item["expires_at"]["N"]),
        confirm=bool(item["confirm"]["BOOL"]),
        revoked_at=opt_num("revoked_at"),
        note=item.get("note", {}).get("S", ""),
        uses_log=tuple(
            sorted(
                (_use(record["M"]) for record in item.get("redemptions", {}).get("M", {}).values()),
                key=lambda use: use.at,
            )
        ),
    )


def _use(record: Mapping[str, Mapping[str, Any]]) -> Use:
    return Use(
        at=float(record["at"]["N"]),
        client_ip=record.get("ip", {}).get("S", ""),
        user_agent=record.get("ua", {}).get("S", ""),
        binary=bool(record.get("binary", {}).get("BOOL", False)),
    )


def newest_first(
    client: Any, table: str, index: str, attribute: str, value: str, limit: int, cursor: str | None
) -> tuple[list[Item], str | None]:
    """One page of an index partition (range key ``created_at``), newest first, and the
    opaque cursor of the next page."""
    params: dict[str, Any] = {
        "TableName": table,
        "IndexName": index,
        "KeyConditionExpression": "#attribute = :value",
        "ExpressionAttributeNames": {"#attribute": attribute},
        "ExpressionAttributeValues": {":value": {"S": value}},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if cursor:
        params["ExclusiveStartKey"] = decode_cursor(
            cursor, {"pk", attribute, "created_at"}, attribute, value
        )
    try:
        response = client.query(**params)
    except (BotoCoreError, ClientError) as exc:
        raise UnavailableError("The link service is busy; try again shortly.") from exc
    last = response.get("LastEvaluatedKey")
    return response.get("Items", []), encode_cursor(last) if last else None


def encode_cursor(key: Mapping[str, Any]) -> str:
    """An index position (DynamoDB's LastEvaluatedKey) as an opaque URL-safe string."""
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, names: set[str], partition: str, value: str) -> Item:
    """The position a cursor names, if it has exactly these attributes and stays in
    the partition being listed; anything else is a bad request."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
        pk, created = key["pk"], key["created_at"]
        valid = (
            isinstance(key, dict)
            and set(key) == names
            and key[partition] == {"S": value}
            and set(pk) == {"S"}
            and isinstance(pk["S"], str)
            and pk["S"].startswith(("link#", "grant#"))
            and set(created) == {"N"}
            and isinstance(created["N"], str)
            # the numbers this service writes: epoch seconds with at most 3 decimals
            and re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,3})?", created["N"]) is not None
        )
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        valid = False
    if not valid:
        raise InvalidRequestError("invalid_cursor", "The cursor is not one this service gave out.")
    result: Item = key
    return result
