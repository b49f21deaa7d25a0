"""Issue 22, item 5 (the CLI's part): a duration says what was asked for, and sizes and
rates are in 1024-based units, as the pages show them."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import cast

import pytest
from rich.progress import Task

from onetime_cli import render
from onetime_cli.durations import format_duration
from onetime_cli.sizes import parse_size

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (2 * 86_400 - 3, "2d"),  # --ttl 2d, read back 3 s later: not "1d 23h"
        (86_400 - 10, "1d"),  # 23h 59m 50s: the hours carry into a day
        (3_600 - 3, "1h"),  # --ttl 1h: not "59m 57s"
        (599, "9m 59s"),  # seconds still count under 10 minutes
        (5_399, "1h 30m"),  # 1h 29m 59s
        (7 * 86_400 - 42, "7d"),
        (119.7, "2m"),
        (93_784, "1d 2h"),  # 1d 2h 3m 4s: still the two largest units
        (3_661, "1h 1m"),
        (59, "59s"),
        (-7_200 + 2, "2h"),
    ],
)
def test_a_duration_is_rounded_to_its_last_unit_not_cut(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_link_minted_for_two_days_expires_in_2d() -> None:
    expires = NOW + dt.timedelta(days=2)
    shown = render.when(iso(expires), now=(NOW + dt.timedelta(seconds=3)).timestamp())
    assert shown == f"{iso(expires)} (in 2d)"


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (5 * 1024 * 1024, "5.0 MiB (5,242,880 bytes)"),
        (204_800, "200.0 KiB (204,800 bytes)"),
        (1023, "1023 bytes"),
        (parse_size("20MiB"), "20.0 MiB (20,971,520 bytes)"),
    ],
)
def test_sizes_are_1024_based(size: int, text: str) -> None:
    assert render.size(size) == text


def test_the_progress_bar_rate_is_1024_based_too() -> None:
    task = cast(Task, SimpleNamespace(finished_speed=None, speed=1.5 * 1024 * 1024))
    assert render.BinaryRateColumn().render(task).plain == "1.5 MiB/s"
    assert render.rate(1_000) == "1000 bytes/s"
