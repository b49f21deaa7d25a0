"""Grants in DynamoDB: which buyer (a JWT subject) may mint links to which file.

Grants live in the links' table (single-table design), one item each, keyed
``pk = "grant#" + JSON [subject, file]`` so no subject or key can collide with
another.  Attributes are named ``grant_*`` so grants never appear in the
``by-file`` index of links; the sparse ``by-subject`` index lists them.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Mapping
from typing import Any

from chalicelib.domain import refusals
from chalicelib.domain.errors import ForbiddenError
from chalicelib.domain.refusals import NOT_GRANTED
from chalicelib.storage import dynamo
from chalicelib.storage.dynamo import ConditionFailed, translated
from chalicelib.storage.stores import Grant, GrantPage

SUBJECT_INDEX = "by-subject"
WHAT = "grant store"


class DynamoGrantStore(dynamo.Table):
    what = WHAT

    def put(self, subject: str, file: str, at: float) -> Grant:
        """Grant (idempotent: granting twice keeps the first grant and its counts)."""
        item = self._update(
            _key(subject, file),
            "SET grant_subject = :s, grant_file = :f,"
            " created_at = if_not_exists(created_at, :now),"
            " minted = if_not_exists(minted, :empty)",
            values={":s": subject, ":f": file, ":now": at, ":empty": {}},
            new=True,
        )
        return _grant(item)

    def delete(self, subject: str, file: str) -> None:
        try:
            with translated(WHAT):
                self._client.delete_item(
                    TableName=self._table,
                    Key=_key(subject, file),
                    ConditionExpression="attribute_exists(pk)",
                )
        except ConditionFailed:
            raise refusals.unknown_grant() from None

    def use(self, subject: str, file: str, day: str, daily_limit: int, retry_after: int) -> None:
        """Count one self-service link against today's allowance, in one conditional write.

        The same request checks that the grant exists and that today's count is
        under the limit, so concurrent requests cannot exceed it.
        """
        key = _key(subject, file)
        try:
            self._update(
                key,
                "SET minted.#day = if_not_exists(minted.#day, :zero) + :one",
                "attribute_exists(pk) AND"
                " (attribute_not_exists(minted.#day) OR minted.#day < :limit)",
                {":zero": 0, ":one": 1, ":limit": daily_limit},
                {"#day": day},
                old=True,
            )
        except ConditionFailed as failed:
            old = self._as_it_was(failed, key)
            if old is None:
                raise ForbiddenError(NOT_GRANTED) from None
            raise refusals.over_daily_limit(daily_limit, retry_after) from None

    def use_own(
        self, subject: str, file: str, day: str, daily_limit: int, retry_after: int
    ) -> None:
        """Count one link to a file the buyer owns: the same allowance, with no grant.

        The counter is an item of its own (``own#``), one attribute per day, created by
        the first count and deleted by the table's TTL a day after its last day.
        """
        try:
            self._update(
                _own_key(subject, file),
                "SET #day = if_not_exists(#day, :zero) + :one, purge_at = :purge",
                "attribute_not_exists(#day) OR #day < :limit",
                {":zero": 0, ":one": 1, ":limit": daily_limit, ":purge": _purge_after(day)},
                {"#day": f"minted_{day}"},
            )
        except ConditionFailed:
            raise refusals.over_daily_limit(daily_limit, retry_after) from None

    def give_back(self, subject: str, file: str, day: str, *, own: bool = False) -> None:
        """Undo one count of ``use``/``use_own`` (the mint it allowed failed)."""
        if own:
            key, path, names = _own_key(subject, file), "#day", {"#day": f"minted_{day}"}
        else:
            key, path, names = _key(subject, file), "minted.#day", {"#day": day}
        try:
            self._update(
                key,
                f"SET {path} = {path} - :one",
                f"{path} > :zero",
                {":one": 1, ":zero": 0},
                names,
            )
        except ConditionFailed:
            return  # nothing counted today: nothing to give back

    def for_subject(self, subject: str, limit: int, cursor: str | None) -> GrantPage:
        items, next_cursor = self._newest_first(
            SUBJECT_INDEX, "grant_subject", subject, limit, cursor
        )
        return GrantPage(grants=[_grant(item) for item in items], cursor=next_cursor)


def _key(subject: str, file: str) -> dynamo.Item:
    return {"pk": {"S": "grant#" + json.dumps([subject, file], ensure_ascii=False)}}


def _own_key(subject: str, file: str) -> dynamo.Item:
    return {"pk": {"S": "own#" + json.dumps([subject, file], ensure_ascii=False)}}


def _purge_after(day: str) -> int:
    # The day after ``day`` (YYYY-MM-DD, UTC) ends: the counter is no longer needed.
    return int(calendar.timegm(time.strptime(day, "%Y-%m-%d"))) + 2 * 86_400


def _grant(item: Mapping[str, Any]) -> Grant:
    return Grant(
        subject=item["grant_subject"], file=item["grant_file"], created_at=item["created_at"]
    )
