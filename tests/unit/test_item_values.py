"""The item format's own typing of values (chalicelib/storage/dynamo.py) gives exactly what
boto3's serializer and deserializer give, for every type the service stores and the rest."""

from __future__ import annotations

from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chalicelib.storage import dynamo

VALUES: list[Any] = [
    "",
    "text ünïcode",
    True,
    False,
    0,
    -3,
    10**20,
    1.5,
    1.0,
    1_800_000_000.123,
    1_800_000_000.1234567,  # stored rounded to milliseconds
    1e-5,
    {"a": [1, "b", {"c": 2.5}], "d": {}},
    [],
    None,
    b"bytes",
    {"a", "set"},
    (1, 2.0),
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_typed_as_boto3_types_it(value: Any) -> None:
    assert dynamo.attribute(value) == TypeSerializer().serialize(dynamo._plain(value))


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_read_back_as_boto3_reads_it(value: Any) -> None:
    typed = dynamo.attribute(value)
    expected = dynamo._native(TypeDeserializer().deserialize(typed))  # type: ignore[arg-type]
    found = dynamo.value_of(typed)
    assert found == expected
    assert type(found) is type(expected)
