"""Resend on the in-memory stores: the order of its writes, seen from what each failure
leaves behind.  (The HTTP route, SES and DynamoDB are in tests/test_resend.py.)"""

from __future__ import annotations

import contextlib

import pytest
from botocore.exceptions import ReadTimeoutError

from chalicelib.domain.addresses import Addresses
from chalicelib.domain.answers import Answers
from chalicelib.domain.errors import ConflictError, MailError, UnavailableError
from chalicelib.domain.link import Changes, Claim, Link
from chalicelib.mail.mailer import Letter, Mailer
from chalicelib.services.minting import Minting, MintRequest, ResendRequest
from tests.fakes import FrozenClock, MemoryLinkStore, MemoryObjectStore

TO = "buyer@example.com"


class Outbox(Mailer):
    """Records what it sends; fails when told to."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str | None]] = []
        self.failing = False

    def send(
        self, letter: Letter, link: Link, url: str, now: float, code: str | None = None
    ) -> str:
        if self.failing:
            raise MailError("The email could not be sent: the mail service failed.")
        self.sent.append((letter.email, url, code))
        return f"ses-{len(self.sent)}"


class Racing(MemoryLinkStore):
    """A store where another resend replaces the link between our create and our write."""

    def supersede(
        self, link_id: str, replacement: str, at: float, *, uses: int, fence: int
    ) -> Link:
        super().supersede(link_id, "z" * 16, at, uses=uses, fence=fence)
        return super().supersede(link_id, replacement, at, uses=uses, fence=fence)


def minting(links: MemoryLinkStore, outbox: Mailer) -> Minting:
    objects = MemoryObjectStore()
    objects.put("docs/a.pdf", b"%PDF" * 10)
    return Minting(
        links=links,
        objects=objects,
        clock=FrozenClock(1_800_000_000),
        mailer=lambda: outbox,
        answers=Answers(lambda: b"k" * 32),
    )


def first_link(service: Minting, **fields: object) -> str:
    minted = service.mint_and_mail(
        MintRequest(file="docs/a.pdf", **fields),  # type: ignore[arg-type]
        Letter(email=TO),
        Addresses("https://x"),
    )
    return minted.link.link_id


def test_a_resend_that_loses_a_race_withdraws_its_own_link() -> None:
    links, outbox = Racing(), Outbox()
    service = minting(links, outbox)
    old = first_link(service)
    with pytest.raises(ConflictError):
        service.resend(old, ResendRequest(), Addresses("u"))
    (mine,) = [link for link in links.links.values() if link.replaces == old]
    assert mine.revoked_at is not None  # nobody got it, and it works for nobody
    assert len(outbox.sent) == 1  # only the first email


def test_a_failed_email_restores_the_old_link_and_withdraws_the_new() -> None:
    links, outbox = MemoryLinkStore(), Outbox()
    service = minting(links, outbox)
    old = first_link(service, verify="code")
    outbox.failing = True
    with pytest.raises(MailError, match="old link works as before"):
        service.resend(old, ResendRequest(), Addresses("u"))
    restored = links.get(old)
    assert (restored.revoked_at, restored.replaced_by) == (None, None)
    (new,) = [link for link in links.links.values() if link.replaces == old]
    assert new.revoked_at is not None


def test_the_new_email_carries_the_new_code_and_url() -> None:
    links, outbox = MemoryLinkStore(), Outbox()
    service = minting(links, outbox)
    old = first_link(service, verify="code", uses=3)
    minted = service.resend(old, ResendRequest(ttl=60), Addresses("u"))
    assert outbox.sent[-1] == (TO, Addresses("u").download(minted.token.value), minted.code)
    assert minted.code is not None and minted.link.max_uses == 3
    assert minted.link.expires_at == 1_800_000_060
    assert links.get(old).replaced_by == minted.link.link_id
    assert links.get(minted.link.link_id).message_id == "ses-2"


class RedeemedMeanwhile(MemoryLinkStore):
    """A customer redeems the link between the resend's read and its write."""

    def __init__(self) -> None:
        super().__init__()
        self.digest = ""

    def get(self, link_id: str) -> Link:
        link = super().get(link_id)
        if self.digest and link.uses == 0:
            self.claim(link_id, self.digest, Claim(claim_id="c1", at=link.created_at + 60))
        return link


def test_a_resend_racing_a_redemption_never_carries_over_the_spent_use() -> None:
    """Break 1: the redemption wins the last use, so nothing is left to resend; the
    replacement must not hand out the use the customer already had."""
    links, outbox = RedeemedMeanwhile(), Outbox()
    service = minting(links, outbox)
    minted = service.mint_and_mail(MintRequest(file="docs/a.pdf"), Letter(email=TO), Addresses("u"))
    links.digest = minted.token.digest
    with pytest.raises(ConflictError, match="used up"):
        service.resend(minted.link.link_id, ResendRequest(), Addresses("u"))
    live = [link for link in links.links.values() if link.status(1_800_000_000) == "active"]
    assert live == []  # the one use went to the redemption, and nothing else works
    assert links.get(minted.link.link_id).replaced_by is None
    assert len(outbox.sent) == 1


class LateCreate(MemoryLinkStore):
    """The replacement's PutItem times out, and DynamoDB applies it after the answer."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[Link] = []

    def create(self, link: Link) -> None:
        if link.replaces is None:
            return super().create(link)
        self.held.append(link)
        raise UnavailableError("The link service is not answering; try again shortly.")


def test_a_replacement_whose_write_lands_late_never_comes_to_life() -> None:
    """Break 3: the resend answered 503; its PutItem lands afterwards.  The customer must
    still have exactly one live link, the one they hold."""
    links, outbox = LateCreate(), Outbox()
    service = minting(links, outbox)
    old = first_link(service)
    with pytest.raises(UnavailableError):
        service.resend(old, ResendRequest(), Addresses("u"))
    (late,) = links.held
    with contextlib.suppress(UnavailableError):  # the store refuses it: the id is taken
        MemoryLinkStore.create(links, late)
    live = [link.link_id for link in links.links.values() if link.status(1_800_000_000) == "active"]
    assert live == [old]


class TimingOutSes:
    """SES that takes the message and then stops answering: it will be delivered."""

    def __init__(self) -> None:
        self.accepted = 0

    def send_email(self, **_: object) -> dict[str, str]:
        self.accepted += 1
        if self.accepted > 1:
            raise ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com")
        return {"MessageId": "ses-1"}


def test_an_uncertain_email_keeps_the_replacement_it_may_have_delivered() -> None:
    """Break 4: SES accepted the resend's message but its answer was lost.  The newest
    email in the customer's mailbox must work, and only one link may."""
    links, ses = MemoryLinkStore(), TimingOutSes()
    service = minting(links, Mailer(ses, "shop@example.com"))
    old = first_link(service)
    minted = service.resend(old, ResendRequest(), Addresses("u"))
    assert ses.accepted == 2
    assert minted.email == "uncertain" and minted.message_id is None
    assert links.get(minted.link.link_id).status(1_800_000_000) == "active"
    assert links.get(old).replaced_by == minted.link.link_id
    assert links.get(old).status(1_800_000_000) == "revoked"
    # Resending again is safe: it replaces the uncertain one in turn.
    ses.accepted = 0
    again = service.resend(minted.link.link_id, ResendRequest(), Addresses("u"))
    assert again.email == "sent"
    live = [link.link_id for link in links.links.values() if link.status(1_800_000_000) == "active"]
    assert live == [again.link.link_id]


class RevokedDuringTheEmail(Mailer):
    """SES refuses the resend's message, after an operator revoked the old link."""

    def __init__(self, links: MemoryLinkStore, outbox: Outbox) -> None:
        self.links, self.outbox, self.old = links, outbox, ""

    def send(
        self, letter: Letter, link: Link, url: str, now: float, code: str | None = None
    ) -> str:
        if not self.old:
            return self.outbox.send(letter, link, url, now, code)
        self.links.revoke(self.old, now)
        raise MailError("The email could not be sent: the mail service refused it.")


def test_a_failed_resend_never_undoes_an_operators_revoke() -> None:
    """Review: the old link was withdrawn by an operator while the resend's email was on
    its way; the undo must not bring it back."""
    links, outbox = MemoryLinkStore(), Outbox()
    mailer = RevokedDuringTheEmail(links, outbox)
    service = minting(links, mailer)
    old = first_link(service)
    mailer.old = old
    with pytest.raises(MailError):
        service.resend(old, ResendRequest(), Addresses("u"))
    assert [
        link.link_id for link in links.links.values() if link.status(1_800_000_000) == "active"
    ] == []
    assert links.get(old).revoked_at is not None


class LoweredMeanwhile(MemoryLinkStore):
    """An operator lowers the link's use limit between the resend's read and its write."""

    def __init__(self) -> None:
        super().__init__()
        self.lower = False

    def get(self, link_id: str) -> Link:
        link = super().get(link_id)
        if self.lower:
            self.lower = False
            self.change(link_id, Changes(max_uses=1))
        return link


def test_a_resend_carries_over_a_limit_lowered_meanwhile() -> None:
    links, outbox = LoweredMeanwhile(), Outbox()
    service = minting(links, outbox)
    old = first_link(service, uses=5)
    links.lower = True
    minted = service.resend(old, ResendRequest(), Addresses("u"))
    assert minted.link.max_uses == 1  # read again after the change, not the 5 it first saw


class Unreachable(MemoryLinkStore):
    """The store stops answering: the create's answer is lost, and so is every burial."""

    def create(self, link: Link) -> None:
        super().create(link)
        raise UnavailableError("The link service is not answering; try again shortly.")

    def bury(self, link: Link, at: float) -> None:
        raise UnavailableError("The link service is not answering; try again shortly.")


def test_a_mint_that_cannot_bury_its_link_names_it() -> None:
    links = Unreachable()
    service = minting(links, Outbox())
    with pytest.raises(UnavailableError) as failed:
        service.mint(MintRequest(file="docs/a.pdf"))
    (link_id,) = links.links
    assert link_id in failed.value.message and "revoke it" in failed.value.message
