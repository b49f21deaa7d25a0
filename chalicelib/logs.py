"""Structured logs: one JSON object per line, one summary line per request.

Never log a token, a query string, a presigned URL or request headers: a leaked
log must not yield working links.  Fields are chosen explicitly.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

ROOT = "onetime"
_fields: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("log_fields")
# A metric as kept: its name, its value and its dimensions.
Metric = tuple[str, float, dict[str, str]]
# The metrics a request counted, kept for its summary line (see ``metric``).
_counted: contextvars.ContextVar[list[Metric] | None] = contextvars.ContextVar(
    "log_metrics", default=None
)
# Attributes every LogRecord has; anything else was passed with ``extra=`` and is logged.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"{ROOT}.{name}")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_fields.get({}))
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info and record.levelno >= logging.ERROR:
            # The exception's type and text, for operators; never sent to a client.
            entry["exception"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure() -> logging.Logger:
    """The ``onetime`` logger, writing JSON lines to stdout (CloudWatch in Lambda)."""
    logger = logging.getLogger(ROOT)
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def begin(request_id: str) -> contextvars.Token[dict[str, Any]]:
    return _fields.set({"request_id": request_id})


def end(token: contextvars.Token[dict[str, Any]]) -> None:
    _fields.reset(token)


def annotate(**fields: Any) -> None:
    """Add facts (link id, outcome) to every line this request logs from now on."""
    current = _fields.get(None)
    if current is not None:
        current.update(fields)


NAMESPACE = "onetime"


def metric(name: str, value: float = 1, **dimensions: str) -> None:
    """A CloudWatch metric as an embedded-metric-format log line: CloudWatch extracts it
    from the log stream, so counting costs no API call and no extra latency.  Inside a
    request that ``counting`` began, the metric rides in the request's own summary line
    (``counted``); elsewhere, or when that line could not carry it, it has a line of its
    own.

    (Powertools' Metrics does the same; importing it added ~52 ms to every cold start
    here, against ~125 ms for all of ``import app``, so a few lines of our own do it.)
    """
    counted = _counted.get()
    entry = (name, value, dimensions)
    if counted is not None and all(_compatible(entry, other) for other in counted):
        counted.append(entry)
    else:
        logging.getLogger(f"{ROOT}.metrics").info("metric", extra=embedded([entry]))


def _compatible(entry: Metric, other: Metric) -> bool:
    # One line holds one value per name: two metrics share it only if neither's name nor
    # any dimension's value would overwrite the other's.
    names = {entry[0], *entry[2]} & {other[0], *other[2]}
    return all(entry[2].get(n) == other[2].get(n) and n not in (entry[0], other[0]) for n in names)


def embedded(metrics: list[Metric]) -> dict[str, Any]:
    """The fields that make a log line carry ``metrics`` (name, value, dimensions) in
    CloudWatch's embedded metric format: the values sit at the top level."""
    if not metrics:
        return {}
    fields: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": name, "Unit": "Count"}],
                }
                for name, _, dimensions in metrics
            ],
        }
    }
    for name, value, dimensions in metrics:
        fields[name] = value
        fields.update(dimensions)
    return fields


def counting() -> contextvars.Token[list[Metric] | None]:
    """From here on, keep this request's metrics for its summary line."""
    return _counted.set([])


def counted(
    token: contextvars.Token[list[Metric] | None],
) -> dict[str, Any]:
    """Stop keeping metrics; the fields that put those kept into the summary line."""
    kept = _counted.get() or []
    _counted.reset(token)
    return embedded(kept)
