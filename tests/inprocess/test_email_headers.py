"""Who the email says it is from, where a reply goes, what it tells the customer to do when
the link no longer works, and the recipient code: in-process, on moto's SES."""

from __future__ import annotations

import email.message
import re

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

import app as app_module
from chalicelib.domain.errors import ConfigurationError
from chalicelib.mail.mailer import Letter, Mailer
from chalicelib.settings import Settings
from chalicelib.storage.clients import ses_client
from tests.helpers import SMALL, TO, InProcess, call, parts, reset_app_caches, sent
from tools.stack import MAIL_FROM

FILE = "books/Été à Paris.pdf"
REPLY_TO = "help@shop.example"
CODE = "482913"


@pytest.fixture
def mail(service: InProcess, monkeypatch: pytest.MonkeyPatch) -> InProcess:
    monkeypatch.setenv("ONETIME_MAIL_FROM", MAIL_FROM)
    reset_app_caches()
    import boto3

    boto3.session.Session().client("ses").verify_email_identity(EmailAddress=MAIL_FROM)
    service.put(FILE, SMALL)
    return service


def emailed(
    service: InProcess, monkeypatch: pytest.MonkeyPatch, **env: str
) -> email.message.EmailMessage:
    """Mint and email a link with these extra settings; the one message SES accepted."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_app_caches()
    response = call(service, "POST", "/links", {"file": FILE, "email": TO})
    assert response.status_code == 201, response.body
    assert response.json_body["message_id"]
    [message] = sent()
    return message


def raw_from() -> str:
    """The From header exactly as it went to SES (before any decoding)."""
    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    [message] = [m for m in backend.sent_messages if hasattr(m, "raw_data")]
    [line] = [h for h in message.raw_data.splitlines() if h.startswith("From:")]
    return str(line)


def test_without_a_name_the_sender_is_the_bare_address(
    mail: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = emailed(mail, monkeypatch)
    assert message["From"] == MAIL_FROM
    assert raw_from() == f"From: {MAIL_FROM}"


def test_from_carries_the_display_name(mail: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    message = emailed(mail, monkeypatch, ONETIME_MAIL_FROM_NAME="Example Shop")
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Example Shop", MAIL_FROM)
    assert raw_from() == f"From: Example Shop <{MAIL_FROM}>"


@pytest.mark.parametrize("name", ["Café Müller, Inc.", "Example Shop, Inc.", 'The "Best" Shop'])
def test_a_name_with_a_comma_or_accents_stays_one_sender(
    mail: InProcess, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    message = emailed(mail, monkeypatch, ONETIME_MAIL_FROM_NAME=name)
    # One address, not "Café Müller" and a stray "Inc." <addr>: the comma is quoted or
    # encoded, and the header as sent is 7-bit ASCII (SES has no SMTPUTF8).
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (name, MAIL_FROM)
    line = raw_from()
    assert line.isascii() and line.endswith(f" <{MAIL_FROM}>")
    if not name.isascii():
        assert "=?utf-8?" in line and "Müller" not in line


def test_reply_to_only_when_set(mail: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "Reply-To" not in emailed(mail, monkeypatch)
    ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages.clear()  # a second mint
    message = emailed(mail, monkeypatch, ONETIME_REPLY_TO=REPLY_TO)
    assert message["Reply-To"] == REPLY_TO
    assert message["From"] == MAIL_FROM  # replies go elsewhere; the sender is unchanged


def test_the_customer_is_told_to_reply_only_when_someone_reads_replies(
    mail: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = emailed(mail, monkeypatch, ONETIME_REPLY_TO=REPLY_TO)
    for part in parts(message):
        assert "If the link no longer works, reply to this email to ask for a new one." in part


@pytest.mark.parametrize(
    ("env", "who"),
    [
        ({}, "whoever sent you this file"),
        ({"ONETIME_MAIL_FROM_NAME": "Example Shop"}, "Example Shop"),
    ],
)
def test_without_reply_to_the_customer_is_sent_to_the_sender(
    mail: InProcess, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], who: str
) -> None:
    message = emailed(mail, monkeypatch, **env)
    for part in parts(message):
        assert f"If the link no longer works, ask {who} for a new one." in part
        assert "reply" not in part.lower()


def test_the_sender_name_is_escaped_in_the_html_part(
    mail: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = emailed(mail, monkeypatch, ONETIME_MAIL_FROM_NAME="Smith & <Sons>")
    text, page = parts(message)
    assert "ask Smith & <Sons> for a new one." in text
    assert "ask Smith &amp; &lt;Sons&gt; for a new one." in page and "<Sons>" not in page


def urls(part: str) -> list[str]:
    """Every URL in a part: in the text, and in the HTML's attributes."""
    return re.findall(r"https?://[^\s\"'<>]+", part)


def send_with_code(
    service: InProcess, monkeypatch: pytest.MonkeyPatch, code: str | None
) -> tuple[str, email.message.EmailMessage]:
    """Mint a link, then email it through the app's own mailer with ``code``: what minting
    with ``verify: "code"`` will do.  The link's URL, and the message SES accepted."""
    monkeypatch.setenv("ONETIME_MAIL_FROM_NAME", "Example Shop")
    reset_app_caches()
    minted = call(service, "POST", "/links", {"file": FILE, "uses": 2}).json_body
    link = app_module.get_services().links.describe(minted["id"])
    mailer = Mailer(ses_client(), MAIL_FROM, name="Example Shop")
    assert mailer.send(Letter(TO, message="Order #1042"), link, minted["url"], 0.0, code=code)
    [message] = sent()
    return str(minted["url"]), message


def test_the_code_is_shown_in_both_parts_and_in_no_url(
    mail: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, message = send_with_code(mail, monkeypatch, CODE)
    text, page = parts(message)
    assert f"Your download code: {CODE}\n" in text
    assert re.search(rf"Your download code: <strong[^>]*>{CODE}</strong>", page)
    for part in (text, page):
        assert "You will be asked for it when you download the file." in part
        assert "It is not in the link on purpose" in part
        found = urls(part)
        assert found and all(u.replace("&amp;", "&") == url for u in found)
        assert not any(CODE in u for u in found)
    assert CODE not in message["Subject"]


def test_without_a_code_nothing_mentions_one(
    mail: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, message = send_with_code(mail, monkeypatch, None)
    for part in parts(message):
        assert "download code" not in part


BASE = {
    "ONETIME_TABLE": "t",
    "ONETIME_BUCKET": "b",
    "ONETIME_API_KEY_SHA256": "0" * 64,
    "ONETIME_MAIL_FROM": MAIL_FROM,
}


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"ONETIME_MAIL_FROM_NAME": "Shop\nBcc: x@y.com"}, "ONETIME_MAIL_FROM_NAME="),
        ({"ONETIME_MAIL_FROM_NAME": "Shop\r\nX: y"}, "one line"),
        ({"ONETIME_MAIL_FROM_NAME": "Shop\tTab"}, "control or invisible"),
        ({"ONETIME_MAIL_FROM_NAME": "Shop\u2028Two"}, "one line"),
        ({"ONETIME_MAIL_FROM_NAME": "\u202epohS elpmaxE"}, "invisible"),
        ({"ONETIME_MAIL_FROM_NAME": "x" * 101}, "at most 100 characters"),
        (
            {"ONETIME_MAIL_FROM_NAME": "Shop", "ONETIME_MAIL_FROM": f"Shop <{MAIL_FROM}>"},
            "must be a bare address",
        ),
        ({"ONETIME_REPLY_TO": "help@shop.example, sales@shop.example"}, "ONETIME_REPLY_TO="),
        ({"ONETIME_REPLY_TO": "Help <help@shop.example>"}, "one address"),
        ({"ONETIME_REPLY_TO": "help"}, "one address"),
        ({"ONETIME_REPLY_TO": "help@shop.example\r\nBcc: x@y.com"}, "one address"),
    ],
)
def test_bad_mail_settings_are_refused(env: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(complaint)):
        Settings.from_environ({**BASE, **env})


def test_good_mail_settings_are_read() -> None:
    settings = Settings.from_environ(
        {**BASE, "ONETIME_MAIL_FROM_NAME": "  Café Müller, Inc. ", "ONETIME_REPLY_TO": REPLY_TO}
    )
    assert (settings.mail_from_name, settings.reply_to) == ("Café Müller, Inc.", REPLY_TO)
    assert Settings.from_environ({**BASE, "ONETIME_MAIL_FROM_NAME": "x" * 100}).mail_from_name
    unset = Settings.from_environ({**BASE, "ONETIME_MAIL_FROM_NAME": " ", "ONETIME_REPLY_TO": ""})
    assert (unset.mail_from_name, unset.reply_to) == (None, None)


def test_a_bad_setting_refuses_the_mint_and_sends_nothing(
    mail: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONETIME_REPLY_TO", "not an address")
    reset_app_caches()  # read lazily: nothing is refused until the first request
    response = call(mail, "POST", "/links", {"file": FILE, "email": TO})
    assert response.status_code == 500
    assert response.json_body["error"] == "misconfigured"
    assert "ONETIME_REPLY_TO" in response.json_body["message"]
    assert mail.table_items() == [] and sent() == []


def test_an_address_with_a_trailing_newline_is_refused_before_minting(mail: InProcess) -> None:
    # "$" in the old pattern matched before a final newline: this reached the MIME
    # header and failed there, as a 502 after minting.
    response = call(mail, "POST", "/links", {"file": FILE, "email": TO + "\n"})
    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_email"
    assert mail.table_items() == [] and sent() == []


def test_the_upload_link_email_carries_the_reply_to_too(
    mail: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONETIME_REPLY_TO", REPLY_TO)
    monkeypatch.setenv("ONETIME_MAIL_FROM_NAME", "Example Shop")
    reset_app_caches()
    response = call(mail, "POST", "/requests", {"email": "client@example.com"})
    assert response.status_code == 201, response.body
    [message] = sent()
    assert message["Reply-To"] == REPLY_TO
    assert message["From"].addresses[0].display_name == "Example Shop"
