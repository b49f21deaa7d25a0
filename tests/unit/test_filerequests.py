"""File requests on in-memory stores: the signed page terms, the page's forms, and the
confirmation's take-then-mint, with its refusals and give-backs."""

from __future__ import annotations

import contextlib

import pytest

from chalicelib.domain.addresses import Addresses
from chalicelib.domain.errors import (
    AlreadyReceivedError,
    InvalidRequestError,
    OnetimeError,
    RequestGoneError,
    RequestNotFoundError,
    UnavailableError,
    UploadEmptyError,
    UploadMissingError,
    UploadTooLargeError,
)
from chalicelib.domain.filerequest import FileRequest, Receipt
from chalicelib.domain.link import Link
from chalicelib.domain.terms import Terms, TermsSigner
from chalicelib.domain.tokens import new_token
from chalicelib.services import Services
from chalicelib.services.filerequests import MintedRequest, RequestSpec
from chalicelib.settings import Settings
from tests.fakes import (
    FrozenClock,
    MemoryGrantStore,
    MemoryLinkStore,
    MemoryObjectStore,
    MemoryRequestStore,
)

NOW = 1_800_000_000.0
DONE = "https://files.example/upload/done?token=t"


class World:
    def __init__(self, requests: MemoryRequestStore | None = None) -> None:
        self.links = MemoryLinkStore()
        self.objects = MemoryObjectStore()
        self.requests = requests or MemoryRequestStore()
        self.clock = FrozenClock(NOW)
        self.services = self.rebuild()

    def rebuild(self) -> Services:
        settings = Settings(
            table="t", bucket="b", api_key_hashes=("0" * 64,), max_upload_bytes=5000
        )
        self.services = Services(
            settings=settings,
            clock=self.clock,
            links=self.links,
            objects=self.objects,
            requests=self.requests,
            grants=MemoryGrantStore(),
        )
        return self.services

    def request(self, **fields: object) -> MintedRequest:
        return self.services.requesting.request(RequestSpec(**fields))  # type: ignore[arg-type]

    def upload(self, minted: MintedRequest, name: str = "a.pdf", size: int = 10) -> str:
        page = self.services.receiving.page(minted.token.value, DONE)
        key = page.key_prefix + name
        self.objects.put(key, b"x" * size)
        return key

    def confirm(self, minted: MintedRequest, key: str) -> str:
        received = self.services.receiving.confirm(
            minted.token.value, key, Addresses("https://files.example")
        )
        return received.minted.link.link_id


@pytest.fixture
def world() -> World:
    return World()


def test_terms_verify_only_for_their_token_and_unchanged() -> None:
    signer = TermsSigner(("a" * 64,))
    terms = Terms(1_900_000_000, 1000, ("application/pdf",), 2)
    signed = signer.sign("digest-1", terms)
    assert signer.verify("digest-1", signed) == terms
    assert signer.verify("digest-2", signed) is None  # another request's token
    body, mac = signed.split(".")
    assert signer.verify("digest-1", body + "." + mac[:-1] + "0") is None
    assert signer.verify("digest-1", body[:-2] + "." + mac) is None
    assert TermsSigner(("b" * 64,)).verify("digest-1", signed) is None  # keys rotated
    assert signer.verify("digest-1", None) is None and signer.verify("digest-1", "") is None


def test_a_page_spends_nothing_and_pins_a_fresh_prefix(world: World) -> None:
    minted = world.request(max_size=1000, content_types=["application/pdf"])
    first = world.services.receiving.page(minted.token.value, DONE)
    second = world.services.receiving.page(minted.token.value, DONE)
    assert first.key_prefix.startswith(f"requests/{minted.request.request_id}/")
    assert first.key_prefix != second.key_prefix
    fields = first.form["fields"]
    assert isinstance(fields, dict)
    assert fields["max_bytes"] == "1000" and fields["Content-Type"] == "application/pdf"
    assert fields["success_action_redirect"] == DONE
    script_fields = first.script_form["fields"]
    assert isinstance(script_fields, dict) and script_fields["success_action_status"] == "201"
    assert world.requests.get(minted.request.request_id).files == 0


@pytest.mark.parametrize(
    ("close", "code"),
    [("expire", "request_expired"), ("withdraw", "request_revoked"), ("fill", "request_used")],
)
def test_a_page_of_a_closed_request_offers_no_form(world: World, close: str, code: str) -> None:
    """Break 6: the page reads the stored request, so a request withdrawn or filled since
    its link was sent offers no form (an expired one never did)."""
    minted = world.request(ttl=60)
    if close == "expire":
        world.clock.advance(60)
    elif close == "withdraw":
        world.services.requesting.revoke(minted.request.request_id)
    else:
        world.confirm(minted, world.upload(minted))
    with pytest.raises(RequestGoneError) as gone:
        world.services.receiving.page(minted.token.value, DONE)
    assert gone.value.code == code


def test_a_form_lives_fifteen_minutes_or_until_the_request_expires(world: World) -> None:
    long = world.services.receiving.page(world.request(ttl=3600).token.value, DONE)
    assert long.form_expires_at == int(NOW) + 900
    short = world.services.receiving.page(world.request(ttl=60).token.value, DONE)
    assert short.form_expires_at == int(NOW) + 60


def test_confirming_takes_one_file_and_mints_a_link_to_it(world: World) -> None:
    minted = world.request(files=2, link_uses=3, link_ttl=600)
    key = world.upload(minted, name="Été.pdf")
    link_id = world.confirm(minted, key)
    link = world.links.get(link_id)
    assert (link.object.key, link.filename, link.max_uses) == (key, "Été.pdf", 3)
    assert link.expires_at == int(NOW) + 600
    assert world.objects.tags[key] == {"onetime-upload": "confirmed"}
    (receipt,) = world.requests.get(minted.request.request_id).receipts
    assert receipt.link_id == link_id and receipt.key == key


def test_a_repeated_or_missing_upload_takes_nothing(world: World) -> None:
    minted = world.request(files=2)
    key = world.upload(minted)
    world.confirm(minted, key)
    with pytest.raises(AlreadyReceivedError):
        world.confirm(minted, key)
    with pytest.raises(UploadMissingError):
        world.confirm(minted, key.rsplit("/", 1)[0] + "/never.pdf")
    with pytest.raises(UploadMissingError):
        world.confirm(minted, "elsewhere/a.pdf")
    assert world.requests.get(minted.request.request_id).files == 1
    assert len(world.links.links) == 1


def test_a_file_over_the_limit_takes_nothing(world: World) -> None:
    minted = world.request(max_size=100)
    with pytest.raises(UploadTooLargeError):
        world.confirm(minted, world.upload(minted, size=101))
    assert world.requests.get(minted.request.request_id).files == 0 and world.links.links == {}


def test_a_wrong_token_is_not_found(world: World) -> None:
    minted = world.request()
    other = world.request()
    key = world.upload(minted)
    with pytest.raises(UploadMissingError):
        # Another request's token cannot confirm a file under this request's prefix.
        world.services.receiving.confirm(other.token.value, key, Addresses("u"))
    forged = minted.token.value[:16] + other.token.value[16:]  # this id, a wrong secret
    with pytest.raises(RequestNotFoundError):
        world.services.receiving.confirm(forged, key, Addresses("u"))
    assert world.requests.get(minted.request.request_id).files == 0


def test_a_failed_tag_gives_the_file_back(world: World) -> None:
    minted = world.request()
    key = world.upload(minted)
    world.objects.fail_marks = UnavailableError("S3 is down")
    with pytest.raises(UnavailableError):
        world.confirm(minted, key)
    # The link minted for it was withdrawn: nobody saw it.
    assert world.requests.get(minted.request.request_id).files == 0 and live_links(world) == []
    world.objects.fail_marks = None
    world.confirm(minted, key)  # the uploader's retry
    assert world.requests.get(minted.request.request_id).files == 1


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"files": 0}, "invalid_files"),
        ({"ttl": 30 * 86_400 + 1}, "invalid_ttl"),
        ({"max_size": 5001}, "invalid_max_size"),
        ({"content_types": ["application/pdf", "nonsense"]}, "invalid_content_types"),
        ({"show_link": False}, "invalid_show_link"),
        ({"notify": "two@example.com, three@example.com"}, "invalid_email"),
        ({"notify": "ops@example.com"}, "email_disabled"),
    ],
)
def test_bad_requests_make_nothing(world: World, fields: dict[str, object], code: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        world.request(**fields)
    assert refused.value.code == code
    assert world.requests.requests == {}


def test_types_are_normalised_and_deduplicated(world: World) -> None:
    minted = world.request(content_types=["Application/PDF", "application/pdf", "image/png"])
    assert minted.request.content_types == ("application/pdf", "image/png")


# Break 2: a stall during the confirmation.  The store's write either lands and its
# answer is lost, or is held and lands after the service has answered.


class StallingRequests(MemoryRequestStore):
    """A request store whose next ``receive`` fails with a timeout: ``lost`` applies it
    first (the answer was lost), ``late`` keeps it to apply when ``land`` is called."""

    def __init__(self) -> None:
        super().__init__()
        self.stall: str | None = None
        self.held: list[tuple[str, str, Receipt]] = []

    def receive(self, request_id: str, digest: str, receipt: Receipt) -> FileRequest:
        stall, self.stall = self.stall, None
        if stall == "lost":
            super().receive(request_id, digest, receipt)
        elif stall == "late":
            self.held.append((request_id, digest, receipt))
        if stall is not None:
            raise UnavailableError("injected: the write timed out")
        return super().receive(request_id, digest, receipt)

    def land(self) -> None:
        """The held writes arrive now; whatever they answer, nobody is waiting for it."""
        for request_id, digest, receipt in self.held:
            with contextlib.suppress(OnetimeError):
                super().receive(request_id, digest, receipt)
        self.held.clear()


def live_links(world: World) -> list[str]:
    return [link.link_id for link in world.links.links.values() if link.revoked_at is None]


@pytest.mark.parametrize("stall", ["lost", "late"])
def test_a_stalled_receive_counts_nothing_and_a_reload_finishes(stall: str) -> None:
    world = World(StallingRequests())
    requests = world.requests
    assert isinstance(requests, StallingRequests)
    minted = world.request(files=1)
    key = world.upload(minted)
    requests.stall = stall
    with pytest.raises(UnavailableError):
        world.confirm(minted, key)
    requests.land()  # the held write arrives after the uploader was told to try again
    after = requests.get(minted.request.request_id)
    assert (after.files, after.receipts) == (0, ())
    assert live_links(world) == []
    link_id = world.confirm(minted, key)  # the uploader's reload
    after = requests.get(minted.request.request_id)
    assert after.files == 1 and [r.link_id for r in after.receipts] == [link_id]
    assert live_links(world) == [link_id]


def test_an_empty_file_is_refused_and_takes_nothing(world: World) -> None:
    minted = world.request()
    with pytest.raises(UploadEmptyError) as refused:
        world.confirm(minted, world.upload(minted, size=0))
    assert refused.value.code == "upload_empty"
    assert world.requests.get(minted.request.request_id).files == 0 and world.links.links == {}


class StallingLinks(MemoryLinkStore):
    """A link store whose next ``create`` times out: ``lost`` applies it first, ``late``
    keeps it to apply when ``land`` is called."""

    def __init__(self) -> None:
        super().__init__()
        self.stall: str | None = None
        self.held: list[Link] = []

    def create(self, link: Link) -> None:
        stall, self.stall = self.stall, None
        if stall == "lost":
            super().create(link)
        elif stall == "late":
            self.held.append(link)
        if stall is not None:
            raise UnavailableError("injected: the write timed out")
        super().create(link)

    def land(self) -> None:
        for link in self.held:
            with contextlib.suppress(OnetimeError):
                super().create(link)
        self.held.clear()


@pytest.mark.parametrize("stall", ["lost", "late"])
def test_a_stalled_link_mint_leaves_no_live_link_and_counts_nothing(stall: str) -> None:
    world = World()
    links = StallingLinks()
    world.links = links
    world.rebuild()
    minted = world.request()
    key = world.upload(minted)
    links.stall = stall
    with pytest.raises(UnavailableError):
        world.confirm(minted, key)
    links.land()
    assert live_links(world) == []
    assert world.requests.get(minted.request.request_id).files == 0
    link_id = world.confirm(minted, key)
    assert live_links(world) == [link_id]


def test_a_receipt_whose_link_was_withdrawn_is_given_up_on_reload(world: World) -> None:
    """The undo of a failed confirmation could not finish (two faults in a row): the
    receipt stayed, naming a link nobody was shown.  The reload finishes the upload."""
    minted = world.request()
    key = world.upload(minted)
    nonce = key.split("/")[-2]
    stale = new_token()
    world.requests.receive(
        minted.request.request_id,
        minted.token.digest,
        Receipt(nonce, NOW, key, 10, "application/pdf", "a.pdf", stale.link_id),
    )
    link_id = world.confirm(minted, key)
    (receipt,) = world.requests.get(minted.request.request_id).receipts
    assert receipt.link_id == link_id != stale.link_id
    assert live_links(world) == [link_id]
