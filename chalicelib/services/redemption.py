"""Redemption: what a customer's request for a link gets, by the counting rule in
docs/COUNTING.md.

* A GET or HEAD never spends a use of a link that waits for a person (``confirm=true``,
  the default): a browser gets the landing page, anything else a short answer saying
  how to download.  Only a POST spends, and not every POST: a known previewer's, or a
  press of the landing page's button faster than a person's, spends nothing.
* A link minted with ``confirm=false`` (for integrations) redeems on GET as well.

The outcome is a value, one small type per answer: ``Landing`` (the page with the
Download button), ``Declined`` (nothing spent, and why), ``Stream`` (the file in the
response) or ``Redirect`` (a short-lived presigned S3 URL).  Visits that spend nothing
are recorded on the link (best-effort) by the same single request that reads it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import InitVar, dataclass, field

from chalicelib.clock import Clock
from chalicelib.domain import delivery, refusals
from chalicelib.domain.answers import Answers
from chalicelib.domain.bots import previewer
from chalicelib.domain.errors import (
    InvalidRequestError,
    OnetimeError,
    RecipientCheckError,
    SessionRefundedError,
    UnavailableError,
)
from chalicelib.domain.filenames import content_disposition
from chalicelib.domain.link import (
    MAX_BUNDLE_FILES,
    Claim,
    Link,
    Redelivery,
    Visit,
    no_such_file,
    one_file_only,
)
from chalicelib.domain.sessions import SessionKey
from chalicelib.domain.stamps import Stamps, new_form_key
from chalicelib.domain.tokens import Token, parse_token
from chalicelib.logs import annotate, get_logger, metric
from chalicelib.storage.stores import LinkStore, ObjectStore

log = get_logger("redemption")

# The fastest a person presses Download after the page appears.  Measured here
# (docs/press-timing.md, tests/browser/test_browser.py): Playwright's click at once after load
# arrives 0.11-0.14 s after render (median; worst 0.34 s), and after waiting for the
# network to go idle 0.62-0.64 s (worst 0.73 s).  A person has to see the page and reach
# the button first, which takes longer (assumed, not measured).  See docs/COUNTING.md.
MIN_PRESS_SECONDS = 0.8
MAX_ANSWER_LENGTH = 320


@dataclass(frozen=True)
class Requester:
    """Who is asking: what the audit records keep, and what decides the answer.
    ``accept`` (the header) is read once, into ``accepts``, which routes and services use."""

    accept: InitVar[str | None] = None
    client_ip: str = ""
    user_agent: str = ""
    range: str | None = None  # honoured only inside a download session (a resume)
    if_range: str | None = None
    form_key: str | None = None  # the landing form's cookie (chalicelib/domain/stamps.py), if held
    accepts: delivery.Accepts = field(init=False)

    def __post_init__(self, accept: str | None) -> None:
        object.__setattr__(self, "accepts", delivery.Accepts.parse(accept))


@dataclass(frozen=True)
class Landing:
    """The link waits for a person to press Download; nothing was spent.  ``stamp`` is
    the page's signed render time, for its form, bound to ``form_key``, which the page's
    cookie must hold.  ``again_until`` is set when this client holds a download session:
    it may download again, without spending, until then."""

    link: Link
    stamp: str
    form_key: str
    again_until: float | None = None


@dataclass(frozen=True)
class Declined:
    """Nothing was spent, and why: ``confirm`` (a GET that does not want HTML, on a link
    that waits for a person), ``bot`` (a known previewer), ``too_fast`` (a press faster
    than a person's), ``repeated`` (a page's press sent again) or ``again_ended`` (a
    "Download again" press after the download session ended), ``answer_required`` or
    ``wrong_answer`` (a press without the right answer to the link's recipient check),
    ``no_form_cookie`` (a page's press without the cookie its page set: another client's
    form, or cookies off) or ``refunded`` (a download session whose redemption was
    refunded: a free download was asked for, and nothing is spent silently instead).
    ``stamp`` and ``form_key`` render the landing page again where that helps."""

    link: Link
    reason: str
    stamp: str
    form_key: str


@dataclass(frozen=True)
class Session:
    """The download session a delivery belongs to: the client's key, and until when it
    allows re-deliveries."""

    key: SessionKey
    until: float


@dataclass(frozen=True)
class Stream:
    link: Link
    disposition: str
    body_base64: str  # the file, already encoded (see ObjectStore.fetch_base64)
    session: Session | None = None
    redelivered: bool = False  # a re-delivery in a session: no use was spent
    byte_range: tuple[int, int] | None = None  # a part of the file (206), inclusive


@dataclass(frozen=True)
class Redirect:
    link: Link
    disposition: str
    location: str
    lifetime: int  # seconds the presigned location works
    session: Session | None = None
    redelivered: bool = False
    # Answers a press of the landing page's button: the page that says the download
    # started, which then follows ``location``.
    for_page: bool = False


@dataclass(frozen=True)
class Opened:
    """A bundle's press: one use spent (or, ``redelivered``, the client's own session
    shown again), and the download session in which each of its files is fetched by
    number (``file=N``), each fetch a re-delivery.  ``session`` is None with sessions off:
    each file then spends a use."""

    link: Link
    session: Session | None
    redelivered: bool = False


Redemption = Landing | Declined | Stream | Redirect | Opened


def _check_file(token: Token, file: int | None) -> None:
    """``file`` only for a bundle (its token says so, exactly), refused before anything is
    written or spent."""
    if file is not None and not token.hints_bundle:
        raise one_file_only()
    if file is not None and not 1 <= file <= MAX_BUNDLE_FILES:
        raise no_such_file(MAX_BUNDLE_FILES)


@dataclass(kw_only=True, eq=False, repr=False)
class Redeeming:
    links: LinkStore
    objects: ObjectStore
    clock: Clock
    stamps: Stamps
    stream_max_bytes: int
    redirect_ttl: int
    session_seconds: int = 0
    answers: Answers | None = None

    def get(
        self,
        token_value: str | None,
        requester: Requester,
        session: SessionKey | None = None,
        file: int | None = None,
    ) -> Redemption:
        """A GET: spends a use only of a ``confirm=false`` link, and never a previewer's.

        One DynamoDB request either way: the token hints at the link's kind, so the
        first write tried is the right one (a wrong hint costs a second request).  A client
        with a download ``session`` is shown "Download again" (or, on a direct link, gets
        the file again) instead of "already used".
        """
        token = parse_token(token_value)
        annotate(link_id=token.link_id)
        _check_file(token, file)
        kind = self._visit_kind(requester, "page" if requester.accepts.html else "preview")
        if token.hints_confirm or kind == "bot":
            viewed = self.links.view(
                token.link_id,
                token.digest,
                self._visit(requester, kind),
                unless_direct=kind != "bot",
            )
            if viewed.link.confirm or kind == "bot":
                return self._spared(token, requester, viewed.link, kind, session)
            # A direct link whose token carried no hint: claim it after all.
        try:
            again = self._redeliver(token, requester, session, for_page=False, file=file)
        except SessionRefundedError as ended:
            assert isinstance(ended.link, Link)
            return self._spared(token, requester, ended.link, "refunded")
        if again is not None:
            return again
        outcome = self._claim(token, requester, unless_confirm=True, file=file)
        if isinstance(outcome, Link):  # it waits for a person after all
            link = self.links.view(token.link_id, token.digest, self._visit(requester, kind)).link
            return self._spared(token, requester, link, kind, session)
        return outcome

    def post(
        self,
        token_value: str | None,
        requester: Requester,
        shown: str | None = None,
        session: SessionKey | None = None,
        *,
        again: bool = False,
        answer: str | None = None,
        file: int | None = None,
    ) -> Redemption:
        """A POST: the landing page's button, ``curl -d``, the CLI or an API client.

        ``answer`` is the person's answer to the link's recipient check, if it has one: the
        claim's own write compares it, and counts a wrong one (chalicelib/domain/answers.py).

        ``shown`` is the landing form's signed render time, bound to the client's form
        cookie (``requester.form_key``); a POST without it (not from the page) is not
        timed, and a stamp this client cannot prove it was shown spends nothing.  A page
        (``requester.accepts.html``) gets the file by redirect, marked ``for_page``, so the
        browser is shown that the download started: decided here, once.  A client with a
        download ``session`` for this link gets the file again without spending a use.
        """
        token = parse_token(token_value)
        annotate(link_id=token.link_id)
        _check_file(token, file)
        kind = self._visit_kind(requester, "")
        # From a page (its Download or Download again button): the answer is a page too.
        from_page = (shown is not None or again) and requester.accepts.html
        if not kind:
            # The session proves this client already pressed once: no timing needed.
            try:
                redelivered = self._redeliver(
                    token, requester, session, for_page=from_page, file=file
                )
            except SessionRefundedError as ended:
                if shown is None or again:
                    # The client asked for a free download; its use was given back, so
                    # say so rather than spend that use silently.
                    assert isinstance(ended.link, Link)
                    return self._spared(token, requester, ended.link, "refunded")
                redelivered = None  # the page's Download button: it says it spends a use
            if redelivered is not None:
                return redelivered
            if again:
                # "Download again" promised a free download; its session has ended, so say
                # so rather than spend a use the person did not mean to spend.
                viewed = self.links.view(
                    token.link_id, token.digest, self._visit(requester, "page")
                )
                return self._spared(token, requester, viewed.link, "again_ended")
        if kind != "bot" and shown is not None:
            kind = self._untimely(token, shown, requester)
        if kind:
            # A press without its page's cookie is recorded as a press too fast to count.
            seen = "too_fast" if kind == "no_form_cookie" else kind
            viewed = self.links.view(token.link_id, token.digest, self._visit(requester, seen))
            return self._spared(token, requester, viewed.link, kind, session)
        answer_digest = ""
        if answer is not None and len(answer) > MAX_ANSWER_LENGTH:
            # Longer than any address (RFC 5321: 254) or code: refused unread, not counted.
            raise InvalidRequestError(
                "invalid_answer", f"The answer is longer than {MAX_ANSWER_LENGTH} characters."
            )
        if answer and answer.strip() and self.answers is not None:
            answer_digest = self.answers.digest(token.link_id, answer)
        try:
            outcome = self._claim(
                token,
                requester,
                unless_confirm=False,
                for_page=from_page,
                stamp=shown,
                answer_digest=answer_digest,
                file=file,
            )
        except RecipientCheckError as failed:
            link = failed.link
            assert isinstance(link, Link)
            annotate(outcome=f"declined_{failed.reason}", answers_left=link.answers_left)
            if failed.reason == "wrong_answer":
                metric("WrongAnswers")
                refusals.check(link, token.digest, self.clock())  # the fifth: now locked
            return Declined(link, failed.reason, *self._form(link, requester))
        if isinstance(outcome, Link):  # this page's press was already redeemed
            return self._spared(token, requester, outcome, "repeated", session)
        return outcome

    def head(self, token_value: str | None, requester: Requester) -> Link:
        """A HEAD: the link if a redemption could succeed now, else the refusal; spends
        nothing, and is recorded as a visit."""
        token = parse_token(token_value)
        annotate(link_id=token.link_id, outcome="inspected")
        visit = self._visit(requester, self._visit_kind(requester, "head"))
        link = self.links.view(token.link_id, token.digest, visit).link
        return refusals.check(link, token.digest, visit.at)

    def _untimely(self, token: Token, shown: str, requester: Requester) -> str:
        """Why a page's press cannot count ("too_fast", "no_form_cookie"), or "" if it can:
        its stamp was made for this link and this client, long enough ago."""
        if requester.form_key is None:
            return "no_form_cookie"
        at = self.stamps.shown_at(token.link_id, shown, requester.form_key)
        # An edited stamp, another link's, or another client's counts as too fast: it
        # cannot prove that this client waited.
        if at is None or self.clock() - at < MIN_PRESS_SECONDS:
            return "too_fast"
        return ""

    def _form(self, link: Link, requester: Requester) -> tuple[str, str]:
        """A new stamp for a page's form, and the form key it is bound to: the client's
        own, if it holds one (its other tabs' pages stay valid), else a new one."""
        key = requester.form_key or new_form_key()
        return self.stamps.make(link.link_id, self.clock(), key), key

    def _visit_kind(self, requester: Requester, otherwise: str) -> str:
        return "bot" if previewer(requester.user_agent) is not None else otherwise

    def _visit(self, requester: Requester, kind: str) -> Visit:
        return Visit(self.clock(), requester.client_ip, requester.user_agent, kind)

    def _spared(
        self,
        token: Token,
        requester: Requester,
        link: Link,
        kind: str,
        session: SessionKey | None = None,
    ) -> Landing | Declined:
        """Nothing spent: the landing page, or why not (the refusal, if the link is gone
        -- unless this client's download session still lets it download again)."""
        now = self.clock()
        open_session = (
            link.session(session.claim_id, session.digest, now, self.session_seconds)
            if session is not None and self.session_seconds and kind in ("page", "repeated")
            else None
        )
        stamp, form_key = self._form(link, requester)
        if open_session is not None:
            annotate(outcome="landing_again")
            until = open_session.at + self.session_seconds
            return Landing(link, stamp, form_key, again_until=until)
        if kind == "repeated" and link.uses >= link.max_uses and link.revoked_at is None:
            # The page that answered this press was reloaded: say what happened, not just
            # "already used", which would read as if someone else had taken the file.
            raise refusals.press_repeated(link)
        refusals.check(link, token.digest, now)
        annotate(outcome="landing" if kind == "page" else f"declined_{kind}")
        if kind == "page":
            return Landing(link, stamp, form_key)
        return Declined(link, "confirm" if kind == "preview" else kind, stamp, form_key)

    def _redeliver(
        self,
        token: Token,
        requester: Requester,
        session: SessionKey | None,
        *,
        for_page: bool,
        file: int | None = None,
    ) -> Stream | Redirect | Opened | None:
        """The file again, within this client's download session: one conditional write
        that spends no use.  None when there is no such session (or it ended)."""
        if session is None or not self.session_seconds:
            return None
        return self._deliver_again(token, requester, session.claim_id, for_page, session, file)

    def _deliver_again(
        self,
        token: Token,
        requester: Requester,
        claim_id: str,
        for_page: bool,
        proof: SessionKey | None,
        file: int | None = None,
    ) -> Stream | Redirect | Opened | None:
        """The file again, in the download session of redemption ``claim_id``: one
        conditional write that spends no use.  ``proof`` is the client's session key; None
        means a page's press sent again (its stamp named the claim), and the session is then
        re-keyed, because the first answer's cookie may never have arrived."""
        key = proof or SessionKey.new(claim_id)
        attempt = secrets.token_hex(8)  # marks this count, so its undo undoes only it
        asked = Redelivery(
            claim_id,
            proof.digest if proof is not None else None,
            self.clock(),
            self.session_seconds,
            attempt,
            new_session_digest=None if proof is not None else key.digest,
            file=file,
        )
        try:
            link = self.links.redeliver(token.link_id, token.digest, asked)
        except UnavailableError:
            # The count may have been applied, or may land later: fence it, and undo it.
            self._give_back_redelivery(token.link_id, asked, fence=True)
            raise
        if link is None:
            return None
        use = next(u for u in link.uses_log if u.claim_id == claim_id)
        annotate(outcome="redelivered", redeliveries=use.fetched(file), file=file)
        metric("Redelivered")
        session = Session(key, use.at + self.session_seconds)
        if link.bundle and file is None:
            # The bundle's list again (counted like a re-delivery, under the same cap).
            return Opened(link, session, redelivered=True)
        try:
            part = link.part(file)
            return self._deliver(
                link,
                requester.accepts.stream and not for_page,
                session,
                for_page=for_page,
                redelivered=True,
                byte_range=delivery.byte_range(
                    requester.range, requester.if_range, part.object.size, part.object.etag
                ),
                file=file,
            )
        except OnetimeError:
            # No use was spent; the re-delivery that answered an error must not count
            # towards the session's cap either.
            self._give_back_redelivery(link.link_id, asked)
            raise

    def _claim(
        self,
        token: Token,
        requester: Requester,
        *,
        unless_confirm: bool,
        for_page: bool = False,
        stamp: str | None = None,
        answer_digest: str = "",
        file: int | None = None,
    ) -> Stream | Redirect | Opened | Link:
        """Spend a use and hand over the file; with ``unless_confirm``, a link that waits
        for a person is returned untouched instead, and so is a page's press that was
        already redeemed (its form sent again by a reload)."""
        # Decided before the claim: a response this client cannot receive intact must
        # never be the one a use was spent on.  The landing page's button gets a redirect,
        # which the page it answers with follows (saying the download started).
        accept_stream = requester.accepts.stream and not for_page
        # A page's press is named by its stamp, so the same form sent again (a reload of
        # the page that answered it) is recognised by the claim's condition.
        claim_id = (
            hashlib.sha256(stamp.encode()).hexdigest()[:16] if stamp else secrets.token_hex(8)
        )
        key = SessionKey.new(claim_id) if self.session_seconds else None
        claim = Claim(
            claim_id=claim_id,
            at=self.clock(),
            client_ip=requester.client_ip,
            user_agent=requester.user_agent,
            binary=accept_stream,
            stream_max_bytes=self.stream_max_bytes,  # recorded: later settings change nothing
            session_digest=key.digest if key is not None else "",  # never the secret itself
            answer_digest=answer_digest,
            bundle=token.hints_bundle,
        )
        outcome = self.links.claim(
            token.link_id, token.digest, claim, unless_confirm=unless_confirm
        )
        link = outcome.link
        if outcome.repeated and self.session_seconds:
            # The same page's press again (a double click whose first answer the browser
            # dropped, or a reload): the same person, so the file again, in that press's
            # session, re-keyed because the first answer's cookie may never have arrived.
            again = self._deliver_again(token, requester, claim_id, for_page, None, file)
            if again is not None:
                return again
        if not outcome.claimed:
            return link  # waits for a person, or a repeated press: nothing spent
        session = Session(key, claim.at + self.session_seconds) if key is not None else None
        if link.bundle and file is None:
            annotate(outcome="redeemed_bundle", remaining=link.remaining)
            metric("Redeemed", Path="bundle")
            return Opened(link, session)
        try:
            return self._deliver(link, accept_stream, session, for_page=for_page, file=file)
        except OnetimeError:
            self._give_back(link, claim)
            raise

    def _deliver(
        self,
        link: Link,
        accept_stream: bool,
        session: Session | None,
        *,
        redelivered: bool = False,
        byte_range: tuple[int, int] | None = None,
        for_page: bool = False,
        file: int | None = None,
    ) -> Stream | Redirect:
        if link.bundle:
            # The answer describes the one file it sends, as a single file's link would.
            link = link.as_file(file)
        obj = link.object
        disposition = content_disposition(link.filename)
        how = delivery.choose(accept_stream, obj.size, obj.content_type, self.stream_max_bytes)
        if not redelivered:
            annotate(outcome=f"redeemed_{how.value}", remaining=link.remaining)
        redemption: Stream | Redirect
        try:
            if how is delivery.Delivery.STREAM:
                body = self.objects.fetch_base64(obj, byte_range)
                redemption = Stream(link, disposition, body, session, redelivered, byte_range)
            else:
                url = self.objects.presign(obj, disposition, self.redirect_ttl)
                redemption = Redirect(
                    link, disposition, url, self.redirect_ttl, session, redelivered, for_page
                )
        except OnetimeError:
            raise
        except Exception as exc:  # anything else S3 or botocore raised: retry later
            raise UnavailableError("The file could not be delivered; try again shortly.") from exc
        if not redelivered:
            metric("Redeemed", Path=how.value)
        return redemption

    def _give_back_redelivery(self, link_id: str, asked: Redelivery, fence: bool = False) -> None:
        try:
            given = self.links.give_back_redelivery(link_id, asked, fence)
            annotate(redelivery_given_back=given)
        except UnavailableError as exc:
            # Not a use: at worst one failed re-delivery counts towards the session's cap.
            log.warning(
                "could not undo a failed re-delivery's count",
                extra={
                    "link_id": link_id,
                    "claim_id": asked.claim_id,
                    "error": repr(exc.__cause__),
                },
            )

    def _give_back(self, link: Link, claim: Claim) -> None:
        try:
            released = self.links.release(link.link_id, claim.claim_id)
            annotate(released=released)
            if released:
                metric("UsesReleased")
            log.warning("gave a use back after a failed delivery", extra={"released": released})
        except UnavailableError as exc:
            # The customer lost a use they never got the file for; an operator
            # must restore it by hand.
            log.error(
                "USE LOST: could not give back a use after a failed delivery",
                extra={
                    "link_id": link.link_id,
                    "claim_id": claim.claim_id,
                    "error": repr(exc.__cause__),
                },
            )
