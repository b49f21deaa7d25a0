"""Notification events from a link before and after each write (``notifications.between``),
on the in-memory stores: a claim given back after a failed read, a refund, the receipts'
wording, and what a receipt whose answer was lost does on Lambda's retry."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from chalicelib.domain.errors import MailError, UnavailableError
from chalicelib.domain.link import Link, StoredObject
from chalicelib.events.notifications import Notifier
from chalicelib.events.receipts import compose
from chalicelib.events.stream import (
    EXPIRED_UNUSED,
    REDEEMED,
    REDEMPTION_RETURNED,
    REFUNDED,
    Event,
    between,
)
from chalicelib.services import Services
from chalicelib.services.links import RefundRequest
from chalicelib.services.minting import MintRequest
from chalicelib.services.redemption import Requester
from chalicelib.settings import Settings
from tests.fakes import (
    FrozenClock,
    MemoryGrantStore,
    MemoryLinkStore,
    MemoryObjectStore,
    MemoryRequestStore,
)

CURL = Requester(accept="*/*", client_ip="10.0.0.8", user_agent="curl/8")
NOTIFY = "ops@example.com"


class SnapshotBeforeFailing(MemoryObjectStore):
    """Reads and presigns fail while ``failing``; each failure first notes the link as the claim
    left it (the moment between the claim and the give-back)."""

    def __init__(self, links: MemoryLinkStore) -> None:
        super().__init__()
        self.links = links
        self.failing: str | None = None  # the link id whose reads fail
        self.seen: list[Link] = []

    def fetch_base64(self, obj: StoredObject, byte_range: tuple[int, int] | None = None) -> str:
        if self.failing is not None:
            self.seen.append(self.links.get(self.failing))
            raise OSError("connection reset")
        return super().fetch_base64(obj, byte_range)

    def presign(self, obj: StoredObject, disposition: str, lifetime: int) -> str:
        if self.failing is not None:
            self.seen.append(self.links.get(self.failing))
            raise OSError("no credentials to sign with")
        return super().presign(obj, disposition, lifetime)


@dataclass
class World:
    services: Services
    links: MemoryLinkStore
    objects: SnapshotBeforeFailing
    clock: FrozenClock
    history: list[Link] = field(default_factory=list)  # the link after each write


@pytest.fixture
def world() -> World:
    links = MemoryLinkStore()
    objects = SnapshotBeforeFailing(links)
    objects.put("docs/a.pdf", b"%PDF-1.7 tiny")
    clock = FrozenClock(1_800_000_000)
    settings = Settings(table="t", bucket="b", api_key_hashes=("0" * 64,))
    services = Services(
        settings=settings,
        clock=clock,
        links=links,
        objects=objects,
        requests=MemoryRequestStore(),
        grants=MemoryGrantStore(),
    )
    return World(services, links, objects, clock)


def told(history: list[Link]) -> Iterator[Event]:
    """The events of each write, as the stream would number its records."""
    for sequence, (old, new) in enumerate(itertools.pairwise(history)):
        yield from between(old, new, sequence=str(sequence), written_at=1_800_000_100.0)


def test_a_give_back_and_a_refund_each_tell_an_event_and_the_tally_is_the_uses(
    world: World,
) -> None:
    minted = world.services.minting.mint(
        MintRequest(file="docs/a.pdf", uses=2, confirm=False, notify=NOTIFY)
    )
    link_id, token = minted.link.link_id, minted.token.value
    history = [world.links.get(link_id)]
    world.objects.failing = link_id
    with pytest.raises(UnavailableError):
        world.services.redeeming.post(token, CURL)
    world.objects.failing = None
    history += [*world.objects.seen, world.links.get(link_id)]  # claimed, then given back
    world.services.redeeming.post(token, CURL)
    history.append(world.links.get(link_id))
    [use] = history[-1].uses_log
    world.services.links.refund(link_id, RefundRequest(redemption=use.claim_id))
    history.append(world.links.get(link_id))

    events = list(told(history))

    assert [e.kind for e in events] == [REDEEMED, REDEMPTION_RETURNED, REDEEMED, REFUNDED]
    returned = events[1]
    assert returned.use is not None and returned.use.claim_id == events[0].link.uses_log[0].claim_id
    assert returned.at == 1_800_000_100.0 and returned.link.uses == 0
    assert events[3].use is not None and events[3].use.claim_id == use.claim_id
    tally = {REDEEMED: 1, REDEMPTION_RETURNED: -1, REFUNDED: -1}
    assert sum(tally[e.kind] for e in events) == history[-1].uses == 0
    assert len({e.event_id for e in events}) == len(events)


def test_receipts_say_a_download_started_never_that_it_completed(world: World) -> None:
    minted = world.services.minting.mint(
        MintRequest(file="docs/a.pdf", confirm=False, notify=NOTIFY)
    )
    world.services.redeeming.post(minted.token.value, CURL)
    link = world.links.get(minted.link.link_id)
    [use] = link.uses_log
    wording = {
        kind: compose(Event(kind, "id", link.created_at, link, use), False)
        for kind in (REDEEMED, REDEMPTION_RETURNED, REFUNDED)
    }
    wording[EXPIRED_UNUSED] = compose(Event(EXPIRED_UNUSED, "id", 0.0, link), False)
    assert {kind: subject for kind, (subject, _, _) in wording.items()} == {
        REDEEMED: "Download started: a.pdf",
        REDEMPTION_RETURNED: "Download did not complete: a.pdf",
        REFUNDED: "Use given back: a.pdf",
        EXPIRED_UNUSED: "Not downloaded: a.pdf",
    }
    for kind, (_, text, page) in wording.items():
        if kind != EXPIRED_UNUSED:
            assert "downloaded" not in (text + page).lower()
        assert minted.token.value not in text + page
    assert "given back" in wording[REDEMPTION_RETURNED][1]


class LostAnswers:
    """A mail sender that sends, then loses SES's answer for the first ``lose`` messages."""

    def __init__(self, lose: int) -> None:
        self.lose = lose
        self.sent: list[str] = []

    def deliver(self, to: str, subject: str, text: str, page: str) -> str:
        self.sent.append(subject)
        if len(self.sent) <= self.lose:
            raise MailError("The email could not be sent: the mail service did not answer.")
        return "ses-id"


def test_a_receipt_whose_answer_was_lost_is_sent_again_at_least_once(world: World) -> None:
    minted = world.services.minting.mint(
        MintRequest(file="docs/a.pdf", confirm=False, notify=NOTIFY)
    )
    before = world.links.get(minted.link.link_id)
    world.services.redeeming.post(minted.token.value, CURL)
    [event] = between(before, world.links.get(before.link_id), sequence="7", written_at=None)
    sender = LostAnswers(lose=1)
    notifier = Notifier(webhooks=None, mailer=sender, compose=compose)

    assert notifier.notify(event) != []  # (b): sent, but it looks failed: Lambda retries
    assert notifier.notify(event) == []
    assert notifier.notify(event) == []  # accepted once: this container does not resend
    assert sender.sent == ["Download started: a.pdf"] * 2
