"""Webhooks: one notification POSTed to each endpoint of the deployment, signed as the
Standard Webhooks specification says, and retried with backoff.

Signing is the ``standardwebhooks`` package's own (``webhook-signature: v1,<base64 of
HMAC-SHA256 over "{id}.{timestamp}.{body}">``), so what its verifier accepts is what we
send.  Each attempt is signed afresh with its own timestamp: receivers reject a timestamp
more than five minutes off their clock, and a retry may come later than that.  The id stays
the same on every attempt and every re-delivery, so a receiver can drop duplicates.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from chalicelib.clock import Clock

# Seconds to wait before the second and third attempt: three attempts in all, about
# 5 s of waiting, so one endpoint costs at most 3 x TIMEOUT + 5 s of the handler's time.
BACKOFF = (1.0, 4.0)
TIMEOUT = 5.0
# An endpoint that answers one of these may accept the same message later; any other
# refusal (400, 401, 404 ...) will not change by asking again.
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
USER_AGENT = "onetime-webhooks/1"

# (url, body, headers) -> HTTP status; raises OSError when nothing answered.
Post = Callable[[str, bytes, Mapping[str, str]], int]
Sleeper = Callable[[float], None]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the POST into a GET without the body (301-303) or send the
    # signed body somewhere nobody configured: it counts as a refusal instead.
    def redirect_request(self, *_: object, **__: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects())


def post(url: str, body: bytes, headers: Mapping[str, str]) -> int:
    """POST over the network (the default ``Post``): the status, whatever it is."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310 (https, or http to this machine: settings.py)
    try:
        with _opener.open(request, timeout=TIMEOUT) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as answered:
        return answered.code


@dataclass(frozen=True)
class Failure:
    """An endpoint that did not accept a message: where (its host only: a path or query
    may hold a credential), and the last answer, in words."""

    endpoint: str
    reason: str
    attempts: int


def endpoint_name(url: str) -> str:
    return urlsplit(url).hostname or "?"


class Webhooks:
    def __init__(
        self,
        urls: Sequence[str],
        secret: str,
        *,
        post: Post = post,
        sleep: Sleeper = time.sleep,
        clock: Clock = time.time,
        backoff: Sequence[float] = BACKOFF,
    ) -> None:
        self._urls = tuple(urls)
        self._signer = Webhook(secret)
        self._post = post
        self._sleep = sleep
        self._clock = clock
        self._backoff = tuple(backoff)

    def headers(self, message_id: str, body: bytes) -> dict[str, str]:
        """The Standard Webhooks headers for one attempt, signed now."""
        now = int(self._clock())
        signature = self._signer.sign(
            msg_id=message_id, timestamp=datetime.fromtimestamp(now, tz=UTC), data=body.decode()
        )
        return {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(now),
            "webhook-signature": signature,
        }

    @property
    def urls(self) -> tuple[str, ...]:
        """The endpoints, each delivered to on its own (``deliver_one``), so that the
        caller can skip one that already accepted a message."""
        return self._urls

    def deliver_one(self, url: str, message_id: str, body: bytes) -> Failure | None:
        """Send one message to one endpoint, retried with backoff; ``None`` once accepted."""
        reason = ""
        attempts = 0
        for wait in (0.0, *self._backoff):  # bounded: len(backoff) + 1 attempts
            if wait:
                self._sleep(wait)
            attempts += 1
            try:
                status = self._post(url, body, self.headers(message_id, body))
            except OSError as exc:  # refused, reset, timed out, TLS
                reason = f"no answer ({type(exc).__name__})"
                continue
            if 200 <= status < 300:
                return None
            reason = f"answered {status}"
            if status not in RETRYABLE:
                break
        return Failure(endpoint_name(url), reason, attempts)
