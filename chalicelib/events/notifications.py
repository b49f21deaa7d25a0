"""Notifications: what the links table's DynamoDB Stream says happened to a link, told to
the deployment's webhooks and to the address a link was minted with (``notify``).

Off the redemption path by construction: the stream is written by DynamoDB itself, so a
redemption makes the same single write as before and waits for nothing here.

What each write means, the events, is read off the stream in ``chalicelib.events.stream``.
A receiver's tally of uses is redeemed - returned - refunded, which is the link's
``uses``.  A payload never holds the token or an address that downloads the file (the
table has neither); the client's IP and user agent only with
``ONETIME_NOTIFY_CLIENT_DETAILS``.

Delivery is at least once.  A record that failed is delivered again by Lambda; this
container remembers which destinations already accepted each event and skips them, but a
retry on another container sends to every endpoint and the receipt's address again, so
receivers drop repeats by ``webhook-id`` (stable per event: docs/CONSISTENCY.md).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.domain.errors import MailError
from chalicelib.domain.link import Use, Visit
from chalicelib.events.stream import VISITED, Event, events
from chalicelib.events.webhooks import BACKOFF, TIMEOUT, Sleeper, Webhooks
from chalicelib.logs import get_logger, metric
from chalicelib.settings import NotificationSettings

log = get_logger("notifications")

# Time kept back for the receipt and for handing the rest of the batch back to Lambda.
_MARGIN_MS = 10_000
# Deliveries this container remembers as accepted (event id, destination), so that a
# batch Lambda retries here does not send them again: a few batches' worth.
_REMEMBERED = 4096
_RECEIPT = "receipt"


def payload(event: Event, *, client_details: bool = False) -> dict[str, Any]:
    """The webhook body: Standard Webhooks' ``type``/``timestamp``/``data`` envelope."""
    link = event.link
    data: dict[str, Any] = {
        "link_id": link.link_id,
        "file": link.object.key,
        "filename": link.filename,
        "size": link.object.size,
        "note": link.note,
        "max_uses": link.max_uses,
        "uses": link.uses,
        "remaining": link.remaining,
        "created_at": _iso(link.created_at),
        "expires_at": _iso(link.expires_at),
    }
    client: Use | Visit | None = event.use or event.visit
    if event.use is not None:
        data["redemption_id"] = event.use.claim_id
        data["redeemed_at"] = _iso(event.use.at)
        data["delivery"] = link.delivery_of(event.use).value
        data["suspected_automation"] = link.suspicion(event.use)
    if event.visit is not None:
        data["visit"] = event.visit.kind
        data["visits_of_this_kind"] = event.visit_count
    if client is not None and client_details:
        data["client_ip"] = client.client_ip
        data["user_agent"] = client.user_agent
    return {"type": event.kind, "timestamp": _iso(event.at), "data": data}


def _iso(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Sender(Protocol):
    """What sends a receipt: ``Mailer.deliver``."""

    def deliver(self, to: str, subject: str, text: str, page: str) -> str: ...


Composer = Callable[[Event, bool], tuple[str, str, str]]  # subject, text, html


@dataclass(kw_only=True, eq=False, repr=False)
class Notifier:
    """Tells each event to the webhooks and, where the link names one, the receipt's
    address; hands back the records it could not deliver, for Lambda to retry and
    finally set aside in the dead-letter queue."""

    webhooks: Webhooks | None
    mailer: Sender | None
    compose: Composer
    visits: bool = False
    client_details: bool = False
    endpoints: int = 0

    def __post_init__(self) -> None:
        # The longest one event can take: every endpoint failing every attempt.
        self._worst_ms = int(self.endpoints * (TIMEOUT * (len(BACKOFF) + 1) + sum(BACKOFF)) * 1000)
        # (event id, webhook URL or _RECEIPT) accepted by this container, oldest first.
        self._sent: OrderedDict[tuple[str, str], None] = OrderedDict()

    def handle(
        self, records: Sequence[Mapping[str, Any]], remaining_ms: Callable[[], int] | None = None
    ) -> list[str]:
        """Deliver a batch in order; the sequence numbers Lambda must retry (from the first
        record that failed on: a link's events stay in order)."""
        for position, record in enumerate(records):
            # The first record is always tried (the function's timeout allows one at its
            # worst); a later one only if the worst case still fits.
            budget = self._worst_ms + _MARGIN_MS
            if position and remaining_ms is not None and remaining_ms() < budget:
                # Not a failure of this record: no time left to try it within this call.
                log.info("notifications: out of time, handing the rest back to Lambda")
                return [_sequence(r) for r in records[position:]]
            happened = events(record, visits=self.visits)
            failures = [failure for event in happened for failure in self.notify(event)]
            if failures:
                return [_sequence(r) for r in records[position:]]
        return []

    def notify(self, event: Event) -> list[str]:
        """Send one event everywhere it goes, except where this container already had it
        accepted (a batch Lambda retried); what failed, in words (logged here)."""
        failures = []
        if self.webhooks is not None:
            body = json.dumps(
                payload(event, client_details=self.client_details),
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
            for url in self.webhooks.urls:
                if self._accepted(event, url):
                    continue
                failure = self.webhooks.deliver_one(url, event.event_id, body)
                if failure is None:
                    self._remember(event, url)
                    continue
                failures.append(f"webhook {failure.endpoint}: {failure.reason}")
                log.warning(
                    "NOTIFICATION FAILED: webhook %s did not accept %s for link %s after %d"
                    " attempts (%s); the record is retried, then set aside in the"
                    " dead-letter queue",
                    failure.endpoint,
                    event.kind,
                    event.link.link_id,
                    failure.attempts,
                    failure.reason,
                    extra={
                        "link_id": event.link.link_id,
                        "event": event.kind,
                        "webhook_id": event.event_id,
                        "endpoint": failure.endpoint,
                    },
                )
        wants_receipt = event.link.notify and event.kind != VISITED
        if self.mailer is not None and wants_receipt and not self._accepted(event, _RECEIPT):
            assert event.link.notify is not None  # for mypy: wants_receipt checked it
            subject, text, page = self.compose(event, self.client_details)
            try:
                self.mailer.deliver(event.link.notify, subject, text, page)
            except MailError as exc:
                failures.append(f"receipt: {exc}")
                log.warning(
                    "NOTIFICATION FAILED: the receipt of %s for link %s was not sent (%s)",
                    event.kind,
                    event.link.link_id,
                    exc,
                    extra={"link_id": event.link.link_id, "event": event.kind},
                )
            else:
                self._remember(event, _RECEIPT)
        metric("NotificationsFailed" if failures else "NotificationsSent")
        if not failures:
            log.info("notified", extra={"link_id": event.link.link_id, "event": event.kind})
        return failures

    def _accepted(self, event: Event, destination: str) -> bool:
        return (event.event_id, destination) in self._sent

    def _remember(self, event: Event, destination: str) -> None:
        # Only what was accepted: a send whose answer was lost is sent again (at least once).
        self._sent[(event.event_id, destination)] = None
        while len(self._sent) > _REMEMBERED:
            self._sent.popitem(last=False)


def _sequence(record: Mapping[str, Any]) -> str:
    return str(record.get("dynamodb", {}).get("SequenceNumber", ""))


def build(settings: NotificationSettings, *, sleep: Sleeper = time.sleep) -> Notifier:
    """The notifier a container uses, built once (app.py caches it): the webhook secret is
    read from SSM here, once per container, never per record."""
    # Imported here: the API's containers import this module's events only.
    from chalicelib.events import receipts

    webhooks = None
    if settings.webhook_urls:
        secret = settings.webhook_secret
        if secret is None:
            from chalicelib.storage.secrets import read_parameter

            assert settings.webhook_secret_parameter is not None  # settings.py checked
            # Unreadable: the whole batch fails, and Lambda hands it over again.
            secret = read_parameter(
                settings.webhook_secret_parameter, "The webhook secret cannot be read just now."
            )
        webhooks = Webhooks(settings.webhook_urls, secret, sleep=sleep)
    mailer = None
    if settings.mail_from:
        from chalicelib.mail.mailer import Mailer
        from chalicelib.storage.clients import ses_client

        mailer = Mailer(ses_client(), settings.mail_from)
    return Notifier(
        webhooks=webhooks,
        mailer=mailer,
        compose=receipts.compose,
        visits=settings.visits,
        client_details=settings.client_details,
        endpoints=len(settings.webhook_urls),
    )
