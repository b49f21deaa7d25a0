"""The receipt: the email a link's ``notify`` address gets when a download of the link
started, when one could not be handed over and its use was given back, when an operator
gave a use back, or when the link expired without being used.  It names the link and never
carries its address: whoever reads it (or a forward of it) cannot download the file."""

from __future__ import annotations

import html

from chalicelib.events.stream import (
    EXPIRED_UNUSED,
    REDEEMED,
    REDEMPTION_RETURNED,
    REFUNDED,
    Event,
)
from chalicelib.templates.engine import Html, email_page, fill_text, human_date


def compose(event: Event, client_details: bool) -> tuple[str, str, str]:
    """Subject, plain-text and HTML parts (the HTML escapes every value).  Moments are
    dates, never "2 hours ago": the receipt may be read much later."""
    link = event.link
    subject, headline = _wording(event)
    details = []
    if event.use is not None:
        details.append(("How", link.delivery_of(event.use).value))
        suspicion = link.suspicion(event.use)
        if suspicion:
            details.append(("Looks automated", suspicion))
        if client_details:
            details += [("From", event.use.client_ip), ("Browser", event.use.user_agent)]
    facts = {
        "filename": link.filename,
        "link_id": link.link_id,
        "note": link.note or "(none)",
        "uses": f"{link.uses} of {link.max_uses} used",
        "expires_on": human_date(link.expires_at),
    }
    text_block = "".join(f"  {name + ':':<11} {value}\n" for name, value in details)
    text = fill_text("receipt.txt", headline=headline, details_block=text_block, **facts)
    html_block = Html(
        "".join(
            f'<p style="margin:0 0 4px;color:#4a5360">{html.escape(name)}: {html.escape(value)}</p>'
            for name, value in details
        )
    )
    page = email_page(
        "receipt.html", subject=subject, headline=headline, details_block=html_block, **facts
    )
    return subject, text, page


def _wording(event: Event) -> tuple[str, str]:
    """Subject and headline.  A claim is made when the download starts, before any byte
    reaches the client, so a receipt says it started, never that the file was received."""
    filename = event.link.filename
    if event.kind == REDEEMED:
        return (
            f"Download started: {filename}",
            f"The link was used on {human_date(event.at)}: a download of the file started. "
            "If the file could not be handed over, the use is given back and you get "
            "another message saying so.",
        )
    if event.kind == REDEMPTION_RETURNED:
        started = f" that started on {human_date(event.use.at)}" if event.use else ""
        return (
            f"Download did not complete: {filename}",
            f"The download{started} did not complete: the file could not be handed "
            f"over, so its use was given back on {human_date(event.at)}.",
        )
    if event.kind == REFUNDED:
        of = f" of the download that started on {human_date(event.use.at)}" if event.use else ""
        return (
            f"Use given back: {filename}",
            f"An operator gave back the use{of} on {human_date(event.at)}.",
        )
    if event.kind == EXPIRED_UNUSED:
        return (
            f"Not downloaded: {filename}",
            f"The link expired on {human_date(event.link.expires_at)} without being used; "
            "it has now been deleted.",
        )
    raise ValueError(f"no receipt for {event.kind}")
