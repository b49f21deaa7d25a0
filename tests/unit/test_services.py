"""The services on in-memory stores and a frozen clock: no network, no moto."""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib.domain.addresses import Addresses
from chalicelib.domain.errors import (
    ForbiddenError,
    InvalidRequestError,
    LinkExpiredError,
    LinkNotFoundError,
    LinkUsedUpError,
    MailError,
    ObjectNotFoundError,
    PressRepeatedError,
    RateLimitedError,
    UnavailableError,
)
from chalicelib.domain.link import REDELIVERY_CAP, Link
from chalicelib.mail.mailer import Letter, Mailer
from chalicelib.services import Services
from chalicelib.services.grants import GrantRequest
from chalicelib.services.links import LinkChange, RefundRequest
from chalicelib.services.minting import MintRequest
from chalicelib.services.redemption import (
    MIN_PRESS_SECONDS,
    Declined,
    Landing,
    Redirect,
    Requester,
    Stream,
)
from chalicelib.services.uploads import UploadRequest
from chalicelib.settings import Settings
from tests.fakes import (
    FrozenClock,
    MemoryGrantStore,
    MemoryLinkStore,
    MemoryObjectStore,
    MemoryRequestStore,
)

PDF = b"%PDF-1.7 small" * 10
BROWSER = Requester(accept="text/html,*/*", client_ip="10.0.0.9", user_agent="Firefox")
CURL = Requester(accept="*/*", client_ip="10.0.0.8", user_agent="curl/8")
STREAMING = Requester(accept="application/pdf", client_ip="10.0.0.8", user_agent="curl/8")
CURL_AS_BROWSER = Requester(accept="text/html,*/*", client_ip="10.6.6.6", user_agent="Firefox")


def holding(requester: Requester, page: Landing | Declined) -> Requester:
    """``requester`` sending back the form cookie that ``page`` set."""
    return dataclasses.replace(requester, form_key=page.form_key)


@dataclass
class World:
    services: Services
    links: MemoryLinkStore
    objects: MemoryObjectStore
    grants: MemoryGrantStore
    clock: FrozenClock
    mail: list[str] = field(default_factory=list)


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"table": "t", "bucket": "b", "api_key_hashes": ("0" * 64,)}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def world() -> World:
    links, objects, grants = MemoryLinkStore(), MemoryObjectStore(), MemoryGrantStore()
    clock = FrozenClock(1_800_000_000)
    objects.put("docs/a.pdf", PDF)
    services = Services(
        settings=settings(stream_max_bytes=1000, redirect_ttl=20),
        clock=clock,
        links=links,
        objects=objects,
        requests=MemoryRequestStore(),
        grants=grants,
    )
    return World(services, links, objects, grants, clock)


def services_on(world: World, settings: Settings, **parts: Any) -> Services:
    """Services on ``world``'s clock, objects and links with other ``settings``; ``parts``
    (``links``, ``grants``, ``mailer``) in place of, or beside, the world's."""
    defaults: dict[str, Any] = {
        "clock": world.clock,
        "links": world.links,
        "objects": world.objects,
        "requests": MemoryRequestStore(),
    }
    return Services(settings=settings, **{**defaults, **parts})


def mint(world: World, **fields: object) -> tuple[str, Link]:
    minted = world.services.minting.mint(MintRequest(file="docs/a.pdf", **fields))  # type: ignore[arg-type]
    return minted.token.value, minted.link


def test_mint_stores_the_link_with_the_clocks_expiry(world: World) -> None:
    token, link = mint(world, ttl=600, uses=2, note="order 7")
    stored = world.links.get(link.link_id)
    assert stored.expires_at == 1_800_000_600
    assert (stored.max_uses, stored.uses, stored.note, stored.filename) == (
        2,
        0,
        "order 7",
        "a.pdf",
    )
    assert token.startswith(link.link_id)
    assert stored.token_digest != token  # only the hash is kept


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"uses": 0}, "invalid_uses"),
        ({"ttl": 0}, "invalid_ttl"),
        ({"note": "a\x00"}, "invalid_note"),
    ],
)
def test_bad_mints_are_refused_before_anything_is_stored(
    world: World, fields: dict[str, object], code: str
) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        mint(world, **fields)
    assert refused.value.code == code
    assert world.links.links == {}


def test_missing_file_is_not_minted(world: World) -> None:
    with pytest.raises(ObjectNotFoundError):
        world.services.minting.mint(MintRequest(file="docs/missing.pdf"))
    assert world.links.links == {}


def test_browser_gets_the_landing_page_and_spends_nothing(world: World) -> None:
    token, link = mint(world)
    outcome = world.services.redeeming.get(token, BROWSER)
    assert isinstance(outcome, Landing)
    assert world.links.get(link.link_id).uses == 0


def test_small_file_streams_to_a_browser_without_confirmation(world: World) -> None:
    world.objects.put("docs/a.pdf", b"tiny")
    token, link = mint(world, confirm=False)
    outcome = world.services.redeeming.get(token, BROWSER)
    assert isinstance(outcome, Stream)
    assert base64.b64decode(outcome.body_base64) == b"tiny"
    assert world.links.get(link.link_id).uses == 1


def test_curl_gets_a_short_redirect_and_the_use_is_recorded(world: World) -> None:
    token, link = mint(world)
    outcome = world.services.redeeming.post(token, CURL)
    assert isinstance(outcome, Redirect)
    assert "expires=20" in outcome.location
    assert "filename" in outcome.disposition
    stored = world.links.get(link.link_id)
    assert stored.uses == 1
    assert [(u.client_ip, u.user_agent, u.at) for u in stored.uses_log] == [
        ("10.0.0.8", "curl/8", 1_800_000_000)
    ]
    with pytest.raises(LinkUsedUpError):
        world.services.redeeming.post(token, CURL)


def test_expiry_follows_the_clock(world: World) -> None:
    token, link = mint(world, ttl=60)
    world.clock.advance(59)
    assert world.services.redeeming.head(token, CURL).link_id == link.link_id
    world.clock.advance(1)
    with pytest.raises(LinkExpiredError):
        world.services.redeeming.post(token, CURL)
    assert world.links.get(link.link_id).uses == 0


def test_a_failed_read_gives_the_use_back(world: World) -> None:
    world.objects.put("docs/a.pdf", b"tiny")
    token, link = mint(world, confirm=False)
    world.objects.fail_reads = OSError("connection reset")
    with pytest.raises(UnavailableError):
        world.services.redeeming.get(token, BROWSER)
    stored = world.links.get(link.link_id)
    assert (stored.uses, stored.uses_log) == (0, ())


def test_garbage_token_is_refused_without_a_lookup(world: World) -> None:
    with pytest.raises(InvalidRequestError):
        world.services.redeeming.post("not a token", CURL)
    with pytest.raises(LinkNotFoundError):
        world.services.redeeming.post("a" * 16 + "B" * 43, CURL)


def test_operator_changes_expiry_from_the_clock_and_revokes(world: World) -> None:
    _token, link = mint(world)
    world.clock.advance(100)
    changed = world.services.links.change(link.link_id, LinkChange(ttl=30))
    assert changed.expires_at == 1_800_000_130
    revoked = world.services.links.revoke(link.link_id)
    assert revoked.revoked_at == 1_800_000_100
    assert revoked.status(world.clock()) == "revoked"
    with pytest.raises(LinkNotFoundError):
        world.services.links.describe("not-an-id")


class BrokenMailer(Mailer):
    def __init__(self) -> None:
        pass

    def send(
        self, letter: Letter, link: Link, url: str, now: float, code: str | None = None
    ) -> str:
        raise MailError("SES refused the message")


def test_a_failed_email_revokes_the_link(world: World) -> None:
    services = services_on(world, settings(), mailer=BrokenMailer)
    with pytest.raises(MailError):
        services.minting.mint_and_mail(
            MintRequest(file="docs/a.pdf"), Letter(email="c@example.com"), Addresses("u")
        )
    (link,) = world.links.links.values()
    assert link.revoked_at == world.clock()


def test_buyer_mints_within_the_daily_allowance(world: World) -> None:
    services = services_on(world, settings(grant_daily_links=2), grants=world.grants)
    with pytest.raises(ForbiddenError):
        services.buyers.mint("sub-1", MintRequest(file="docs/a.pdf"))
    services.granting.grant(GrantRequest("sub-1", "docs/a.pdf"))
    services.buyers.mint("sub-1", MintRequest(file="docs/a.pdf"))
    services.buyers.mint("sub-1", MintRequest(file="docs/a.pdf"))
    with pytest.raises(RateLimitedError) as limited:
        services.buyers.mint("sub-1", MintRequest(file="docs/a.pdf"))
    assert limited.value.retry_after == 86_400 - 1_800_000_000 % 86_400
    world.clock.advance(limited.value.retry_after)
    services.buyers.mint("sub-1", MintRequest(file="docs/a.pdf"))
    assert len(world.links.links) == 3


def test_owner_mints_their_own_file_without_a_grant(world: World) -> None:
    world.objects.put("docs/own.pdf", PDF, owner="sub-2")
    minted = world.services.buyers.mint("sub-2", MintRequest(file="docs/own.pdf"))
    assert minted.link.object.key == "docs/own.pdf"
    with pytest.raises(ForbiddenError):
        world.services.buyers.mint("sub-3", MintRequest(file="docs/own.pdf"))


def test_upload_goes_under_the_prefix_and_is_sized(world: World) -> None:
    upload = world.services.uploading.start(UploadRequest(filename="été.pdf", size=10))
    assert upload.key.startswith("uploads/") and upload.key.endswith("/été.pdf")
    assert upload.expires_at == 1_800_000_600
    with pytest.raises(InvalidRequestError):
        world.services.uploading.start(UploadRequest(filename="x.pdf", size=0))
    with pytest.raises(InvalidRequestError):
        UploadRequest(filename="../x.pdf", size=1)


SLACK = Requester(accept="*/*", client_ip="10.0.0.7", user_agent="Slackbot-LinkExpanding 1.0")


def test_a_get_never_spends_a_default_link(world: World) -> None:
    token, link = mint(world)
    outcome = world.services.redeeming.get(token, CURL)
    assert isinstance(outcome, Declined) and outcome.reason == "confirm"
    assert isinstance(world.services.redeeming.get(token, SLACK), Declined)
    assert world.services.redeeming.head(token, CURL).uses == 0
    stored = world.links.get(link.link_id)
    assert stored.uses == 0
    assert dict(stored.visit_counts) == {"preview": 1, "bot": 1, "head": 1}


def test_a_previewer_never_spends_even_by_post(world: World) -> None:
    token, link = mint(world, confirm=False)
    assert isinstance(world.services.redeeming.post(token, SLACK), Declined)
    assert isinstance(world.services.redeeming.get(token, SLACK), Declined)
    assert world.links.get(link.link_id).uses == 0
    assert isinstance(world.services.redeeming.get(token, CURL), Redirect)


def test_the_button_must_be_pressed_after_a_persons_delay(world: World) -> None:
    token, link = mint(world)
    landing = world.services.redeeming.get(token, BROWSER)
    assert isinstance(landing, Landing)
    world.clock.advance(MIN_PRESS_SECONDS / 2)
    early = world.services.redeeming.post(token, holding(BROWSER, landing), landing.stamp)
    assert isinstance(early, Declined) and early.reason == "too_fast"
    assert world.links.get(link.link_id).uses == 0
    world.clock.advance(MIN_PRESS_SECONDS)
    pressed = world.services.redeeming.post(token, holding(BROWSER, landing), landing.stamp)
    assert isinstance(pressed, Redirect)  # the page follows it, even for a small file
    assert world.links.get(link.link_id).uses == 1


def test_a_stamp_for_another_link_or_edited_counts_as_too_fast(world: World) -> None:
    token, _ = mint(world)
    other, _ = mint(world)
    landing = world.services.redeeming.get(other, BROWSER)
    assert isinstance(landing, Landing)
    world.clock.advance(5)
    foreign = world.services.redeeming.post(token, holding(BROWSER, landing), landing.stamp)
    assert isinstance(foreign, Declined) and foreign.reason == "too_fast"
    millis, _, rest = landing.stamp.partition(".")
    edited = f"{int(millis) - 9000}.{rest}"
    edited_press = world.services.redeeming.post(other, holding(BROWSER, landing), edited)
    assert isinstance(edited_press, Declined) and edited_press.reason == "too_fast"
    # Another client's stamp: it holds a form key, but not the one this stamp was made for.
    theirs = world.services.redeeming.get(other, CURL_AS_BROWSER)
    assert isinstance(theirs, Landing) and theirs.form_key != landing.form_key
    replayed = world.services.redeeming.post(other, holding(BROWSER, theirs), landing.stamp)
    assert isinstance(replayed, Declined) and replayed.reason == "too_fast"
    # Without any form cookie: said so, and nothing is spent either.
    bare = world.services.redeeming.post(other, BROWSER, landing.stamp)
    assert isinstance(bare, Declined) and bare.reason == "no_form_cookie"
    assert world.links.get(landing.link.link_id).uses == 0


def test_refund_and_suspicion(world: World) -> None:
    token, link = mint(world, uses=1)
    world.services.redeeming.post(token, CURL)
    stored = world.links.get(link.link_id)
    (use,) = stored.uses_log
    assert stored.suspicion(use) == "within 10 s of the link being made"
    refunded = world.services.links.refund(link.link_id, RefundRequest(use.claim_id))
    assert refunded.uses == 0 and refunded.uses_log[0].refunded_at == world.clock()
    world.clock.advance(60)
    world.services.redeeming.post(token, CURL)
    later = world.links.get(link.link_id)
    assert later.suspicion(later.uses_log[-1]) is None


def test_the_same_press_again_is_delivered_again_not_spent(world: World) -> None:
    """A double click whose first answer the browser dropped, or a reload: the same page's
    form again gets the file again, in that press's session, re-keyed."""
    token, link = mint(world, uses=1)
    landing = world.services.redeeming.get(token, BROWSER)
    assert isinstance(landing, Landing)
    world.clock.advance(2)
    first = world.services.redeeming.post(token, holding(BROWSER, landing), landing.stamp)
    assert isinstance(first, Redirect) and first.session is not None
    world.clock.advance(0.1)  # the second click, before the first answer arrived
    second = world.services.redeeming.post(token, holding(BROWSER, landing), landing.stamp)
    assert isinstance(second, Redirect) and second.redelivered
    assert second.session is not None and second.session.key != first.session.key
    assert world.links.get(link.link_id).uses == 1
    # The re-keyed session works; the first answer's key (never stored by the browser) not.
    assert isinstance(
        world.services.redeeming.post(token, CURL, None, second.session.key), Redirect
    )
    with pytest.raises(LinkUsedUpError):
        world.services.redeeming.post(token, CURL, None, first.session.key)


def test_the_same_press_without_sessions_says_it_started(world: World) -> None:
    services = services_on(world, settings(session_seconds=0))
    token, link = mint(world)
    landing = services.redeeming.get(token, BROWSER)
    assert isinstance(landing, Landing)
    world.clock.advance(2)
    services.redeeming.post(token, holding(BROWSER, landing), landing.stamp)
    world.clock.advance(1)
    with pytest.raises(PressRepeatedError, match="started when you pressed"):
        services.redeeming.post(token, holding(BROWSER, landing), landing.stamp)
    assert world.links.get(link.link_id).uses == 1


def test_renders_in_the_same_millisecond_have_their_own_stamps(world: World) -> None:
    """Issue 20, break 5: two pages rendered in the same millisecond shared a stamp."""
    token, _ = mint(world)
    first = world.services.redeeming.get(token, BROWSER)
    second = world.services.redeeming.get(token, BROWSER)
    assert isinstance(first, Landing) and isinstance(second, Landing)
    assert first.stamp != second.stamp


def test_a_stamp_rendered_alongside_the_recipients_does_not_skip_the_check(world: World) -> None:
    """Issue 20, break 5: someone holding only the token fetched pages during the
    recipient's visit and replayed the stamp without the code: the file, without the code."""
    minted = world.services.minting.mint(MintRequest(file="docs/a.pdf", verify="code", uses=2))
    token, code = minted.token.value, minted.code
    assert code is not None
    recipient = world.services.redeeming.get(token, BROWSER)
    attacker = world.services.redeeming.get(token, CURL_AS_BROWSER)
    assert isinstance(recipient, Landing) and isinstance(attacker, Landing)
    world.clock.advance(2)
    pressed = world.services.redeeming.post(
        token, holding(BROWSER, recipient), recipient.stamp, answer=code
    )
    assert isinstance(pressed, Redirect)
    replayed = world.services.redeeming.post(
        token, holding(CURL_AS_BROWSER, attacker), attacker.stamp
    )
    assert isinstance(replayed, Declined) and replayed.reason == "answer_required"
    stored = world.links.get(minted.link.link_id)
    assert stored.uses == 1 and stored.uses_log[0].redeliveries == 0


def test_a_re_delivery_that_failed_does_not_count_towards_the_cap(world: World) -> None:
    """Issue 20, break 7: re-deliveries that answered 503 (S3 failing on the stream path)
    still counted towards the cap, so a client could be refused its free downloads."""
    token, link = mint(world)
    first = world.services.redeeming.post(token, CURL)
    assert isinstance(first, Redirect) and first.session is not None
    key = first.session.key
    world.objects.fail_reads = OSError("connection reset")
    for _ in range(REDELIVERY_CAP + 1):
        with pytest.raises(UnavailableError):
            world.services.redeeming.post(token, STREAMING, None, key)
    stored = world.links.get(link.link_id)
    assert stored.uses == 1 and stored.uses_log[0].redeliveries == 0
    world.objects.fail_reads = None
    again = world.services.redeeming.post(token, STREAMING, None, key)
    assert isinstance(again, Stream) and again.redelivered
    assert world.links.get(link.link_id).uses_log[0].redeliveries == 1


class LosingLinkStore(MemoryLinkStore):
    """The re-delivery count's answer is lost: applied (``late=False``) or held, to land
    after the service answered (``late=True``, sent by ``land``)."""

    def __init__(self) -> None:
        super().__init__()
        self.lose: str | None = None  # "applied" or "late"
        self.held: list[tuple[tuple[object, ...], dict[str, object]]] = []

    def redeliver(self, *args: object, **kwargs: object) -> Link | None:
        if self.lose == "applied":
            super().redeliver(*args, **kwargs)  # type: ignore[arg-type]
        elif self.lose == "late":
            self.held.append((args, kwargs))
        else:
            return super().redeliver(*args, **kwargs)  # type: ignore[arg-type]
        raise UnavailableError("The link store did not answer; try again shortly.")

    def land(self) -> None:
        for args, kwargs in self.held:
            super().redeliver(*args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("lose", ["applied", "late"])
def test_a_re_delivery_whose_count_was_lost_is_not_counted(world: World, lose: str) -> None:
    links = LosingLinkStore()
    services = services_on(world, settings(stream_max_bytes=1000, redirect_ttl=20), links=links)
    minted = services.minting.mint(MintRequest(file="docs/a.pdf"))
    first = services.redeeming.post(minted.token.value, CURL)
    assert isinstance(first, Redirect) and first.session is not None
    links.lose = lose
    with pytest.raises(UnavailableError):
        services.redeeming.post(minted.token.value, CURL, None, first.session.key)
    links.lose = None
    links.land()  # a count that arrives after its undo is refused by the undo's fence
    stored = links.get(minted.link.link_id)
    assert stored.uses == 1 and stored.uses_log[0].redeliveries == 0
    again = services.redeeming.post(minted.token.value, CURL, None, first.session.key)
    assert isinstance(again, Redirect) and again.redelivered


def test_a_listing_by_a_file_key_longer_than_s3_allows_is_a_bad_request(world: World) -> None:
    """Found by the review of issue 23: DynamoDB refuses an index key over 2,048 bytes with a
    ValidationException (a 5xx here), where neither stand-in refuses it."""
    with pytest.raises(InvalidRequestError) as refused:
        world.services.links.for_file("a" * 5000, 10, None)
    assert refused.value.code == "invalid_file"
    assert world.services.links.for_file("a" * 1024, 10, None).links == []
