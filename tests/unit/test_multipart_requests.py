"""Multipart uploads through a file request, on in-memory stores: what a start checks and
records, the cap on uploads open at once, completion against the request's size limit,
the one link two completions of the same upload get, and the aborts of a withdrawal."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.addresses import Addresses
from chalicelib.domain.errors import (
    AlreadyReceivedError,
    InvalidRequestError,
    RequestGoneError,
    UnavailableError,
    UploadTooLargeError,
    UploadTypeError,
)
from chalicelib.domain.filerequest import PENDING, UPLOAD_TAG, FileRequest
from chalicelib.domain.multipart import MiB, TooManyUploadsError
from chalicelib.services import Services
from chalicelib.services.filerequests import MintedRequest, RequestSpec
from chalicelib.services.uploads import MultipartUpload, UploadRequest
from chalicelib.settings import MAX_OPEN_UPLOADS, Settings
from tests.fakes import (
    FrozenClock,
    MemoryGrantStore,
    MemoryLinkStore,
    MemoryObjectStore,
    MemoryRequestStore,
)

URLS = Addresses("https://files.example")


class World:
    def __init__(self) -> None:
        self.objects = MemoryObjectStore()
        self.requests = MemoryRequestStore()
        self.links = MemoryLinkStore()
        self.services = Services(
            settings=Settings(
                table="t",
                bucket="b",
                api_key_hashes=("0" * 64,),
                max_upload_bytes=100 * MiB,
                multipart_threshold=6 * MiB,
                multipart_part_bytes=5 * MiB,
            ),
            clock=FrozenClock(1_800_000_000),
            links=self.links,
            objects=self.objects,
            requests=self.requests,
            grants=MemoryGrantStore(),
        )

    def request(self, **fields: object) -> MintedRequest:
        return self.services.requesting.request(RequestSpec(**fields))  # type: ignore[arg-type]

    def start(self, minted: MintedRequest, size: int, name: str = "big.pdf") -> MultipartUpload:
        file = UploadRequest(filename=name, size=size, content_type="application/pdf")
        return self.services.receiving.start_multipart(minted.token.value, file)

    def send(self, started: MultipartUpload, data: bytes) -> None:
        for number in range(1, started.plan.parts + 1):
            start = (number - 1) * started.plan.part_size
            piece = data[start : start + started.plan.length(number)]
            self.objects.put_part(started.upload_id, number, piece)


@pytest.fixture
def world() -> World:
    return World()


def test_a_start_checks_the_file_against_the_request_and_records_it(world: World) -> None:
    minted = world.request(max_size=20 * MiB, content_types=("application/pdf",))
    with pytest.raises(UploadTooLargeError):
        world.start(minted, 20 * MiB + 1)
    with pytest.raises(UploadTypeError):
        world.services.receiving.start_multipart(
            minted.token.value, UploadRequest(filename="a.exe", size=7 * MiB)
        )
    assert world.objects.uploads == {}
    started = world.start(minted, 12 * MiB)
    assert started.key.startswith(f"requests/{minted.request.request_id}/")
    assert world.objects.uploads[started.upload_id].tag == (UPLOAD_TAG, PENDING)
    (recorded,) = world.requests.get(minted.request.request_id).uploads
    assert (recorded.key, recorded.upload_id) == (started.key, started.upload_id)


def test_uploads_open_at_once_are_capped(world: World) -> None:
    minted = world.request(files=10)
    for _ in range(MAX_OPEN_UPLOADS):
        world.start(minted, 7 * MiB)
    with pytest.raises(TooManyUploadsError):
        world.start(minted, 7 * MiB)
    assert len(world.objects.uploads) == MAX_OPEN_UPLOADS  # nothing started for it


def test_completion_then_confirmation_mints_one_link_even_done_twice(world: World) -> None:
    minted = world.request()
    data = bytes(range(256)) * (12 * 4096 + 1)
    started = world.start(minted, len(data))
    token = minted.token.value
    signed = world.services.receiving.sign_parts(token, started.ticket, [1, 2, 3])
    assert [p.size for p in signed.parts] == [5 * MiB, 5 * MiB, len(data) - 10 * MiB]
    world.send(started, data)
    # Two tabs complete the same upload: both get its key; the second finds it done.
    first = world.services.receiving.complete_multipart(token, started.ticket)
    second = world.services.receiving.complete_multipart(token, started.ticket)
    assert first == second == (started.key, len(data))
    received = world.services.receiving.confirm(token, started.key, URLS)
    with pytest.raises(AlreadyReceivedError):
        world.services.receiving.confirm(token, started.key, URLS)
    assert world.objects.objects[started.key][0] == data
    assert [r.link_id for r in world.requests.get(minted.request.request_id).receipts] == [
        received.minted.link.link_id
    ]
    assert len(world.links.links) == 1


def test_parts_over_the_requests_limit_are_aborted(world: World) -> None:
    minted = world.request(max_size=12 * MiB)
    started = world.start(minted, 12 * MiB)
    world.send(started, b"x" * 12 * MiB)
    world.objects.put_part(started.upload_id, 3, b"y" * 3 * MiB)  # S3 would refuse it
    with pytest.raises(UploadTooLargeError):
        world.services.receiving.complete_multipart(minted.token.value, started.ticket)
    assert world.objects.aborted == [started.upload_id]
    assert started.key not in world.objects.objects


def test_a_ticket_works_only_for_its_own_request(world: World) -> None:
    one, other = world.request(), world.request()
    started = world.start(one, 7 * MiB)
    with pytest.raises(InvalidRequestError):
        world.services.receiving.sign_parts(other.token.value, started.ticket, [1])


def test_withdrawing_a_request_aborts_its_open_uploads_and_signs_no_more(world: World) -> None:
    minted = world.request(files=3)
    started = [world.start(minted, 7 * MiB) for _ in range(2)]
    world.services.requesting.revoke(minted.request.request_id)
    assert sorted(world.objects.aborted) == sorted(s.upload_id for s in started)
    with pytest.raises(RequestGoneError):
        world.services.receiving.sign_parts(minted.token.value, started[0].ticket, [1])
    with pytest.raises(RequestGoneError):
        world.services.receiving.complete_multipart(minted.token.value, started[0].ticket)


class LosingRequests(MemoryRequestStore):
    """Records the upload, then loses the answer (DynamoDB applied it; the client timed out)."""

    def open_upload(self, *args: Any, **kwargs: Any) -> FileRequest:
        super().open_upload(*args, **kwargs)
        raise UnavailableError("The file request service is not answering.")


def test_a_start_whose_record_is_lost_aborts_its_upload(world: World) -> None:
    world.requests.__class__ = LosingRequests
    minted = world.request(files=2)
    with pytest.raises(UnavailableError):
        world.start(minted, 7 * MiB)
    (aborted,) = world.objects.aborted
    assert world.objects.uploads == {}  # nobody got its ticket, and S3 holds nothing
    (record,) = world.requests.get(minted.request.request_id).uploads
    assert record.upload_id == aborted  # it holds a place until a day has passed


def test_a_withdrawal_whose_abort_fails_still_withdraws(world: World) -> None:
    minted = world.request(files=2)
    started = world.start(minted, 7 * MiB)

    def failing(key: str, upload_id: str) -> None:
        raise UnavailableError("The file store is not answering; try again shortly.")

    world.objects.abort_multipart = failing  # type: ignore[method-assign]
    revoked = world.services.requesting.revoke(minted.request.request_id)
    assert revoked.revoked_at is not None
    assert started.upload_id in world.objects.uploads  # the lifecycle rule aborts it later
    with pytest.raises(RequestGoneError):
        world.services.receiving.complete_multipart(minted.token.value, started.ticket)


# What a person is told when a multipart upload is refused (found by the review of issue
# 25): the limit the file broke, and a declared size that is not a size.


def test_parts_over_the_declared_size_say_so_not_the_links_limit(world: World) -> None:
    minted = world.request(max_size=22 * MiB)
    started = world.start(minted, 11 * MiB)
    world.send(started, b"x" * 11 * MiB)
    world.objects.put_part(started.upload_id, 3, b"y" * 5 * MiB)  # 15 MiB: over 11, under 22
    with pytest.raises(UploadTooLargeError) as refused:
        world.services.receiving.complete_multipart(minted.token.value, started.ticket)
    assert refused.value.code == "upload_larger_than_declared"
    assert "15.0 MiB" in str(refused.value) and "11.0 MiB" in str(refused.value)
    assert world.objects.aborted == [started.upload_id]


def test_parts_over_the_links_limit_name_that_limit(world: World) -> None:
    minted = world.request(max_size=12 * MiB)
    started = world.start(minted, 12 * MiB)
    world.send(started, b"x" * 12 * MiB)
    world.objects.put_part(started.upload_id, 3, b"y" * 3 * MiB)
    with pytest.raises(UploadTooLargeError) as refused:
        world.services.receiving.complete_multipart(minted.token.value, started.ticket)
    assert "at most 12.0 MiB" in str(refused.value)


@pytest.mark.parametrize("size", [0, -5])
def test_a_start_with_no_size_is_a_bad_request_not_an_empty_file(world: World, size: int) -> None:
    minted = world.request()
    file = UploadRequest(filename="x.pdf", size=size, content_type="application/pdf")
    with pytest.raises(InvalidRequestError) as refused:
        world.services.receiving.start_multipart(minted.token.value, file)
    assert refused.value.code == "invalid_size"
    assert world.objects.uploads == {}


def test_an_upload_aborted_over_its_limit_frees_its_place_at_the_cap(world: World) -> None:
    """Found by the review of issue 25: the aborted upload held one of the request's places
    for a day, so after three more starts nobody could send a large file."""
    minted = world.request(files=10, max_size=12 * MiB)
    over = world.start(minted, 12 * MiB)
    world.send(over, b"x" * 12 * MiB)
    world.objects.put_part(over.upload_id, 3, b"y" * 3 * MiB)
    with pytest.raises(UploadTooLargeError):
        world.services.receiving.complete_multipart(minted.token.value, over.ticket)
    for _ in range(MAX_OPEN_UPLOADS - 1):
        world.start(minted, 7 * MiB)
    last = world.start(minted, 7 * MiB)  # the aborted one's place
    records = world.requests.get(minted.request.request_id).uploads
    assert over.upload_id not in {r.upload_id for r in records}
    assert last.upload_id in {r.upload_id for r in records}
    with pytest.raises(TooManyUploadsError):  # four under way: the cap holds
        world.start(minted, 7 * MiB)
