"""Links in DynamoDB.  The table's item format never leaves this module.

One item per link, keyed ``pk = "link#<id>"``.  A redemption is one
conditional ``UpdateItem`` that checks everything (token, revocation, expiry,
remaining uses) and records the claim in the same write, so two concurrent
redemptions can never both take the last use.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import re
from collections.abc import Mapping
from typing import Any

from chalicelib.domain import refusals
from chalicelib.domain.errors import RecipientCheckError, SessionRefundedError, UnavailableError
from chalicelib.domain.link import (
    HISTORY_KEPT,
    MAX_WRONG_ANSWERS,
    REDELIVERY_CAP,
    VISIT_KINDS,
    BundledFile,
    Changes,
    Claim,
    Guess,
    Link,
    Redelivery,
    Refund,
    StoredObject,
    Use,
    Visit,
    guess_of,
    recipient_key,
)
from chalicelib.logs import get_logger, metric
from chalicelib.storage import dynamo
from chalicelib.storage.dynamo import ConditionFailed, translated
from chalicelib.storage.stores import DAYS_PER_PAGE, ClaimOutcome, Page, Viewed, created_day

log = get_logger("linkstore")

FILE_INDEX = "by-file"
# Sparse: only links emailed to someone carry ``recipient_key`` (their address in lower case).
RECIPIENT_INDEX = "by-recipient"
# Keys only, one partition per day of creation (``created_day``), sorted by ``created_at``:
# the newest links.  Its keys are written at mint and never changed, so no later write to
# a link (a claim, a visit, a refund) writes this index at all (docs/COSTS.md).
DAY_INDEX = "by-day"
_DAY_KEY = {"pk", "created_day", "created_at"}
WHAT = "link service"

# ``token_digest = :digest`` also fails on a missing item, so no ``attribute_exists(pk)``.
_CLAIM_CONDITION = (
    "token_digest = :digest AND attribute_not_exists(revoked_at)"
    " AND expires_at > :now AND uses < max_uses"
    # botocore retries a request whose answer was lost with the same claim id: the
    # retry must fail here (and be recognised as ours) rather than take a second use.
    " AND attribute_not_exists(redemptions.#claim)"
)
# A link with a recipient check takes a use only with the right answer, and never once
# locked: the check is part of the claim's own conditional write.  Which clause depends on
# whether the request carries an answer, so a link without a check keeps a short condition
# (an "A OR (B AND C)" clause costs dynalite, whose parser is slow, about 1 ms a claim).
_NO_CHECK = " AND attribute_not_exists(answer_digest)"
_RIGHT_ANSWER = " AND answer_digest = :answer AND wrong < :max"
# What a delivery needs of the link, and no more: a successful claim asks DynamoDB for the
# attributes it updated (``UPDATED_NEW``), and names these as updated by setting each to
# itself.  The answer then stays the same size however long the link's history grows
# (``ALL_NEW`` sent back, and botocore parsed, every record: 2.3x the CPU at 99 uses).
# ``file`` and ``size`` are DynamoDB reserved words.  ``version_id`` is absent from an
# unversioned object's link: it is written as "" once, rather than failing the claim.
_DELIVERY = (
    "link_id", "token_digest", "#file", "#size", "content_type", "etag", "filename",
    "max_uses", "created_at", "expires_at", "confirm",
)  # fmt: skip
_CLAIM_UPDATE = (
    "SET uses = uses + :one, redemptions.#claim = :record, "
    + ", ".join(f"{name} = {name}" for name in _DELIVERY)
    + ", version_id = if_not_exists(version_id, :unversioned)"
)
_DELIVERY_NAMES = {"#file": "file", "#size": "size"}
# A bundle's claim also answers with its file list (its token says it is one): still one
# write, and a single file's claim is unchanged.
_BUNDLE_CLAIM_UPDATE = _CLAIM_UPDATE + ", files = files"
_RELEASE_UPDATE = "SET uses = uses - :one REMOVE redemptions.#claim"
# A write that lost a race on a history's generation tries again this many times in all
# (each loss means another write landed, so a few always suffice).
_HISTORY_ATTEMPTS = 4


@dataclasses.dataclass(frozen=True)
class _History:
    """One bounded history on a link's item (wrong answers, unlocks, refunds).

    Records go to ``log``, a list of at most HISTORY_KEPT.  When it is full, the next
    record moves it to ``prev`` and starts a new ``log``: the item holds the newest
    HISTORY_KEPT to 2 * HISTORY_KEPT records, and ``total`` counts every one.  Why two
    lists and not one: one ``UpdateItem`` cannot both append to a list and drop its head
    (DynamoDB refuses overlapping paths), and a map keyed by ``total % HISTORY_KEPT``
    needs the total before the write, i.e. a read before every refund.  Here a write
    needs only to know whether ``log`` is full, and guesses right (append) 19 times in 20
    without reading; its condition makes a wrong guess fail, never lose a record.

    ``legacy`` is the unbounded list items held before (a different name, so that these
    writes never meet a list where they expect nothing): read, counted, never grown.
    """

    log: str
    prev: str
    total: str
    legacy: str

    def adding(
        self, record: Any, seen: Mapping[str, Any] | None
    ) -> tuple[str, str, dict[str, Any]]:
        """The SET clauses, the condition clause and the values that add ``record`` to an
        item that looked like ``seen`` (None: not read; assume ``log`` is not full)."""
        sets = f"{self.total} = if_not_exists({self.total}, :h_zero) + :h_one, "
        if self._full(seen):
            sets += f"{self.prev} = {self.log}, {self.log} = :h_record"
            condition = f"size({self.log}) = :h_kept"
        else:
            sets += f"{self.log} = list_append(if_not_exists({self.log}, :h_none), :h_record)"
            condition = f"(attribute_not_exists({self.log}) OR size({self.log}) < :h_kept)"
        values: dict[str, Any] = {
            ":h_zero": 0,
            ":h_one": 1,
            ":h_none": [],
            ":h_record": [record],
            ":h_kept": HISTORY_KEPT,
        }
        if self._full(seen):
            del values[":h_none"]  # DynamoDB refuses a value the expressions do not use
        return sets, condition, values

    def missed(self, seen: Mapping[str, Any] | None, old: Mapping[str, Any]) -> bool:
        """Whether a write planned from ``seen`` failed (only) for the generation: the
        item ``old`` it met was full when the write assumed not, or the other way round."""
        return self._full(seen) != self._full(old)

    def rotates(self, seen: Mapping[str, Any] | None) -> bool:
        return self._full(seen)

    def kept(self, item: Mapping[str, Any]) -> list[Any]:
        """The newest HISTORY_KEPT records, oldest first."""
        records = [*item.get(self.legacy, []), *item.get(self.prev, []), *item.get(self.log, [])]
        return records[-HISTORY_KEPT:]

    def count(self, item: Mapping[str, Any]) -> int:
        return int(item.get(self.total, 0)) + len(item.get(self.legacy, []))

    def _full(self, item: Mapping[str, Any] | None) -> bool:
        return item is not None and len(item.get(self.log, [])) >= HISTORY_KEPT


GUESSES = _History("guess_log", "guess_prev", "guess_total", "guesses")
UNLOCKS = _History("unlock_log", "unlock_prev", "unlock_total", "unlocked")
REFUNDS = _History("refund_log", "refund_prev", "refund_total", "refunds")


class DynamoLinkStore(dynamo.Table):
    what = WHAT

    def create(self, link: Link) -> None:
        try:
            self._put(self._item(link))
        except (ConditionFailed, UnavailableError) as exc:
            # A collision of 80-bit random ids is not a realistic outcome; any
            # failure here means nothing was minted and the caller may retry.
            log.warning("mint write failed", extra={"link_id": link.link_id, "error": repr(exc)})
            raise UnavailableError("The link could not be saved; try again.") from exc

    def bury(self, link: Link, at: float) -> None:
        """Store ``link`` as withdrawn at ``at`` whether or not its ``create`` landed: the
        undo of a mint whose token nobody received.  One ``PutItem`` that overwrites only
        this link, so repeating it is harmless, and a ``create`` that arrives after it
        fails its own condition instead of bringing a link nobody knows of to life."""
        try:
            self._put(
                self._item(dataclasses.replace(link, revoked_at=at)),
                # Never over another link that drew the same id (80 random bits: in
                # theory only), whose create is what made ours fail.
                "attribute_not_exists(pk) OR token_digest = :ours",
                {":ours": link.token_digest},
            )
        except ConditionFailed:
            log.warning("not buried: the id is another link's", extra={"link_id": link.link_id})

    def _item(self, link: Link) -> dynamo.Item:
        item = _to_item(link)
        # DynamoDB's TTL deletes the item some time after this; expiry itself is
        # enforced by the claim's condition, never by the deletion.
        item["purge_at"] = dynamo.attribute(link.expires_at + self._retention)
        return item

    def claim(
        self, link_id: str, digest: str, claim: Claim, *, unless_confirm: bool = False
    ) -> ClaimOutcome:
        """Take one use, or raise why not.  Exactly one DynamoDB request on success.

        With ``unless_confirm``, a link minted with ``confirm=true`` is not claimed:
        the outcome carries the link with ``claimed=False``, so a browser's GET learns
        "landing page or file?" from the same single request.
        """
        condition = _CLAIM_CONDITION + (_RIGHT_ANSWER if claim.answer_digest else _NO_CHECK)
        values: dict[str, Any] = {
            ":digest": digest,
            ":now": claim.at,
            ":one": 1,
            ":record": _record(claim),
            ":unversioned": "",
        }
        if claim.answer_digest:
            values |= {":answer": claim.answer_digest, ":max": MAX_WRONG_ANSWERS}
        if unless_confirm:
            condition += " AND confirm = :false"
            values[":false"] = False
        try:
            item = self._update(
                _key(link_id),
                _BUNDLE_CLAIM_UPDATE if claim.bundle else _CLAIM_UPDATE,
                condition,
                values,
                {"#claim": claim.claim_id, **_DELIVERY_NAMES},
                new=True,
                old=True,
                only_updated=True,
            )
        except UnavailableError as exc:
            self._undo_uncertain_claim(link_id, claim, exc)
            raise
        except ConditionFailed as failed:
            old = self._as_it_was(failed, _key(link_id))
            recorded = (old or {}).get("redemptions", {}).get(claim.claim_id)
            if old is not None and recorded is not None:
                # Our own write, retried by botocore after its first attempt did succeed
                # (the same attempt: its random session digest, or without sessions its
                # millisecond), or a page's form sent again.
                ours = (
                    recorded.get("session") == claim.session_digest
                    if claim.session_digest
                    else recorded.get("at") == round(claim.at, 3)
                )
                return ClaimOutcome(_from_item(old), claimed=ours, repeated=not ours)
            link = refusals.check(_from_item(old) if old else None, digest, claim.at)
            if unless_confirm and link.confirm:
                return ClaimOutcome(link, claimed=False)
            if link.answer_digest is None and claim.answer_digest:
                # An answer sent to a link that asks for none: ignored, so claim without it
                # (one more request, for this unusual client only).
                plain = dataclasses.replace(claim, answer_digest="")
                return self.claim(link_id, digest, plain, unless_confirm=unless_confirm)
            if link.answer_digest and not hmac.compare_digest(
                link.answer_digest, claim.answer_digest
            ):
                if not claim.answer_digest:
                    raise RecipientCheckError("answer_required", link) from None
                counted = self._count_wrong(link_id, digest, claim, old)
                raise RecipientCheckError("wrong_answer", counted) from None
            # The link changed between our write and our read (extended, say):
            # nothing was spent, and trying again will see the new state.
            raise refusals.changed_meanwhile() from None
        return ClaimOutcome(self._delivered(link_id, item, claim.bundle), claimed=True)

    def _delivered(self, link_id: str, answer: Mapping[str, Any], bundle: bool = False) -> Link:
        """The link a successful claim answered with: what a delivery needs, without the
        history (``uses_log`` and the other records are empty: read the link to show them).
        Should an answer ever lack an attribute, the link is read instead: one more
        request, never a wrong file."""
        if all(name in answer for name in _DELIVERED) and (not bundle or "files" in answer):
            return _from_item({**answer, "redemptions": {}, "visits": {}})
        log.warning("claim answer incomplete; reading the link", extra={"link_id": link_id})
        return _from_item(self._found(_key(link_id), refusals.changed_meanwhile()))

    def _count_wrong(
        self, link_id: str, digest: str, claim: Claim, seen: Mapping[str, Any] | None
    ) -> Link:
        """Count one wrong answer, and record it, in one conditional write: never past
        ``MAX_WRONG_ANSWERS``, however many guesses race.  The link as it is after it;
        ``LinkLockedError`` if it was locked before this one counted.  ``seen`` is the item
        as the failed claim found it (it says which generation the record goes to)."""
        for _ in range(_HISTORY_ATTEMPTS):
            sets, generation, values = GUESSES.adding(_guess(claim), seen)
            values |= {
                ":digest": digest,
                ":answer": claim.answer_digest,
                ":max": MAX_WRONG_ANSWERS,
                ":one": 1,
            }
            try:
                item = self._changed(
                    link_id,
                    f"SET wrong = wrong + :one, {sets}",
                    "attribute_exists(pk) AND token_digest = :digest"
                    f" AND answer_digest <> :answer AND wrong < :max AND {generation}",
                    values,
                )
            except ConditionFailed as failed:
                old = self._as_it_was(failed, _key(link_id))
                # locked (or gone) first: that refusal is the answer, whatever else changed
                refusals.check(_from_item(old) if old else None, digest, claim.at)
                if old is not None and GUESSES.missed(seen, old):
                    seen = old  # another guess filled or moved the generation: go again
                    continue
                raise refusals.changed_meanwhile() from None
            return _from_item(item)
        raise refusals.changed_meanwhile()

    def unlock(self, link_id: str, at: float) -> Link:
        """Forget the wrong answers since the last unlock (they stay in the audit trail)."""
        seen: Mapping[str, Any] | None = None
        for _ in range(_HISTORY_ATTEMPTS):
            sets, generation, values = UNLOCKS.adding(at, seen)
            try:
                item = self._changed(
                    link_id,
                    f"SET wrong = :zero, {sets}",
                    f"attribute_exists(pk) AND attribute_exists(answer_digest) AND {generation}",
                    values | {":zero": 0},
                )
            except ConditionFailed as failed:
                old = self._as_it_was(failed, _key(link_id))
                if old is None:
                    raise refusals.unknown_link(link_id) from None
                if "answer_digest" not in old:
                    raise refusals.no_check_to_unlock() from None
                if UNLOCKS.missed(seen, old):
                    seen = old
                    continue
                raise refusals.changed_meanwhile() from None
            return _from_item(item)
        raise refusals.changed_meanwhile()

    def record_message(self, link_id: str, message_id: str) -> None:
        """SES's id for the email that carried the link (known only after sending)."""
        self._update(
            _key(link_id), "SET message_id = :id", "attribute_exists(pk)", {":id": message_id}
        )

    def supersede(
        self, link_id: str, replacement: str, at: float, *, uses: int, fence: int
    ) -> Link:
        """Revoke a link because ``replacement`` (already created) replaces it, in one
        conditional write that also checks the link is as the resend read it: ``uses``
        (no use spent or refunded since, so the replacement carries over exactly what
        is left) and ``fence`` (no resend started since was given up, see
        ``close_resends``).  Of two resends racing, one replaces it; the other is told
        why not (``ConflictError``) and must withdraw its replacement."""
        fenced = "attribute_not_exists(fence)" if fence == 0 else "fence = :fence"
        try:
            item = self._changed(
                link_id,
                "SET revoked_at = :now, replaced_by = :new, fence = :next",
                "attribute_exists(pk) AND attribute_not_exists(revoked_at)"
                f" AND attribute_not_exists(replaced_by) AND uses = :uses AND {fenced}",
                {":now": at, ":new": replacement, ":uses": uses, ":next": fence + 1}
                | ({":fence": fence} if fence else {}),
            )
        except ConditionFailed as failed:
            old = self._as_it_was(failed, _key(link_id))
            if old is None:
                raise refusals.unknown_link(link_id) from None
            link = _from_item(old)
            if link.revoked_at is not None or link.replaced_by is not None:
                raise refusals.not_resendable(link) from None
            raise refusals.resend_raced() from None
        return _from_item(item)

    def close_resends(self, link_id: str) -> None:
        """Make every ``supersede`` prepared before now fail: the first step of undoing
        one whose answer was lost, so that it cannot land after the undo."""
        try:
            self._update(
                _key(link_id),
                "SET fence = if_not_exists(fence, :zero) + :one",
                "attribute_exists(pk)",
                {":zero": 0, ":one": 1},
            )
        except ConditionFailed:
            raise refusals.unknown_link(link_id) from None

    def restore(self, link_id: str, replacement: str) -> bool:
        """Undo ``supersede`` (the replacement's email failed): only if this replacement is
        the one recorded and no operator withdrew the link meanwhile, so nothing else's
        revocation is ever undone.  False if not."""
        try:
            self._update(
                _key(link_id),
                "REMOVE revoked_at, replaced_by",
                "replaced_by = :new AND attribute_not_exists(withdrawn_at)",
                {":new": replacement},
            )
        except ConditionFailed:
            return False
        return True

    def view(
        self, link_id: str, digest: str, visit: Visit, *, unless_direct: bool = False
    ) -> Viewed:
        """Record a visit that spends nothing and return the link as it is: one
        ``UpdateItem``.  The caller applies the refusal rule to what comes back.

        With ``unless_direct``, a link that redeems on GET (``confirm=false``) is not
        visited: the outcome says so and the caller claims instead.  Recording is
        best-effort: if the write fails (throttled by a storm of scanners, say), the link
        is read instead, the visit is skipped and counted in a metric, and the page still
        shows.
        """
        condition = "attribute_exists(pk) AND token_digest = :digest"
        values: dict[str, Any] = {":digest": digest, ":zero": 0, ":one": 1, ":visit": _visit(visit)}
        if unless_direct:
            condition += " AND confirm = :true"
            values[":true"] = True
        try:
            item = self._changed(
                link_id,
                "SET #count = if_not_exists(#count, :zero) + :one, visits.#slot = :visit",
                condition,
                values,
                {
                    "#count": f"seen_{visit.kind}",
                    # The last visit of each kind: a storm of visits cannot grow the
                    # item, and one kind never overwrites another.
                    "#slot": visit.kind,
                },
            )
        except ConditionFailed as failed:
            old = self._as_it_was(failed, _key(link_id))
            link = _from_item(old) if old else None
            if link is None or link.token_digest != digest or not unless_direct:
                refusals.check(link, digest, visit.at)  # not found: raises
            assert link is not None
            return Viewed(link, recorded=False)
        except UnavailableError as exc:
            log.warning("visit not recorded", extra={"link_id": link_id, "error": repr(exc)})
            metric("VisitsNotRecorded")
            found = self._read(_key(link_id))
            if found is None:
                refusals.check(None, digest, visit.at)
            assert found is not None
            return Viewed(_from_item(found), recorded=False)
        return Viewed(_from_item(item), recorded=True)

    def redeliver(self, link_id: str, digest: str, asked: Redelivery) -> Link | None:
        """Count one re-delivery in a download session, if the session still allows one:
        one conditional ``UpdateItem`` that checks the session's secret, its window and cap,
        and that the link is neither withdrawn nor expired beyond the window (the rule of
        ``Link.session``).  None when it does not: the caller may then claim a new use.
        ``SessionRefundedError`` when the session's redemption was refunded.

        The count is marked with ``attempt`` (``again_id``), so that
        ``give_back_redelivery`` undoes exactly this count; an attempt fenced by that undo
        (``again_fence``) is refused, should the write arrive late.

        ``session_digest=None`` is a landing page's press sent again (its stamp names the
        claim, and only that page held the stamp): no secret to check, and
        ``new_session_digest`` re-keys the session, whose first answer the browser dropped.
        """
        claim_id, session_digest, at, seconds, attempt, new_session_digest, file = asked
        since = at - seconds
        condition = (
            "token_digest = :digest AND attribute_not_exists(revoked_at)"
            " AND expires_at > :since AND attribute_exists(redemptions.#claim)"
            " AND redemptions.#claim.#at > :since"
            " AND attribute_not_exists(redemptions.#claim.#refunded)"
            " AND (attribute_not_exists(redemptions.#claim.#again)"
            " OR redemptions.#claim.#again < :cap)"
            " AND (attribute_not_exists(redemptions.#claim.#fence)"
            " OR redemptions.#claim.#fence <> :attempt)"
        )
        update = (
            "SET redemptions.#claim.#again = if_not_exists(redemptions.#claim.#again, :zero)"
            " + :one, redemptions.#claim.#again_at = :now, redemptions.#claim.#again_id = :attempt"
        )
        values: dict[str, Any] = {
            ":digest": digest,
            ":since": since,
            ":now": at,
            ":zero": 0,
            ":one": 1,
            ":cap": REDELIVERY_CAP,
            ":attempt": attempt,
        }
        if file is not None:
            condition += " AND size(files) >= :file"  # a file of this bundle
            values[":file"] = file
        if session_digest is not None:
            condition += " AND redemptions.#claim.#session = :session"
            values[":session"] = session_digest
        if new_session_digest is not None:
            update += ", redemptions.#claim.#session = :new_session"
            values[":new_session"] = new_session_digest
        names = {"#claim": claim_id, "#at": "at", "#refunded": "refunded_at", **_counting(file)}
        if session_digest is not None or new_session_digest is not None:
            names["#session"] = "session"  # SESSION and AT are DynamoDB reserved words
        try:
            item = self._changed(link_id, update, condition, values, names)
        except ConditionFailed as failed:
            if session_digest is None:
                return None
            # Why not, for a client that holds a session: a refunded redemption's session
            # is told so.
            old = self._as_it_was(failed, _key(link_id))
            link = _from_item(old) if old else None
            if (
                link is not None
                and hmac.compare_digest(link.token_digest, digest)
                and link.refunded_session(claim_id, session_digest)
            ):
                raise SessionRefundedError(link) from None
            return None
        return _from_item(item)

    def give_back_redelivery(self, link_id: str, asked: Redelivery, fence: bool = False) -> bool:
        """Undo the re-delivery that ``attempt`` counted; see ``LinkStore``.  Both writes
        are conditional on the claim's record, and repeating either changes nothing."""
        claim_id, attempt, file = asked.claim_id, asked.attempt, asked.file
        if fence:
            # First the fence, so that from here on the count cannot land; then the undo,
            # which finds the count if it landed before the fence.
            try:
                self._update(
                    _key(link_id),
                    "SET redemptions.#claim.#fence = :attempt",
                    "attribute_exists(redemptions.#claim)",
                    {":attempt": attempt},
                    {"#claim": claim_id, "#fence": _counting(file)["#fence"]},
                )
            except ConditionFailed:
                return False  # the claim itself is gone: nothing was counted on it
        try:
            self._update(
                _key(link_id),
                "SET redemptions.#claim.#again = redemptions.#claim.#again - :one"
                " REMOVE redemptions.#claim.#again_id",
                "redemptions.#claim.#again_id = :attempt AND redemptions.#claim.#again > :zero",
                {":attempt": attempt, ":one": 1, ":zero": 0},
                {
                    "#claim": claim_id,
                    "#again": _counting(file)["#again"],
                    "#again_id": _counting(file)["#again_id"],
                },
            )
        except ConditionFailed:
            return False
        return True

    def refund(self, link_id: str, at: float, claim_id: str | None = None) -> Link:
        """Give one use back, or the use of one named redemption: one conditional write,
        so it cannot race a redemption into more uses than the limit plus the refunds.

        One write 19 times in 20.  The 20th refund finds the refunds' generation full:
        its first write fails, and a second (after a read on stand-ins that return no old
        item) starts a new generation and also drops the oldest redemption records past
        ``max_uses + HISTORY_KEPT``, which only refunds let pile up (each lets one more
        redemption in)."""
        seen: Mapping[str, Any] | None = None
        for _ in range(_HISTORY_ATTEMPTS):
            try:
                item = self._changed(link_id, *_refund_write(at, claim_id, seen))
            except ConditionFailed as failed:
                old = self._as_it_was(failed, _key(link_id))
                if old is None:
                    raise refusals.unknown_link(link_id) from None
                link = _from_item(old)
                refused = refusals.nothing_to_refund(link, claim_id)
                named = next((u for u in link.uses_log if u.claim_id == claim_id), None)
                possible = link.uses > 0 and (
                    claim_id is None or (named is not None and named.refunded_at is None)
                )
                if not possible:
                    raise refused from None
                # The list was full (or moved), or a redemption took a use after this write
                # was refused (a stand-in's read is not the failed write's view): try again.
                seen = old
                continue
            return _from_item(item)
        raise refusals.changed_meanwhile()

    def peek(self, link_id: str, digest: str, now: float) -> Link:
        """The link if a redemption would succeed now, else the refusal; changes nothing."""
        item = self._read(_key(link_id))
        return refusals.check(_from_item(item) if item else None, digest, now)

    def release(self, link_id: str, claim_id: str) -> bool:
        """Give a claimed use back.  Idempotent: only a recorded claim is undone.

        Failures other than "not recorded" propagate as ``UnavailableError``.
        """
        try:
            self._update(
                _key(link_id),
                _RELEASE_UPDATE,
                # A use already refunded is not given back twice, and uses never drop
                # below zero, whatever raced this undo.
                "attribute_exists(redemptions.#claim)"
                " AND attribute_not_exists(redemptions.#claim.refunded_at) AND uses > :zero",
                {":one": 1, ":zero": 0},
                {"#claim": claim_id},
            )
        except ConditionFailed:
            return False
        return True

    def get(self, link_id: str) -> Link:
        return _from_item(self._found(_key(link_id), refusals.unknown_link(link_id)))

    def change(self, link_id: str, changes: Changes) -> Link:
        """Extend or shorten, change the use limit (never below uses made), or the note."""
        expires_at, max_uses, note = changes
        sets: list[str] = []
        values: dict[str, Any] = {}
        condition = "attribute_exists(pk)"
        if expires_at is not None:
            sets.append("expires_at = :expires, purge_at = :purge")
            values[":expires"] = expires_at
            values[":purge"] = expires_at + self._retention
        if max_uses is not None:
            sets.append("max_uses = :max")
            values[":max"] = max_uses
            # Checked in the write itself: a redemption racing this change
            # cannot slip under the new limit.
            condition += " AND uses <= :max"
        if expires_at is not None or max_uses is not None:
            # A revoked link stays revoked: more time or uses would change nothing, and an
            # operator must not be told otherwise.  (The note may still be edited.)
            condition += " AND attribute_not_exists(revoked_at)"
            # A resend under way read the old limits: moving the fence makes its supersede
            # fail, so it reads again and carries over the new ones.
            sets.append("fence = if_not_exists(fence, :zero) + :one")
            values[":zero"], values[":one"] = 0, 1
        if note is not None:
            sets.append("note = :note")
            values[":note"] = note
        if not sets:
            return self.get(link_id)
        try:
            item = self._changed(link_id, "SET " + ", ".join(sets), condition, values)
        except ConditionFailed as failed:
            old = self._as_it_was(failed, _key(link_id))
            if old is None:
                raise refusals.unknown_link(link_id) from None
            raise refusals.unchangeable(_from_item(old)) from None
        return _from_item(item)

    def revoke(self, link_id: str, at: float) -> Link:
        """Withdraw a link for good.  Revoking again keeps the first time.  The link also
        records ``withdrawn_at``: a resend's undo (``restore``) never brings back a link an
        operator withdrew while the resend was under way."""
        try:
            item = self._update(
                _key(link_id),
                "SET revoked_at = if_not_exists(revoked_at, :now),"
                " withdrawn_at = if_not_exists(withdrawn_at, :now)",
                "attribute_exists(pk)",
                {":now": at},
                new=True,
            )
        except ConditionFailed:
            raise refusals.unknown_link(link_id) from None
        return _from_item(item)

    def for_file(self, key: str, limit: int, cursor: str | None) -> Page:
        """Links to one file, newest first, from the ``by-file`` index (never a scan)."""
        items, next_cursor = self._newest_first(FILE_INDEX, "file", key, limit, cursor)
        return Page(links=[_from_item(item) for item in items], cursor=next_cursor)

    def for_recipient(self, address: str, limit: int, cursor: str | None) -> Page:
        """Links emailed to one address (in any case), newest first, from the sparse
        ``by-recipient`` index (never a scan)."""
        items, next_cursor = self._newest_first(
            RECIPIENT_INDEX, "recipient_key", recipient_key(address), limit, cursor
        )
        return Page(links=[_from_item(item) for item in items], cursor=next_cursor)

    def newest(self, now: float, since: float, limit: int, cursor: str | None) -> Page:
        """The newest links: their keys from the ``by-day`` index, today's partition then
        the days before (at most ``DAYS_PER_PAGE`` queries), then the links themselves in
        one ``BatchGetItem`` (``limit`` is at most 100, BatchGetItem's own bound)."""
        day, end, after = (
            _day_position(cursor) if cursor else (created_day(now), created_day(since), None)
        )
        keys: list[dynamo.Item] = []
        done = False
        for _ in range(DAYS_PER_PAGE):
            params: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": DAY_INDEX,
                "KeyConditionExpression": "created_day = :day",
                "ExpressionAttributeValues": {":day": {"S": day}},
                "ScanIndexForward": False,
                "Limit": limit - len(keys),
            }
            if after:
                params["ExclusiveStartKey"] = after
            with translated(self.what):
                response = self._client.query(**params)
            keys += [{"pk": dict(item)["pk"]} for item in response.get("Items", [])]
            after = response.get("LastEvaluatedKey")
            if after is None:
                if day <= end:
                    done = True
                    break
                day = _day_before(day)
            if len(keys) == limit:
                break
        cursor_out = (
            None if done else dynamo.encode_cursor({"day": day, "end": end, "after": after})
        )
        return Page(links=[_from_item(item) for item in self._items(keys)], cursor=cursor_out)

    def ping(self) -> None:
        """Raise unless the table answers a read."""
        self._client.get_item(TableName=self._table, Key=_key("health-probe"))

    def _changed(
        self,
        link_id: str,
        update: str,
        condition: str,
        values: Mapping[str, Any],
        names: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One conditional write to the link that returns it as it is after, and, when
        its condition fails, the item it met (so a refusal can say why without a read)."""
        return self._update(_key(link_id), update, condition, values, names, new=True, old=True)

    def _undo_uncertain_claim(self, link_id: str, claim: Claim, cause: Exception) -> None:
        # A timeout or 5xx may hide a write that DynamoDB did apply.  The claim's
        # record says whether it did; undo it so the customer keeps the use.
        try:
            if self.release(link_id, claim.claim_id):
                log.warning("undid a claim whose answer was lost", extra={"link_id": link_id})
        except UnavailableError as exc:
            # Not a loss, only a doubt: the claim may never have been applied, or a
            # queued claim and this undo may both land later and cancel out.  The
            # item's ``redemptions`` map settles it: if it holds this claim id, the
            # use was spent without delivery.  ("USE LOST" is kept for certain losses.)
            log.warning(
                "USE UNCERTAIN: link %s, claim %s: the claim's answer was lost and the undo"
                " failed; if the link's redemptions map holds claim %s, give that use back",
                link_id,
                claim.claim_id,
                claim.claim_id,
                extra={
                    "link_id": link_id,
                    "claim_id": claim.claim_id,
                    "error": repr(exc.__cause__),
                    "cause": repr(cause.__cause__),
                },
            )


_DELIVERED = {name.lstrip("#") for name in _DELIVERY} | {"uses", "version_id"}


def link_from_item(item: Mapping[str, Any]) -> Link:
    """The link an item holds, as DynamoDB's API carries it (typed values): for readers
    of the table other than this store (the stream's images, the tests' checks)."""
    return _from_item(dynamo.from_item(item))


def _day_position(cursor: str) -> tuple[str, str, dynamo.Item | None]:
    """The day, the listing's last day and the index position a newest-links cursor
    names; a bad request if it is not one ``newest`` gave out."""
    found = dynamo.decoded_cursor(cursor)
    if not isinstance(found, dict) or set(found) != {"day", "end", "after"}:
        raise dynamo.bad_cursor()
    day, end, after = found["day"], found["end"], found["after"]
    if not (_is_day(day) and _is_day(end) and end <= day):
        raise dynamo.bad_cursor()
    if after is not None:
        after = dynamo.checked_key(after, _DAY_KEY, "created_day", day)
    return day, end, after


def _is_day(text: object) -> bool:
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _day_before(day: str) -> str:
    return (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()


def _counting(file: int | None) -> dict[str, str]:
    """The names a redemption record counts re-deliveries under: ``again`` and its
    companions for a single file; ``again_<n>`` and so on for file ``n`` of a bundle, whose
    cap is per file.  Flat names, not a nested map: a map would have to exist before a
    write could add to it."""
    suffix = "" if file is None else f"_{file}"
    return {
        "#again": f"again{suffix}",
        "#again_at": f"again_at{suffix}",
        "#again_id": f"again_id{suffix}",
        "#fence": f"again_fence{suffix}",
    }


_FETCHES = re.compile(r"again_([0-9]+)")


def _key(link_id: str) -> dynamo.Item:
    return {"pk": {"S": f"link#{link_id}"}}


def _record(claim: Claim) -> dict[str, Any]:
    # The audit record of one use, kept in the item's ``redemptions`` map by claim id.
    return {
        "at": claim.at,
        **_client(claim.client_ip, claim.user_agent),
        "binary": claim.binary,
        "stream_max": claim.stream_max_bytes,
        "session": claim.session_digest,
    }


def _to_item(link: Link) -> dynamo.Item:
    obj = link.object
    values: dict[str, Any] = {
        "pk": f"link#{link.link_id}",
        "link_id": link.link_id,
        "token_digest": link.token_digest,
        "file": obj.key,
        "size": obj.size,
        "content_type": obj.content_type,
        "etag": obj.etag,
        "filename": link.filename,
        "max_uses": link.max_uses,
        "uses": link.uses,
        "created_at": link.created_at,
        # The by-day index's partition: written here only, so it never changes.
        "created_day": created_day(link.created_at),
        "expires_at": link.expires_at,
        "confirm": link.confirm,
        "note": link.note,
        "redemptions": {},
        "visits": {},
    }
    if obj.version_id:
        values["version_id"] = obj.version_id
    if link.files:
        # Short names: the list is most of a bundle's item, and every claim writes the item.
        values["files"] = [_bundled(bundled) for bundled in link.files]
    # Only links that have them carry these: the recipient index stays sparse.
    for name in ("recipient", "message_id", "notify", "check", "answer_digest", "replaces"):
        if getattr(link, name) is not None:
            values[name] = getattr(link, name)
    if link.recipient is not None:
        values["recipient_key"] = recipient_key(link.recipient)
    if link.revoked_at is not None:
        values["revoked_at"] = link.revoked_at  # a buried link (``bury``)
    if link.answer_digest is not None:
        values["wrong"] = link.wrong_answers
    return dynamo.to_item(values)


def _from_item(item: Mapping[str, Any]) -> Link:
    return Link(
        link_id=item["link_id"],
        token_digest=item["token_digest"],
        object=StoredObject(
            key=item["file"],
            size=item["size"],
            content_type=item["content_type"],
            etag=item["etag"],
            version_id=item.get("version_id") or None,
        ),
        filename=item["filename"],
        max_uses=item["max_uses"],
        uses=item["uses"],
        created_at=item["created_at"],
        expires_at=item["expires_at"],
        confirm=item["confirm"],
        revoked_at=item.get("revoked_at"),
        note=item.get("note", ""),
        uses_log=tuple(
            sorted(
                (
                    _use(claim_id, record)
                    for claim_id, record in item.get("redemptions", {}).items()
                ),
                key=lambda use: use.at,
            )
        ),
        visits=tuple(
            sorted(
                (
                    Visit(v["at"], v.get("ip", ""), v.get("ua", ""), v.get("kind", ""))
                    for v in item.get("visits", {}).values()
                ),
                key=lambda visit: visit.at,
            )
        ),
        visit_counts=tuple(
            (kind, item[f"seen_{kind}"]) for kind in VISIT_KINDS if f"seen_{kind}" in item
        ),
        refunds=tuple(
            Refund(entry["at"], entry.get("redemption") or None) for entry in REFUNDS.kept(item)
        ),
        refund_total=REFUNDS.count(item),
        recipient=item.get("recipient"),
        message_id=item.get("message_id"),
        notify=item.get("notify"),
        check=item.get("check"),
        answer_digest=item.get("answer_digest"),
        wrong_answers=item.get("wrong", 0),
        guesses=tuple(Guess(g["at"], g.get("ip", ""), g.get("ua", "")) for g in GUESSES.kept(item)),
        guess_total=GUESSES.count(item),
        unlocked=tuple(UNLOCKS.kept(item)),
        unlock_total=UNLOCKS.count(item),
        replaces=item.get("replaces"),
        replaced_by=item.get("replaced_by"),
        fence=item.get("fence", 0),
        files=tuple(_unbundled(entry) for entry in item.get("files", [])),
    )


def _bundled(bundled: BundledFile) -> dict[str, Any]:
    obj = bundled.object
    entry: dict[str, Any] = {
        "k": obj.key,
        "s": obj.size,
        "t": obj.content_type,
        "e": obj.etag,
        "n": bundled.filename,
    }
    if obj.version_id:
        entry["v"] = obj.version_id
    return entry


def _unbundled(entry: Mapping[str, Any]) -> BundledFile:
    obj = StoredObject(entry["k"], int(entry["s"]), entry["t"], entry["e"], entry.get("v"))
    return BundledFile(obj, entry["n"])


def _refund_write(
    at: float, claim_id: str | None, seen: Mapping[str, Any] | None
) -> tuple[str, str, dict[str, Any], dict[str, str]]:
    """The update, condition, values and names of a refund planned from ``seen``."""
    history, generation, values = REFUNDS.adding({"at": at, "redemption": claim_id or ""}, seen)
    update = f"SET uses = uses - :one, {history}"
    condition = f"attribute_exists(pk) AND uses > :zero AND {generation}"
    names: dict[str, str] = {}
    if claim_id is not None:
        update += ", redemptions.#claim.refunded_at = :now"
        condition += (
            " AND attribute_exists(redemptions.#claim)"
            " AND attribute_not_exists(redemptions.#claim.refunded_at)"
        )
        names["#claim"] = claim_id
        values[":now"] = at
    if seen is not None and REFUNDS.rotates(seen):
        dropped = [key for key in _redemptions_past_bound(seen) if key != claim_id]
        if dropped:
            names |= {f"#old{n}": key for n, key in enumerate(dropped)}
            update += " REMOVE " + ", ".join(f"redemptions.#old{n}" for n in range(len(dropped)))
    return update, condition, values | {":one": 1, ":zero": 0}, names


def _guess(claim: Claim) -> dict[str, Any]:
    guess = guess_of(claim)
    return {"at": guess.at, "ip": guess.client_ip, "ua": guess.user_agent}


def _redemptions_past_bound(item: Mapping[str, Any]) -> list[str]:
    """The claim ids of the oldest redemption records past ``max_uses + HISTORY_KEPT``
    (the same rule as the in-memory fake's)."""
    records: Mapping[str, Any] = item.get("redemptions", {})
    newest_first = sorted(records, key=lambda key: (records[key]["at"], key), reverse=True)
    return newest_first[item["max_uses"] + HISTORY_KEPT :]


def _visit(visit: Visit) -> dict[str, Any]:
    return {"at": visit.at, **_client(visit.client_ip, visit.user_agent), "kind": visit.kind}


def _client(ip: str, user_agent: str) -> dict[str, str]:
    # Who made a use or a visit, clipped: a client chooses both, and the item's size is capped.
    return {"ip": ip[:64], "ua": user_agent[:512]}


def _use(claim_id: str, record: Mapping[str, Any]) -> Use:
    return Use(
        claim_id=claim_id,
        refunded_at=record.get("refunded_at"),
        at=record["at"],
        client_ip=record.get("ip", ""),
        user_agent=record.get("ua", ""),
        binary=bool(record.get("binary", False)),
        stream_max_bytes=record.get("stream_max"),
        session_digest=record.get("session", ""),
        redeliveries=record.get("again", 0),
        redelivered_at=record.get("again_at"),
        fetches=tuple(
            sorted(
                (int(found.group(1)), int(count))
                for name, count in record.items()
                if (found := _FETCHES.fullmatch(name))
            )
        ),
    )
