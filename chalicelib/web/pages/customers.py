"""The customer's pages: the landing page with the Download button, and the page that says
the download started."""

from __future__ import annotations

from chalicelib.domain.link import Link
from chalicelib.domain.refusals import DECLINED
from chalicelib.domain.text import human_size
from chalicelib.services.redemption import Declined, Landing
from chalicelib.templates.engine import NOTHING, Html, clock_time, fill, human_date, relative
from chalicelib.web.pages.common import notice, page

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


def landing(outcome: Landing | Declined, token: str, now: float) -> str:
    """The page with the Download button; after a press that spent nothing (``Declined``),
    with why; in a download session (``Landing.again_until``), to download again, free."""
    link, stamp = outcome.link, outcome.stamp
    declined = outcome.reason if isinstance(outcome, Declined) else None
    again_until = outcome.again_until if isinstance(outcome, Landing) else None
    remaining = link.remaining
    shown = NOTHING
    note = DECLINED[declined].note if declined is not None else None
    if note is not None:
        if declined == "wrong_answer":
            left = link.answers_left
            note += f" {left} {'try' if left == 1 else 'tries'} left before the link locks."
        shown = notice(note)
    if again_until is not None:
        shown = notice(
            f"You downloaded this file in this browser. If the download stopped or you "
            f"need it again, press Download again until {clock_time(again_until)}: that uses "
            "no further download.",
        )
    content = fill(
        "landing.html",
        notice=shown,
        heading="Download again" if again_until is not None else "Your download is ready",
        button="Download again" if again_until is not None else "Download",
        again=fill("again.html") if again_until is not None else NOTHING,
        # A session's "Download again" needs no answer: the session proves who presses.
        answer=ANSWER_FIELDS[link.check]() if link.check and again_until is None else NOTHING,
        shown=stamp,
        facts=_facts(link, now, "1 (this is the only one)" if remaining == 1 else str(remaining)),
        token=token,
        use_note=(
            "Downloading again in this browser uses nothing."
            if again_until is not None
            else "Pressing Download uses this link up."
            if remaining == 1
            else "Each press of Download uses one of the downloads left."
        ),
    )
    return page(f"Download {link.label}", "landing", content)


def preview(link: Link, url: str, now: float) -> str:
    """The page a link previewer or an automated browser gets (chalicelib/domain/bots.py):
    the file's facts, and the address to open in a person's browser, without a Download
    button, which would never download for it."""
    content = fill(
        "preview.html",
        notice=notice(DECLINED["bot"].note or ""),
        facts=_facts(link, now, str(link.remaining)),
        url=url,
    )
    return page(f"Download {link.label}", "landing", content)


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
    return page("Your download has started", "started", content, head)


def opened(link: Link, token: str, now: float, until: float | None) -> str:
    """After a bundle's Download: its files, each with its own button, fetched in the
    download session the press opened (each fetch uses no further download)."""
    shown = NOTHING
    if until is not None:
        shown = notice(
            f"Download each file below until {clock_time(until)}: that uses no further "
            "download, and a stopped one can be downloaded again."
        )
    remaining = link.remaining
    content = fill(
        "opened.html",
        notice=shown,
        files=_bundle(link, token if until is not None else None),
        remaining_note=(
            "This link is now used up."
            if remaining == 0
            else f"Downloads left on this link: {remaining}."
        ),
    )
    return page(f"Download {len(link.files)} files", "started", content)


def _bundle(link: Link, token: str | None) -> Html:
    """A bundle's files by name and size, each with its Download button when ``token``
    is given (inside the download session)."""
    return fill(
        "bundle.html",
        rows=Html(
            "".join(
                fill(
                    "bundle-file.html",
                    filename=bundled.filename,
                    size=human_size(bundled.object.size),
                    fetch=NOTHING
                    if token is None
                    else fill("bundle-fetch.html", token=token, number=number),
                )
                for number, bundled in enumerate(link.files, start=1)
            )
        ),
    )


def _facts(link: Link, now: float, remaining: str) -> Html:
    """The file's name, size, downloads left and expiry, as every page about a link shows
    them; a bundle's, its file count and total size, then each file's name and size."""
    facts = fill(
        "facts.html",
        filename=link.label,
        size=human_size(link.total_size),
        remaining=remaining,
        expires_in=relative(link.expires_at, now),
        expires_on=human_date(link.expires_at),
    )
    return Html(facts + _bundle(link, None)) if link.bundle else facts
