"""The receipt: the email a link's ``notify`` address gets when the link was redeemed, or
expired without being used.  It names the link and never carries its address: whoever
reads it (or a forward of it) cannot download the file."""

from __future__ import annotations

import html

from chalicelib.notifications import EXPIRED_UNUSED, REDEEMED, Event
from chalicelib.pages import Html, fill, fill_text, human_date


def compose(event: Event, client_details: bool) -> tuple[str, str, str]:
    """Subject, plain-text and HTML parts (the HTML escapes every value).  Moments are
    dates, never "2 hours ago": the receipt may be read much later."""
    link = event.link
    if event.kind == REDEEMED:
        subject = f"Downloaded: {link.filename}"
        headline = f"The file was downloaded on {human_date(event.at)}."
    elif event.kind == EXPIRED_UNUSED:
        subject = f"Not downloaded: {link.filename}"
        headline = (
            f"The link expired on {human_date(link.expires_at)} without being used; "
            "it has now been deleted."
        )
    else:
        raise ValueError(f"no receipt for {event.kind}")
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
    page = fill(
        "receipt.html", subject=subject, headline=headline, details_block=html_block, **facts
    )
    return subject, text, page
