"""What every page shares: its frame (title, stylesheet, the kind that styles it) and the
problem page a refusal is shown on."""

from __future__ import annotations

from chalicelib.domain.errors import OnetimeError
from chalicelib.domain.refusals import refusal
from chalicelib.templates.engine import NOTHING, Html, fill, stylesheet


def page(title: str, kind: str, content: Html, head: Html = NOTHING) -> str:
    return fill(
        "page.html", title=title, kind=kind, style=Html(stylesheet()), content=content, head=head
    )


def notice(text: str) -> Html:
    """A line above a page's content that says what just happened."""
    return fill("notice.html", text=text)


def problem(error: OnetimeError, now: float) -> str:
    """Why it did not work, in the words of the refusal's entry, and what to do next."""
    words = refusal(error, now)
    content = fill(
        "problem.html",
        heading=words.heading,
        explanation=words.explanation,
        next_step=words.next_step,
    )
    return page(words.heading, "problem", content)
