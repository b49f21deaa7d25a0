"""Grants: operators say which buyer may mint links to which file; buyers then mint
their own links, within a daily allowance, or to files they own."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.clock import Clock
from chalicelib.domain.errors import (
    ForbiddenError,
    InvalidRequestError,
    ObjectNotFoundError,
    UnavailableError,
)
from chalicelib.domain.objectkeys import validate_key
from chalicelib.domain.refusals import NOT_GRANTED
from chalicelib.domain.text import has_control_characters
from chalicelib.logs import annotate, get_logger
from chalicelib.services.links import checked_limit
from chalicelib.services.minting import MintedLink, Minting, MintRequest
from chalicelib.storage.stores import Grant, GrantPage, GrantStore, ObjectStore

log = get_logger("grants")


@dataclass(frozen=True)
class GrantRequest:
    """A buyer (JWT subject) and a file key.  Its fields are the JSON API's grant fields."""

    subject: str
    file: str

    def __post_init__(self) -> None:
        for name in ("subject", "file"):
            value = getattr(self, name)
            if not value or len(value) > 1024 or has_control_characters(value):
                raise InvalidRequestError(f"invalid_{name}", f"{name} must be a non-empty line.")


@dataclass(kw_only=True, eq=False, repr=False)
class Granting:
    grants: GrantStore | None
    clock: Clock

    def grant(self, request: GrantRequest) -> Grant:
        return self._required().put(request.subject, request.file, self.clock())

    def withdraw(self, request: GrantRequest) -> None:
        self._required().delete(request.subject, request.file)

    def for_subject(self, subject: str | None, limit: int, cursor: str | None) -> GrantPage:
        checked = GrantRequest(subject or "", "-").subject
        return self._required().for_subject(checked, checked_limit(limit), cursor)

    def _required(self) -> GrantStore:
        if self.grants is None:
            raise InvalidRequestError("grants_disabled", "Grants are not enabled here.")
        return self.grants


@dataclass(kw_only=True, eq=False, repr=False)
class BuyerMinting:
    """A signed-in buyer's own link: only to a file they were granted (within today's
    allowance) or that they own (``x-amz-meta-owner``)."""

    minting: Minting
    grants: GrantStore | None
    objects: ObjectStore
    clock: Clock
    key_prefix: str
    daily_links: int

    def mint(self, subject: str, request: MintRequest) -> MintedLink:
        """Counted against the day's allowance first (one conditional write), so concurrent
        requests cannot exceed it; a mint that then fails gives its count back."""
        grants = self.grants
        if grants is None:
            raise ForbiddenError(NOT_GRANTED)
        key = validate_key(request.file, self.key_prefix)
        now = self.clock()
        day = time.strftime("%Y-%m-%d", time.gmtime(now))
        retry_after = (int(now) // 86_400 + 1) * 86_400 - int(now)  # until UTC midnight
        annotate(buyer=subject)
        try:
            grants.use(subject, key, day, self.daily_links, retry_after)
        except ForbiddenError:
            # No grant: perhaps the buyer owns the file.  A missing file gets the
            # same answer as a stranger's, so nobody can probe which keys exist.
            try:
                obj = self.objects.describe(key)
            except ObjectNotFoundError:
                raise ForbiddenError(NOT_GRANTED) from None
            if obj.owner != subject:
                raise
            # Owners are bound by the same allowance, counted without a grant.
            grants.use_own(subject, key, day, self.daily_links, retry_after)
            return self._counted(lambda: self.minting.mint(request, obj), subject, key, day, True)
        return self._counted(lambda: self.minting.mint(request), subject, key, day, False)

    def _counted(
        self, mint: Callable[[], MintedLink], subject: str, key: str, day: str, own: bool
    ) -> MintedLink:
        assert self.grants is not None
        try:
            return mint()
        except Exception:
            try:
                self.grants.give_back(subject, key, day, own=own)
            except UnavailableError:
                log.warning("could not give back a buyer's count after a failed mint")
            raise
