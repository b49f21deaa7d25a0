"""The pure modules: request fields read off the dataclasses, the item format, the
refusal rule, and the delivery choice."""

from __future__ import annotations

import pytest

from chalicelib.domain import delivery, refusals
from chalicelib.domain.errors import (
    InvalidRequestError,
    LinkExpiredError,
    LinkNotFoundError,
    LinkRevokedError,
    LinkUsedUpError,
)
from chalicelib.domain.link import Link, StoredObject, Use
from chalicelib.mail.mailer import Letter
from chalicelib.services.links import LinkChange
from chalicelib.services.minting import MintRequest
from chalicelib.storage import dynamo
from chalicelib.web.params import build, json_fields, json_object


def test_mint_fields_come_from_the_dataclasses() -> None:
    assert json_fields(MintRequest, Letter) == {
        "file": str,
        "files": tuple,
        "uses": int,
        "ttl": int,
        "filename": str,
        "confirm": bool,
        "note": str,
        "verify": str,
        "notify": str,
        "email": str,
        "subject": str,
        "message": str,
    }
    assert json_fields(LinkChange) == {"ttl": int, "max_uses": int, "note": str}


def test_a_body_is_checked_against_those_fields() -> None:
    fields = json_fields(MintRequest)
    with pytest.raises(InvalidRequestError) as unknown:
        json_object(b'{"file": "a", "colour": "red"}', fields)
    assert unknown.value.code == "unknown_field"
    with pytest.raises(InvalidRequestError) as wrong:
        json_object(b'{"file": "a", "uses": true}', fields)
    assert wrong.value.code == "invalid_uses"
    with pytest.raises(InvalidRequestError) as missing:
        build(MintRequest, json_object(b'{"uses": 2}', fields))
    assert missing.value.code == "invalid_file"
    assert build(MintRequest, json_object(b'{"file": "a", "uses": 2}', fields)).uses == 2


def test_item_format_round_trips() -> None:
    values = {"s": "été", "n": 3, "f": 1700000000.1234, "b": False, "m": {"x": [1, "y"]}, "e": ""}
    item = dynamo.to_item(values)
    assert item["s"] == {"S": "été"}
    assert item["f"] == {"N": "1700000000.123"}  # epoch times keep milliseconds
    assert item["b"] == {"BOOL": False}
    assert dynamo.from_item(item) == {**values, "f": 1700000000.123}


def test_cursor_must_be_one_we_gave_out() -> None:
    key = {"pk": {"S": "link#a"}, "file": {"S": "k"}, "created_at": {"N": "1.5"}}
    cursor = dynamo.encode_cursor(key)
    assert dynamo.decode_cursor(cursor, {"pk", "file", "created_at"}, "file", "k") == key
    for bad in (cursor, "%%%", dynamo.encode_cursor({**key, "pk": {"S": "other#a"}})):
        with pytest.raises(InvalidRequestError):
            dynamo.decode_cursor(bad, {"pk", "file", "created_at"}, "file", "other-file")


def link(**changes: object) -> Link:
    values: dict[str, object] = {
        "link_id": "a" * 16,
        "token_digest": "d" * 64,
        "object": StoredObject("k", 1, "application/pdf", '"e"'),
        "filename": "f.pdf",
        "max_uses": 1,
        "uses": 0,
        "created_at": 0.0,
        "expires_at": 100,
        "confirm": True,
    }
    values.update(changes)
    return Link(**values)  # type: ignore[arg-type]


def test_refusal_order_revoked_used_expired() -> None:
    used = (Use(5.0, "", "", False),)
    with pytest.raises(LinkNotFoundError):
        refusals.check(None, "d" * 64, 0)
    with pytest.raises(LinkNotFoundError):
        refusals.check(link(), "e" * 64, 0)
    with pytest.raises(LinkRevokedError):
        refusals.check(link(revoked_at=1.0, uses=1, uses_log=used), "d" * 64, 500)
    with pytest.raises(LinkUsedUpError) as spent:
        refusals.check(link(uses=1, uses_log=used), "d" * 64, 500)
    assert (spent.value.uses, spent.value.last_used_at) == (1, 5.0)
    assert "(once)" in spent.value.message
    with pytest.raises(LinkExpiredError):
        refusals.check(link(), "d" * 64, 100)
    assert refusals.check(link(), "d" * 64, 99).link_id == "a" * 16


@pytest.mark.parametrize(
    ("accept", "size", "expected"),
    [
        ("text/html,*/*", 10, delivery.Delivery.STREAM),
        ("text/html,*/*", 10_000, delivery.Delivery.REDIRECT),
        ("*/*", 10, delivery.Delivery.REDIRECT),
        (None, 10, delivery.Delivery.REDIRECT),
        ("application/json", 10, delivery.Delivery.REDIRECT),
    ],
)
def test_stream_only_what_every_layer_passes_intact(
    accept: str | None, size: int, expected: delivery.Delivery
) -> None:
    accepted = delivery.accepts_stream(accept)
    assert delivery.choose(accepted, size, "application/pdf", 1000) is expected


@pytest.mark.parametrize(
    ("header", "if_range", "expected"),
    [
        ("bytes=0-99", None, (0, 99)),
        ("bytes=100-", None, (100, 999)),
        ("bytes=-10", None, (990, 999)),
        ("bytes=900-5000", None, (900, 999)),
        ("bytes=100-", '"e"', (100, 999)),
        ("bytes=100-", '"other"', None),
        ("bytes=0-1,5-9", None, None),
        ("bytes=1000-", None, None),
        ("bytes=5-2", None, None),
        ("items=0-1", None, None),
        ("bytes=a-b", None, None),
        ("bytes=-", None, None),
        (None, None, None),
    ],
)
def test_one_byte_range_or_the_whole_file(
    header: str | None, if_range: str | None, expected: tuple[int, int] | None
) -> None:
    assert delivery.byte_range(header, if_range, 1000, '"e"') == expected
