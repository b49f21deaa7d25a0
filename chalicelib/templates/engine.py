"""The template engine: ``string.Template`` files beside this module, filled with values.

Every value is HTML-escaped unless it is ``Html`` (markup a caller built itself), so a file
named ``<script>alert(1)</script>.pdf`` shows as text.  The stylesheet and the pages' scripts
are inlined, and allowed by their hashes in the one Content-Security-Policy written here.
The dates a person reads are worded here too, the same in pages, emails and receipts.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import html
import os
from string import Template

# os.path rather than pathlib: pathlib would be this module's heaviest import.
FOLDER = os.path.dirname(os.path.abspath(__file__))


class Html(str):
    """Markup a caller produced itself, inserted without escaping."""


NOTHING = Html("")


@functools.cache
def _template(name: str) -> Template:
    return Template(_read(name))


def _read(name: str) -> str:
    with open(os.path.join(FOLDER, name), encoding="utf-8") as source:
        return source.read()


def fill(name: str, **values: object) -> Html:
    """Fill an HTML template, escaping every value that is not ``Html``."""
    escaped = {
        key: value if isinstance(value, Html) else html.escape(str(value), quote=True)
        for key, value in values.items()
    }
    return Html(_template(name).substitute(escaped))


def email_page(name: str, subject: str, **values: object) -> Html:
    """An email's HTML part: the template ``name`` filled, in the frame every email shares
    (letter.html: the page, its title and the greeting)."""
    return fill("letter.html", subject=subject, content=fill(name, **values))


def fill_text(name: str, **values: object) -> str:
    """Fill a plain-text template (an email's text part): nothing to escape."""
    return _template(name).substitute({key: str(value) for key, value in values.items()})


@functools.cache
def stylesheet() -> str:
    return _read("page.css").strip()


@functools.cache
def script(name: str) -> str:
    """A page's script, inlined so the page needs no other request; allowed by its hash."""
    return _read(name).strip()


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


# Dates as a person reads them


def human_date(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
    return f"{moment:%A} {moment.day} {moment:%B %Y, %H:%M} UTC"


def clock_time(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
    return f"{moment:%H:%M} UTC"


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
