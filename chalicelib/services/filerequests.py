"""File requests: an operator asks a person for a file with an upload link; the person's
browser sends it straight to S3 with a presigned POST, and the service confirms it and
mints a download link to it.

* ``Requesting`` (operators): make, inspect, list and withdraw upload links.
* ``Receiving`` (uploaders): the upload page, a fresh form for its script, and the
  confirmation S3 sends the browser back to.  Showing the page spends nothing and costs one
  consistent ``GetItem``, so that a withdrawn, filled or expired request offers no form;
  presigning is local.  A confirmation is one ``HeadObject`` (the file is there, its size
  and type), one ``GetItem`` (refusals change nothing), one ``PutItem`` (the download link),
  one ``PutObjectTagging`` (the lifecycle rule then spares the file) and one conditional
  ``UpdateItem`` that takes one of the request's files.  A refusal takes nothing, and a
  failure gives back whatever was done (docs/CONSISTENCY.md).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.clock import Clock
from chalicelib.domain import refusals
from chalicelib.domain.addresses import Addresses
from chalicelib.domain.errors import (
    AlreadyReceivedError,
    ConflictError,
    InvalidRequestError,
    LinkNotFoundError,
    MailError,
    MailUncertainError,
    ObjectNotFoundError,
    OnetimeError,
    UnavailableError,
)
from chalicelib.domain.filenames import validate_filename
from chalicelib.domain.filerequest import (
    CONFIRMED,
    PENDING,
    UPLOAD_TAG,
    FileRequest,
    OpenUpload,
    Receipt,
)
from chalicelib.domain.link import MAX_BUNDLE_FILES
from chalicelib.domain.multipart import HeldPart, Ticket
from chalicelib.domain.terms import Terms, TermsSigner
from chalicelib.domain.tokens import Token, is_link_id, new_token, parse_token
from chalicelib.logs import annotate, get_logger, metric
from chalicelib.mail.mailer import Letter, Mailer
from chalicelib.services.links import checked_limit
from chalicelib.services.minting import (
    DEFAULT_TTL,
    UNDO_ATTEMPTS,
    MintedLink,
    Minting,
    MintRequest,
    check_note,
    check_ttl,
    check_uses,
)
from chalicelib.services.uploads import Multipart, MultipartUpload, SignedParts, UploadRequest
from chalicelib.settings import MAX_OPEN_UPLOADS
from chalicelib.storage.stores import LinkStore, ObjectStore, RequestPage, RequestStore, UploadForm

log = get_logger("filerequests")

DEFAULT_REQUEST_TTL = 7 * 86_400
MAX_FILES = 100
MAX_CONTENT_TYPES = 20
# How long one signed form may be sent.  Short, because a form signed while the request
# was open still lets S3 store a file after it is withdrawn or filled (the confirmation
# then refuses it, and the lifecycle rule removes it); the page's script asks for a fresh
# form when Upload is pressed, and without it the page says until when it works.
FORM_LIFETIME = 900
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_NONCE = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class RequestSpec:
    """What a file request is made with.  Its fields are also the JSON API's fields."""

    files: int = 1
    ttl: int = DEFAULT_REQUEST_TTL
    max_size: int | None = None  # bytes; the deployment's ONETIME_MAX_UPLOAD_BYTES if unset
    content_types: tuple[str, ...] = ()
    note: str = ""
    # Who gets each file's download link: the uploader's page, and/or this address.
    show_link: bool = True
    notify: str | None = None
    link_uses: int = 1
    link_ttl: int = DEFAULT_TTL
    # Also one link to every file received, made when the request is filled or closed.
    bundle: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.files <= MAX_FILES:
            raise InvalidRequestError("invalid_files", f"files must be between 1 and {MAX_FILES}.")
        if self.bundle and not 2 <= self.files <= MAX_BUNDLE_FILES:
            raise InvalidRequestError(
                "invalid_bundle", f"bundle needs files between 2 and {MAX_BUNDLE_FILES}."
            )
        check_ttl(self.ttl)
        check_note(self.note)
        check_uses("link_uses", self.link_uses)
        if not 1 <= self.link_ttl <= 30 * 86_400:
            raise InvalidRequestError(
                "invalid_link_ttl", "link_ttl must be between 1 and 2592000 seconds (30 days)."
            )
        types = tuple(t.strip().lower() for t in self.content_types)
        if len(types) > MAX_CONTENT_TYPES or not all(_MEDIA_TYPE.match(t) for t in types):
            raise InvalidRequestError(
                "invalid_content_types",
                f"content_types must be at most {MAX_CONTENT_TYPES} types like application/pdf.",
            )
        object.__setattr__(self, "content_types", tuple(dict.fromkeys(types)))
        if self.notify is not None:
            Letter(email=self.notify)  # the same address rule as any email
        if not self.show_link and self.notify is None:
            raise InvalidRequestError(
                "invalid_show_link",
                "With show_link false, give notify: otherwise nobody gets the download link.",
            )


@dataclass(frozen=True)
class MintedRequest:
    token: Token
    request: FileRequest
    terms: str  # the signed terms the upload page's URL carries
    message_id: str | None = None


@dataclass(frozen=True)
class UploadPage:
    """An upload page's forms: one for a browser without JavaScript (S3 redirects it to
    the confirmation), one for the page's script (S3 answers 201, the script goes on)."""

    request_id: str
    terms: Terms
    key_prefix: str
    form: dict[str, object]
    script_form: dict[str, object]
    form_expires_at: int
    # Files above this many bytes go by multipart upload (the page's script); None: never.
    multipart_threshold: int | None = None


@dataclass(frozen=True)
class Received:
    """A confirmed upload: the download link minted for it, and whether it was emailed."""

    request: FileRequest
    minted: MintedLink
    filename: str
    emailed: bool
    mail_failed: bool = False
    # The upload that filled a bundling request: its one link to every file received.
    bundle: MintedLink | None = None


@dataclass(kw_only=True, eq=False, repr=False)
class Bundling:
    """A bundling request's one link to every file it received, made once: when the
    upload that fills it is confirmed, or when an operator closes it, whichever names its
    link first (``RequestStore.record_bundle``, one conditional write).  Each file keeps
    its own link as well; the bundle is minted as ``POST /links`` with ``files`` would
    mint it (one ``HeadObject`` a file, one ``PutItem``)."""

    requests: RequestStore
    minting: Minting
    clock: Clock
    mailer: Callable[[], Mailer] | None = None

    def bundle(self, request: FileRequest, addresses: Addresses) -> MintedLink | None:
        """The bundle's link, minted and named now; None when the request does not bundle,
        has one already, or received nothing."""
        if not request.bundle or request.bundle_link is not None or not request.receipts:
            return None
        keys = tuple(receipt.key for receipt in request.receipts)
        mint = MintRequest(files=keys, uses=request.link_uses, ttl=request.link_ttl)
        minted = self.minting.mint(mint)
        try:
            self._name(request.request_id, minted.link.link_id)
        except ConflictError:
            # The other of a fill and a close named its link first: ours reached nobody.
            self.minting.withdraw(minted.link.link_id)
            return None
        annotate(bundle_link=minted.link.link_id)
        metric("Bundled")
        if request.notify is not None:
            self._tell(request, minted, addresses)
        return minted

    def _name(self, request_id: str, link_id: str) -> None:
        """Record the link on the request; when DynamoDB does not answer, read what it
        holds.  Still unknown after that, the link is kept: it works, and its token is
        about to be handed out, which a name lost in the store cannot undo."""
        for _ in range(UNDO_ATTEMPTS):
            try:
                self.requests.record_bundle(request_id, link_id)
                return
            except UnavailableError:
                try:
                    named = self.requests.get(request_id).bundle_link
                except UnavailableError:
                    continue
                if named == link_id:
                    return
                if named is not None:
                    raise refusals.bundle_minted(named) from None
        log.warning("bundle link not recorded", extra={"file_request": request_id})

    def _tell(self, request: FileRequest, minted: MintedLink, addresses: Addresses) -> None:
        count = len(minted.link.files)
        subject = f"Files received: {count} files, one link"
        try:
            send_notice(
                self.mailer, self.clock(), request, minted, addresses, subject, "Every file sent"
            )
        except OnetimeError:
            # Each file's own link was delivered already; this one is on the request's
            # state and in the closing operator's answer.
            log.warning("bundle email not sent", extra={"file_request": request.request_id})


@dataclass(kw_only=True, eq=False, repr=False)
class Requesting:
    requests: RequestStore
    clock: Clock
    signer: TermsSigner
    max_upload_bytes: int
    mailer: Callable[[], Mailer] | None = None
    multipart: Multipart | None = None
    bundling: Bundling | None = None

    def request(self, spec: RequestSpec) -> MintedRequest:
        """A new upload link: one ``PutItem``."""
        max_bytes = self.max_upload_bytes if spec.max_size is None else spec.max_size
        if not 1 <= max_bytes <= self.max_upload_bytes:
            raise InvalidRequestError(
                "invalid_max_size", f"max_size must be between 1 and {self.max_upload_bytes} bytes."
            )
        if spec.notify is not None and self.mailer is None:
            raise _email_disabled()
        token = new_token(confirm=True)
        now = self.clock()
        request = FileRequest(
            request_id=token.link_id,
            token_digest=token.digest,
            created_at=now,
            expires_at=int(now) + spec.ttl,
            max_files=spec.files,
            max_bytes=max_bytes,
            content_types=spec.content_types,
            note=spec.note,
            show_link=spec.show_link,
            notify=spec.notify,
            link_uses=spec.link_uses,
            link_ttl=spec.link_ttl,
            bundle=spec.bundle,
        )
        self.requests.create(request)
        annotate(outcome="requested", file_request=request.request_id)
        metric("Requested")
        return MintedRequest(token, request, self.signer.sign(token.digest, _terms(request)))

    def request_and_mail(
        self, spec: RequestSpec, letter: Letter, addresses: Addresses
    ) -> MintedRequest:
        """Make an upload link and email it; if the email fails, the link is withdrawn."""
        if self.mailer is None:
            raise _email_disabled()
        minted = self.request(spec)
        try:
            message_id = self.mailer().send_request(
                letter, minted.request, upload_address(addresses, minted), self.clock()
            )
        except Exception as exc:
            self.requests.revoke(minted.request.request_id, self.clock())
            annotate(outcome="mail_failed")
            if isinstance(exc, MailError):
                raise
            raise MailError("The email could not be sent; the upload link was withdrawn.") from exc
        return MintedRequest(minted.token, minted.request, minted.terms, message_id)

    def describe(self, request_id: str) -> FileRequest:
        return self.requests.get(_request_id(request_id))

    def recent(self, limit: int, cursor: str | None) -> RequestPage:
        return self.requests.recent(checked_limit(limit), cursor)

    def close(self, request_id: str, addresses: Addresses) -> tuple[FileRequest, MintedLink | None]:
        """Withdraw the request (``revoke``); a bundling request then gets its one link to
        every file received, unless it has one (a second close makes none)."""
        request = self.revoke(request_id)
        bundled = self.bundling.bundle(request, addresses) if self.bundling else None
        if bundled is not None:
            request = self.requests.get(request.request_id)
        return request, bundled

    def revoke(self, request_id: str) -> FileRequest:
        """Withdraw the request, then abort the multipart uploads still open through it
        (one ``AbortMultipartUpload`` each, at most ``MAX_OPEN_UPLOADS``).  An abort that
        fails is left to the bucket's lifecycle rule, which aborts it a day after it
        started; parts signed before cannot complete it: completion reads the request."""
        now = self.clock()
        request = self.requests.revoke(_request_id(request_id), now)
        if self.multipart is not None:
            for upload in request.open_uploads(now):
                try:
                    self.multipart.abort(upload.key, upload.upload_id)
                except OnetimeError:
                    log.warning("multipart upload not aborted", extra={"file_request": request_id})
        return request


@dataclass(kw_only=True, eq=False, repr=False)
class Receiving:
    requests: RequestStore
    objects: ObjectStore
    links: LinkStore
    minting: Minting
    clock: Clock
    request_prefix: str
    mailer: Callable[[], Mailer] | None = None
    multipart: Multipart | None = None
    multipart_threshold: int | None = None
    bundling: Bundling | None = None

    def __post_init__(self) -> None:
        if self.multipart is None:
            self.multipart_threshold = None  # no threshold without multipart uploads

    # Multipart uploads (issue 25): a file above the threshold, from the page's script.
    # Each step reads the request (one consistent ``GetItem``), so a request withdrawn,
    # filled or expired meanwhile refuses it; the ticket binds the upload to this
    # request's keys.  The file is then confirmed as any upload: ``confirm``.

    def start_multipart(self, token_value: str | None, file: UploadRequest) -> MultipartUpload:
        """Start a multipart upload of this file into the request, if it takes it: its
        size and type, and fewer than ``MAX_OPEN_UPLOADS`` under way.  AWS calls: the
        ``GetItem``, ``CreateMultipartUpload``, and the ``UpdateItem`` that records it
        (an ``AbortMultipartUpload`` if that is refused)."""
        multipart = self._required()
        token = parse_token(token_value)
        now = self.clock()
        request = self.requests.peek(token.link_id, token.digest, now)
        content_type = file.content_type.lower()
        if file.size < 1:  # a size declared, not a file arrived: not upload_empty's words
            raise InvalidRequestError("invalid_size", "size must be a number of bytes above 0.")
        refusals.check_file(request, file.size, content_type)
        gone = self._gone_at_cap(request, now)
        if len(request.open_uploads(now)) - len(gone) >= MAX_OPEN_UPLOADS:
            raise refusals.too_many_uploads(MAX_OPEN_UPLOADS)
        nonce = secrets.token_hex(8)
        key = f"{self.request_prefix}{token.link_id}/{nonce}/{file.filename}"
        started = multipart.start(key, file.size, content_type, (UPLOAD_TAG, PENDING))
        upload_id = started.upload_id
        try:
            self.requests.open_upload(
                request,
                token.digest,
                OpenUpload(nonce, key, upload_id, now),
                MAX_OPEN_UPLOADS,
                gone,
            )
        except OnetimeError:
            # Refused, or its answer lost: either way nobody gets this upload's ticket.
            try:
                multipart.abort(key, upload_id)
            except OnetimeError:
                log.warning("unrecorded multipart upload not aborted")
            raise
        annotate(file_request=token.link_id)
        return started

    def _gone_at_cap(self, request: FileRequest, now: float) -> frozenset[str]:
        """At the cap, whether the oldest upload still counted is still under way in S3
        (one ``ListParts``): one the service aborted (over its limit), or completed and never
        confirmed, frees its place at once rather than after a day.  Only the oldest, so a
        start stays within its time budget (storage/budgets.py)."""
        counted = request.open_uploads(now)
        if len(counted) < MAX_OPEN_UPLOADS or self.multipart is None:
            return frozenset()
        oldest = min(counted, key=lambda upload: upload.at)
        under_way = self.multipart.under_way(oldest.key, oldest.upload_id)
        return frozenset() if under_way else frozenset({oldest.nonce})

    def sign_parts(self, token_value: str | None, upload: object, parts: object) -> SignedParts:
        multipart = self._required()
        _, ticket = self._open_ticket(token_value, upload)
        return multipart.sign(ticket, parts)

    def held_parts(self, token_value: str | None, upload: object) -> tuple[Ticket, list[HeldPart]]:
        multipart = self._required()
        _, ticket = self._open_ticket(token_value, upload)
        return ticket, multipart.held(ticket)

    def complete_multipart(self, token_value: str | None, upload: object) -> tuple[str, int]:
        """Join the parts, if they are exactly the file's and within the request's size
        limit (else the upload is aborted); its key, for ``confirm``.  Two tabs completing
        the same upload both get its key, and ``confirm`` takes it once."""
        multipart = self._required()
        request, ticket = self._open_ticket(token_value, upload)
        return ticket.key, multipart.complete(ticket, request.max_bytes)

    def _open_ticket(self, token_value: str | None, upload: object) -> tuple[FileRequest, Ticket]:
        assert self.multipart is not None
        token = parse_token(token_value)
        request = self.requests.peek(token.link_id, token.digest, self.clock())
        return request, self.multipart.ticket(upload, f"{self.request_prefix}{token.link_id}/")

    def _required(self) -> Multipart:
        if self.multipart is None:
            raise InvalidRequestError("invalid_upload", "This service takes no multipart uploads.")
        return self.multipart

    def page(self, token_value: str | None, done_url: str) -> UploadPage:
        """The upload page's forms, for a fresh key, if the request can take a file now;
        else why not.  Spends nothing; one consistent ``GetItem``.  The script's fresh
        form (signed again when Upload is pressed) is this same answer."""
        token = parse_token(token_value)
        now = self.clock()
        # Consistent: a request withdrawn or filled a moment ago offers no form.
        request = self.requests.peek(token.link_id, token.digest, now)
        terms = _terms(request)
        prefix = f"{self.request_prefix}{token.link_id}/{secrets.token_hex(8)}/"
        lifetime = max(1, min(FORM_LIFETIME, terms.expires_at - int(now)))
        only = terms.content_types[0] if len(terms.content_types) == 1 else None

        def presigned(redirect: str | None) -> dict[str, object]:
            form = UploadForm(
                key_prefix=prefix,
                max_bytes=terms.max_bytes,
                content_type=only,
                tag=(UPLOAD_TAG, PENDING),
                lifetime=lifetime,
                redirect=redirect,
            )
            return self.objects.presign_form(form)

        annotate(outcome="upload_page", file_request=token.link_id)
        return UploadPage(
            request_id=token.link_id,
            terms=terms,
            key_prefix=prefix,
            form=presigned(done_url),
            script_form=presigned(None),
            form_expires_at=int(now) + lifetime,
            multipart_threshold=self.multipart_threshold,
        )

    def confirm(self, token_value: str | None, key: str | None, addresses: Addresses) -> Received:
        """Check the upload, mint its download link, and take one of the request's files
        for it.  A refusal takes nothing and mints nothing; a failure gives back whatever
        was done (docs/CONSISTENCY.md has the order and why)."""
        token = parse_token(token_value)
        nonce, filename = self._parse_key(token.link_id, key)
        assert key is not None
        try:
            obj = self.objects.describe(key)
        except ObjectNotFoundError:
            raise refusals.upload_missing() from None
        # Refusals first, from one consistent read: bad input mints and changes nothing.
        request = self._ready(token, nonce)
        refusals.check_file(request, obj.size, obj.content_type)
        # The link is minted before the file is taken: until the page shows it nobody
        # knows it, and a receipt then always names a link that exists.
        download = new_token(confirm=True)
        mint = MintRequest(
            file=key, uses=request.link_uses, ttl=request.link_ttl, filename=filename
        )
        try:
            minted = self.minting.mint(mint, described=obj, token=download)
        except UnavailableError:
            self._withdraw(download.link_id)  # its PutItem may have landed, or may yet
            raise
        receipt = Receipt(
            nonce=nonce,
            at=self.clock(),
            key=key,
            size=obj.size,
            content_type=obj.content_type,
            filename=filename,
            link_id=download.link_id,
        )
        try:
            # Tagged before it is taken: a file counted against the request is never left
            # to the rule that deletes unconfirmed uploads.  A tag on a file that ends up
            # not taken only keeps it as long as any upload (infra/resources.yaml).
            self.objects.mark(obj, UPLOAD_TAG, CONFIRMED)
            request = self.requests.receive(token.link_id, token.digest, receipt)
        except UnavailableError:
            # The receive may have landed, or may land later: fence it off, give back.
            self._give_back(token.link_id, nonce, download.link_id)
            raise
        except Exception:
            self._withdraw(download.link_id)  # refused (a race): nothing was taken
            raise
        annotate(outcome="upload_received", file_request=request.request_id)
        metric("UploadReceived")
        if request.notify is None:
            received = Received(request, minted, filename, emailed=False)
        else:
            received = self._notify(request, minted, filename, addresses, nonce)
        if request.bundle and request.remaining == 0:
            return dataclasses.replace(received, bundle=self._bundle(request, addresses))
        return received

    def _bundle(self, request: FileRequest, addresses: Addresses) -> MintedLink | None:
        """This upload filled a bundling request: its one link to every file.  The upload
        itself is received whatever happens here; a bundle that fails to be made is made
        when an operator closes the request."""
        if self.bundling is None:
            return None
        try:
            return self.bundling.bundle(request, addresses)
        except OnetimeError as exc:
            log.warning(
                "bundle not made on fill; closing the request makes it",
                extra={"file_request": request.request_id, "error": repr(exc)},
            )
            return None

    def _ready(self, token: Token, nonce: str) -> FileRequest:
        """The request, if it can take this upload now; else why not.  An earlier receipt
        of this upload whose link was withdrawn (its confirmation failed, and its undo did
        not finish) is given up here, so that the uploader's reload can finish."""
        now = self.clock()
        try:
            return self.requests.peek(token.link_id, token.digest, now, nonce)
        except AlreadyReceivedError as already:
            if already.link_id is None or self._delivers(already.link_id):
                raise
            self.requests.release(token.link_id, nonce, already.link_id)
            return self.requests.peek(token.link_id, token.digest, now, nonce)

    def _delivers(self, link_id: str) -> bool:
        try:
            return self.links.get(link_id).revoked_at is None
        except LinkNotFoundError:
            return False

    def _notify(
        self,
        request: FileRequest,
        minted: MintedLink,
        filename: str,
        addresses: Addresses,
        nonce: str,
    ) -> Received:
        try:
            subject = f"File received: {filename}"
            send_notice(self.mailer, self.clock(), request, minted, addresses, subject, "Sent")
        except MailUncertainError:
            # SES took the message and stopped answering: it may arrive, so its link must
            # work, and the file stays received (the request's state names the link).
            log.warning("notify email uncertain", extra={"file_request": request.request_id})
            return Received(request, minted, filename, emailed=True)
        except OnetimeError as exc:
            if request.show_link:
                # The uploader sees the link and is told the email failed: nothing is lost.
                log.warning("notify email failed", extra={"file_request": request.request_id})
                return Received(request, minted, filename, emailed=False, mail_failed=True)
            # Nobody would get the link: withdraw it and give the file back, so that the
            # uploader's retry (a reload) can confirm it again.
            self._give_back(request.request_id, nonce, minted.link.link_id)
            if isinstance(exc, MailError):
                raise
            raise MailError("The email could not be sent; nothing was used up.") from exc
        return Received(request, minted, filename, emailed=True)

    def _give_back(self, request_id: str, nonce: str, link_id: str) -> None:
        """Undo an attempt that minted ``link_id``: the file first (fenced off and counted
        back), then the link.  Both steps are safe to repeat."""
        try:
            self.requests.release(request_id, nonce, link_id)
        except OnetimeError:
            # The receipt may stay, naming a withdrawn link: the uploader's reload gives
            # it up (``_ready``); an operator sees it in the request's state meanwhile.
            log.error(
                "could not give back a file request's file", extra={"file_request": request_id}
            )
        self._withdraw(link_id)

    def _withdraw(self, link_id: str) -> None:
        # A link whose token never left this request: if revoking it fails, it works for
        # nobody, so the caller's own error is the one to report.
        try:
            self.minting.withdraw(link_id)
        except OnetimeError:
            log.warning("unshown upload link not revoked", extra={"link_id": link_id})

    def _parse_key(self, request_id: str, key: str | None) -> tuple[str, str]:
        """The upload's nonce and file name, from a key this request's forms allow."""
        prefix = f"{self.request_prefix}{request_id}/"
        if not key or not key.startswith(prefix):
            raise refusals.upload_missing()
        nonce, _, name = key[len(prefix) :].partition("/")
        if not _NONCE.match(nonce) or not name or "/" in name:
            raise refusals.upload_missing()
        try:
            return nonce, validate_filename(name)
        except InvalidRequestError:
            return nonce, "upload"  # S3 took a name we would not serve; the bytes are fine


def upload_address(addresses: Addresses, minted: MintedRequest) -> str:
    """The address of a new request's upload page, which carries its signed terms."""
    return addresses.upload(minted.token.value, minted.terms)


def _terms(request: FileRequest) -> Terms:
    return Terms(request.expires_at, request.max_bytes, request.content_types, request.max_files)


def _request_id(value: str) -> str:
    if not is_link_id(value):
        raise refusals.unknown_request(value)
    return value


def send_notice(
    mailer: Callable[[], Mailer] | None,
    now: float,
    request: FileRequest,
    minted: MintedLink,
    addresses: Addresses,
    subject: str,
    what: str,
) -> None:
    """Email ``minted``'s link to the request's ``notify`` address: ``what`` came through
    which upload link ("Sent", "Every file sent"); the mailer's errors as they are."""
    assert request.notify is not None
    note = f"\n{request.note}" if request.note else ""
    letter = Letter(
        email=request.notify,
        subject=subject,
        message=f"{what} through your upload link {request.request_id}.{note}",
    )
    if mailer is None:
        raise _email_disabled()
    mailer().send(letter, minted.link, addresses.download(minted.token.value), now)


def _email_disabled() -> InvalidRequestError:
    return InvalidRequestError(
        "email_disabled", "This service is not set up to send email (ONETIME_MAIL_FROM)."
    )
