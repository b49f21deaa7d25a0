"""Resend on the in-memory stores: the order of its writes, seen from what each failure
leaves behind.  (The HTTP route, SES and DynamoDB are in tests/test_resend.py.)"""

from __future__ import annotations

import pytest

from chalicelib.answers import Answers
from chalicelib.errors import ConflictError, MailError
from chalicelib.link import Link
from chalicelib.mailer import Letter, Mailer
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


def minting(links: MemoryLinkStore, outbox: Outbox) -> Minting:
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
        lambda token: f"https://x/download?token={token}",
    )
    return minted.link.link_id


def test_a_resend_that_loses_a_race_withdraws_its_own_link() -> None:
    links, outbox = Racing(), Outbox()
    service = minting(links, outbox)
    old = first_link(service)
    with pytest.raises(ConflictError):
        service.resend(old, ResendRequest(), lambda token: token)
    (mine,) = [link for link in links.links.values() if link.replaces == old]
    assert mine.revoked_at is not None  # nobody got it, and it works for nobody
    assert len(outbox.sent) == 1  # only the first email


def test_a_failed_email_restores_the_old_link_and_withdraws_the_new() -> None:
    links, outbox = MemoryLinkStore(), Outbox()
    service = minting(links, outbox)
    old = first_link(service, verify="code")
    outbox.failing = True
    with pytest.raises(MailError, match="old link works as before"):
        service.resend(old, ResendRequest(), lambda token: token)
    restored = links.get(old)
    assert (restored.revoked_at, restored.replaced_by) == (None, None)
    (new,) = [link for link in links.links.values() if link.replaces == old]
    assert new.revoked_at is not None


def test_the_new_email_carries_the_new_code_and_url() -> None:
    links, outbox = MemoryLinkStore(), Outbox()
    service = minting(links, outbox)
    old = first_link(service, verify="code", uses=3)
    minted = service.resend(old, ResendRequest(ttl=60), lambda token: f"u/{token}")
    assert outbox.sent[-1] == (TO, f"u/{minted.token.value}", minted.code)
    assert minted.code is not None and minted.link.max_uses == 3
    assert minted.link.expires_at == 1_800_000_060
    assert links.get(old).replaced_by == minted.link.link_id
    assert links.get(minted.link.link_id).message_id == "ses-2"
