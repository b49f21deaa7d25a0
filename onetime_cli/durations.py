"""Human durations: ``30s``, ``30m``, ``2h``, ``7d``, ``1w``, ``1h30m`` or plain seconds."""

from __future__ import annotations

import re
from collections.abc import Callable

import click

UNITS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:[0-9]+[wdhms])+")
_PART = re.compile(r"([0-9]+)([wdhms])")
EXAMPLES = "30s, 30m, 2h, 7d, 1w, 1h30m or plain seconds"


def parse_duration(text: str) -> int:
    """Seconds in ``text``; ``ValueError`` with a sentence for a person otherwise."""
    value = text.strip().lower()
    # ASCII digits only: str.isdigit() also admits other scripts' digits.
    if value.isascii() and value.isdigit():
        seconds = int(value)
    elif _DURATION.fullmatch(value):
        seconds = sum(int(number) * UNITS[unit] for number, unit in _PART.findall(value))
    else:
        raise ValueError(f"{text!r} is not a duration; use e.g. {EXAMPLES}.")
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a duration: it must be longer than zero.")
    return seconds


def format_duration(seconds: float) -> str:
    """``93784`` -> ``'1d 2h'``: the two largest units, the second rounded to the
    nearest, and seconds only under 10 minutes.  So a 2-day link read back 3 s after it
    was made is ``'2d'``, not ``'1d 23h'``, and a 1-hour one ``'1h'``, not ``'59m 57s'``."""
    remaining = round(abs(seconds))
    if remaining < 60:
        return f"{remaining}s"
    # Days read better than weeks for the ranges links live.
    units = [(unit, size) for unit, size in UNITS.items() if unit != "w"]
    largest = next(index for index, (_, size) in enumerate(units) if remaining >= size)
    last = max(units[min(largest + 1, len(units) - 1)][1], 60 if remaining >= 600 else 1)
    remaining = round(remaining / last) * last  # may carry into a larger unit: 23h 59m 50s
    parts: list[str] = []
    for unit, size in units:
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
        elif parts:
            break
        if len(parts) == 2:
            break
    return " ".join(parts)


class Quantity(click.ParamType[int]):
    """A click parameter type that turns what a person writes ("2d", "10MB") into a whole
    number with ``parse``; an int passes through (a default)."""

    def __init__(self, name: str, parse: Callable[[str], int]) -> None:
        self.name = name
        self._parse = parse

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return self._parse(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return self.name.upper()


DURATION = Quantity("duration", parse_duration)
