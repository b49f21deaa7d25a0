"""A claim on dynalite (which, like DynamoDB, answers ``UPDATED_NEW`` with every attribute
the update sets): one request, and an answer whose size does not grow with the link's
history (issue 23: a claim at 99 prior uses cost 2.3x the first one's CPU)."""

from __future__ import annotations

from typing import Any

from chalicelib.storage.linkstore import DynamoLinkStore
from tests.contracts.stores import NOW, claim, new_link
from tools.stack import Stack


class Counter:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.answer_bytes: list[int] = []

    def before_call(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def after_call(self, http_response: Any, **_: Any) -> None:
        self.answer_bytes.append(len(http_response.content))


def test_a_claim_is_one_request_whose_answer_does_not_grow(stack: Stack) -> None:
    client: Any = stack.client("dynamodb")
    counter = Counter()
    client.meta.events.register("before-call.dynamodb.UpdateItem", counter.before_call)
    client.meta.events.register("before-call.dynamodb.GetItem", counter.before_call)
    client.meta.events.register("after-call.dynamodb.UpdateItem", counter.after_call)
    store = DynamoLinkStore(client, stack.table)
    link, digest = new_link(store, uses=100, version_id="v1")
    sizes: dict[int, int] = {}
    for prior in range(100):
        counter.calls.clear()
        counter.answer_bytes.clear()
        outcome = store.claim(link.link_id, digest, claim(NOW + prior))
        assert outcome.claimed and outcome.link.uses == prior + 1
        assert outcome.link.object == link.object
        assert counter.calls == ["UpdateItem"]  # no read after it
        sizes[prior] = counter.answer_bytes[0]
    # the same, but for the digits of ``uses`` (a record is about 300 bytes)
    assert max(sizes.values()) - min(sizes.values()) <= 2, sizes
    stored = store.get(link.link_id)
    assert len(stored.uses_log) == 100  # the history is kept; only the answer is lean
