"""Sending a link to a customer by email, through Amazon SES."""

from __future__ import annotations

import html
from dataclasses import KW_ONLY, dataclass
from typing import Any

from chalicelib.domain.errors import InvalidRequestError
from chalicelib.domain.filekinds import file_kinds
from chalicelib.domain.filerequest import FileRequest
from chalicelib.domain.link import Link
from chalicelib.domain.text import has_control_characters, human_size, is_email_address
from chalicelib.storage.failures import sending_mail
from chalicelib.templates.engine import Html, email_page, fill_text, human_date, relative

MAX_SUBJECT_LENGTH = 200
MAX_MESSAGE_LENGTH = 2000


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
    if not is_email_address(address):
        raise InvalidRequestError(
            f"invalid_{name}", f"{name} must be one address like customer@example.com."
        )


@dataclass(eq=False, repr=False)
class Mailer:
    client: Any
    sender: str
    _: KW_ONLY
    name: str | None = None
    reply_to: str | None = None

    def send(
        self, letter: Letter, link: Link, url: str, now: float, code: str | None = None
    ) -> str:
        """Send the link; the SES message id, or ``MailError`` saying why not
        (``MailUncertainError`` when it may have gone out all the same).

        ``code`` is the link's recipient code (``verify: "code"``), shown as text in the
        body and never put in ``url``: whoever gets only the link cannot use it."""
        subject = letter.subject or f"Your download: {link.label}"
        text, page = compose(
            letter,
            link,
            url,
            subject,
            now,
            code=code,
            reply_to=self.reply_to,
            sender_name=self.name,
        )
        return self._deliver(letter.email, subject, text, page)

    def send_request(self, letter: Letter, request: FileRequest, url: str, now: float) -> str:
        """Send an upload link (a file request); the SES message id, or ``MailError``."""
        subject = letter.subject or "Please send us a file"
        text, page = compose_request(letter, request, url, subject, now)
        return self._deliver(letter.email, subject, text, page)

    def deliver(self, to: str, subject: str, text: str, page: str) -> str:
        """Send a message composed elsewhere (a receipt: chalicelib/events/receipts.py); the SES
        message id, or ``MailError``."""
        return self._deliver(to, subject, text, page)

    def _deliver(self, to: str, subject: str, text: str, page: str) -> str:
        # A MIME message we build ourselves (SES v2 "Raw"), so the customer gets
        # multipart/alternative with a text and an HTML part, exactly as composed.
        # Imported here: the email package costs ~15 ms, and only mints that email pay it.
        from email.headerregistry import Address
        from email.message import EmailMessage

        mime = EmailMessage()
        mime["Subject"] = subject
        # An Address, not a string we format: the header registry quotes a name with a
        # comma ("Café Müller, Inc." would otherwise read as two addresses) and writes a
        # non-ASCII one as an RFC 2047 encoded word.  (Settings ensure the sender is a
        # bare address when a name is set.)
        mime["From"] = (
            Address(display_name=self.name, addr_spec=self.sender) if self.name else self.sender
        )
        mime["To"] = to
        if self.reply_to:
            mime["Reply-To"] = self.reply_to
        mime.set_content(text)
        mime.add_alternative(page, subtype="html")
        # Refused or never sent: MailError; sent with its answer lost: MailUncertainError.
        with sending_mail():
            response = self.client.send_email(
                # The bare address: what SES checks against the verified identity.  The
                # name the customer sees is the From header's, in the raw message.
                FromEmailAddress=self.sender,
                Destination={"ToAddresses": [to]},
                Content={"Raw": {"Data": mime.as_bytes()}},
            )
        message_id: str = response["MessageId"]
        return message_id


def compose(
    letter: Letter,
    link: Link,
    url: str,
    subject: str,
    now: float,
    *,
    code: str | None = None,
    reply_to: str | None = None,
    sender_name: str | None = None,
) -> tuple[str, str]:
    """The plain-text and HTML parts (the HTML escapes every value)."""
    if code is not None and (not code or has_control_characters(code)):
        raise ValueError("a recipient code must be non-empty text on one line")
    downloads = "1 download" if link.max_uses == 1 else f"{link.max_uses} downloads"
    facts = {
        "filename": link.label,
        "size": human_size(link.total_size),
        "downloads": downloads,
        "expires_in": relative(link.expires_at, now),
        "expires_on": human_date(link.expires_at),
        "url": url,
        "closing": closing(reply_to, sender_name),
    }
    times = "once" if link.max_uses == 1 else f"for {downloads}"
    intro = f"A file has been shared with you. The link can be used {times}, until it expires."
    text_block, html_block = sender_message(letter)
    text_code = f"Your download code: {code}\n{CODE_NOTE}\n" if code else ""
    if text_code and text_block:
        text_code += "\n"  # a blank line between the code and the sender's message
    text = fill_text(
        "email.txt", intro=intro, code_block=text_code, message_block=text_block, **facts
    )
    html_code = (
        Html(
            '<p style="margin:0 0 16px">Your download code: <strong style="font-family:'
            'ui-monospace,Menlo,Consolas,monospace;font-size:20px;letter-spacing:2px">'
            f"{html.escape(code)}</strong><br>"
            f'<span style="color:#4a5360;font-size:14px">{html.escape(CODE_NOTE)}</span></p>'
        )
        if code
        else Html("")
    )
    page = email_page(
        "email.html",
        subject=subject,
        intro=intro,
        code_block=html_code,
        message_block=html_block,
        **facts,
    )
    return text, page


# Said with the code: the customer should expect the question, and not think the code
# was left out of the link by mistake (it is kept apart so the link alone is not enough).
CODE_NOTE = (
    "You will be asked for it when you download the file. It is not in the link on purpose: "
    "the link alone is not enough."
)


def closing(reply_to: str | None, sender_name: str | None) -> str:
    """What to do when the link no longer works.  "Reply" only when a Reply-To address
    is set: without one, a reply may reach a no-reply sender that nobody reads."""
    if reply_to:
        return "If the link no longer works, reply to this email to ask for a new one."
    who = sender_name or "whoever sent you this file"
    return f"If the link no longer works, ask {who} for a new one."


def compose_request(
    letter: Letter, request: FileRequest, url: str, subject: str, now: float
) -> tuple[str, str]:
    """An upload link's plain-text and HTML parts (the HTML escapes every value)."""
    files = "one file" if request.max_files == 1 else f"up to {request.max_files} files"
    types = file_kinds(request.content_types) or "any type"
    facts = {
        "files": files,
        "largest": human_size(request.max_bytes),
        "types": types,
        "expires_in": relative(request.expires_at, now),
        "expires_on": human_date(request.expires_at),
        "url": url,
    }
    text_block, html_block = sender_message(letter)
    text = fill_text("request-email.txt", message_block=text_block, **facts)
    page = email_page("request-email.html", subject=subject, message_block=html_block, **facts)
    return text, page


def sender_message(letter: Letter) -> tuple[str, Html]:
    """The sender's own words in an email, as text and as HTML ("" when there are none)."""
    if not letter.message:
        return "", Html("")
    page = Html(
        '<p style="margin:0 0 8px;white-space:pre-wrap;border-left:3px solid #d5d9df;'
        f'padding-left:12px">{html.escape(letter.message)}</p>'
    )
    return f"Message from the sender:\n{letter.message}\n", page
