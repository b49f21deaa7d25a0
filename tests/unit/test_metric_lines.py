"""A request's metrics ride in its one summary line (issue 23, item 6): CloudWatch's
embedded metric format, one directive per metric, the values at the top level."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from chalicelib import logs


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger(logs.ROOT)
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def written(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def metrics_of(entry: dict[str, object]) -> list[tuple[str, object, dict[str, object]]]:
    found = []
    for directive in entry["_aws"]["CloudWatchMetrics"]:  # type: ignore[index]
        assert directive["Namespace"] == "onetime"
        [definition] = directive["Metrics"]
        [dimensions] = directive["Dimensions"]
        name = definition["Name"]
        found.append((name, entry[name], {d: entry[d] for d in dimensions}))
    return found


def test_metrics_in_a_request_ride_in_its_line(lines: io.StringIO) -> None:
    token = logs.counting()
    logs.metric("Redeemed", Path="stream")
    logs.metric("UsesReleased")
    assert lines.getvalue() == ""  # nothing written before the request's line
    logging.getLogger("onetime.request").info("request", extra=logs.counted(token))
    [entry] = written(lines)
    assert entry["message"] == "request"
    assert metrics_of(entry) == [
        ("Redeemed", 1, {"Path": "stream"}),
        ("UsesReleased", 1, {}),
    ]


def test_a_metric_that_would_clash_gets_a_line_of_its_own(lines: io.StringIO) -> None:
    token = logs.counting()
    logs.metric("Refused", Reason="link_used")
    logs.metric("Refused", Reason="link_expired")  # the same name: one value per line
    logs.metric("Visits", Reason="other")  # the same dimension, another value
    logging.getLogger("onetime.request").info("request", extra=logs.counted(token))
    first, second, request = written(lines)
    assert metrics_of(first) == [("Refused", 1, {"Reason": "link_expired"})]
    assert metrics_of(second) == [("Visits", 1, {"Reason": "other"})]
    assert metrics_of(request) == [("Refused", 1, {"Reason": "link_used"})]


def test_outside_a_request_a_metric_has_its_own_line(lines: io.StringIO) -> None:
    logs.metric("NotificationsSent", value=3)
    [entry] = written(lines)
    assert entry["message"] == "metric"
    assert metrics_of(entry) == [("NotificationsSent", 3, {})]
