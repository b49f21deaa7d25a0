"""Notifications: what the links table's DynamoDB Stream says happened to a link, told to
the deployment's webhooks and to the address a link was minted with (``notify``).

Off the redemption path by construction: the stream is written by DynamoDB itself, so a
redemption makes the same single write as before and waits for nothing here.

Events, from the item before and after each write (``NEW_AND_OLD_IMAGES``):

* ``link.redeemed``: a redemption appeared (a claim: a use was taken and the download
  *started*; whether the client received every byte nobody here can know).
* ``link.redemption_returned``: a redemption vanished (the service gave its use back
  because the file could not be handed over: the download did not happen).  It follows
  the ``link.redeemed`` of the same ``redemption_id``.
* ``link.refunded``: an operator gave a use back (``refunded_at`` appeared on a redemption,
  or ``uses`` went down with no redemption named).
* ``link.expired_unused``: DynamoDB's TTL deleted a link nobody used (a ``REMOVE`` by the
  DynamoDB service principal whose old image has ``uses`` 0 and was never withdrawn).
  It comes when the item is deleted: ``ONETIME_RETENTION_DAYS`` after the expiry, plus
  TTL's own delay (usually within two days).
* ``link.visited``, only with ``ONETIME_NOTIFY_VISITS``: a ``seen_<kind>`` counter went up
  (a landing page, a HEAD, a preview: a visit that spent nothing).  Webhooks only: a
  scanner's storm of visits must not flood a person's inbox.

So a receiver's tally of uses is redeemed - returned - refunded, which is the link's
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
from chalicelib.domain.link import Link, Use, Visit
from chalicelib.events.webhooks import BACKOFF, TIMEOUT, Sleeper, Webhooks
from chalicelib.logs import get_logger, metric
from chalicelib.settings import NotificationSettings
from chalicelib.storage import dynamo
from chalicelib.storage.linkstore import _from_item as link_from_item

log = get_logger("notifications")

REDEEMED = "link.redeemed"
# A claim the service undid after the delivery failed.  A refund is a different event:
# an operator's decision, after a download that may well have completed (a scanner's, or
# the person's own), so "did not complete" would claim more than anyone knows; and the
# refunded redemption stays on record (``refunded_at``) while a returned one is removed.
REDEMPTION_RETURNED = "link.redemption_returned"
REFUNDED = "link.refunded"
EXPIRED_UNUSED = "link.expired_unused"
VISITED = "link.visited"
# Who deletes an item whose TTL passed, as a stream record's userIdentity says.
TTL_DELETER = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
# Time kept back for the receipt and for handing the rest of the batch back to Lambda.
_MARGIN_MS = 10_000
# Deliveries this container remembers as accepted (event id, destination), so that a
# batch Lambda retries here does not send them again: a few batches' worth.
_REMEMBERED = 4096
_RECEIPT = "receipt"


@dataclass(frozen=True)
class Event:
    kind: str
    # The same for the same happening, however often it is delivered, and different for
    # each happening: it names the stream record (see ``_event_id``).
    event_id: str
    at: float
    link: Link  # as the write left it
    use: Use | None = None  # the redemption redeemed, given back or refunded
    visit: Visit | None = None  # the visit, and how many of its kind there have been
    visit_count: int = 0


def events(record: Mapping[str, Any], *, visits: bool = False) -> list[Event]:
    """What one DynamoDB Streams record (AWS's event shape) means for notifications.
    Records of other items in the table (grants, file requests) mean nothing."""
    change = record.get("dynamodb", {})
    key = change.get("Keys", {}).get("pk", {}).get("S", "")
    if not key.startswith("link#"):
        return []
    sequence = str(change.get("SequenceNumber", ""))
    name = record.get("eventName")
    if name == "REMOVE":
        identity = record.get("userIdentity", {})
        deleted_by_ttl = all(identity.get(k) == v for k, v in TTL_DELETER.items())
        old = _link(change.get("OldImage"))
        if not deleted_by_ttl or old is None or old.uses or old.revoked_at is not None:
            return []
        at = float(change.get("ApproximateCreationDateTime", old.expires_at))
        # An item is deleted once: its id alone names the happening.
        return [Event(EXPIRED_UNUSED, f"expired_{old.link_id}", at, old)]
    if name != "MODIFY":
        return []
    old, new = _link(change.get("OldImage")), _link(change.get("NewImage"))
    if old is None or new is None:
        return []
    written_at = change.get("ApproximateCreationDateTime")
    return between(
        old,
        new,
        sequence=sequence,
        written_at=None if written_at is None else float(written_at),
        visits=visits,
    )


def between(
    old: Link, new: Link, *, sequence: str, written_at: float | None, visits: bool = False
) -> list[Event]:
    """What one write that turned ``old`` into ``new`` means: the events of a MODIFY record
    with that sequence number, written at ``written_at`` (its ApproximateCreationDateTime).
    Works on links, not items, so a checker can run it on the in-memory store's links."""
    found = []
    before = {use.claim_id: use for use in old.uses_log}
    after = {use.claim_id: use for use in new.uses_log}
    for use in new.uses_log:
        if use.claim_id not in before:
            event_id = _event_id("redeemed", new, use, sequence)
            found.append(Event(REDEEMED, event_id, use.at, new, use))
    # Only a release removes a redemption (REMOVE redemptions.<claim id>, uses - 1);
    # the fall in uses guards against any later write that would trim the records.
    for use in old.uses_log:
        if use.claim_id not in after and new.uses < old.uses:
            at = written_at if written_at is not None else use.at
            event_id = _event_id("returned", new, use, sequence)
            found.append(Event(REDEMPTION_RETURNED, event_id, at, new, use))
    named = 0
    for use in new.uses_log:
        was = before.get(use.claim_id)
        if use.refunded_at is not None and was is not None and was.refunded_at is None:
            named += 1
            event_id = _event_id("refunded", new, use, sequence)
            found.append(Event(REFUNDED, event_id, use.refunded_at, new, use))
    returned = sum(1 for event in found if event.kind == REDEMPTION_RETURNED)
    taken = sum(1 for claim_id in after if claim_id not in before)
    if old.uses - new.uses + taken - returned - named > 0:  # a refund naming no redemption
        at = new.refunds[-1].at if new.refunds else (written_at or 0.0)
        found.append(Event(REFUNDED, _event_id("refunded", new, None, sequence), at, new))
    if visits:
        counts = dict(old.visit_counts)
        for kind, count in new.visit_counts:
            visit = next((v for v in reversed(new.visits) if v.kind == kind), None)
            if count > counts.get(kind, 0) and visit is not None:
                # The count only grows, so it names the visit.
                event_id = f"visited_{new.link_id}_{kind}_{count}"
                found.append(
                    Event(VISITED, event_id, visit.at, new, visit=visit, visit_count=count)
                )
    return found


def _event_id(prefix: str, link: Link, use: Use | None, sequence: str) -> str:
    """The webhook id of a redemption's event.  The redemption id alone is not enough: a
    landing page's press is claimed under an id derived from its stamp, so the same press
    can be claimed, given back after a failed delivery and claimed again, and a receiver
    dropping repeats by id would then miss the second claim.  The stream record's sequence
    number tells them apart, and is the same every time Lambda hands that record over."""
    return f"{prefix}_{link.link_id}_{use.claim_id if use is not None else 'use'}_{sequence}"


def _link(image: Mapping[str, Any] | None) -> Link | None:
    return link_from_item(dynamo.from_item(image)) if image else None


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


class Notifier:
    """Tells each event to the webhooks and, where the link names one, the receipt's
    address; hands back the records it could not deliver, for Lambda to retry and
    finally set aside in the dead-letter queue."""

    def __init__(
        self,
        *,
        webhooks: Webhooks | None,
        mailer: Sender | None,
        compose: Composer,
        visits: bool = False,
        client_details: bool = False,
        endpoints: int = 0,
    ) -> None:
        self._webhooks = webhooks
        self._mailer = mailer
        self._compose = compose
        self._visits = visits
        self._client_details = client_details
        # The longest one event can take: every endpoint failing every attempt.
        self._worst_ms = int(endpoints * (TIMEOUT * (len(BACKOFF) + 1) + sum(BACKOFF)) * 1000)
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
            happened = events(record, visits=self._visits)
            failures = [failure for event in happened for failure in self.notify(event)]
            if failures:
                return [_sequence(r) for r in records[position:]]
        return []

    def notify(self, event: Event) -> list[str]:
        """Send one event everywhere it goes, except where this container already had it
        accepted (a batch Lambda retried); what failed, in words (logged here)."""
        failures = []
        if self._webhooks is not None:
            body = json.dumps(
                payload(event, client_details=self._client_details),
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
            for url in self._webhooks.urls:
                if self._accepted(event, url):
                    continue
                failure = self._webhooks.deliver_one(url, event.event_id, body)
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
        if self._mailer is not None and wants_receipt and not self._accepted(event, _RECEIPT):
            assert event.link.notify is not None  # for mypy: wants_receipt checked it
            subject, text, page = self._compose(event, self._client_details)
            try:
                self._mailer.deliver(event.link.notify, subject, text, page)
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
            from chalicelib.storage.clients import ssm_client

            assert settings.webhook_secret_parameter is not None  # settings.py checked
            answer = ssm_client().get_parameter(
                Name=settings.webhook_secret_parameter, WithDecryption=True
            )
            secret = str(answer["Parameter"]["Value"])
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
