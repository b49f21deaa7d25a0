"""The file request store's behaviour, run against each implementation by the tier modules
that import it: the in-memory fake (tests/unit), moto in-process (tests/inprocess) and
dynalite (tests/stack; a real process whose conditional writes are atomic, so it alone,
with the fake's lock, may prove the race).

Each tier module provides ``store``, ``fresh_store`` (a table of its own, for listing) and
``atomic_store`` (or a skip where the backend cannot offer one), then collects this body
with ``from tests.contracts.requeststores import *``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import uuid

import pytest

from chalicelib.domain.errors import (
    AlreadyReceivedError,
    ConflictError,
    LinkNotFoundError,
    RequestGoneError,
    RequestNotFoundError,
    UnavailableError,
    UploadEmptyError,
    UploadTooLargeError,
    UploadTypeError,
)
from chalicelib.domain.filerequest import FileRequest, Receipt
from chalicelib.domain.tokens import new_token
from chalicelib.storage.stores import RequestStore

NOW = 1_800_000_000.0


def new_request(
    store: RequestStore,
    *,
    files: int = 1,
    max_bytes: int = 1000,
    types: tuple[str, ...] = ("application/pdf",),
    at: float = NOW,
) -> tuple[FileRequest, str]:
    token = new_token()
    request = FileRequest(
        request_id=token.link_id,
        token_digest=token.digest,
        created_at=at,
        expires_at=int(NOW) + 3600,
        max_files=files,
        max_bytes=max_bytes,
        content_types=types,
        note="quarterly report",
        notify="ops@example.com",
        link_uses=2,
        link_ttl=600,
    )
    store.create(request)
    return request, token.digest


def receipt(
    nonce: str = "",
    size: int = 10,
    content_type: str = "application/pdf",
    at: float = NOW + 1,
) -> Receipt:
    nonce = nonce or uuid.uuid4().hex[:16]
    return Receipt(
        nonce=nonce,
        at=at,
        key=f"requests/x/{nonce}/Été.pdf",
        size=size,
        content_type=content_type,
        filename="Été.pdf",
        link_id=new_token().link_id,
    )


def test_a_request_reads_back_equal(store: RequestStore) -> None:
    request, _ = new_request(store)
    assert store.get(request.request_id) == request


def test_receiving_takes_a_file_and_records_it(store: RequestStore) -> None:
    request, digest = new_request(store, files=2)
    first = receipt()
    after = store.receive(request.request_id, digest, first)
    assert after.files == 1 and after.receipts == (first,)
    assert store.get(request.request_id).receipts == (first,)


def test_the_same_upload_is_received_once(store: RequestStore) -> None:
    request, digest = new_request(store, files=3)
    first = receipt()
    store.receive(request.request_id, digest, first)
    with pytest.raises(AlreadyReceivedError):
        store.receive(request.request_id, digest, receipt(nonce=first.nonce, at=NOW + 2))
    assert store.get(request.request_id).files == 1


def test_too_big_or_wrong_type_takes_nothing(store: RequestStore) -> None:
    request, digest = new_request(store, max_bytes=100)
    with pytest.raises(UploadTooLargeError) as big:
        store.receive(request.request_id, digest, receipt(size=101))
    assert big.value.code == "upload_too_large"
    with pytest.raises(UploadTypeError):
        store.receive(request.request_id, digest, receipt(content_type="text/html"))
    assert store.get(request.request_id).files == 0
    store.receive(request.request_id, digest, receipt(size=100))  # the limit itself fits
    assert store.get(request.request_id).files == 1


def test_a_request_of_any_type_takes_any_type(store: RequestStore) -> None:
    request, digest = new_request(store, types=())
    assert store.receive(request.request_id, digest, receipt(content_type="image/png")).files == 1


def test_a_full_request_says_used(store: RequestStore) -> None:
    request, digest = new_request(store)
    store.receive(request.request_id, digest, receipt())
    with pytest.raises(RequestGoneError) as gone:
        store.receive(request.request_id, digest, receipt())
    assert gone.value.code == "request_used"


def test_expired_and_revoked_refuse_revoked_first(store: RequestStore) -> None:
    request, digest = new_request(store)
    with pytest.raises(RequestGoneError) as late:
        store.receive(request.request_id, digest, receipt(at=NOW + 3600))
    assert late.value.code == "request_expired"
    revoked = store.revoke(request.request_id, NOW + 5)
    assert revoked.revoked_at == NOW + 5
    assert store.revoke(request.request_id, NOW + 9).revoked_at == NOW + 5  # first time kept
    with pytest.raises(RequestGoneError) as withdrawn:
        store.receive(request.request_id, digest, receipt(at=NOW + 3600))
    assert withdrawn.value.code == "request_revoked"
    assert store.get(request.request_id).files == 0


def test_a_wrong_secret_or_unknown_id_is_not_found(store: RequestStore) -> None:
    request, _ = new_request(store)
    with pytest.raises(RequestNotFoundError):
        store.receive(request.request_id, new_token().digest, receipt())
    with pytest.raises(RequestNotFoundError):
        store.receive(new_token().link_id, new_token().digest, receipt())
    with pytest.raises(LinkNotFoundError):
        store.get(new_token().link_id)
    assert store.get(request.request_id).files == 0


def test_release_gives_the_file_back_once(store: RequestStore) -> None:
    request, digest = new_request(store)
    taken = receipt()
    store.receive(request.request_id, digest, taken)
    assert store.release(request.request_id, taken.nonce, taken.link_id) is True
    assert store.release(request.request_id, taken.nonce, taken.link_id) is False
    after = store.get(request.request_id)
    assert after.files == 0 and after.receipts == ()
    # Given back, the same upload may be confirmed again by a new attempt (a new link).
    retry = dataclasses.replace(taken, link_id=new_token().link_id)
    assert store.receive(request.request_id, digest, retry).files == 1


def test_a_released_attempt_arriving_late_takes_nothing(store: RequestStore) -> None:
    """Break 2: the receive timed out, the service gave the attempt up, then the write
    landed.  The fence makes it take nothing, and the upload stays open to a retry."""
    request, digest = new_request(store)
    late = receipt()
    assert store.release(request.request_id, late.nonce, late.link_id) is False
    with pytest.raises(UnavailableError):
        store.receive(request.request_id, digest, late)
    after = store.get(request.request_id)
    assert after.files == 0 and after.receipts == ()
    retry = dataclasses.replace(late, link_id=new_token().link_id)
    assert store.receive(request.request_id, digest, retry).receipts == (retry,)


def test_release_of_another_attempt_leaves_the_receipt(store: RequestStore) -> None:
    request, digest = new_request(store, files=2)
    taken = receipt()
    store.receive(request.request_id, digest, taken)
    other = new_token().link_id  # a racing attempt at the same upload, which lost
    assert store.release(request.request_id, taken.nonce, other) is False
    assert store.get(request.request_id).receipts == (taken,)
    assert store.release(new_token().link_id, taken.nonce, other) is False  # no such request


def test_peek_with_a_nonce_says_already_received_and_names_the_link(
    store: RequestStore,
) -> None:
    request, digest = new_request(store)
    taken = receipt()
    store.receive(request.request_id, digest, taken)
    with pytest.raises(AlreadyReceivedError) as already:
        store.peek(request.request_id, digest, NOW, taken.nonce)
    assert already.value.link_id == taken.link_id
    with pytest.raises(RequestGoneError):  # another upload: the request is full
        store.peek(request.request_id, digest, NOW, receipt().nonce)


def test_an_empty_file_takes_nothing(store: RequestStore) -> None:
    request, digest = new_request(store)
    with pytest.raises(UploadEmptyError):
        store.receive(request.request_id, digest, receipt(size=0))
    assert store.get(request.request_id).files == 0


def test_peek_checks_the_token_and_changes_nothing(store: RequestStore) -> None:
    request, digest = new_request(store)
    assert store.peek(request.request_id, digest, NOW) == request
    with pytest.raises(RequestNotFoundError):
        store.peek(request.request_id, new_token().digest, NOW)
    with pytest.raises(RequestGoneError):
        store.peek(request.request_id, digest, NOW + 3600)


def test_recent_pages_newest_first(fresh_store: RequestStore) -> None:
    store = fresh_store
    made = [new_request(store, at=NOW + i)[0].request_id for i in range(5)]
    first = store.recent(3, None)
    assert [r.request_id for r in first.requests] == made[::-1][:3]
    assert first.cursor is not None
    second = store.recent(3, first.cursor)
    assert [r.request_id for r in second.requests] == made[::-1][3:]
    assert second.cursor is None


def test_concurrent_confirmations_take_exactly_the_files_allowed(
    atomic_store: RequestStore,
) -> None:
    store = atomic_store
    made, digest = new_request(store, files=2)
    same = receipt()
    attempts = [same] * 8 + [receipt() for _ in range(8)]
    won: list[Receipt] = []
    refused: list[str] = []
    barrier = threading.Barrier(len(attempts))

    def confirm(attempt: Receipt) -> None:
        barrier.wait(timeout=10)
        try:
            store.receive(made.request_id, digest, attempt)
            won.append(attempt)
        except (AlreadyReceivedError, RequestGoneError) as error:
            refused.append(error.code)

    threads = [threading.Thread(target=confirm, args=(a,)) for a in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    after = store.get(made.request_id)
    assert len(won) == 2 and len({r.nonce for r in won}) == 2
    assert after.files == 2
    assert {r.nonce for r in after.receipts} == {r.nonce for r in won}
    assert len(refused) == len(attempts) - 2


# --- bundling requests (issue 25): one link to every file, named once ------------------


def bundling_request(store: RequestStore) -> FileRequest:
    token = new_token()
    request = FileRequest(
        request_id=token.link_id,
        token_digest=token.digest,
        created_at=NOW,
        expires_at=int(NOW) + 3600,
        max_files=3,
        max_bytes=1000,
        bundle=True,
    )
    store.create(request)
    return request


def test_a_bundling_request_reads_back_equal_and_names_one_bundle(store: RequestStore) -> None:
    request = bundling_request(store)
    assert store.get(request.request_id) == request
    first, second = new_token().link_id, new_token().link_id
    assert store.record_bundle(request.request_id, first).bundle_link == first
    assert store.record_bundle(request.request_id, first).bundle_link == first  # a retry
    with pytest.raises(ConflictError):
        store.record_bundle(request.request_id, second)
    assert store.get(request.request_id).bundle_link == first


def test_a_request_that_does_not_bundle_names_no_bundle(store: RequestStore) -> None:
    request, _ = new_request(store, files=2)
    assert not store.get(request.request_id).bundle
    with pytest.raises(UnavailableError):  # changed_meanwhile: nothing to name
        store.record_bundle(request.request_id, new_token().link_id)
    assert store.get(request.request_id).bundle_link is None
    with pytest.raises(LinkNotFoundError):  # unknown_request: an operator's 404
        store.record_bundle(new_token().link_id, new_token().link_id)


def test_a_fill_and_a_close_racing_name_one_bundle(atomic_store: RequestStore) -> None:
    request = bundling_request(atomic_store)
    named: list[str] = []
    barrier = threading.Barrier(6)

    def name(link_id: str) -> None:
        barrier.wait(timeout=10)
        with contextlib.suppress(ConflictError):
            atomic_store.record_bundle(request.request_id, link_id)
            named.append(link_id)

    threads = [threading.Thread(target=name, args=(new_token().link_id,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(named) == 1
    assert atomic_store.get(request.request_id).bundle_link == named[0]
