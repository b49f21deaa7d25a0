"""Minting: a new link to an object, and optionally the email that carries it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.clock import Clock
from chalicelib.domain import refusals
from chalicelib.domain.addresses import Addresses
from chalicelib.domain.answers import Answers, new_code
from chalicelib.domain.errors import (
    ChangedMeanwhileError,
    InvalidRequestError,
    MailError,
    MailUncertainError,
    OnetimeError,
    UnavailableError,
)
from chalicelib.domain.filenames import default_filename, validate_filename
from chalicelib.domain.link import CHECKS, MAX_BUNDLE_FILES, BundledFile, Link, StoredObject
from chalicelib.domain.objectkeys import validate_key
from chalicelib.domain.text import has_control_characters
from chalicelib.domain.tokens import Token, is_link_id, new_token
from chalicelib.logs import annotate, get_logger, metric
from chalicelib.mail.mailer import Letter, Mailer, check_address
from chalicelib.storage.stores import LinkStore, ObjectStore

log = get_logger("minting")

DEFAULT_USES = 1
MAX_USES = 100
DEFAULT_TTL = 86_400
MAX_TTL = 30 * 86_400
MAX_NOTE_LENGTH = 1000


@dataclass(frozen=True)
class MintRequest:
    """What a link is minted with.  Its fields are also the JSON API's mint fields.
    ``file`` names one file; ``files`` (instead) several, a bundle, whose list is fixed
    once minted (``filename`` is then refused: each file keeps its own name)."""

    file: str = ""
    files: tuple[str, ...] | None = None
    uses: int = DEFAULT_USES
    ttl: int = DEFAULT_TTL
    filename: str | None = None
    confirm: bool = True
    note: str = ""
    # A recipient check (``email`` or ``code``, chalicelib/domain/answers.py), and an address
    # told when the link is redeemed.
    verify: str | None = None
    notify: str | None = None

    def __post_init__(self) -> None:
        if self.files is not None:
            if self.file:
                raise InvalidRequestError("invalid_files", "Give file or files, not both.")
            if not 1 <= len(self.files) <= MAX_BUNDLE_FILES:
                raise InvalidRequestError(
                    "invalid_files", f"files must name 1 to {MAX_BUNDLE_FILES} files."
                )
            if self.filename is not None:
                raise InvalidRequestError(
                    "invalid_filename", "A bundle's files keep their own names: no filename."
                )
            object.__setattr__(self, "files", tuple(self.files))  # JSON gives a list
        elif not self.file:
            raise InvalidRequestError("invalid_file", "file is required (or files).")
        check_uses("uses", self.uses)
        check_ttl(self.ttl)
        check_note(self.note)
        if self.verify is not None:
            if self.verify not in CHECKS:
                raise InvalidRequestError(
                    "invalid_verify", f"verify must be one of: {', '.join(CHECKS)}."
                )
            if not self.confirm:
                raise InvalidRequestError(
                    "invalid_verify",
                    "A link with a recipient check waits for a person (confirm must be true).",
                )
        if self.notify is not None:
            check_address("notify", self.notify)


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
class ResendRequest:
    """New values for a resend's replacement link; each left out carries over what the
    old link has left (its remaining uses, its remaining time)."""

    uses: int | None = None
    ttl: int | None = None

    def __post_init__(self) -> None:
        if self.uses is not None:
            check_uses("uses", self.uses)
        if self.ttl is not None:
            check_ttl(self.ttl)


# What became of the email that carries a link: ``sent`` (SES gave its message id) or
# ``uncertain`` (SES stopped answering after the message was handed over: it may arrive).
SENT = "sent"
UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class MintedLink:
    token: Token
    link: Link
    message_id: str | None = None
    code: str | None = None  # a ``verify: code`` link's code: given out once, never stored
    email: str | None = None  # SENT or UNCERTAIN when the link was emailed


@dataclass(kw_only=True, eq=False, repr=False)
class Minting:
    links: LinkStore
    objects: ObjectStore
    clock: Clock
    key_prefix: str = ""
    # A provider, so the SES client is only built by the first email.
    mailer: Callable[[], Mailer] | None = None
    answers: Answers | None = None

    def mint(
        self,
        request: MintRequest,
        described: StoredObject | None = None,
        token: Token | None = None,
        recipient: str | None = None,
        replaces: str | None = None,
        bundled: tuple[BundledFile, ...] = (),
    ) -> MintedLink:
        """A new link; ``described`` saves the ``HeadObject`` when the caller has just
        made it, ``token`` lets the caller record the link's id before it exists,
        ``recipient`` is the address it is about to be emailed to, and ``replaces`` the
        link it replaces (a resend)."""
        if request.files is not None:
            files = bundled or self._bundled(request.files)
            key, obj, filename = files[0].object.key, files[0].object, files[0].filename
        else:
            files = ()
            key = validate_key(request.file, self.key_prefix)
            filename = validate_filename(
                request.filename if request.filename is not None else default_filename(key)
            )
        if request.verify == "email" and recipient is None:
            raise InvalidRequestError(
                "invalid_verify", "verify: email needs the email the link is sent to."
            )
        if not files:
            obj = described or self.objects.describe(key)
        now = self.clock()
        token = token or new_token(confirm=request.confirm, bundle=bool(files))
        code = new_code() if request.verify == "code" else None
        answer = code if code is not None else recipient if request.verify else None
        answer_digest = None
        if answer is not None:
            if self.answers is None:
                raise InvalidRequestError("verify_disabled", "Recipient checks are not set up.")
            answer_digest = self.answers.digest(token.link_id, answer)
        link = Link(
            link_id=token.link_id,
            token_digest=token.digest,
            object=obj,
            filename=filename,
            max_uses=request.uses,
            uses=0,
            created_at=now,
            expires_at=int(now) + request.ttl,
            confirm=request.confirm,
            note=request.note,
            recipient=recipient,
            notify=request.notify,
            check=request.verify,
            answer_digest=answer_digest,
            replaces=replaces,
            files=files,
        )
        try:
            self.links.create(link)
        except UnavailableError:
            # The write may still land (its answer was lost, or it is queued somewhere):
            # bury the link so that nobody's link can come to life after we said "no".
            if not self._bury(link, "mint"):
                # Name the link, so that the answer hides no link that may yet work.
                raise UnavailableError(
                    f"The link could not be saved, and link {link.link_id} could not be "
                    "withdrawn: revoke it (DELETE /links/{id}), then try again."
                ) from None
            raise
        annotate(outcome="minted", link_id=link.link_id)
        metric("Minted")
        return MintedLink(token=token, link=link, code=code)

    def _bundled(self, keys: tuple[str, ...]) -> tuple[BundledFile, ...]:
        """A bundle's files, each checked as a single file's is (its key, then one
        ``HeadObject``), in the order given; all keys are checked before any is described."""
        checked = [validate_key(key, self.key_prefix) for key in keys]
        if len(set(checked)) != len(checked):
            raise InvalidRequestError("invalid_files", "files names the same file twice.")
        names = [validate_filename(default_filename(key)) for key in checked]
        return tuple(
            BundledFile(self.objects.describe(key), name)
            for key, name in zip(checked, names, strict=True)
        )

    def withdraw(self, link_id: str) -> None:
        """Revoke a link just minted that nobody received."""
        self.links.revoke(link_id, self.clock())

    def mint_and_mail(
        self, request: MintRequest, letter: Letter, addresses: Addresses
    ) -> MintedLink:
        """Mint a link and email it.  If SES refuses the email, the link is withdrawn
        (``MailError``): no working link that nobody received.  If SES stops answering
        after the message went out, the link is kept and the answer says the email is
        ``uncertain``: it may arrive, and a link in a customer's mailbox must work."""
        mailer = self._require_mailer()
        minted = self.mint(request, recipient=letter.email)
        try:
            message_id = mailer().send(
                letter,
                minted.link,
                addresses.download(minted.token.value),
                self.clock(),
                code=minted.code,
            )
        except MailUncertainError:
            annotate(outcome="minted_mail_uncertain", link_id=minted.link.link_id)
            metric("MailUncertain")
            return dataclasses.replace(minted, email=UNCERTAIN)
        except Exception as exc:
            # Whatever else went wrong (SES refused, or composing the message), nobody
            # has the link.
            annotate(outcome="mail_failed")
            if not self._bury(minted.link, "mint_and_mail"):
                raise MailError(
                    f"The email could not be sent, and link {minted.link.link_id} could not "
                    "be withdrawn: revoke it (DELETE /links/{id})."
                ) from exc
            if isinstance(exc, MailError):
                raise
            raise MailError("The email could not be sent; the link was withdrawn.") from exc
        annotate(outcome="minted_mailed")
        return self._sent(minted, message_id)

    def resend(self, link_id: str, request: ResendRequest, addresses: Addresses) -> MintedLink:
        """Replace an emailed link with a new one to the same file and email it to the
        same recipient: what the old link has left (or ``request``'s values), the same
        name, check (a code link gets a new code) and receipt address.

        The order of the writes, and what each failure leaves, is in
        docs/CONSISTENCY.md ("Resend").  In short: the replacement is created first
        (nobody knows its token); one conditional write then supersedes the old link,
        only if no use was spent, given back or resent since it was read (else we try
        again from the read); then the email goes.  A chain therefore has one live link,
        carries over exactly what is left, and every undo leaves a mark that makes the
        write it undoes fail if it lands late."""
        mailer = self._require_mailer()
        if not is_link_id(link_id):
            raise refusals.unknown_link(link_id)
        for _ in range(RESEND_ATTEMPTS):
            old, minted = self._prepare_resend(link_id, request)
            try:
                self.links.supersede(
                    link_id, minted.link.link_id, self.clock(), uses=old.uses, fence=old.fence
                )
            except ChangedMeanwhileError:
                self._bury(minted.link, "resend")  # a use was spent meanwhile: read again
                continue
            except UnavailableError:
                # The write may have landed, or may land later: fence it off, undo it if it
                # did land, and withdraw the replacement nobody was sent.
                self._undo_resend(link_id, minted.link, fence=True)
                raise
            except OnetimeError:
                self._bury(minted.link, "resend")  # another resend or a revocation came first
                raise
            break
        else:
            raise refusals.resend_raced()
        return self._mail_resend(mailer(), link_id, old, minted, addresses)

    def _prepare_resend(self, link_id: str, request: ResendRequest) -> tuple[Link, MintedLink]:
        """The old link as it is now, and its replacement, created but not yet sent."""
        old = self.links.get(link_id)
        if old.recipient is None:
            raise refusals.no_recipient()
        if old.revoked_at is not None:
            raise refusals.not_resendable(old)
        now = self.clock()
        uses = old.remaining if request.uses is None else request.uses
        ttl = int(old.expires_at - now) if request.ttl is None else request.ttl
        if uses <= 0 or ttl <= 0:
            raise refusals.nothing_left_to_resend(old, now)
        mint = MintRequest(
            file="" if old.files else old.object.key,
            files=tuple(f.object.key for f in old.files) if old.files else None,
            uses=uses,
            ttl=min(ttl, MAX_TTL),
            filename=None if old.files else old.filename,
            confirm=old.confirm,
            note=old.note,
            verify=old.check,
            notify=old.notify,
        )
        # The object as the old link pinned it (version and ETag): the customer gets the
        # file they were sent, and a resend costs no HeadObject.
        minted = self.mint(
            mint,
            described=old.object,
            recipient=old.recipient,
            replaces=link_id,
            bundled=old.files,
        )
        return old, minted

    def _mail_resend(
        self,
        mailer: Mailer,
        link_id: str,
        old: Link,
        minted: MintedLink,
        addresses: Addresses,
    ) -> MintedLink:
        new_id = minted.link.link_id
        assert old.recipient is not None  # checked by _prepare_resend
        try:
            url = addresses.download(minted.token.value)
            message_id = mailer.send(
                Letter(email=old.recipient), minted.link, url, self.clock(), code=minted.code
            )
        except MailUncertainError:
            # The new link may be in the customer's mailbox: it stays live, and the old one
            # stays superseded, so there is still exactly one live link.  Resending the new
            # link is safe: it supersedes this one in turn.
            annotate(outcome="resend_mail_uncertain", link_id=new_id, replaces=link_id)
            metric("MailUncertain")
            return dataclasses.replace(minted, email=UNCERTAIN)
        except Exception as exc:
            # SES refused: the customer still holds the old link, nobody holds the new one.
            self._undo_resend(link_id, minted.link, fence=False)
            annotate(outcome="resend_mail_failed", link_id=link_id)
            if isinstance(exc, MailError):
                raise MailError(f"{exc.message} The old link works as before.") from exc
            raise MailError("The email could not be sent; the old link works as before.") from exc
        annotate(outcome="resent", link_id=new_id, replaces=link_id)
        metric("Resent")
        return self._sent(minted, message_id)

    def _sent(self, minted: MintedLink, message_id: str) -> MintedLink:
        try:
            # One more write, after the email: SES names the message only once it is sent.
            self.links.record_message(minted.link.link_id, message_id)
        except OnetimeError:
            # The link was emailed and works; only support's lookup of the message id is lost.
            log.warning("message id not recorded", extra={"link_id": minted.link.link_id})
        link = dataclasses.replace(minted.link, message_id=message_id)
        return dataclasses.replace(minted, link=link, message_id=message_id, email=SENT)

    def _undo_resend(self, link_id: str, replacement: Link, *, fence: bool) -> None:
        """Give the customer their old link back and withdraw the replacement nobody
        received.  With ``fence``, first make sure the supersede cannot land after this
        (its answer was lost: it may be on its way).  The old link is restored before the
        replacement is withdrawn, so the customer is never without a working link; each
        step is retried, being safe to repeat."""
        new_id = replacement.link_id
        steps_held = (not fence or _again(lambda: self.links.close_resends(link_id))) and _again(
            lambda: self.links.restore(link_id, new_id)
        )
        if not steps_held:
            # Loud, with what to do: the customer's old link may stay withdrawn.
            log.error(
                "RESEND NOT UNDONE: if link %s shows replaced_by %s (a link nobody was "
                "emailed), the customer has no working link: resend link %s",
                link_id,
                new_id,
                new_id,
                extra={"link_id": link_id, "replacement": new_id},
            )
            return  # the replacement is left live: resending it reaches the customer
        self._bury(replacement, "resend")

    def _bury(self, link: Link, during: str) -> bool:
        """Withdraw a link whose token never left this request, retried; False (logged) if
        it could not be, so the caller's answer can name it."""
        if _again(lambda: self.links.bury(link, self.clock())):
            return True
        log.error(
            "LINK NOT WITHDRAWN: link %s was minted during a failed %s and nobody received "
            "it; revoke it",
            link.link_id,
            during,
            extra={"link_id": link.link_id},
        )
        return False

    def _require_mailer(self) -> Callable[[], Mailer]:
        if self.mailer is None:
            raise InvalidRequestError(
                "email_disabled", "This service is not set up to send email (ONETIME_MAIL_FROM)."
            )
        return self.mailer


# A resend that keeps losing to redemptions or refunds on the same link gives up after
# this many tries (each one mints a replacement and buries it).
RESEND_ATTEMPTS = 3
# An undo step is retried this many times: it is safe to repeat, and the failure it
# undoes is usually a moment's trouble in the store.
UNDO_ATTEMPTS = 3


def _again(step: Callable[[], object]) -> bool:
    """Run an undo step until the store answers; False if it never did."""
    for _ in range(UNDO_ATTEMPTS):
        try:
            step()
        except UnavailableError:
            continue
        return True
    return False
