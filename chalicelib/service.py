"""Minting and redeeming links: the service layer, free of HTTP and of Chalice."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import delivery
from chalicelib.errors import (
    ForbiddenError,
    InvalidRequestError,
    LinkNotFoundError,
    MailError,
    ObjectNotFoundError,
    OnetimeError,
    UnavailableError,
)
from chalicelib.filenames import content_disposition, default_filename, validate_filename
from chalicelib.grantstore import NOT_GRANTED, Grant, GrantPage, GrantStore, check_grant
from chalicelib.link import Link, StoredObject, Use
from chalicelib.linkstore import Claim, LinkStore, Page
from chalicelib.logs import annotate, get_logger, metric
from chalicelib.mailer import Letter, Mailer
from chalicelib.objectkeys import validate_key
from chalicelib.objectstore import ObjectStore
from chalicelib.settings import Settings
from chalicelib.text import has_control_characters
from chalicelib.tokens import Token, is_link_id, new_token, parse_token

log = get_logger("service")

DEFAULT_USES = 1
MAX_USES = 100
DEFAULT_TTL = 86_400
MAX_TTL = 30 * 86_400
MAX_NOTE_LENGTH = 1000
LIST_LIMIT = 25
MAX_LIST_LIMIT = 100


@dataclass(frozen=True)
class MintRequest:
    file: str
    uses: int = DEFAULT_USES
    ttl: int = DEFAULT_TTL
    filename: str | None = None
    confirm: bool = True
    note: str = ""

    def __post_init__(self) -> None:
        check_uses("uses", self.uses)
        check_ttl(self.ttl)
        check_note(self.note)


def check_uses(name: str, uses: int) -> None:
    if not 1 <= uses <= MAX_USES:
        raise InvalidRequestError(f"invalid_{name}", f"{name} must be between 1 and {MAX_USES}.")


def check_ttl(ttl: int) -> None:
    if not 1 <= ttl <= MAX_TTL:
        raise InvalidRequestError(
            "invalid_ttl", f"ttl must be between 1 and {MAX_TTL} seconds (30 days)."
        )


def check_note(note: str) -> None:
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidRequestError(
            "invalid_note", f"note must be at most {MAX_NOTE_LENGTH} characters."
        )
    if has_control_characters(note, allowed="\n\t"):
        raise InvalidRequestError("invalid_note", "note must not contain control characters.")


@dataclass(frozen=True)
class LinkChange:
    """What an operator may change: expiry (seconds from now), use limit, note."""

    ttl: int | None = None
    max_uses: int | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if self.ttl is not None:
            check_ttl(self.ttl)
        if self.max_uses is not None:
            check_uses("max_uses", self.max_uses)
        if self.note is not None:
            check_note(self.note)


@dataclass(frozen=True)
class MintedLink:
    token: Token
    link: Link
    message_id: str | None = None


UPLOAD_LIFETIME = 600  # seconds a presigned upload form stays valid
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


@dataclass(frozen=True)
class UploadRequest:
    filename: str
    size: int
    content_type: str = "application/octet-stream"

    def __post_init__(self) -> None:
        validate_filename(self.filename)
        if any(sep in self.filename for sep in "/\\") or self.filename.strip(".") == "":
            raise InvalidRequestError(
                "invalid_filename", "filename must be a plain file name, not a path."
            )
        if not _MEDIA_TYPE.match(self.content_type.lower()):
            raise InvalidRequestError(
                "invalid_content_type", "content_type must look like application/pdf."
            )


@dataclass(frozen=True)
class Upload:
    key: str
    url: str
    fields: dict[str, str]
    expires_at: int


@dataclass(frozen=True)
class Requester:
    """Who is redeeming: what the audit record keeps, and what decides the delivery."""

    accept: str | None = None
    client_ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class Redemption:
    link: Link
    delivery: delivery.Delivery
    disposition: str
    body_base64: str = ""  # the streamed file, already encoded (see ObjectStore.fetch_base64)
    location: str = ""


class LinkService:
    def __init__(
        self,
        links: LinkStore,
        objects: ObjectStore,
        settings: Settings,
        clock: Callable[[], float],
        mailer: Callable[[], Mailer] | None = None,
        grants: GrantStore | None = None,
    ) -> None:
        self._grants = grants
        self._links = links
        self._objects = objects
        self._settings = settings
        self._clock = clock
        # A provider, so the SES client is only built by the first email.
        self._mailer = mailer

    def mint(self, request: MintRequest, described: StoredObject | None = None) -> MintedLink:
        key = validate_key(request.file, self._settings.key_prefix)
        filename = validate_filename(
            request.filename if request.filename is not None else default_filename(key)
        )
        obj = described or self._objects.describe(key)
        now = self._clock()
        token = new_token()
        expires_at = int(now) + request.ttl
        link = Link(
            link_id=token.link_id,
            token_digest=token.digest,
            object=obj,
            filename=filename,
            max_uses=request.uses,
            uses=0,
            created_at=now,
            expires_at=expires_at,
            confirm=request.confirm,
            note=request.note,
        )
        self._links.create(link)
        annotate(outcome="minted", link_id=link.link_id)
        metric("Minted")
        return MintedLink(token=token, link=link)

    def mint_for_buyer(self, subject: str, request: MintRequest) -> MintedLink:
        """A signed-in buyer's own link: only to a file they were granted (within
        today's allowance) or that they own (``x-amz-meta-owner``)."""
        if self._grants is None:
            raise ForbiddenError(NOT_GRANTED)
        key = validate_key(request.file, self._settings.key_prefix)
        now = self._clock()
        midnight = (int(now) // 86_400 + 1) * 86_400
        annotate(buyer=subject)
        try:
            self._grants.use(
                subject,
                key,
                time.strftime("%Y-%m-%d", time.gmtime(now)),
                self._settings.grant_daily_links,
                retry_after=midnight - int(now),
            )
        except ForbiddenError:
            # No grant: perhaps the buyer owns the file.  A missing file gets the
            # same answer as a stranger's, so nobody can probe which keys exist.
            try:
                obj = self._objects.describe(key)
            except ObjectNotFoundError:
                raise ForbiddenError(NOT_GRANTED) from None
            if obj.owner != subject:
                raise
            return self.mint(request, obj)
        return self.mint(request)

    # Grants (operators)

    def grant(self, subject: str | None, file: str | None) -> Grant:
        subject, file = check_grant(subject, file)
        return self._required_grants().put(subject, file, self._clock())

    def withdraw_grant(self, subject: str | None, file: str | None) -> None:
        subject, file = check_grant(subject, file)
        self._required_grants().delete(subject, file)

    def grants_for(self, subject: str | None, limit: int, cursor: str | None) -> GrantPage:
        subject, _ = check_grant(subject, "-")
        return self._required_grants().for_subject(subject, _checked_limit(limit), cursor)

    def _required_grants(self) -> GrantStore:
        if self._grants is None:
            raise InvalidRequestError("grants_disabled", "Grants are not enabled here.")
        return self._grants

    def mint_and_mail(
        self, request: MintRequest, letter: Letter, url_for: Callable[[str], str]
    ) -> MintedLink:
        """Mint a link and email it.  If the email fails the link is revoked at once:
        no working link that nobody received and nobody knows of."""
        if self._mailer is None:
            raise InvalidRequestError(
                "email_disabled", "This service is not set up to send email (ONETIME_MAIL_FROM)."
            )
        minted = self.mint(request)
        try:
            message_id = self._mailer().send(
                letter, minted.link, url_for(minted.token.value), self._clock()
            )
        except MailError:
            self._links.revoke(minted.link.link_id, self._clock())
            annotate(outcome="mail_failed")
            raise
        annotate(outcome="minted_mailed")
        return MintedLink(minted.token, minted.link, message_id)

    def redeem(self, token_value: str | None, requester: Requester) -> Redemption:
        """Spend a use and hand over the file (a POST, or a client that is not a browser)."""
        return self._redeem(token_value, requester, unless_confirm=False)

    def open(self, token_value: str | None, requester: Requester) -> Redemption:
        """A browser's GET: redeem, unless the link asks a person to confirm first.

        Raises ``ConfirmationRequiredError`` with the link (for the landing page)
        in that case, having spent nothing -- mail scanners and chat previews
        fetch links with full browsers before the customer does.
        """
        return self._redeem(token_value, requester, unless_confirm=True)

    def inspect(self, token_value: str | None) -> Link:
        """The link if a redemption would succeed now, else the refusal; spends nothing."""
        token = parse_token(token_value)
        annotate(link_id=token.link_id, outcome="inspected")
        return self._links.peek(token.link_id, token.digest, self._clock())

    def _redeem(
        self, token_value: str | None, requester: Requester, *, unless_confirm: bool
    ) -> Redemption:
        token = parse_token(token_value)
        annotate(link_id=token.link_id)
        # Decided before the claim: a response this client cannot receive intact
        # must never be the one a use was spent on.
        accept_stream = delivery.accepts_stream(requester.accept)
        claim = Claim(
            claim_id=secrets.token_hex(8),
            at=self._clock(),
            client_ip=requester.client_ip,
            user_agent=requester.user_agent,
            binary=accept_stream,
        )
        link = self._links.claim(token.link_id, token.digest, claim, unless_confirm=unless_confirm)
        obj = link.object
        disposition = content_disposition(link.filename)
        how = delivery.choose(
            accept_stream, obj.size, obj.content_type, self._settings.stream_max_bytes
        )
        annotate(outcome=f"redeemed_{how.value}", remaining=link.remaining)
        try:
            if how is delivery.Delivery.STREAM:
                body = self._objects.fetch_base64(obj)
                redemption = Redemption(link, how, disposition, body_base64=body)
            else:
                url = self._objects.presign(obj, disposition, self._settings.redirect_ttl)
                redemption = Redemption(link, how, disposition, location=url)
        except OnetimeError:
            self._give_back(link, claim)
            raise
        except Exception as exc:
            self._give_back(link, claim)
            raise UnavailableError("The file could not be delivered; try again shortly.") from exc
        metric("Redeemed", Path=how.value)
        return redemption

    def start_upload(self, request: UploadRequest) -> Upload:
        """A presigned POST that lets the caller put one file of the declared size
        under the upload prefix, for a fresh key; mint a link to ``key`` afterwards."""
        limit = self._settings.max_upload_bytes
        if not 1 <= request.size <= limit:
            raise InvalidRequestError("invalid_size", f"size must be between 1 and {limit} bytes.")
        key = f"{self._settings.upload_prefix}{secrets.token_hex(8)}/{request.filename}"
        post = self._objects.presign_upload(
            key, request.content_type.lower(), request.size, UPLOAD_LIFETIME
        )
        annotate(outcome="upload_started")
        return Upload(
            key=key,
            url=post["url"],
            fields=dict(post["fields"]),
            expires_at=int(self._clock()) + UPLOAD_LIFETIME,
        )

    # Operators

    def describe(self, link_id: str) -> Link:
        return self._links.get(_checked_id(link_id))

    def change(self, link_id: str, change: LinkChange) -> Link:
        expires_at = None if change.ttl is None else int(self._clock()) + change.ttl
        return self._links.change(
            _checked_id(link_id), expires_at=expires_at, max_uses=change.max_uses, note=change.note
        )

    def revoke(self, link_id: str) -> Link:
        return self._links.revoke(_checked_id(link_id), self._clock())

    def links_for(self, key: str, limit: int, cursor: str | None) -> Page:
        if not key:
            raise InvalidRequestError("invalid_file", "Say which file with ?file=KEY.")
        return self._links.for_file(key, _checked_limit(limit), cursor)

    def delivery_of(self, link: Link, use: Use) -> delivery.Delivery:
        """How a recorded use went out: the same rule redeem applied."""
        return delivery.choose(
            use.binary, link.object.size, link.object.content_type, self._settings.stream_max_bytes
        )

    def ping(self) -> None:
        self._links.ping()
        self._objects.ping()

    def _give_back(self, link: Link, claim: Claim) -> None:
        try:
            released = self._links.release(link.link_id, claim.claim_id)
            annotate(released=released)
            if released:
                metric("UsesReleased")
            log.warning("gave a use back after a failed delivery", extra={"released": released})
        except (BotoCoreError, ClientError) as exc:
            # The customer lost a use they never got the file for; an operator
            # must restore it by hand.
            log.error(
                "USE LOST: could not give back a use after a failed delivery",
                extra={"link_id": link.link_id, "claim_id": claim.claim_id, "error": str(exc)},
            )


def _checked_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidRequestError("invalid_limit", f"limit must be between 1 and {MAX_LIST_LIMIT}.")
    return limit


def _checked_id(link_id: str) -> str:
    if not is_link_id(link_id):
        raise LinkNotFoundError(f"There is no link {link_id!r}.")
    return link_id
