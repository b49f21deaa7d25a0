"""One behaviour suite for the link and grant stores, run against each implementation by
the tier modules that import it: tests/unit (the in-memory fakes), tests/inprocess (moto in
this process) and tests/stack (dynalite, a real process whose conditional writes are
atomic).  A fake that passes here may stand in for DynamoDB.

Each tier module provides the fixture ``stores`` (a link store and a grant store) and
``atomic_links`` (a link store whose conditional writes hold under concurrency, or a skip
where they do not), then collects this body with ``from tests.contracts.stores import *``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import uuid
from typing import Any

import pytest

from chalicelib.domain.errors import (
    ChangedMeanwhileError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    LinkExpiredError,
    LinkLockedError,
    LinkNotFoundError,
    LinkRevokedError,
    LinkUsedUpError,
    RateLimitedError,
    RecipientCheckError,
    SessionRefundedError,
    UnavailableError,
)
from chalicelib.domain.link import (
    GUESS_UA_BYTES,
    HISTORY_KEPT,
    MAX_WRONG_ANSWERS,
    REDELIVERY_CAP,
    VISIT_KINDS,
    BundledFile,
    Changes,
    Claim,
    Link,
    Redelivery,
    Refund,
    StoredObject,
    Visit,
)
from chalicelib.domain.tokens import new_token
from chalicelib.storage.linkstore import DynamoLinkStore
from chalicelib.storage.stores import GrantStore, LinkStore

NOW = 1_800_000_000.0
# What a link's item may weigh after any history (test_a_long_history_keeps_the_stored_item_small)
HISTORY_ITEM_BOUND = 64 * 1024


@pytest.fixture
def links(stores: tuple[LinkStore, GrantStore]) -> LinkStore:
    return stores[0]


@pytest.fixture
def grants(stores: tuple[LinkStore, GrantStore]) -> GrantStore:
    return stores[1]


def new_link(
    store: LinkStore,
    *,
    uses: int = 1,
    confirm: bool = False,
    key: str = "",
    at: float = NOW,
    version_id: str | None = None,
    **fields: Any,
) -> tuple[Link, str]:
    """A link stored for a test, and its token's digest; ``fields`` set the rest of it."""
    token = new_token()
    key = key or f"k/{uuid.uuid4().hex}.pdf"
    link = Link(
        link_id=token.link_id,
        token_digest=token.digest,
        object=StoredObject(key, 10, "application/pdf", '"e"', version_id),
        filename="f.pdf",
        max_uses=uses,
        uses=0,
        created_at=at,
        expires_at=int(NOW) + 3600,
        confirm=confirm,
        note="n",
        **fields,
    )
    store.create(link)
    return link, token.digest


def claim(at: float = NOW + 1, claim_id: str = "") -> Claim:
    return Claim(claim_id or uuid.uuid4().hex[:16], at, "10.0.0.1", "agent/1", True)


def test_created_link_reads_back_equal(links: LinkStore) -> None:
    link, _ = new_link(links)
    assert links.get(link.link_id) == link


def test_claim_takes_a_use_and_records_it(links: LinkStore) -> None:
    link, digest = new_link(links, uses=2)
    outcome = links.claim(link.link_id, digest, claim(NOW + 5))
    assert outcome.claimed
    assert outcome.link.uses == 1
    stored = links.get(link.link_id)
    assert stored.uses == 1
    assert [(u.at, u.client_ip, u.user_agent, u.binary) for u in stored.uses_log] == [
        (NOW + 5, "10.0.0.1", "agent/1", True)
    ]


@pytest.mark.parametrize("version_id", [None, "v-3"])
def test_a_claim_answers_with_what_the_delivery_needs(
    links: LinkStore, version_id: str | None
) -> None:
    """After an earlier use too: the file (its version included), name, limits and expiry."""
    link, digest = new_link(links, uses=3, version_id=version_id)
    links.claim(link.link_id, digest, claim(NOW + 1))
    outcome = links.claim(link.link_id, digest, claim(NOW + 2))
    answered = outcome.link
    assert outcome.claimed
    assert (answered.link_id, answered.object, answered.filename) == (
        link.link_id,
        link.object,
        link.filename,
    )
    assert (answered.uses, answered.max_uses, answered.remaining) == (2, 3, 1)
    assert (answered.expires_at, answered.confirm, answered.created_at) == (
        link.expires_at,
        link.confirm,
        link.created_at,
    )
    assert links.get(link.link_id).object == link.object  # the file's record is unchanged


def test_last_use_refuses_with_count_and_time(links: LinkStore) -> None:
    link, digest = new_link(links)
    links.claim(link.link_id, digest, claim(NOW + 7))
    with pytest.raises(LinkUsedUpError) as refused:
        links.claim(link.link_id, digest, claim())
    assert (refused.value.uses, refused.value.last_used_at) == (1, NOW + 7)
    assert links.get(link.link_id).uses == 1


def test_wrong_secret_and_unknown_id_are_not_found(links: LinkStore) -> None:
    link, _ = new_link(links)
    with pytest.raises(LinkNotFoundError):
        links.claim(link.link_id, "0" * 64, claim())
    with pytest.raises(LinkNotFoundError):
        links.claim("a" * 16, "0" * 64, claim())
    assert links.get(link.link_id).uses == 0


def test_expired_link_refuses(links: LinkStore) -> None:
    link, digest = new_link(links)
    with pytest.raises(LinkExpiredError) as refused:
        links.claim(link.link_id, digest, claim(at=link.expires_at))
    assert refused.value.expired_at == link.expires_at


def test_revoked_says_so_before_used_up(links: LinkStore) -> None:
    link, digest = new_link(links)
    links.claim(link.link_id, digest, claim())
    revoked = links.revoke(link.link_id, NOW + 10)
    assert links.revoke(link.link_id, NOW + 99).revoked_at == revoked.revoked_at == NOW + 10
    with pytest.raises(LinkRevokedError):
        links.claim(link.link_id, digest, claim())
    with pytest.raises(LinkNotFoundError):
        links.revoke("b" * 16, NOW)


def test_confirm_link_is_spared_when_asked(links: LinkStore) -> None:
    link, digest = new_link(links, confirm=True)
    outcome = links.claim(link.link_id, digest, claim(), unless_confirm=True)
    assert not outcome.claimed
    assert outcome.link.link_id == link.link_id
    assert links.get(link.link_id).uses == 0
    assert links.claim(link.link_id, digest, claim()).claimed


def test_a_retried_claim_counts_once(links: LinkStore) -> None:
    link, digest = new_link(links, uses=3)
    first = claim(claim_id="retry-0001")
    links.claim(link.link_id, digest, first)
    again = links.claim(link.link_id, digest, first)
    assert again.claimed
    assert links.get(link.link_id).uses == 1


def test_release_gives_the_use_back_once(links: LinkStore) -> None:
    link, digest = new_link(links)
    taken = claim()
    links.claim(link.link_id, digest, taken)
    assert links.release(link.link_id, taken.claim_id)
    assert not links.release(link.link_id, taken.claim_id)
    stored = links.get(link.link_id)
    assert (stored.uses, stored.uses_log) == (0, ())


def test_peek_changes_nothing(links: LinkStore) -> None:
    link, digest = new_link(links)
    assert links.peek(link.link_id, digest, NOW).uses == 0
    with pytest.raises(LinkExpiredError):
        links.peek(link.link_id, digest, NOW + 7200)
    assert links.get(link.link_id).uses == 0


def test_change_moves_expiry_limit_and_note(links: LinkStore) -> None:
    link, digest = new_link(links, uses=3)
    links.claim(link.link_id, digest, claim())
    changed = links.change(link.link_id, Changes(expires_at=int(NOW) + 60, max_uses=1, note="x"))
    assert (changed.expires_at, changed.max_uses, changed.note) == (int(NOW) + 60, 1, "x")
    assert links.get(link.link_id) == changed
    with pytest.raises(ConflictError):
        links.change(link.link_id, Changes(max_uses=0))
    with pytest.raises(LinkNotFoundError):
        links.change("c" * 16, Changes(note="y"))


def test_for_file_pages_newest_first(links: LinkStore) -> None:
    key = f"listed/{uuid.uuid4().hex}.pdf"
    made = [new_link(links, key=key, at=NOW + i)[0].link_id for i in range(3)]
    first = links.for_file(key, 2, None)
    assert [link.link_id for link in first.links] == made[::-1][:2]
    assert first.cursor is not None
    rest = links.for_file(key, 2, first.cursor)
    assert [link.link_id for link in rest.links] == made[:1]
    assert rest.cursor is None
    with pytest.raises(InvalidRequestError):
        links.for_file(key, 2, "not-a-cursor")


def test_grant_is_idempotent_and_listed(grants: GrantStore) -> None:
    subject = f"buyer-{uuid.uuid4().hex}"
    first = grants.put(subject, "a.pdf", NOW)
    assert grants.put(subject, "a.pdf", NOW + 50).created_at == first.created_at == NOW
    grants.put(subject, "b.pdf", NOW + 1)
    page = grants.for_subject(subject, 10, None)
    assert [g.file for g in page.grants] == ["b.pdf", "a.pdf"]


def test_allowance_counts_per_day(grants: GrantStore) -> None:
    subject = f"buyer-{uuid.uuid4().hex}"
    with pytest.raises(ForbiddenError):
        grants.use(subject, "a.pdf", "2027-01-01", 2, 60)
    grants.put(subject, "a.pdf", NOW)
    grants.use(subject, "a.pdf", "2027-01-01", 2, 60)
    grants.use(subject, "a.pdf", "2027-01-01", 2, 60)
    with pytest.raises(RateLimitedError) as limited:
        grants.use(subject, "a.pdf", "2027-01-01", 2, 60)
    assert limited.value.retry_after == 60
    grants.use(subject, "a.pdf", "2027-01-02", 2, 60)


def test_withdrawn_grant_is_gone(grants: GrantStore) -> None:
    subject = f"buyer-{uuid.uuid4().hex}"
    grants.put(subject, "a.pdf", NOW)
    grants.delete(subject, "a.pdf")
    with pytest.raises(LinkNotFoundError):
        grants.delete(subject, "a.pdf")
    with pytest.raises(ForbiddenError):
        grants.use(subject, "a.pdf", "2027-01-01", 2, 60)


def visit(kind: str = "page", at: float = NOW + 1) -> Visit:
    return Visit(at, "10.0.0.2", "agent/2", kind)


def test_a_view_is_recorded_and_spends_nothing(links: LinkStore) -> None:
    link, digest = new_link(links, confirm=True)
    viewed = links.view(link.link_id, digest, visit("page", NOW + 1))
    assert viewed.recorded
    links.view(link.link_id, digest, visit("head", NOW + 2))
    links.view(link.link_id, digest, visit("page", NOW + 3))
    stored = links.get(link.link_id)
    assert stored.uses == 0
    assert dict(stored.visit_counts) == {"page": 2, "head": 1}
    # The last visit of each kind, oldest first; the counts are exact.
    assert [(v.kind, v.at) for v in stored.visits] == [("head", NOW + 2), ("page", NOW + 3)]


def test_a_storm_of_views_keeps_the_item_bounded(links: LinkStore) -> None:
    link, digest = new_link(links, confirm=True)
    for i in range(35):
        links.view(link.link_id, digest, visit(VISIT_KINDS[i % len(VISIT_KINDS)], NOW + i))
    stored = links.get(link.link_id)
    assert dict(stored.visit_counts) == {kind: 7 for kind in VISIT_KINDS}
    assert [v.at for v in stored.visits] == [NOW + i for i in range(30, 35)]


def test_views_of_a_wrong_token_are_not_found_and_not_recorded(links: LinkStore) -> None:
    link, _ = new_link(links, confirm=True)
    with pytest.raises(LinkNotFoundError):
        links.view(link.link_id, "0" * 64, visit())
    with pytest.raises(LinkNotFoundError):
        links.view("d" * 16, "0" * 64, visit())
    assert links.get(link.link_id).visit_counts == ()


def test_a_view_spares_direct_links_when_asked(links: LinkStore) -> None:
    link, digest = new_link(links, confirm=False)
    viewed = links.view(link.link_id, digest, visit(), unless_direct=True)
    assert not viewed.recorded
    assert viewed.link.link_id == link.link_id
    assert links.get(link.link_id).visit_counts == ()


def test_a_view_of_a_used_link_still_records_and_returns_it(links: LinkStore) -> None:
    link, digest = new_link(links, confirm=True)
    links.claim(link.link_id, digest, claim())
    viewed = links.view(link.link_id, digest, visit())
    assert viewed.recorded and viewed.link.uses == 1


def test_refund_gives_one_use_back_and_is_recorded(links: LinkStore) -> None:
    link, digest = new_link(links, uses=1)
    with pytest.raises(ConflictError):
        links.refund(link.link_id, NOW)  # nothing spent yet
    taken = claim()
    links.claim(link.link_id, digest, taken)
    refunded = links.refund(link.link_id, NOW + 9)
    assert refunded.uses == 0
    assert refunded.refunds == (Refund(NOW + 9, None),)
    assert links.claim(link.link_id, digest, claim()).claimed  # usable again
    with pytest.raises(LinkNotFoundError):
        links.refund("e" * 16, NOW)


def test_refund_of_a_named_redemption_happens_once(links: LinkStore) -> None:
    link, digest = new_link(links, uses=2)
    first, second = claim(claim_id="a" * 16), claim(claim_id="b" * 16)
    links.claim(link.link_id, digest, first)
    links.claim(link.link_id, digest, second)
    refunded = links.refund(link.link_id, NOW + 5, "a" * 16)
    assert refunded.uses == 1
    by_id = {use.claim_id: use.refunded_at for use in refunded.uses_log}
    assert by_id == {"a" * 16: NOW + 5, "b" * 16: None}
    with pytest.raises(ConflictError, match="already"):
        links.refund(link.link_id, NOW + 6, "a" * 16)
    with pytest.raises(ConflictError, match="no redemption"):
        links.refund(link.link_id, NOW + 6, "c" * 16)
    assert links.get(link.link_id).uses == 1


def test_a_claim_id_seen_before_is_a_retry_only_if_it_is_the_same_claim(
    links: LinkStore,
) -> None:
    link, digest = new_link(links, uses=3)
    first = claim(at=NOW + 1, claim_id="f" * 16)
    assert links.claim(link.link_id, digest, first).claimed
    retried = links.claim(link.link_id, digest, first)  # botocore's retry: same claim
    assert retried.claimed and not retried.repeated
    again = links.claim(link.link_id, digest, claim(at=NOW + 5, claim_id="f" * 16))
    assert not again.claimed and again.repeated  # the same form, sent again later
    assert links.get(link.link_id).uses == 1


SESSION = "5" * 64


def test_a_session_re_delivers_until_its_window_cap_or_refund(links: LinkStore) -> None:
    link, digest = new_link(links, uses=1)
    taken = Claim("s" * 16, NOW + 1, "10.0.0.1", "agent/1", False, None, SESSION)
    links.claim(link.link_id, digest, taken)
    again = links.redeliver(
        link.link_id, digest, Redelivery(taken.claim_id, SESSION, NOW + 60, 3600, "a1")
    )
    assert again is not None and again.uses == 1
    assert again.uses_log[0].redeliveries == 1
    assert (
        links.redeliver(
            link.link_id, digest, Redelivery(taken.claim_id, "6" * 64, NOW + 61, 3600, "a1")
        )
        is None
    )
    assert (
        links.redeliver(link.link_id, digest, Redelivery("t" * 16, SESSION, NOW + 61, 3600, "a1"))
        is None
    )
    assert (
        links.redeliver(
            link.link_id, "0" * 64, Redelivery(taken.claim_id, SESSION, NOW + 61, 3600, "a1")
        )
        is None
    )
    assert (
        links.redeliver(
            link.link_id, digest, Redelivery(taken.claim_id, SESSION, NOW + 3601, 3600, "a1")
        )
        is None
    )
    links.refund(link.link_id, NOW + 70, taken.claim_id)
    # The refunded redemption's session says so (its client must not spend silently);
    # another secret is no session at all.
    with pytest.raises(SessionRefundedError):
        links.redeliver(
            link.link_id, digest, Redelivery(taken.claim_id, SESSION, NOW + 71, 3600, "a2")
        )
    assert (
        links.redeliver(
            link.link_id, digest, Redelivery(taken.claim_id, "6" * 64, NOW + 71, 3600, "a3")
        )
        is None
    )
    assert links.get(link.link_id).uses_log[0].redeliveries == 1


def redelivered(links: LinkStore, link_id: str, claim_id: str) -> int:
    return next(u for u in links.get(link_id).uses_log if u.claim_id == claim_id).redeliveries


def test_a_failed_re_delivery_is_given_back_once_and_only_its_own(links: LinkStore) -> None:
    link, digest = new_link(links, uses=1)
    taken = Claim("g" * 16, NOW + 1, "10.0.0.1", "agent/1", False, None, SESSION)
    links.claim(link.link_id, digest, taken)
    for attempt in ("one", "two"):
        assert links.redeliver(
            link.link_id, digest, Redelivery(taken.claim_id, SESSION, NOW + 5, 3600, attempt)
        )
    # "one" is no longer the last count: undoing it would take "two"'s, so nothing moves.
    assert not links.give_back_redelivery(
        link.link_id, Redelivery(taken.claim_id, SESSION, NOW, 3600, "one")
    )
    assert links.give_back_redelivery(
        link.link_id, Redelivery(taken.claim_id, SESSION, NOW, 3600, "two")
    )
    assert not links.give_back_redelivery(
        link.link_id, Redelivery(taken.claim_id, SESSION, NOW, 3600, "two")
    )  # repeated
    assert redelivered(links, link.link_id, taken.claim_id) == 1
    assert not links.give_back_redelivery(
        link.link_id, Redelivery("x" * 16, SESSION, NOW, 3600, "two")
    )  # no such claim
    assert links.get(link.link_id).uses == 1


def test_a_fenced_re_delivery_cannot_land_late(links: LinkStore) -> None:
    """The count's answer was lost and the undo ran first: the count, arriving late, is
    refused; any other attempt still counts."""
    link, digest = new_link(links, uses=1)
    taken = Claim("f" * 16, NOW + 1, "10.0.0.1", "agent/1", False, None, SESSION)
    links.claim(link.link_id, digest, taken)
    assert not links.give_back_redelivery(
        link.link_id, Redelivery(taken.claim_id, SESSION, NOW, 3600, "lost"), fence=True
    )
    late = links.redeliver(
        link.link_id, digest, Redelivery(taken.claim_id, SESSION, NOW + 5, 3600, "lost")
    )
    assert late is None
    assert redelivered(links, link.link_id, taken.claim_id) == 0
    assert links.redeliver(
        link.link_id, digest, Redelivery(taken.claim_id, SESSION, NOW + 6, 3600, "next")
    )
    # Landed before its fence: the fenced undo takes it back, once.
    assert links.give_back_redelivery(
        link.link_id, Redelivery(taken.claim_id, SESSION, NOW, 3600, "next"), fence=True
    )
    assert not links.give_back_redelivery(
        link.link_id, Redelivery(taken.claim_id, SESSION, NOW, 3600, "next"), fence=True
    )
    assert redelivered(links, link.link_id, taken.claim_id) == 0


def test_a_session_ends_when_the_link_is_revoked(links: LinkStore) -> None:
    link, digest = new_link(links, uses=1)
    taken = Claim("r" * 16, NOW + 1, "10.0.0.1", "agent/1", False, None, SESSION)
    links.claim(link.link_id, digest, taken)
    links.revoke(link.link_id, NOW + 2)
    assert (
        links.redeliver(
            link.link_id, digest, Redelivery(taken.claim_id, SESSION, NOW + 3, 3600, "a1")
        )
        is None
    )


def test_a_refunded_claim_is_never_given_back_twice(links: LinkStore) -> None:
    """An operator's refund racing the app's own give-back of an undelivered claim: one of
    them gives the use back, never both, and uses never drop below zero."""
    for named in (True, False):
        link, digest = new_link(links, uses=1)
        taken = claim()
        links.claim(link.link_id, digest, taken)
        links.refund(link.link_id, NOW + 5, taken.claim_id if named else None)
        assert not links.release(link.link_id, taken.claim_id)
        assert links.get(link.link_id).uses == 0


def test_two_attempts_with_one_claim_id_are_told_apart_by_their_session(
    links: LinkStore,
) -> None:
    """The same page's form sent twice within one millisecond is still a second attempt."""
    link, digest = new_link(links, uses=2)
    first = Claim("p" * 16, NOW + 1, "", "", False, None, "1" * 64)
    assert links.claim(link.link_id, digest, first).claimed
    twin = Claim("p" * 16, NOW + 1, "", "", False, None, "2" * 64)
    outcome = links.claim(link.link_id, digest, twin)
    assert not outcome.claimed and outcome.repeated
    assert links.get(link.link_id).uses == 1


def test_a_press_re_delivered_by_its_claim_is_re_keyed(links: LinkStore) -> None:
    link, digest = new_link(links, uses=1)
    taken = Claim("q" * 16, NOW + 1, "", "", False, None, "1" * 64)
    links.claim(link.link_id, digest, taken)
    again = links.redeliver(
        link.link_id,
        digest,
        Redelivery("q" * 16, None, NOW + 2, 3600, "a1", new_session_digest="3" * 64),
    )
    assert again is not None and again.uses_log[0].session_digest == "3" * 64
    assert (
        links.redeliver(link.link_id, digest, Redelivery("q" * 16, "1" * 64, NOW + 3, 3600, "a1"))
        is None
    )
    assert (
        links.redeliver(link.link_id, digest, Redelivery("q" * 16, "3" * 64, NOW + 3, 3600, "a1"))
        is not None
    )


# Recipient checks: the answer is compared inside the claim's write, a wrong one is counted
# by a second conditional write, and the count never passes MAX_WRONG_ANSWERS.


def checked_link(store: LinkStore, answer: str = "right") -> tuple[Link, str]:
    return new_link(
        store,
        confirm=True,
        check="code",
        answer_digest=f"digest-of-{answer}",
        recipient="someone@example.com",
    )


def answered(answer: str, at: float = NOW + 1) -> Claim:
    return Claim(uuid.uuid4().hex[:16], at, "10.0.0.1", "agent/1", True, answer_digest=answer)


def test_a_check_takes_a_use_only_with_the_right_answer(links: LinkStore) -> None:
    link, digest = checked_link(links)
    with pytest.raises(RecipientCheckError) as blank:
        links.claim(link.link_id, digest, answered(""))
    assert blank.value.reason == "answer_required"
    with pytest.raises(RecipientCheckError) as wrong:
        links.claim(link.link_id, digest, answered("digest-of-wrong"))
    counted = wrong.value.link
    assert isinstance(counted, Link) and wrong.value.reason == "wrong_answer"
    assert (counted.wrong_answers, counted.uses, len(counted.guesses)) == (1, 0, 1)
    assert counted.guesses[0].client_ip == "10.0.0.1"
    assert links.claim(link.link_id, digest, answered("digest-of-right")).claimed
    after = links.get(link.link_id)
    assert (after.uses, after.wrong_answers, after.recipient) == (1, 1, "someone@example.com")


def test_five_wrong_answers_lock_until_unlocked(links: LinkStore) -> None:
    link, digest = checked_link(links)
    for _ in range(MAX_WRONG_ANSWERS):
        with pytest.raises(RecipientCheckError):
            links.claim(link.link_id, digest, answered("digest-of-wrong"))
    with pytest.raises(LinkLockedError):
        links.claim(link.link_id, digest, answered("digest-of-right"))
    with pytest.raises(LinkLockedError):
        links.claim(link.link_id, digest, answered("digest-of-wrong"))
    locked = links.get(link.link_id)
    assert locked.locked and locked.wrong_answers == MAX_WRONG_ANSWERS
    unlocked = links.unlock(link.link_id, NOW + 5)
    assert not unlocked.locked and unlocked.unlocked == (NOW + 5,)
    assert len(unlocked.guesses) == MAX_WRONG_ANSWERS  # the audit trail keeps them
    assert links.claim(link.link_id, digest, answered("digest-of-right")).claimed


def test_a_link_without_a_check_cannot_be_unlocked(links: LinkStore) -> None:
    link, _ = new_link(links)
    with pytest.raises(ConflictError):
        links.unlock(link.link_id, NOW)
    with pytest.raises(LinkNotFoundError):
        links.unlock(new_token().link_id, NOW)


def test_the_message_id_is_recorded(links: LinkStore) -> None:
    link, _ = checked_link(links)
    links.record_message(link.link_id, "ses-message-1")
    assert links.get(link.link_id).message_id == "ses-message-1"


def test_concurrent_guesses_never_get_past_the_lock_count(atomic_links: LinkStore) -> None:
    link, digest = checked_link(atomic_links)
    outcomes: list[str] = []
    barrier = threading.Barrier(24)

    def guess(n: int) -> None:
        barrier.wait(timeout=10)
        try:
            atomic_links.claim(link.link_id, digest, answered(f"digest-of-wrong-{n}"))
            outcomes.append("claimed")
        except RecipientCheckError as error:
            outcomes.append(error.reason)
        except LinkLockedError:
            outcomes.append("locked")
        except UnavailableError:
            outcomes.append("retry")  # the link changed between write and read: not counted

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    after = atomic_links.get(link.link_id)
    assert outcomes.count("wrong_answer") == MAX_WRONG_ANSWERS, outcomes
    assert after.wrong_answers == MAX_WRONG_ANSWERS and len(after.guesses) == MAX_WRONG_ANSWERS
    assert after.uses == 0 and "claimed" not in outcomes


def emailed_link(store: LinkStore, recipient: str | None, at: float = NOW) -> Link:
    return new_link(store, confirm=True, at=at, recipient=recipient)[0]


def test_for_recipient_pages_newest_first_in_any_case(links: LinkStore) -> None:
    box = f"Client.{uuid.uuid4().hex}@Example.com"
    made = [
        emailed_link(links, box if i % 2 else box.lower(), at=NOW + i).link_id for i in range(3)
    ]
    emailed_link(links, None)  # not in the index at all
    emailed_link(links, f"other-{box}")
    first = links.for_recipient(box.upper(), 2, None)
    assert [link.link_id for link in first.links] == made[::-1][:2]
    assert first.links[1].recipient == box  # kept as given
    assert first.cursor is not None
    rest = links.for_recipient(box.lower(), 2, first.cursor)
    assert [link.link_id for link in rest.links] == made[:1]
    assert rest.cursor is None
    assert links.for_recipient(f"nobody-{box}", 5, None).links == []
    with pytest.raises(InvalidRequestError):
        links.for_recipient(box, 2, "not-a-cursor")
    with pytest.raises(InvalidRequestError):  # another address's cursor
        links.for_recipient(f"other-{box}", 2, first.cursor)


def test_supersede_revokes_once_and_restore_undoes_only_its_own(links: LinkStore) -> None:
    old = emailed_link(links, "someone@example.com")
    new = emailed_link(links, "someone@example.com")
    replaced = links.supersede(old.link_id, new.link_id, NOW + 5, uses=0, fence=0)
    assert (replaced.revoked_at, replaced.replaced_by) == (NOW + 5, new.link_id)
    # A second resend racing the first loses: the link has one replacement.
    with pytest.raises(ConflictError):
        links.supersede(old.link_id, "b" * 16, NOW + 6, uses=0, fence=0)
    assert not links.restore(old.link_id, "b" * 16)
    assert links.get(old.link_id).replaced_by == new.link_id
    assert links.restore(old.link_id, new.link_id)
    restored = links.get(old.link_id)
    assert (restored.revoked_at, restored.replaced_by) == (None, None)
    # A link withdrawn by an operator is never replaced, nor given back by a restore.
    links.revoke(old.link_id, NOW + 7)
    with pytest.raises(ConflictError):
        links.supersede(old.link_id, new.link_id, NOW + 8, uses=0, fence=0)
    assert not links.restore(old.link_id, new.link_id)
    assert links.get(old.link_id).revoked_at == NOW + 7
    with pytest.raises(LinkNotFoundError):
        links.supersede(new_token().link_id, new.link_id, NOW, uses=0, fence=0)


def test_restore_never_undoes_an_operators_revoke(links: LinkStore) -> None:
    """A resend's undo restores the old link only if no operator withdrew it meanwhile."""
    old = emailed_link(links, "someone@example.com")
    new = emailed_link(links, "someone@example.com")
    links.supersede(old.link_id, new.link_id, NOW + 5, uses=0, fence=0)
    links.revoke(old.link_id, NOW + 6)
    assert not links.restore(old.link_id, new.link_id)
    assert links.get(old.link_id).revoked_at == NOW + 5  # the first time, kept


def test_a_change_of_limits_makes_a_resend_read_again(links: LinkStore) -> None:
    link, _ = new_link(links, uses=3)
    links.change(link.link_id, Changes(max_uses=2))
    with pytest.raises(ChangedMeanwhileError):
        links.supersede(link.link_id, "b" * 16, NOW + 5, uses=0, fence=0)
    links.change(link.link_id, Changes(note="only the note"))  # limits unchanged: the fence stays
    fence = links.get(link.link_id).fence
    assert links.supersede(link.link_id, "b" * 16, NOW + 5, uses=0, fence=fence).replaced_by


def test_supersede_refuses_a_link_changed_since_it_was_read(links: LinkStore) -> None:
    """A resend's write carries over exactly what is left: it fails if a use was spent
    since the read, or if an earlier resend's write was fenced off since."""
    link, digest = new_link(links, uses=2)
    links.claim(link.link_id, digest, claim())  # a redemption racing the resend
    with pytest.raises(ChangedMeanwhileError):
        links.supersede(link.link_id, "b" * 16, NOW + 5, uses=0, fence=0)
    assert links.get(link.link_id).revoked_at is None
    links.close_resends(link.link_id)
    with pytest.raises(ChangedMeanwhileError):  # a supersede that arrives after its undo
        links.supersede(link.link_id, "b" * 16, NOW + 5, uses=1, fence=0)
    assert links.get(link.link_id).fence == 1
    replaced = links.supersede(link.link_id, "b" * 16, NOW + 5, uses=1, fence=1)
    assert (replaced.replaced_by, replaced.fence) == ("b" * 16, 2)
    with pytest.raises(LinkNotFoundError):
        links.close_resends(new_token().link_id)


def test_bury_withdraws_a_link_whose_create_may_land_late(links: LinkStore) -> None:
    """The undo of a mint nobody received: it revokes a link that was created, and a
    create that arrives after it fails instead of bringing the link to life."""
    link, _ = new_link(links)
    links.bury(link, NOW + 2)
    links.bury(link, NOW + 3)  # safe to repeat
    assert links.get(link.link_id).revoked_at == NOW + 3
    token = new_token()
    unsaved = dataclasses.replace(link, link_id=token.link_id, token_digest=token.digest)
    links.bury(unsaved, NOW + 2)  # its create never arrived...
    with pytest.raises(UnavailableError):
        links.create(unsaved)  # ...until now: refused
    assert links.get(token.link_id).status(NOW + 4) == "revoked"
    # Never over another link that drew the same id.
    other, _ = new_link(links)
    links.bury(dataclasses.replace(other, token_digest="not-" + other.token_digest), NOW + 5)
    assert links.get(other.link_id).status(NOW + 4) == "active"


def test_a_replaced_link_says_so_when_redeemed(links: LinkStore) -> None:
    link, digest = new_link(links)
    links.supersede(link.link_id, "b" * 16, NOW + 5, uses=0, fence=0)
    with pytest.raises(LinkRevokedError) as refused:
        links.claim(link.link_id, digest, claim())
    assert refused.value.replaced and "newer link" in refused.value.message


def test_a_replacement_records_what_it_replaces(links: LinkStore) -> None:
    token = new_token()
    link = dataclasses.replace(emailed_link(links, "a@example.com"), link_id=token.link_id)
    links.create(dataclasses.replace(link, replaces="c" * 16))
    assert links.get(token.link_id).replaces == "c" * 16


def test_an_answer_sent_to_a_link_without_a_check_is_ignored(links: LinkStore) -> None:
    link, digest = new_link(links, confirm=True)
    outcome = links.claim(link.link_id, digest, answered("digest-of-anything"))
    assert outcome.claimed and links.get(link.link_id).uses == 1


# Bounded history (issue 20, break 8): wrong answers, unlocks and refunds keep their last
# HISTORY_KEPT records and exact totals, so no history can grow an item to DynamoDB's
# 400 KB limit (past which every write fails and the link answers 503 for good).

LONG_UA = "Mozilla/5.0 (Ünïcödé) " + "é" * 600  # 600+ characters, 1200+ bytes in UTF-8


def long_history(store: LinkStore) -> Link:
    """200 wrong answers with an unlock after every fifth, and 100 redemptions each given
    back (named and unnamed in turn), on one 1-use link with a check."""
    link, digest = checked_link(store)
    at = NOW + 1
    for round_ in range(40):
        for n in range(MAX_WRONG_ANSWERS):
            at += 1
            ip = f"10.0.{round_}.{n}"
            wrong = Claim(uuid.uuid4().hex[:16], at, ip, LONG_UA, True, answer_digest="x")
            with pytest.raises(RecipientCheckError):
                store.claim(link.link_id, digest, wrong)
        at += 1
        store.unlock(link.link_id, at)
    for n in range(100):
        at += 1
        right = "digest-of-right"
        taken = Claim(uuid.uuid4().hex[:16], at, "10.1.0.1", LONG_UA, True, answer_digest=right)
        assert store.claim(link.link_id, digest, taken).claimed
        at += 1
        store.refund(link.link_id, at, taken.claim_id if n % 2 else None)
    return store.get(link.link_id)


def test_a_long_history_keeps_its_last_records_and_exact_totals(links: LinkStore) -> None:
    after = long_history(links)
    assert (after.guess_total, after.unlock_total, after.refund_total) == (200, 40, 100)
    assert len(after.guesses) == len(after.unlocked) == len(after.refunds) == HISTORY_KEPT
    # the kept records are the newest ones, oldest first
    assert (after.guesses[0].client_ip, after.guesses[-1].client_ip) == ("10.0.36.0", "10.0.39.4")
    assert list(after.unlocked) == sorted(after.unlocked)
    assert after.unlocked[-1] < after.refunds[0].at
    assert [r.claim_id is None for r in after.refunds][:2] == [True, False]
    assert after.refunds[-1].at == max(r.at for r in after.refunds)
    assert after.uses == 0 and after.wrong_answers == 0
    # a kept guess's user agent is cut to GUESS_UA_BYTES of UTF-8, never mid-character
    assert len(after.guesses[0].user_agent.encode()) <= GUESS_UA_BYTES
    assert LONG_UA.startswith(after.guesses[0].user_agent)


def item_bytes(attributes: dict[str, Any]) -> int:
    """An item's size by DynamoDB's rule (names plus values; 3 bytes per map or list and 1
    per element), from the item as the API returns it."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in attributes.items())


def _value_bytes(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        digits = str(inner).lstrip("-").replace(".", "").strip("0")
        return (len(digits) + 1) // 2 + 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_bytes(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_bytes(v) + 1 for v in inner)
    return 1  # BOOL, NULL


def check_legacy_item(client: Any, table: str) -> None:
    store = DynamoLinkStore(client, table)
    link, digest = checked_link(store)
    old_guesses = [
        {"M": {"at": {"N": str(NOW + n)}, "ip": {"S": f"10.9.0.{n}"}, "ua": {"S": "old"}}}
        for n in range(30)
    ]
    old_refunds = [{"M": {"at": {"N": str(NOW)}, "redemption": {"S": ""}}}] * 3
    client.update_item(
        TableName=table,
        Key={"pk": {"S": f"link#{link.link_id}"}},
        UpdateExpression="SET guesses = :g, unlocked = :u, refunds = :r",
        ExpressionAttributeValues={
            ":g": {"L": old_guesses},
            ":u": {"L": [{"N": str(NOW)}] * 6},
            ":r": {"L": old_refunds},
        },
    )
    before = store.get(link.link_id)
    assert (before.guess_total, before.unlock_total, before.refund_total) == (30, 6, 3)
    assert len(before.guesses) == HISTORY_KEPT and before.guesses[-1].client_ip == "10.9.0.29"
    with pytest.raises(RecipientCheckError):
        store.claim(link.link_id, digest, answered("digest-of-wrong", NOW + 100))
    store.unlock(link.link_id, NOW + 101)
    assert store.claim(link.link_id, digest, answered("digest-of-right", NOW + 102)).claimed
    after = store.refund(link.link_id, NOW + 103)
    assert (after.guess_total, after.unlock_total, after.refund_total) == (31, 7, 4)
    assert after.guesses[-1].at == NOW + 100 and after.unlocked[-1] == NOW + 101
    assert after.refunds[-1] == Refund(NOW + 103, None) and after.uses == 0
    item = client.get_item(TableName=table, Key={"pk": {"S": f"link#{link.link_id}"}})["Item"]
    assert [len(item[name]["L"]) for name in ("guesses", "unlocked", "refunds")] == [30, 6, 3]


RACE_ROUNDS = 20


def _race(*jobs: Any) -> None:
    """Run the jobs at once (threads released together), bounded in time."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Any) -> None:
        barrier.wait(timeout=10)
        job()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)


def test_unlocks_racing_wrong_answers_never_count_past_five(atomic_links: LinkStore) -> None:
    """Each round starts two records short of a full generation, so the race also
    crosses into a new one; the totals equal the guesses counted and unlocks made."""
    for round_ in range(RACE_ROUNDS):
        _unlocks_racing_wrong_answers(atomic_links, round_)


def _unlocks_racing_wrong_answers(atomic_links: LinkStore, round_: int) -> None:
    link, digest = checked_link(atomic_links)
    at = NOW + 1
    for n in range(HISTORY_KEPT - 2):
        if n and n % MAX_WRONG_ANSWERS == 0:
            atomic_links.unlock(link.link_id, at)
        with pytest.raises(RecipientCheckError):
            atomic_links.claim(link.link_id, digest, answered("digest-of-wrong", at))
    before = atomic_links.get(link.link_id)
    counted: list[Link] = []
    unlocks: list[Link] = []
    refused: list[str] = []

    def guess(n: int) -> None:
        try:
            atomic_links.claim(link.link_id, digest, answered(f"wrong-{n}", NOW + 50))
        except RecipientCheckError as error:
            assert isinstance(error.link, Link)
            counted.append(error.link)
        except (LinkLockedError, UnavailableError) as error:
            refused.append(type(error).__name__)

    def unlock() -> None:
        unlocks.append(atomic_links.unlock(link.link_id, NOW + 60))

    jobs = [lambda n=n: guess(n) for n in range(12)] + [unlock, unlock]
    _race(*jobs)
    after = atomic_links.get(link.link_id)
    assert all(seen.wrong_answers <= MAX_WRONG_ANSWERS for seen in (*counted, after))
    assert after.wrong_answers <= MAX_WRONG_ANSWERS
    # at most five counted per lock period: before the race, and after each unlock
    assert len(counted) <= (MAX_WRONG_ANSWERS - before.wrong_answers) + 2 * MAX_WRONG_ANSWERS
    assert len(counted) + len(refused) == 12 and len(unlocks) == 2, round_
    assert after.guess_total == before.guess_total + len(counted)
    assert after.unlock_total == before.unlock_total + 2
    assert len(after.guesses) == HISTORY_KEPT  # 18 + at least 2 counted (none locked yet)
    assert after.guesses[-1].at == NOW + 50
    assert after.uses == 0


def test_refunds_racing_redemptions_deliver_at_most_uses_plus_refunds(
    atomic_links: LinkStore,
) -> None:
    """A 2-use link, used up, then redemptions race refunds: the uses taken never pass
    max_uses plus the refunds made, and the refunds' total is exact across a new
    generation (each round starts one refund short of a full one)."""
    for round_ in range(RACE_ROUNDS):
        _refunds_racing_redemptions(atomic_links, round_)


def _refunds_racing_redemptions(atomic_links: LinkStore, round_: int) -> None:
    link, digest = new_link(atomic_links, uses=2)
    for _ in range(HISTORY_KEPT - 1):
        atomic_links.claim(link.link_id, digest, claim())
        atomic_links.refund(link.link_id, NOW + 2)
    atomic_links.claim(link.link_id, digest, claim())
    atomic_links.claim(link.link_id, digest, claim())
    before = atomic_links.get(link.link_id)
    assert before.uses == 2 and before.refund_total == HISTORY_KEPT - 1
    taken: list[str] = []
    refunded: list[Link] = []

    def redeem() -> None:
        try:
            if atomic_links.claim(link.link_id, digest, claim(NOW + 3)).claimed:
                taken.append("claimed")
        except (LinkUsedUpError, UnavailableError):
            pass

    def refund() -> None:
        with contextlib.suppress(ConflictError, UnavailableError):
            refunded.append(atomic_links.refund(link.link_id, NOW + 4))

    _race(*([redeem] * 8 + [refund] * 4))
    after = atomic_links.get(link.link_id)
    # every use taken in the race was made possible by a refund made in it
    assert len(taken) <= len(refunded), round_
    assert after.uses == before.uses + len(taken) - len(refunded) <= after.max_uses
    assert after.refund_total == before.refund_total + len(refunded)
    assert len(after.refunds) == HISTORY_KEPT
    assert len(after.uses_log) <= after.max_uses + 2 * HISTORY_KEPT


# --- bundles (issue 25): one link, several files, one use for all ----------------------


def new_bundle(store: LinkStore, count: int = 3, *, uses: int = 1) -> tuple[Link, str]:
    """A bundle of ``count`` files stored for a test (the second one versioned), and its
    token's digest.  Keys of 62 characters, names of 30, S3's 34-character ETags: sizes
    like a real bundle's (tests/stack/test_bundle_claim.py weighs the item)."""
    token = new_token(bundle=True)
    files = tuple(
        BundledFile(
            StoredObject(
                f"b/{uuid.uuid4().hex}/{'x' * 16} file {n:02}.pdf",
                1000 + n,
                "application/pdf",
                f'"{n:032x}"',
                "v" * 32 if n == 2 else None,
            ),
            f"{'y' * 18} file {n:02}.pdf",
        )
        for n in range(1, count + 1)
    )
    link = Link(
        link_id=token.link_id,
        token_digest=token.digest,
        object=files[0].object,
        filename=files[0].filename,
        max_uses=uses,
        uses=0,
        created_at=NOW,
        expires_at=int(NOW) + 3600,
        confirm=True,
        files=files,
    )
    store.create(link)
    return link, token.digest


def bundle_claim(at: float = NOW + 1, session: str = SESSION) -> Claim:
    return Claim(uuid.uuid4().hex[:16], at, "10.0.0.1", "agent/1", False, None, session, "", True)


def test_a_bundle_reads_back_equal_and_its_claim_answers_with_its_files(
    links: LinkStore,
) -> None:
    link, digest = new_bundle(links)
    assert links.get(link.link_id) == link
    outcome = links.claim(link.link_id, digest, bundle_claim())
    assert outcome.claimed and outcome.link.uses == 1
    assert outcome.link.files == link.files


def test_a_bundle_counts_fetches_per_file_under_each_files_cap(links: LinkStore) -> None:
    link, digest = new_bundle(links)
    taken = bundle_claim()
    links.claim(link.link_id, digest, taken)

    def fetch(file: int, attempt: str = "a") -> Link | None:
        asked = Redelivery(taken.claim_id, SESSION, NOW + 60, 3600, attempt, file=file)
        return links.redeliver(link.link_id, digest, asked)

    for _ in range(REDELIVERY_CAP):
        assert fetch(1) is not None
    assert fetch(1) is None  # file 1's cap
    after = fetch(2, "b2")
    assert after is not None and after.uses == 1
    assert fetch(4) is None  # no file 4: refused, and counted nowhere
    (use,) = links.get(link.link_id).uses_log
    assert use.fetches == ((1, REDELIVERY_CAP), (2, 1))
    assert use.redeliveries == 0  # the list's own count, untouched by the files'
    # A failed fetch's count is given back for that file only.
    assert links.give_back_redelivery(
        link.link_id, Redelivery(taken.claim_id, SESSION, NOW, 3600, "b2", file=2)
    )
    assert not links.give_back_redelivery(
        link.link_id, Redelivery(taken.claim_id, SESSION, NOW, 3600, "b2", file=2)
    )
    (use,) = links.get(link.link_id).uses_log
    assert use.fetches == ((1, REDELIVERY_CAP), (2, 0))


def test_two_presses_on_a_bundle_spend_its_one_use_once(atomic_links: LinkStore) -> None:
    link, digest = new_bundle(atomic_links, uses=1)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def press() -> None:
        barrier.wait(timeout=10)
        try:
            atomic_links.claim(link.link_id, digest, bundle_claim())
            outcomes.append("claimed")
        except LinkUsedUpError:
            outcomes.append("used")

    threads = [threading.Thread(target=press) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["claimed"] + ["used"] * 7
    assert atomic_links.get(link.link_id).uses == 1
