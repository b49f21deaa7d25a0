"""Reading request parameters strictly: one value each, in the documented shape."""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
from collections.abc import Mapping, Sequence
from typing import TypeVar

from chalicelib.domain.errors import InvalidRequestError

T = TypeVar("T")


def single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name) or []
    if len(values) > 1:
        raise InvalidRequestError(f"invalid_{name}", f"Give {name} only once.")
    return values[0] if values else None


def only(params: Mapping[str, Sequence[str]], allowed: Sequence[str], taker: str) -> None:
    """Refuse any parameter not in ``allowed``: a typo (``ttls=60``, ``use=2``) must not
    quietly mint with the defaults.  One fixed code whatever the name: the code becomes a
    metric dimension, and each new one is billed."""
    extra = sorted(set(params) - set(allowed))
    if extra:
        raise InvalidRequestError(
            "invalid_parameter",
            f"Unknown parameter {extra[0]!r}: {taker} takes only {', '.join(allowed)}.",
        )


# More digits than this is beyond every range a caller checks (and int() of a huge string
# is slow): such a number is read as TOO_LARGE, so the caller's own range check refuses it
# in words that give the range.
_MAX_DIGITS = 9
TOO_LARGE = 10**_MAX_DIGITS


def whole_number(params: Mapping[str, Sequence[str]], name: str, default: int) -> int:
    """A parameter that must be a whole number; the caller checks its range."""
    raw = single(params, name)
    if raw is None:
        return default
    # isdigit() admits other scripts' digits; only ASCII 0-9 is a number here.
    if not (raw.isascii() and raw.isdigit()):
        raise InvalidRequestError(f"invalid_{name}", f"{name} must be a whole number.")
    digits = raw.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else TOO_LARGE


def boolean(params: Mapping[str, Sequence[str]], name: str, default: bool) -> bool:
    raw = single(params, name)
    if raw is None:
        return default
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise InvalidRequestError(f"invalid_{name}", f"{name} must be true or false.")


# JSON bodies: each field has one type; bool is not accepted where a number is.
JSON_TYPES: dict[type, str] = {
    str: "a string",
    int: "a whole number",
    bool: "true or false",
    tuple: "a list of strings",  # a ``tuple[str, ...]`` field
    list: "a list of whole numbers",  # a ``list[int]`` field (its items checked by its taker)
}


def json_object(raw: bytes | str | None, fields: Mapping[str, type]) -> dict[str, object]:
    """A JSON object whose keys are all in ``fields``, each value of its type (or null)."""
    try:
        value = json.loads(raw or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):  # nesting beyond the stack, too
        raise InvalidRequestError("invalid_json", "The body must be a JSON object.") from None
    if not isinstance(value, dict):
        raise InvalidRequestError("invalid_json", "The body must be a JSON object.")
    for name, item in value.items():
        expected = fields.get(name)
        if expected is None:
            raise InvalidRequestError(
                "unknown_field", f"Unknown field {name!r}; allowed: {', '.join(fields)}."
            )
        if item is None:
            continue
        if expected is tuple:  # a JSON list of strings
            wrong = not isinstance(item, list) or not all(isinstance(i, str) for i in item)
        else:
            wrong_bool = expected is not bool and isinstance(item, bool)
            wrong = not isinstance(item, expected) or wrong_bool
        if wrong:
            raise InvalidRequestError(f"invalid_{name}", f"{name} must be {JSON_TYPES[expected]}.")
    return {name: item for name, item in value.items() if item is not None}


def _json_type(hint: object) -> type:
    if typing.get_origin(hint) is tuple:
        return tuple
    if typing.get_origin(hint) is list:
        return list
    # ``str | None`` and the like: the one non-None member is the JSON type.
    members = [m for m in getattr(hint, "__args__", (hint,)) if m is not type(None)]
    found = members[0]
    if typing.get_origin(found) is tuple:  # ``tuple[str, ...] | None``
        return tuple
    assert isinstance(found, type) and found in JSON_TYPES, hint
    return found


@functools.cache
def json_fields(*models: type) -> dict[str, type]:
    """The JSON fields a request body may carry, read off the dataclasses that take them,
    so a field is declared once: in the dataclass."""
    fields: dict[str, type] = {}
    for model in models:
        hints = typing.get_type_hints(model)
        for field in dataclasses.fields(model):
            fields[field.name] = _json_type(hints[field.name])
    return fields


def required_fields(model: type) -> tuple[str, ...]:
    """The fields a dataclass has no default for."""
    return tuple(
        field.name
        for field in dataclasses.fields(model)
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    )


def build(model: type[T], body: Mapping[str, object]) -> T:
    """The dataclass from a checked JSON body, naming the first missing required field."""
    for name in required_fields(model):
        if name not in body:
            raise InvalidRequestError(f"invalid_{name}", f"{name} is required.")
    return model(**body)
