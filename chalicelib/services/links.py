"""Operators' view of links: inspect, change, revoke, list the newest, by file or by
recipient."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.clock import Clock
from chalicelib.domain.errors import InvalidRequestError, LinkNotFoundError
from chalicelib.domain.link import Changes, Link
from chalicelib.domain.objectkeys import check_length
from chalicelib.domain.tokens import is_link_id
from chalicelib.logs import annotate
from chalicelib.mail.mailer import check_address
from chalicelib.services.minting import MAX_TTL, check_note, check_ttl, check_uses
from chalicelib.storage.stores import LinkStore, Page

LIST_LIMIT = 25
MAX_LIST_LIMIT = 100


@dataclass(frozen=True)
class LinkChange:
    """What an operator may change: expiry (seconds from now), use limit, note."""

    ttl: int | None = None
    max_uses: int | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if self.ttl is not None:
            check_ttl(self.ttl)
        if self.max_uses is not None:
            check_uses("max_uses", self.max_uses)
        if self.note is not None:
            check_note(self.note)


@dataclass(frozen=True)
class RefundRequest:
    """Which use to give back: a redemption's id (from the link's state), or any one."""

    redemption: str | None = None

    def __post_init__(self) -> None:
        if self.redemption is not None and not re.fullmatch(r"[0-9a-f]{16}", self.redemption):
            raise InvalidRequestError(
                "invalid_redemption", "redemption must be the id of one of the link's redemptions."
            )


@dataclass(kw_only=True, eq=False, repr=False)
class LinkAdmin:
    links: LinkStore
    clock: Clock
    # How far back the newest links go: a link stays in the table until its expiry (at
    # most MAX_TTL after it was made, unless extended) plus the retention.
    retention_seconds: int = 0

    def describe(self, link_id: str) -> Link:
        return self.links.get(checked_id(link_id))

    def change(self, link_id: str, change: LinkChange) -> Link:
        expires_at = None if change.ttl is None else int(self.clock()) + change.ttl
        changes = Changes(expires_at, change.max_uses, change.note)
        return self.links.change(checked_id(link_id), changes)

    def refund(self, link_id: str, request: RefundRequest) -> Link:
        """Give one use back (of the named redemption, if one is named)."""
        annotate(link_id=link_id, outcome="refunded")
        return self.links.refund(checked_id(link_id), self.clock(), request.redemption)

    def unlock(self, link_id: str) -> Link:
        """Let a link locked by wrong answers take answers again (the guesses stay on
        record)."""
        return self.links.unlock(checked_id(link_id), self.clock())

    def revoke(self, link_id: str) -> Link:
        return self.links.revoke(checked_id(link_id), self.clock())

    def newest(self, limit: int, cursor: str | None) -> Page:
        """Every link made since the oldest one the table can still hold, newest first."""
        now = self.clock()
        return self.links.newest(
            now, now - (MAX_TTL + self.retention_seconds), checked_limit(limit), cursor
        )

    def for_file(self, key: str, limit: int, cursor: str | None) -> Page:
        if not key:
            raise InvalidRequestError(
                "invalid_file", "file must name an object; leave it out for the newest links."
            )
        check_length(key)
        return self.links.for_file(key, checked_limit(limit), cursor)

    def for_recipient(self, address: str, limit: int, cursor: str | None) -> Page:
        check_address("email", address)
        return self.links.for_recipient(address, checked_limit(limit), cursor)


def checked_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidRequestError("invalid_limit", f"limit must be between 1 and {MAX_LIST_LIMIT}.")
    return limit


def checked_id(link_id: str) -> str:
    if not is_link_id(link_id):
        raise LinkNotFoundError(f"There is no link {link_id!r}.")
    return link_id
