"""A bundle's claim on dynalite (which, like DynamoDB, answers ``UPDATED_NEW`` with every
attribute the update sets): one request that answers with the file list and no history,
while a single file's claim stays the request it was.  Also the item's size with 50 files,
which is what every claim of it is billed on (docs/COUNTING.md, "Bundles")."""

from __future__ import annotations

import math
from typing import Any

from chalicelib.domain.link import MAX_BUNDLE_FILES
from chalicelib.storage.linkstore import DynamoLinkStore
from tests.contracts.stores import NOW, bundle_claim, claim, item_bytes, new_bundle, new_link
from tools.stack import Stack

# 50 files, 62-character keys, 30-character names, S3 ETags: 8.7 KB measured here (9 WCU);
# every file versioned adds about 1.7 KB (11 WCU).  docs/COUNTING.md gives these figures.
BUNDLE_WCU_BOUND = 12


class Seen:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, params.get("UpdateExpression", "")))


def test_a_bundle_claim_is_one_request_with_the_files_and_no_history(stack: Stack) -> None:
    client: Any = stack.client("dynamodb")
    seen = Seen()
    client.meta.events.register("before-parameter-build.dynamodb.*", seen.before_call)
    store = DynamoLinkStore(client, stack.table)
    link, digest = new_bundle(store, MAX_BUNDLE_FILES, uses=3)
    for n in range(2):
        seen.calls.clear()
        outcome = store.claim(link.link_id, digest, bundle_claim(NOW + n))
        assert outcome.claimed and outcome.link.files == link.files
        assert outcome.link.uses_log == ()  # the answer: what delivery needs, no history
        ((operation, update),) = seen.calls
        assert operation == "UpdateItem" and "files = files" in update
    item = client.get_item(
        TableName=stack.table, Key={"pk": {"S": f"link#{link.link_id}"}}, ConsistentRead=True
    )["Item"]
    print(f"bundle of {MAX_BUNDLE_FILES}: item {item_bytes(item)} bytes")
    assert math.ceil(item_bytes(item) / 1024) <= BUNDLE_WCU_BOUND, item_bytes(item)


def test_a_single_file_claim_is_unchanged_by_bundles(stack: Stack) -> None:
    client: Any = stack.client("dynamodb")
    seen = Seen()
    client.meta.events.register("before-parameter-build.dynamodb.*", seen.before_call)
    store = DynamoLinkStore(client, stack.table)
    link, digest = new_link(store, uses=2)
    seen.calls.clear()
    outcome = store.claim(link.link_id, digest, claim(NOW + 1))
    assert outcome.claimed and outcome.link.files == ()
    ((operation, update),) = seen.calls
    assert operation == "UpdateItem" and "files" not in update
    item = client.get_item(
        TableName=stack.table, Key={"pk": {"S": f"link#{link.link_id}"}}, ConsistentRead=True
    )["Item"]
    assert "files" not in item
    assert item_bytes(item) < 1024  # 1 WCU, as before
