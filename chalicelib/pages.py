"""The HTML a person sees: the landing page and the problem pages.

Templates are files beside this module, filled with ``string.Template``.
Every value is HTML-escaped unless it is ``Html`` made by this module, so a
file named ``<script>alert(1)</script>.pdf`` shows as text.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import html
import os
from string import Template

from chalicelib.errors import (
    FileChangedError,
    InvalidRequestError,
    LinkExpiredError,
    LinkNotFoundError,
    LinkRevokedError,
    LinkUsedUpError,
    OnetimeError,
    PressRepeatedError,
    UnavailableError,
)
from chalicelib.link import Link
from chalicelib.refusals import DECLINED_NOTES, EXPIRED, FILE_CHANGED, REVOKED, USED, times
from chalicelib.text import human_size

# os.path rather than pathlib: pathlib would be this module's heaviest import.
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
ASK_SENDER = "What you can do: ask the person or shop that sent you this link for a new one."


class Html(str):
    """Markup this module produced itself, inserted without escaping."""


@functools.cache
def _template(name: str) -> Template:
    with open(os.path.join(TEMPLATES, name), encoding="utf-8") as template:
        return Template(template.read())


@functools.cache
def stylesheet() -> str:
    with open(os.path.join(TEMPLATES, "page.css"), encoding="utf-8") as css:
        return css.read().strip()


@functools.cache
def content_security_policy() -> str:
    # Inline CSS is allowed by its hash, nothing else by any means.  No
    # form-action: Chrome applies it to the redirect that follows the POST, and
    # the presigned S3 URL's host is not known here.
    digest = base64.b64encode(hashlib.sha256(stylesheet().encode("utf-8")).digest()).decode()
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; frame-ancestors 'none'"
    )


def fill(name: str, **values: object) -> Html:
    """Fill an HTML template, escaping every value that is not ``Html``."""
    escaped = {
        key: value if isinstance(value, Html) else html.escape(str(value), quote=True)
        for key, value in values.items()
    }
    return Html(_template(name).substitute(escaped))


def fill_text(name: str, **values: object) -> str:
    """Fill a plain-text template (an email's text part): nothing to escape."""
    return _template(name).substitute({key: str(value) for key, value in values.items()})


NOTHING = Html("")


def _page(title: str, kind: str, content: Html, head: Html = NOTHING) -> str:
    return fill(
        "page.html", title=title, kind=kind, style=Html(stylesheet()), content=content, head=head
    )


def human_date(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
    return f"{moment:%A} {moment.day} {moment:%B %Y, %H:%M} UTC"


def relative(timestamp: float, now: float) -> str:
    """``in 3 hours`` or ``2 days ago``."""
    seconds = timestamp - now
    # To the nearest half minute: a day's link emailed a moment after minting is "in 1 day",
    # not "in 23 hours".
    span = int(abs(seconds) + 30)
    if span < 60:
        return "in less than a minute" if seconds > 0 else "less than a minute ago"
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if span >= size:
            count = span // size
            words = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {words}" if seconds >= 0 else f"{words} ago"
    raise AssertionError("unreachable")


AGAIN_FIELD = "again"  # the "Download again" button's form field


def clock_time(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
    return f"{moment:%H:%M} UTC"


def landing(
    link: Link,
    token: str,
    now: float,
    stamp: str,
    declined: str | None = None,
    again_until: float | None = None,
) -> str:
    """The page with the Download button.  ``declined`` says why a press spent nothing;
    ``again_until`` that this browser downloaded the file already and may again, free."""
    remaining = link.remaining
    notice = NOTHING
    if declined in DECLINED_NOTES:
        notice = fill("notice.html", text=DECLINED_NOTES[declined])
    if again_until is not None:
        notice = fill(
            "notice.html",
            text=f"You downloaded this file in this browser. If the download stopped or you "
            f"need it again, press Download again until {clock_time(again_until)}: that uses "
            "no further download.",
        )
    content = fill(
        "landing.html",
        notice=notice,
        heading="Download again" if again_until is not None else "Your download is ready",
        button="Download again" if again_until is not None else "Download",
        again=fill("again.html") if again_until is not None else NOTHING,
        shown=stamp,
        filename=link.filename,
        size=human_size(link.object.size),
        remaining="1 (this is the only one)" if remaining == 1 else str(remaining),
        expires_in=relative(link.expires_at, now),
        expires_on=human_date(link.expires_at),
        token=token,
        use_note=(
            "Downloading again in this browser uses nothing."
            if again_until is not None
            else "Pressing Download uses this link up."
            if remaining == 1
            else "Each press of Download uses one of the downloads left."
        ),
    )
    return _page(f"Download {link.filename}", "landing", content)


def started(
    filename: str,
    location: str,
    seconds: int,
    remaining: int,
    token: str,
    again_until: float | None = None,
) -> str:
    """After the button: the download starts (a refresh to the short-lived S3 address), and
    the page says so instead of offering the button again."""
    resume = NOTHING
    if again_until is not None:
        resume = fill("resume.html", until=clock_time(again_until), token=token)
    content = fill(
        "started.html",
        resume=resume,
        filename=filename,
        location=location,
        seconds=seconds,
        remaining_note=(
            "This link is now used up."
            if remaining == 0
            else f"Downloads left on this link: {remaining}."
        ),
    )
    head = fill("refresh.html", location=location)
    return _page("Your download has started", "started", content, head)


def problem(error: OnetimeError, now: float) -> str:
    heading, explanation = _explain(error, now)
    next_step = ASK_SENDER
    if isinstance(error, UnavailableError):
        next_step = "What you can do: try again in a minute. Nothing was used up."
    content = fill("problem.html", heading=heading, explanation=explanation, next_step=next_step)
    return _page(heading, "problem", content)


def _explain(error: OnetimeError, now: float) -> tuple[str, str]:
    if isinstance(error, PressRepeatedError):
        return "Your download has started", error.message
    if isinstance(error, LinkUsedUpError):
        when = ""
        if error.last_used_at is not None:
            when = (
                f", most recently on {human_date(error.last_used_at)}"
                f" ({relative(error.last_used_at, now)})"
            )
        return USED, f"It was used {times(error.uses)}{when}."
    if isinstance(error, LinkExpiredError):
        return (
            EXPIRED,
            f"It stopped working on {human_date(error.expired_at)}"
            f" ({relative(error.expired_at, now)}).",
        )
    if isinstance(error, LinkRevokedError):
        return (
            REVOKED,
            f"The sender withdrew it on {human_date(error.revoked_at)}.",
        )
    if isinstance(error, FileChangedError):
        return (
            FILE_CHANGED,
            "The file was removed or replaced after the link was made. Your download was not "
            "used up.",
        )
    if isinstance(error, LinkNotFoundError):
        return (
            "We can't find this link",
            "No download matches this link. It may have been mistyped or cut short.",
        )
    if isinstance(error, InvalidRequestError):
        return (
            "This link is incomplete",
            "Part of the link is missing or damaged. Check that you opened the whole link "
            "from the message.",
        )
    if isinstance(error, UnavailableError):
        return (
            "Temporarily unavailable",
            "We could not reach the file just now.",
        )
    return "Something went wrong", "We could not complete this on our side."
