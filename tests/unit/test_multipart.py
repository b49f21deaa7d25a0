"""Multipart uploads on in-memory stores: how a file is cut, the signed ticket, lazy part
signing with its caps, and completion's checks (what S3 holds against the limits)."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import InvalidRequestError, UploadTooLargeError
from chalicelib.domain.multipart import (
    LARGEST_OBJECT,
    MAX_PART,
    MAX_PARTS,
    MAX_PARTS_PER_BATCH,
    MIN_PART,
    MiB,
    Ticket,
    TicketSigner,
    UploadGoneError,
    plan,
)
from chalicelib.services import Services
from chalicelib.services.uploads import (
    CompleteRequest,
    MultipartUpload,
    PartsMissingError,
    PartsRequest,
    Upload,
    UploadRequest,
)
from chalicelib.settings import Settings
from tests.fakes import (
    FrozenClock,
    MemoryGrantStore,
    MemoryLinkStore,
    MemoryObjectStore,
    MemoryRequestStore,
)

THRESHOLD = 6 * MiB
PART = 5 * MiB


def build(objects: MemoryObjectStore, max_bytes: int = 100 * MiB) -> Services:
    settings = Settings(
        table="t",
        bucket="b",
        api_key_hashes=("0" * 64,),
        max_upload_bytes=max_bytes,
        multipart_threshold=THRESHOLD,
        multipart_part_bytes=PART,
    )
    return Services(
        settings=settings,
        clock=FrozenClock(1_800_000_000),
        links=MemoryLinkStore(),
        objects=objects,
        requests=MemoryRequestStore(),
        grants=MemoryGrantStore(),
    )


@pytest.fixture
def objects() -> MemoryObjectStore:
    return MemoryObjectStore()


@pytest.fixture
def services(objects: MemoryObjectStore) -> Services:
    return build(objects)


def begin(services: Services, size: int) -> MultipartUpload:
    started = services.uploading.begin(UploadRequest(filename="big.bin", size=size))
    assert isinstance(started, MultipartUpload)
    return started


def body(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def send_all(objects: MemoryObjectStore, started: MultipartUpload, data: bytes) -> None:
    (upload_id,) = objects.uploads
    for number in range(1, started.plan.parts + 1):
        start = (number - 1) * started.plan.part_size
        objects.put_part(upload_id, number, data[start : start + started.plan.length(number)])


def test_a_plan_cuts_parts_of_the_preferred_size_and_grows_them_for_huge_files() -> None:
    small = plan(12 * MiB + 3, PART)
    assert (small.parts, small.length(1), small.length(3)) == (3, PART, 2 * MiB + 3)
    huge = plan(LARGEST_OBJECT, PART)
    assert huge.parts <= MAX_PARTS and huge.part_size % MiB == 0
    assert MIN_PART <= huge.part_size <= MAX_PART
    with pytest.raises(InvalidRequestError):
        small.length(4)
    with pytest.raises(InvalidRequestError):
        plan(LARGEST_OBJECT + 1, PART)


def test_a_ticket_verifies_only_as_signed() -> None:
    signer = TicketSigner(("a" * 64,))
    ticket = Ticket("uploads/x/Été.bin", "id-1", 10 * MiB, PART)
    signed = signer.sign(ticket)
    assert signer.verify(signed) == ticket
    for forged in (signed[:-1] + "0", "x." + signed.split(".")[1], None, 7, ""):
        with pytest.raises(InvalidRequestError):
            signer.verify(forged)
    with pytest.raises(InvalidRequestError):
        TicketSigner(("b" * 64,)).verify(signed)  # rotated keys


def test_small_files_keep_the_single_post_and_large_ones_go_in_parts(
    services: Services, objects: MemoryObjectStore
) -> None:
    assert isinstance(
        services.uploading.begin(UploadRequest(filename="s.pdf", size=THRESHOLD)), Upload
    )
    started = begin(services, 12 * MiB)
    assert started.key.startswith("uploads/") and started.plan.parts == 3
    assert objects.uploads[next(iter(objects.uploads))].key == started.key


def test_parts_are_signed_in_capped_batches_for_their_exact_length(services: Services) -> None:
    started = begin(services, 12 * MiB)
    batch = services.uploading.sign_parts(PartsRequest(started.ticket, [3, 1]))
    assert [(p.number, p.size) for p in batch.parts] == [(3, 2 * MiB), (1, PART)]
    assert "length=2097152" in batch.parts[0].url
    assert batch.expires_at == 1_800_000_000 + 900
    for wrong in ([], [4], [0], [1, 1], ["1"], [True], list(range(1, MAX_PARTS_PER_BATCH + 2))):
        with pytest.raises(InvalidRequestError):
            services.uploading.sign_parts(PartsRequest(started.ticket, wrong))  # type: ignore[arg-type]


def test_completion_joins_exactly_the_declared_parts(
    services: Services, objects: MemoryObjectStore
) -> None:
    data = body(12 * MiB + 5)
    started = begin(services, len(data))
    (upload_id,) = objects.uploads
    objects.put_part(upload_id, 1, data[:PART])
    ticket, held = services.uploading.held_parts(started.ticket)
    assert ticket.key == started.key and [p.number for p in held] == [1]
    with pytest.raises(PartsMissingError) as missing:
        services.uploading.complete(CompleteRequest(started.ticket))
    assert missing.value.missing == [2, 3]
    send_all(objects, started, data)
    assert services.uploading.complete(CompleteRequest(started.ticket)) == (started.key, len(data))
    assert objects.objects[started.key][0] == data
    # A second completion (a retry whose answer was lost) finds the object and agrees.
    assert services.uploading.complete(CompleteRequest(started.ticket)) == (started.key, len(data))


def test_what_is_over_the_declared_size_is_aborted_not_completed(
    services: Services, objects: MemoryObjectStore
) -> None:
    data = body(12 * MiB)
    started = begin(services, len(data))
    send_all(objects, started, data)
    (upload_id,) = objects.uploads
    objects.put_part(upload_id, 3, body(3 * MiB))  # S3 refuses this; a stand-in may not
    with pytest.raises(UploadTooLargeError):
        services.uploading.complete(CompleteRequest(started.ticket))
    assert objects.aborted == [upload_id] and started.key not in objects.objects
    with pytest.raises(UploadGoneError):
        services.uploading.complete(CompleteRequest(started.ticket))


def test_an_operators_ticket_works_only_under_the_upload_prefix(objects: MemoryObjectStore) -> None:
    services = build(objects)
    forged = TicketSigner(("0" * 64,)).sign(Ticket("requests/r/n/x.bin", "u", 12 * MiB, PART))
    with pytest.raises(InvalidRequestError):
        services.uploading.sign_parts(PartsRequest(forged, [1]))


def test_the_size_limit_still_applies_to_multipart(objects: MemoryObjectStore) -> None:
    services = build(objects, max_bytes=10 * MiB)
    with pytest.raises(InvalidRequestError):
        services.uploading.begin(UploadRequest(filename="b.bin", size=10 * MiB + 1))
    assert objects.uploads == {}
