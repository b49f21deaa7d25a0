"""Sending a link to a customer by email, through Amazon SES."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import InvalidRequestError, MailError
from chalicelib.filerequest import FileRequest
from chalicelib.link import Link
from chalicelib.logs import get_logger
from chalicelib.pages import Html, fill, fill_text, human_date, relative
from chalicelib.text import has_control_characters, human_size

log = get_logger("mailer")

MAX_SUBJECT_LENGTH = 200
MAX_MESSAGE_LENGTH = 2000
# Deliberately plain: one local part, one domain with a dot, no spaces, commas or
# angle brackets (so no "Name <addr>", no lists, no header tricks).
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


@dataclass(frozen=True)
class Letter:
    """Who gets the link, and what the sender wants to say."""

    email: str
    subject: str | None = None
    message: str = ""

    def __post_init__(self) -> None:
        check_address("email", self.email)
        if self.subject is not None and (
            len(self.subject) > MAX_SUBJECT_LENGTH or has_control_characters(self.subject)
        ):
            raise InvalidRequestError(
                "invalid_subject",
                f"subject must be one line of at most {MAX_SUBJECT_LENGTH} characters.",
            )
        if len(self.message) > MAX_MESSAGE_LENGTH or has_control_characters(
            self.message, allowed="\n\t"
        ):
            raise InvalidRequestError(
                "invalid_message",
                f"message must be at most {MAX_MESSAGE_LENGTH} characters of text.",
            )


def check_address(name: str, address: str) -> None:
    """One plain address, or a 400 naming the field."""
    if len(address) > 254 or not _ADDRESS.match(address):
        raise InvalidRequestError(
            f"invalid_{name}", f"{name} must be one address like customer@example.com."
        )


class Mailer:
    def __init__(self, client: Any, sender: str) -> None:
        self._client = client
        self._sender = sender

    def send(
        self, letter: Letter, link: Link, url: str, now: float, code: str | None = None
    ) -> str:
        """Send the link; the SES message id, or ``MailError`` saying why not.  ``code``
        (a ``verify: code`` link's) is shown as text, never put in ``url``."""
        subject = letter.subject or f"Your download: {link.filename}"
        text, page = compose(letter, link, url, subject, now, code=code)
        return self._deliver(letter.email, subject, text, page)

    def send_request(self, letter: Letter, request: FileRequest, url: str, now: float) -> str:
        """Send an upload link (a file request); the SES message id, or ``MailError``."""
        subject = letter.subject or "Please send us a file"
        text, page = compose_request(letter, request, url, subject, now)
        return self._deliver(letter.email, subject, text, page)

    def _deliver(self, to: str, subject: str, text: str, page: str) -> str:
        # A MIME message we build ourselves (SES v2 "Raw"), so the customer gets
        # multipart/alternative with a text and an HTML part, exactly as composed.
        # Imported here: the email package costs ~15 ms, and only mints that email pay it.
        from email.message import EmailMessage

        mime = EmailMessage()
        mime["Subject"] = subject
        mime["From"] = self._sender
        mime["To"] = to
        mime.set_content(text)
        mime.add_alternative(page, subtype="html")
        try:
            response = self._client.send_email(
                FromEmailAddress=self._sender,
                Destination={"ToAddresses": [to]},
                Content={"Raw": {"Data": mime.as_bytes()}},
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            log.warning("SES refused a message", extra={"ses_error": code})
            raise MailError(_reason(code)) from exc
        except BotoCoreError as exc:
            log.warning("SES did not answer", extra={"ses_error": type(exc).__name__})
            raise MailError(
                "The email could not be sent: the mail service did not answer."
            ) from exc
        message_id: str = response["MessageId"]
        return message_id


def compose(
    letter: Letter, link: Link, url: str, subject: str, now: float, *, code: str | None = None
) -> tuple[str, str]:
    """The plain-text and HTML parts (the HTML escapes every value)."""
    downloads = "1 download" if link.max_uses == 1 else f"{link.max_uses} downloads"
    facts = {
        "filename": link.filename,
        "size": human_size(link.object.size),
        "downloads": downloads,
        "expires_in": relative(link.expires_at, now),
        "expires_on": human_date(link.expires_at),
        "url": url,
    }
    intro = "A file has been shared with you. The link works for a limited time"
    intro += " and only once." if link.max_uses == 1 else f" and {downloads}."
    text_block = f"Message from the sender:\n{letter.message}\n" if letter.message else ""
    html_block = (
        Html(
            '<p style="margin:0 0 8px;white-space:pre-wrap;border-left:3px solid #d5d9df;'
            f'padding-left:12px">{html.escape(letter.message)}</p>'
        )
        if letter.message
        else Html("")
    )
    if code is not None:
        # Kept apart from the URL on purpose: whoever gets only the link cannot use it.
        text_block = f"Your download code: {code}\n\n" + text_block
        html_block = Html(
            f'<p style="margin:0 0 16px">Your download code: <strong>{html.escape(code)}'
            f"</strong></p>{html_block}"
        )
    text = fill_text("email.txt", intro=intro, message_block=text_block, **facts)
    page = fill("email.html", subject=subject, intro=intro, message_block=html_block, **facts)
    return text, page


def compose_request(
    letter: Letter, request: FileRequest, url: str, subject: str, now: float
) -> tuple[str, str]:
    """An upload link's plain-text and HTML parts (the HTML escapes every value)."""
    files = "one file" if request.max_files == 1 else f"up to {request.max_files} files"
    types = ", ".join(request.content_types) if request.content_types else "any type"
    facts = {
        "files": files,
        "largest": human_size(request.max_bytes),
        "types": types,
        "expires_in": relative(request.expires_at, now),
        "expires_on": human_date(request.expires_at),
        "url": url,
    }
    text_block = f"Message from the sender:\n{letter.message}\n" if letter.message else ""
    text = fill_text("request-email.txt", message_block=text_block, **facts)
    html_block = (
        Html(
            '<p style="margin:0 0 8px;white-space:pre-wrap;border-left:3px solid #d5d9df;'
            f'padding-left:12px">{html.escape(letter.message)}</p>'
        )
        if letter.message
        else Html("")
    )
    page = fill("request-email.html", subject=subject, message_block=html_block, **facts)
    return text, page


def _reason(code: str) -> str:
    reasons = {
        "MessageRejected": "the mail service refused the message (is the sender verified?)",
        "NotFoundException": "the sender address is not a verified identity",
        "MailFromDomainNotVerifiedException": "the sender's domain is not verified",
        "AccountSendingPausedException": "sending is paused for this account",
        "ConfigurationSetDoesNotExist": "the mail configuration is missing",
        "Throttling": "the mail service is busy; try again shortly",
        "ThrottlingException": "the mail service is busy; try again shortly",
    }
    return f"The email could not be sent: {reasons.get(code, 'the mail service failed')}."
