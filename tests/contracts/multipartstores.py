"""The request store's record of multipart uploads (issue 25): the cap on uploads open at
once, the race for the last place, and the pruning of records that are over.  Collected
by tests/{unit,inprocess,stack}/test_request_store_contract.py, which provide ``store``
and ``atomic_store`` as tests/contracts/requeststores.py describes."""

from __future__ import annotations

import threading
import uuid

import pytest

from chalicelib.domain.errors import RequestGoneError, UnavailableError
from chalicelib.domain.filerequest import OPEN_UPLOAD_SECONDS, OpenUpload
from chalicelib.domain.multipart import TooManyUploadsError
from chalicelib.storage.stores import RequestStore
from tests.contracts.requeststores import NOW, new_request, receipt


def opened(at: float = NOW + 1) -> OpenUpload:
    nonce = uuid.uuid4().hex[:16]
    return OpenUpload(nonce, f"requests/r/{nonce}/big.bin", f"id-{nonce}", at)


def test_an_open_upload_is_recorded_and_read_back(store: RequestStore) -> None:
    request, digest = new_request(store, files=2)
    upload = opened()
    after = store.open_upload(request, digest, upload, 4)
    assert after.uploads == (upload,)
    assert store.get(request.request_id).uploads == (upload,)
    second = opened(NOW + 2)
    assert store.open_upload(after, digest, second, 4).uploads == (upload, second)


def test_the_cap_counts_only_uploads_still_open(store: RequestStore) -> None:
    request, digest = new_request(store, files=3)
    first, second = opened(NOW + 1), opened(NOW + 2)
    request = store.open_upload(request, digest, first, 2)
    request = store.open_upload(request, digest, second, 2)
    with pytest.raises(TooManyUploadsError):
        store.open_upload(request, digest, opened(NOW + 3), 2)
    # The first is received: its place is free, and its record goes with the next start.
    done = receipt(nonce=first.nonce, at=NOW + 4)
    request = store.receive(request.request_id, digest, done)
    third = opened(NOW + 5)
    after = store.open_upload(request, digest, third, 2)
    assert after.uploads == (second, third)


def test_an_upload_gone_from_s3_frees_its_place_and_its_record(store: RequestStore) -> None:
    request, digest = new_request(store, files=3)
    first, second = opened(NOW + 1), opened(NOW + 2)
    request = store.open_upload(request, digest, first, 2)
    request = store.open_upload(request, digest, second, 2)
    third = opened(NOW + 3)
    with pytest.raises(TooManyUploadsError):
        store.open_upload(request, digest, third, 2)
    after = store.open_upload(request, digest, third, 2, frozenset({first.nonce}))
    assert after.uploads == (second, third)
    assert store.get(request.request_id).uploads == (second, third)


def test_an_upload_a_day_old_is_over(store: RequestStore) -> None:
    request, digest = new_request(store)
    old = opened(NOW - OPEN_UPLOAD_SECONDS)
    request = store.open_upload(request, digest, old, 1)
    fresh = opened(NOW + 1)
    assert store.open_upload(request, digest, fresh, 1).uploads == (fresh,)


def test_a_start_from_a_stale_read_writes_nothing(store: RequestStore) -> None:
    request, digest = new_request(store, files=2)
    stale = request
    request = store.open_upload(request, digest, opened(), 4)
    with pytest.raises(UnavailableError):
        store.open_upload(stale, digest, opened(NOW + 2), 4)
    assert store.get(request.request_id).uploads == request.uploads


def test_a_withdrawn_request_opens_nothing(store: RequestStore) -> None:
    request, digest = new_request(store)
    store.revoke(request.request_id, NOW)
    with pytest.raises(RequestGoneError):
        store.open_upload(request, digest, opened(), 4)
    assert store.get(request.request_id).uploads == ()


def test_racing_starts_take_the_last_place_once(atomic_store: RequestStore) -> None:
    request, digest = new_request(atomic_store, files=5)
    request = atomic_store.open_upload(request, digest, opened(), 2)
    barrier = threading.Barrier(8)
    won: list[OpenUpload] = []

    def start() -> None:
        upload = opened(NOW + 2)
        barrier.wait()
        try:
            atomic_store.open_upload(request, digest, upload, 2)
            won.append(upload)
        except (UnavailableError, TooManyUploadsError):
            pass

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert len(atomic_store.get(request.request_id).uploads) == 2
