"""Reading request parameters strictly: one value each, in the documented shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chalicelib.errors import InvalidRequestError


def single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name) or []
    if len(values) > 1:
        raise InvalidRequestError(f"invalid_{name}", f"Give {name} only once.")
    return values[0] if values else None


def whole_number(params: Mapping[str, Sequence[str]], name: str, default: int) -> int:
    raw = single(params, name)
    if raw is None:
        return default
    # isdigit() admits other scripts' digits; only ASCII 0-9 is a number here.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise InvalidRequestError(f"invalid_{name}", f"{name} must be a whole number.")
    return int(raw)


def boolean(params: Mapping[str, Sequence[str]], name: str, default: bool) -> bool:
    raw = single(params, name)
    if raw is None:
        return default
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise InvalidRequestError(f"invalid_{name}", f"{name} must be true or false.")
