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
import json
import os
from string import Template
from typing import TYPE_CHECKING

from chalicelib.domain.errors import (
    FileChangedError,
    InvalidRequestError,
    LinkExpiredError,
    LinkLockedError,
    LinkNotFoundError,
    LinkRevokedError,
    LinkUsedUpError,
    OnetimeError,
    PressRepeatedError,
    UnavailableError,
    UploadRefusal,
)
from chalicelib.domain.link import MAX_WRONG_ANSWERS, Link
from chalicelib.domain.refusals import (
    DECLINED_NOTES,
    EXPIRED,
    FILE_CHANGED,
    LOCKED,
    REPLACED,
    REVOKED,
    USED,
    times,
)
from chalicelib.domain.text import human_size

if TYPE_CHECKING:
    from chalicelib.services.filerequests import Received, UploadPage

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
def script(name: str) -> str:
    """A page's script, inlined so the page needs no other request; allowed by its hash."""
    with open(os.path.join(TEMPLATES, name), encoding="utf-8") as source:
        return source.read().strip()


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


@functools.cache
def content_security_policy(script_name: str | None = None, connect: str | None = None) -> str:
    # Inline CSS, and a page's one script, are allowed by their hashes, nothing else by any
    # means; ``connect`` is the one origin the script may send to (the upload page's bucket).
    # No form-action: Chrome applies it to the redirect that follows the POST, and the
    # presigned S3 URL's host is not known here.
    policy = f"default-src 'none'; style-src 'sha256-{_sha256(stylesheet())}'"
    if script_name is not None:
        policy += f"; script-src 'sha256-{_sha256(script(script_name))}'"
    if connect is not None:
        policy += f"; connect-src {connect}"
    return policy + "; base-uri 'none'; frame-ancestors 'none'"


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
ANSWER_FIELD = "answer"  # the recipient check's answer


ANSWER_FIELDS = {
    "email": lambda: fill(
        "answer.html",
        label="The email address this link was sent to",
        attributes=Html('type="email" autocomplete="email"'),
        hint="This link was sent to one person. Type their address to download.",
    ),
    "code": lambda: fill(
        "answer.html",
        label="Your download code",
        attributes=Html('type="text" inputmode="numeric" autocomplete="one-time-code"'),
        hint="The sender gave you a code with this link, by another channel or in the email.",
    ),
}


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
        text = DECLINED_NOTES[declined]
        if declined == "wrong_answer":
            left = link.answers_left
            text += f" {left} {'try' if left == 1 else 'tries'} left before the link locks."
        notice = fill("notice.html", text=text)
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
        # A session's "Download again" needs no answer: the session proves who presses.
        answer=ANSWER_FIELDS[link.check]() if link.check and again_until is None else NOTHING,
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
    if isinstance(error, UploadRefusal):
        heading, explanation, next_step = error.heading, error.message, error.next_step
    elif isinstance(error, UnavailableError):
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
    if isinstance(error, LinkLockedError):
        return (
            LOCKED,
            f"It was locked on {human_date(error.locked_at)} after {MAX_WRONG_ANSWERS} wrong "
            "answers to its check. Nothing was downloaded. The sender can unlock it.",
        )
    if isinstance(error, LinkExpiredError):
        return (
            EXPIRED,
            f"It stopped working on {human_date(error.expired_at)}"
            f" ({relative(error.expired_at, now)}).",
        )
    if isinstance(error, LinkRevokedError):
        if error.replaced:
            return (
                REVOKED,
                f"It was {REPLACED} on {human_date(error.revoked_at)}. Use the link in the "
                "newest email.",
            )
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


UPLOAD_SCRIPT = "upload.js"
COPY_SCRIPT = "copy.js"


def upload(page: UploadPage, done_url: str, form_url: str, now: float) -> str:
    """The upload form.  Without JavaScript it posts straight to S3, which sends the browser
    on to the confirmation; with it, the script asks ``form_url`` for freshly signed fields
    when Upload is pressed (the request may have been withdrawn or filled meanwhile, and a
    signed form lives 15 minutes) and posts them with a progress bar."""
    terms = page.terms
    form = page.form
    fields: dict[str, str] = dict(form["fields"])  # type: ignore[call-overload]
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">\n'
        for name, value in fields.items()
    )
    type_field = NOTHING
    if "Content-Type" not in fields:
        if terms.content_types:
            options = "".join(
                f'<option value="{html.escape(t)}">{html.escape(t)}</option>'
                for t in terms.content_types
            )
            type_field = fill("upload-type.html", options=Html(options))
        else:  # any type: the script sends the file's own; without it S3 stores this
            type_field = Html(
                '<input type="hidden" name="Content-Type" value="application/octet-stream">\n'
            )
    script_form = page.script_form
    data = {
        "url": script_form["url"],
        "fields": script_form["fields"],
        "prefix": page.key_prefix,
        "max_bytes": terms.max_bytes,
        "types": list(terms.content_types),
        "done": done_url,
        "refresh": form_url,
    }
    # Inside <script> nothing is unescaped, so "<" is written as JSON's \u003c instead.
    embedded = json.dumps(data).replace("<", "\\u003c")
    accept = ""
    if terms.content_types:
        accept = f' accept="{html.escape(",".join(terms.content_types))}"'
    content = fill(
        "upload.html",
        files="one file" if terms.max_files == 1 else f"up to {terms.max_files} files",
        largest=human_size(terms.max_bytes),
        types=", ".join(terms.content_types) or "Any",
        expires_in=relative(terms.expires_at, now),
        expires_on=human_date(terms.expires_at),
        action=str(form["url"]),
        fields=Html(hidden),
        type_field=type_field,
        accept=Html(accept),
        form_until=clock_time(page.form_expires_at),
        script_form=Html(embedded),
        script=Html(script(UPLOAD_SCRIPT)),
    )
    return _page("Send a file", "upload", content)


def received(item: Received, url: str | None, now: float) -> str:
    """After the confirmation: the download link (with a copy button), or where it went."""
    link = item.minted.link
    notice = NOTHING
    if item.mail_failed:
        notice = fill(
            "notice.html",
            text="We could not email the link to the person who asked for the file. "
            "Copy it below and send it to them yourself.",
        )
    elif item.emailed and url is None:
        notice = fill(
            "notice.html", text="The download link was emailed to the person who asked for it."
        )
    elif item.emailed:
        notice = fill("notice.html", text="The download link was also emailed to the requester.")
    link_block = NOTHING
    if url is not None:
        link_block = fill("received-link.html", url=url, script=Html(script(COPY_SCRIPT)))
    left = item.request.remaining
    content = fill(
        "received.html",
        notice=notice,
        filename=item.filename,
        size=human_size(link.object.size),
        downloads="1" if link.max_uses == 1 else str(link.max_uses),
        expires_in=relative(link.expires_at, now),
        expires_on=human_date(link.expires_at),
        link_block=link_block,
        remaining_note=(
            "This upload link is now used up."
            if left == 0
            else f"This upload link takes {left} more "
            f"{'file' if left == 1 else 'files'}: open it again to send another."
        ),
    )
    return _page("File received", "received", content)
