"""Emailing a link through SES: in-process on moto, and through the local stack."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest
import requests

from tests.helpers import (
    SMALL,
    TO,
    InProcess,
    call,
    create,
    parts,
    post_token,
    redeem,
    reset_app_caches,
    sent,
    token_of,
)
from tools.outbox import outbox
from tools.samples import SMALL_SAMPLE
from tools.stack import MAIL_FROM, Stack


@pytest.fixture
def mail(mailing: InProcess) -> InProcess:
    mailing.put("books/Été à Paris.pdf", SMALL)
    return mailing


def test_email_sends_a_multipart_message_with_the_link(mail: InProcess) -> None:
    response = call(
        mail,
        "POST",
        "/links",
        {
            "file": "books/Été à Paris.pdf",
            "uses": 2,
            "ttl": 7200,
            "email": TO,
            "message": "Thanks for your order <b>#1042</b>!",
        },
    )
    assert response.status_code == 201, response.body
    body = response.json_body
    assert body["message_id"]
    [message] = sent()
    assert message["To"] == TO and message["From"] == MAIL_FROM
    assert message["Subject"] == "Your download: Été à Paris.pdf"
    text, page = parts(message)
    for part in (text, page):
        assert body["url"].replace("&", "&amp;") in part or body["url"] in part
        assert "10.0 KiB" in part
        assert "2 downloads" in part
        assert "in 2 hours" in part or "in 1 hour" in part
    assert "Été à Paris.pdf" in text and "<b>#1042</b>" in text
    assert "&lt;b&gt;#1042&lt;/b&gt;" in page and "<b>#1042" not in page
    assert redeem(mail, token_of(body), "application/pdf").body == SMALL  # the link works


def test_hostile_names_are_escaped_in_the_html_part(mail: InProcess) -> None:
    mail.put("x.pdf", SMALL)
    response = call(
        mail,
        "POST",
        "/links",
        {
            "file": "x.pdf",
            "filename": "<img src=x onerror=alert(1)>.pdf",
            "email": TO,
            "subject": "Your <i>file</i>",
        },
    )
    assert response.status_code == 201
    [message] = sent()
    _, page = parts(message)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;.pdf" in page
    assert "<title>Your &lt;i&gt;file&lt;/i&gt;</title>" in page


def test_ses_failure_is_502_and_revokes_the_link(
    service: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONETIME_MAIL_FROM", "unverified@onetime.local")  # SES refuses it
    reset_app_caches()
    service.put("x.pdf", SMALL)
    response = call(service, "POST", "/links", {"file": "x.pdf", "email": TO})
    assert response.status_code == 502
    assert response.json_body["error"] == "mail_failed"
    assert response.json_body["message"].startswith("The email could not be sent:")
    assert "Exception" not in response.json_body["message"]
    [item] = service.table_items()
    assert "revoked_at" in item  # no working link that nobody received
    assert sent() == []


@pytest.mark.parametrize(
    "address",
    [
        "not-an-address",
        "a@b",
        "a@b.com, c@d.com",
        "Customer <a@b.com>",
        "a b@c.com",
        "a@b.com\r\nBcc: x@y.com",
        ["a@b.com"],
        "",
    ],
)
def test_bad_addresses_are_400_before_minting(mail: InProcess, address: Any) -> None:
    response = call(mail, "POST", "/links", {"file": "books/Été à Paris.pdf", "email": address})
    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_email"
    assert mail.table_items() == [] and sent() == []


def test_subject_without_email_is_400(mail: InProcess) -> None:
    response = call(mail, "POST", "/links", {"file": "books/Été à Paris.pdf", "subject": "Hi"})
    assert response.status_code == 400 and mail.table_items() == []


def test_email_when_not_configured_is_400(service: InProcess) -> None:
    service.put("x.pdf", SMALL)
    response = call(service, "POST", "/links", {"file": "x.pdf", "email": TO})
    assert response.status_code == 400
    assert response.json_body["error"] == "email_disabled"
    assert service.table_items() == []


def test_email_through_the_local_stack(stack: Stack) -> None:
    minted = create(stack, SMALL_SAMPLE, email=TO, message="Here you go")
    last = outbox(stack.s3_port, last=1)[-1]
    message = email.message_from_string(last["raw_data"], policy=email.policy.default)
    text, _ = parts(message)
    assert minted["url"] in text and "Here you go" in text
    assert message["To"] == TO
    # The emailed link waits for a person: a GET (a mail scanner's) spends nothing, a POST does.
    scanned = requests.get(minted["url"], headers={"Accept": "*/*"}, timeout=30)
    assert scanned.status_code == 409
    assert post_token(stack, minted["url"], "application/json").status_code == 302


@pytest.mark.parametrize("message", ["nul \x00 inside", "lone \ud800 surrogate"])
def test_message_with_control_characters_is_400(mail: InProcess, message: str) -> None:
    response = call(
        mail, "POST", "/links", {"file": "books/Été à Paris.pdf", "email": TO, "message": message}
    )
    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_message"
    assert mail.table_items() == [] and sent() == []
