"""The links table's DynamoDB Stream, read as events: what each write did to a link.

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

Who is told, and how, is ``chalicelib.events.notifications``; what a receipt says,
``chalicelib.events.receipts``.  Both read the events from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.link import Link, Use, Visit
from chalicelib.storage.linkstore import link_from_item

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
    return link_from_item(image) if image else None
