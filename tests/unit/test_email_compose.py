"""The email's two parts, composed without SES: the closing line and the recipient code."""

from __future__ import annotations

import pytest

from chalicelib.domain.link import Link, StoredObject
from chalicelib.mail.mailer import Letter, compose

URL = "https://files.example/download?token=" + "t" * 59
LINK = Link(
    link_id="a" * 16,
    token_digest="d" * 64,
    object=StoredObject("k", 10_200, "application/pdf", '"e"'),
    filename="Été.pdf",
    max_uses=1,
    uses=0,
    created_at=0.0,
    expires_at=7200,
    confirm=True,
)


CUSTOMER = Letter("c@example.com")


def parts(letter: Letter = CUSTOMER, **options: str | None) -> tuple[str, str]:
    return compose(letter, LINK, URL, "Your download", 0.0, **options)


@pytest.mark.parametrize(
    ("options", "closing"),
    [
        ({}, "ask whoever sent you this file for a new one."),
        ({"sender_name": "Example Shop"}, "ask Example Shop for a new one."),
        (
            {"sender_name": "Example Shop", "reply_to": "help@shop.example"},
            "reply to this email to ask for a new one.",
        ),
    ],
)
def test_the_closing_line_follows_the_reply_to(options: dict[str, str], closing: str) -> None:
    text, page = parts(CUSTOMER, **options)
    for part in (text, page):
        assert f"If the link no longer works, {closing}" in part
        assert ("reply" in part.lower()) == ("reply_to" in options)


def test_the_code_stands_apart_from_the_message_in_the_text_part() -> None:
    text, _ = parts(Letter("c@example.com", message="Order #1042"), code="482913")
    assert (
        f"{URL}\n\nYour download code: 482913\nYou will be asked for it when you download "
        "the file. It is not in the link on purpose: the link alone is not enough.\n\n"
        "Message from the sender:\nOrder #1042\n\nWhen you open the link"
    ) in text
    alone, _ = parts(code="482913")
    assert "the link alone is not enough.\n\nWhen you open the link" in alone


@pytest.mark.parametrize("code", ["", "48\n2913"])
def test_an_unusable_code_is_refused(code: str) -> None:
    with pytest.raises(ValueError, match="recipient code"):
        parts(code=code)
