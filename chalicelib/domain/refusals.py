"""Why a link, an upload link or a press will not deliver, decided once and worded once.

The rule (``check``) is shared by the DynamoDB store, which applies it after a
failed conditional write to say *why*, and by the in-memory store of the unit
tests.  Each refusal is worded in one entry (``Wording``, ``Declining``): the JSON
``message`` an API client reads beside its code, and the heading, explanation and
next step a person's page shows.  The pages only render ``refusal(error, now)``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from chalicelib.domain.errors import (
    AlreadyReceivedError,
    ChangedMeanwhileError,
    ConflictError,
    FileChangedError,
    InvalidRequestError,
    LinkExpiredError,
    LinkLockedError,
    LinkNotFoundError,
    LinkRevokedError,
    LinkUsedUpError,
    OnetimeError,
    PressRepeatedError,
    RateLimitedError,
    RequestGoneError,
    RequestNotFoundError,
    UnavailableError,
    UploadEmptyError,
    UploadMissingError,
    UploadRefusal,
    UploadTooLargeError,
    UploadTypeError,
)
from chalicelib.domain.filekinds import file_kind, file_kinds
from chalicelib.domain.filerequest import FileRequest
from chalicelib.domain.link import MAX_WRONG_ANSWERS, Link
from chalicelib.domain.multipart import TooManyUploadsError
from chalicelib.domain.sessions import HEADER as SESSION_HEADER
from chalicelib.domain.text import human_size
from chalicelib.templates.engine import clock_time, human_date, relative

# What a customer can do about a link that will not deliver: the one next step of most pages.
ASK_SENDER = "What you can do: ask the person or shop that sent you this link for a new one."
NOT_GRANTED = "You have no purchase that includes this file. Contact the shop if you think you do."


@dataclass(frozen=True)
class Refusal:
    """A refusal as both audiences get it: the ``code`` and ``message`` of the JSON
    answer, and the ``heading``, ``explanation`` and ``next_step`` of a person's page."""

    code: str
    message: str
    heading: str
    explanation: str
    next_step: str = ASK_SENDER


@dataclass(frozen=True)
class Wording:
    """One link refusal's words.  ``message`` and ``explanation`` are filled from the
    error's facts: ``{times}`` (how often it was used), ``{when}`` (the last use), ``{on}``
    and ``{ago}`` (the moment it stopped working)."""

    heading: str
    message: str
    explanation: str
    next_step: str = ASK_SENDER


NOT_FOUND = Wording(
    "We can't find this link",
    "This link does not exist. Check it was copied whole, or ask the sender for a new one.",
    "No download matches this link. It may have been mistyped or cut short.",
)
REPLACED = Wording(
    "This link was withdrawn",
    "This link was withdrawn: it was replaced by a newer link that was emailed to you. "
    "Use the link in the newest email.",
    "It was replaced by a newer link that was emailed to you on {on}. Use the link in the "
    "newest email.",
)
REVOKED = Wording(
    "This link was withdrawn",
    "This link was withdrawn by its sender. Ask them for a new one.",
    "The sender withdrew it on {on}.",
)
LOCKED = Wording(
    "This link is locked",
    f"This link is locked after {MAX_WRONG_ANSWERS} wrong answers to its check. Ask the "
    "sender to unlock it.",
    f"It was locked on {{on}} after {MAX_WRONG_ANSWERS} wrong answers to its check. Nothing "
    "was downloaded. The sender can unlock it.",
)
USED = Wording(
    "This link has already been used",
    "This link has already been used ({times}). Ask the sender for a new one.",
    "It was used {times}{when}.",
)
EXPIRED = Wording(
    "This link has expired",
    "This link has expired. Ask the sender for a new one.",
    "It stopped working on {on} ({ago}).",
)
# A press sent again (a reload) after it used the link up: what happened, not just "used",
# which would read as if someone else had taken the file.
REPEATED = Wording(
    "Your download has started",
    "Your download started when you pressed Download on this page, and that used this "
    "link up. If the file did not arrive, ask the sender for a new link.",
    "{message}",
)
# Raised by the object store, which words its own message; the page's words are here.
FILE_CHANGED = Wording(
    "This file is no longer available",
    "{message}",
    "The file was removed or replaced after the link was made. Your download was not used up.",
)
INCOMPLETE = Wording(
    "This link is incomplete",
    "{message}",
    "Part of the link is missing or damaged. Check that you opened the whole link from the "
    "message.",
)
UNAVAILABLE = Wording(
    "Temporarily unavailable",
    "{message}",
    "We could not reach the file just now.",
    "What you can do: try again in a minute. Nothing was used up.",
)
FAILED = Wording("Something went wrong", "{message}", "We could not complete this on our side.")


def times(uses: int) -> str:
    return "once" if uses == 1 else f"{uses} times"


def check(link: Link | None, digest: str, now: float) -> Link:
    """The link, if a redemption could take a use now; otherwise raise why not.

    Order matters: a withdrawn link says so even when it is also used up or expired.
    """
    if link is None or not hmac.compare_digest(link.token_digest, digest):
        raise LinkNotFoundError(NOT_FOUND.message)
    if link.revoked_at is not None and link.replaced_by is not None:
        raise LinkRevokedError(REPLACED.message, link.revoked_at, replaced=True)
    if link.revoked_at is not None:
        raise LinkRevokedError(REVOKED.message, link.revoked_at)
    if link.locked:
        raise LinkLockedError(LOCKED.message, link.locked_at or now)
    if link.uses >= link.max_uses:
        raise LinkUsedUpError(
            USED.message.format(times=times(link.uses)), link.uses, link.last_used_at
        )
    if link.expires_at <= now:
        raise LinkExpiredError(EXPIRED.message, link.expires_at)
    return link


def press_repeated(link: Link) -> PressRepeatedError:
    return PressRepeatedError(REPEATED.message, link.uses, link.last_used_at)


def refusal(error: OnetimeError, now: float) -> Refusal:
    """The error as its entry words it, for a person's page as well as the JSON answer."""
    if isinstance(error, UploadRefusal):  # worded whole where it is raised, below
        return Refusal(error.code, error.message, error.heading, error.message, error.next_step)
    wording, facts = _wording(error, now)
    return Refusal(
        error.code,
        error.message,
        wording.heading,
        wording.explanation.format(message=error.message, **facts),
        wording.next_step,
    )


def _wording(error: OnetimeError, now: float) -> tuple[Wording, dict[str, str]]:
    if isinstance(error, PressRepeatedError):
        return REPEATED, {}
    if isinstance(error, LinkUsedUpError):
        when = ""
        if error.last_used_at is not None:
            when = (
                f", most recently on {human_date(error.last_used_at)}"
                f" ({relative(error.last_used_at, now)})"
            )
        return USED, {"times": times(error.uses), "when": when}
    if isinstance(error, LinkLockedError):
        return LOCKED, {"on": human_date(error.locked_at)}
    if isinstance(error, LinkExpiredError):
        return EXPIRED, {
            "on": human_date(error.expired_at),
            "ago": relative(error.expired_at, now),
        }
    if isinstance(error, LinkRevokedError):
        return REPLACED if error.replaced else REVOKED, {"on": human_date(error.revoked_at)}
    if isinstance(error, FileChangedError):
        return FILE_CHANGED, {}
    if isinstance(error, LinkNotFoundError):
        return NOT_FOUND, {}
    if isinstance(error, InvalidRequestError):
        return INCOMPLETE, {}
    if isinstance(error, UnavailableError):
        return UNAVAILABLE, {}
    return FAILED, {}


def unchangeable(link: Link) -> ConflictError:
    """Why an operator's change to this link was refused (by the write's condition)."""
    if link.revoked_at is not None:
        return ConflictError(
            "The link was withdrawn; more time or uses would not bring it back. "
            "Mint a new link instead."
        )
    return ConflictError(
        f"The link has already been used {link.uses} time(s); the limit cannot go below that."
    )


def no_recipient() -> ConflictError:
    """A resend of a link that was never emailed: there is nobody to send it to."""
    return ConflictError(
        "The link was not emailed to anyone, so there is nobody to resend it to. "
        "Mint a new link with an email instead."
    )


def not_resendable(link: Link) -> ConflictError:
    """Why a link cannot be replaced (by the write's condition): a resend replaces only a
    link that still stands, so a withdrawal is never undone and a chain has one live end."""
    if link.replaced_by is not None:
        return ConflictError(
            f"The link was already replaced by link {link.replaced_by}; resend that one."
        )
    return ConflictError(
        "The link was withdrawn; a resend would give it back. Mint a new link instead."
    )


def resend_raced() -> ChangedMeanwhileError:
    """A resend's write found the link changed since it was read: a use spent or given
    back meanwhile, or another resend given up.  Nothing was resent."""
    return ChangedMeanwhileError(
        "The link changed while it was being resent (it was used, refunded or resent "
        "meanwhile); nothing was sent. Look at it again, then resend if you still want to."
    )


def nothing_left_to_resend(link: Link, now: float) -> ConflictError:
    """A resend that would carry over no uses or no time, with none given."""
    if link.remaining <= 0:
        return ConflictError(
            f"The link is used up ({times(link.uses)}); give uses for the new link."
        )
    return ConflictError("The link has expired; give a ttl for the new link.")


def no_check_to_unlock() -> ConflictError:
    return ConflictError("The link has no recipient check, so there is nothing to unlock.")


def nothing_to_refund(link: Link, claim_id: str | None) -> ConflictError:
    """Why a refund found nothing to give back (by the write's condition)."""
    if claim_id is not None:
        named = next((use for use in link.uses_log if use.claim_id == claim_id), None)
        if named is None:
            return ConflictError(f"The link has no redemption {claim_id!r}.")
        if named.refunded_at is not None:
            return ConflictError("That redemption's use was already given back.")
    return ConflictError("The link has no use to give back: it has not been used.")


@dataclass(frozen=True)
class Declining:
    """Why a request spent nothing (docs/COUNTING.md), in one entry: the JSON ``code`` and
    ``message`` (``{url}`` is the link's address), and the ``note`` the landing page shows
    when it is shown again (none where a person never sees the page)."""

    code: str
    message: str
    note: str | None = None


DECLINED: dict[str, Declining] = {
    "confirm": Declining(
        "confirmation_required",
        "Nothing was used up. This link downloads with a POST, so that link previews "
        "cannot use it up: onetime get '{url}', or curl -fOJL -d '' '{url}'.",
    ),
    "bot": Declining(
        "automated_client",
        "Nothing was used up: link previews and scanners cannot download. "
        "Open the link in a browser.",
        "This looks like a link preview or an automated browser, so there is no Download "
        "button here, and nothing was downloaded or used up.",
    ),
    "too_fast": Declining(
        "too_fast",
        "Nothing was used up: the button was pressed faster than a person could. "
        "Press Download again.",
        "That was quicker than we expected from a person, so nothing was downloaded "
        "and nothing was used up. Press Download again.",
    ),
    "again_ended": Declining(
        "session_ended",
        "Nothing was used up: the time to download again for free has ended. "
        "Press Download to use one more download.",
        "The time to download again for free has ended, so nothing was downloaded and "
        "nothing was used up. Press Download to use one more download.",
    ),
    "refunded": Declining(
        "session_ended",
        "Nothing was used up: the download made with this session was given back (refunded), "
        "so the session has ended. To download, send the token again without the session "
        "(no cookie or X-Download-Session header; onetime get without --resume): that uses "
        "one download.",
        "The download made in this browser was given back by the sender, so "
        "downloading again for free has ended. Nothing was downloaded and nothing was used "
        "up. Press Download to use one more download.",
    ),
    "no_form_cookie": Declining(
        "form_cookie_missing",
        "Nothing was used up: this press came without the cookie its page set, so it may be "
        "a form sent from another browser. Open the link in a browser that keeps cookies "
        "and press Download, or: onetime get '{url}'.",
        "This browser did not send back the cookie this page set, so nothing was "
        "downloaded and nothing was used up. Allow cookies for this site and press Download.",
    ),
    "answer_required": Declining(
        "answer_required",
        "Nothing was used up. This link asks who you are first: send the email address it "
        "was sent to (or the code you were given) as the answer field, with the token.",
        "Before the download starts, type the email address this link was sent "
        "to (or the code you were given). Nothing was used up.",
    ),
    "wrong_answer": Declining(
        "wrong_answer",
        "Nothing was used up: that answer is not right. After "
        f"{MAX_WRONG_ANSWERS} wrong answers the link locks.",
        "That answer is not right, so nothing was downloaded and nothing was used "
        "up. Check it and try again.",
    ),
    "repeated": Declining(
        "already_pressed",
        "Nothing more was used up: this press of Download was already answered. "
        "Open the link again to download once more.",
        "Your download started when you pressed Download, and nothing more was used up "
        "now. To download once more, press Download again: that uses one more download.",
    ),
}
# The one line a redirect carries, for a client that does not follow it (curl without -L).
REDIRECT_NOTE = "The file is at the address in the Location header; with curl, add -L."


def session_command(url: str, session: str) -> str:
    """The one command that fetches the file within a download session: a POST of the
    token with the session's value, which spends no use (docs/COUNTING.md)."""
    return f"curl -fOJL -H '{SESSION_HEADER}: {session}' -d '' '{url}'"


def bundle_note(url: str, count: int, sessions: bool = True) -> str:
    """What a bundle's press answers an API client with: how to fetch its files."""
    if not sessions:
        return (
            f"This link holds {count} files, and this service keeps no download sessions: "
            f"each file is a POST of the token with file=N (1 to {count}), which spends a use."
        )
    how = f"send file=N (1 to {count}) with the {SESSION_HEADER} header of this answer"
    return (
        f"This link holds {count} files; this download session fetches each one without "
        f"using up another download: `onetime get '{url}'` saves them all into a folder, "
        f"or {how}."
    )


def bundle_minted(link_id: str) -> ConflictError:
    """A bundling request's one link to all its files was minted already."""
    return ConflictError(f"This request's link to all its files is already made: {link_id}.")


def redirect_note(url: str, session: str | None, until: float | None) -> str:
    """The redirect's body: what to do when it was not followed.  A client that forgot
    ``-L`` (``curl -OJ -d ''``) has spent the use and holds only this body, so it gets the
    command that fetches the file again within its own session, which it alone was sent."""
    if session is None or until is None:
        return REDIRECT_NOTE
    return (
        f"{REDIRECT_NOTE} Until {clock_time(until)}, this fetches the file without using "
        f"up another download: {session_command(url, session)}"
    )


def unknown_link(link_id: str) -> LinkNotFoundError:
    """An operator named a link that is not there."""
    return LinkNotFoundError(f"There is no link {link_id}.")


def unknown_grant() -> LinkNotFoundError:
    return LinkNotFoundError("There is no such grant.")


def over_daily_limit(daily_limit: int, retry_after: int) -> RateLimitedError:
    """A buyer's links to one file for today are used up (granted or owned alike)."""
    return RateLimitedError(
        f"You have already made {daily_limit} links to this file today; "
        "try again tomorrow or contact the shop.",
        retry_after,
    )


# File requests: why an upload link, or a file sent through it, was refused.  Each refusal
# says what happened and what the uploader can do; none of them spent anything.

ASK_REQUESTER = "What you can do: ask the person who asked you for the file for a new upload link."
TRY_AGAIN = "What you can do: go back to the upload page and send the file again."


def check_request(
    request: FileRequest | None, digest: str, now: float, nonce: str | None = None
) -> FileRequest:
    """The request, if it could take a file now (and ``nonce``'s upload is not confirmed
    yet); otherwise raise why not.  Shared by the DynamoDB store, after a failed write,
    and by the in-memory one."""
    if request is None or not hmac.compare_digest(request.token_digest, digest):
        raise RequestNotFoundError(
            "request_not_found",
            "We can't find this upload link",
            "No upload link matches this address. It may have been mistyped or cut short.",
            ASK_REQUESTER,
        )
    earlier = next((r for r in request.receipts if r.nonce == nonce), None)
    if nonce is not None and earlier is not None:
        raise AlreadyReceivedError(
            "upload_already_confirmed",
            "This file was already received",
            "This upload was confirmed before, and its download link was given out then. "
            "Nothing more was received now.",
            "What you can do: to send another file, open the upload link again.",
            link_id=earlier.link_id,
        )
    if request.revoked_at is not None:
        raise RequestGoneError(
            "request_revoked",
            "This upload link was withdrawn",
            "The person who sent it withdrew it, so it takes no more files.",
            ASK_REQUESTER,
        )
    if request.files >= request.max_files:
        files = "one file" if request.max_files == 1 else f"{request.max_files} files"
        raise RequestGoneError(
            "request_used",
            "This upload link has already been used",
            f"It was for {files}, and {'it has' if request.max_files == 1 else 'all have'} "
            "been received.",
            ASK_REQUESTER,
        )
    if request.expires_at <= now:
        raise request_expired()
    return request


def request_expired() -> RequestGoneError:
    return RequestGoneError(
        "request_expired",
        "This upload link has expired",
        "It stopped taking files when its time ran out.",
        ASK_REQUESTER,
    )


def too_large(size: int, limit: int) -> UploadTooLargeError:
    return UploadTooLargeError(
        "upload_too_large",
        "This file is too big",
        f"The file is {human_size(size)}; this upload link takes files of at most "
        f"{human_size(limit)}. "
        "Nothing was used up.",
        TRY_AGAIN.replace("the file", "a smaller file"),
    )


def over_declared(size: int, declared: int) -> UploadTooLargeError:
    """A multipart upload whose parts hold more than the size it was started with."""
    return UploadTooLargeError(
        "upload_larger_than_declared",
        "This file is bigger than it said",
        f"The parts sent hold {human_size(size)}, more than the {human_size(declared)} this "
        "upload was started with, so it was cancelled. Nothing was used up.",
        TRY_AGAIN,
    )


def wrong_type(content_type: str, accepted: tuple[str, ...]) -> UploadTypeError:
    return UploadTypeError(
        "upload_wrong_type",
        "This type of file is not accepted",
        f"The file you sent is a kind this upload link does not take ({file_kind(content_type)}); "
        f"it takes only: {file_kinds(accepted)}. Nothing was used up.",
        TRY_AGAIN.replace("the file", "a file of an accepted type"),
    )


def empty_upload() -> UploadEmptyError:
    return UploadEmptyError(
        "upload_empty",
        "The file is empty",
        "The file that arrived has no content (0 bytes), so there is nothing to pass on. "
        "Nothing was used up.",
        "What you can do: go back to the upload page, check that you picked the right file, "
        "and send it again.",
    )


def check_file(request: FileRequest, size: int, content_type: str) -> None:
    """Raise unless the request takes a file of this size and type."""
    if size < 1:
        raise empty_upload()
    if size > request.max_bytes:
        raise too_large(size, request.max_bytes)
    if not request.accepts_type(content_type):
        raise wrong_type(content_type, request.content_types)


def changed_meanwhile() -> UnavailableError:
    """A conditional write failed, yet the state read after it allows what was asked: it
    changed in between (extended, say).  Nothing was done; trying again sees the new state."""
    return UnavailableError("The link changed while we looked at it; try again.", retry_after=1)


def confirmation_abandoned() -> UnavailableError:
    """A confirmation's write arrived after the service had given up on it and fenced it
    off (``RequestStore.release``): it takes nothing.  Only a write that lands late meets
    this, and nobody waits for its answer."""
    return UnavailableError("This confirmation was given up; send the file again.", retry_after=1)


def upload_missing() -> UploadMissingError:
    return UploadMissingError(
        "upload_missing",
        "The file did not arrive",
        "We could not find the file this page was sent for: the upload may have failed or "
        "been cut short. Nothing was used up.",
        TRY_AGAIN,
    )


def unknown_request(request_id: str) -> LinkNotFoundError:
    """An operator named a file request that is not there."""
    return LinkNotFoundError(f"There is no file request {request_id}.")


def too_many_uploads(cap: int) -> TooManyUploadsError:
    return TooManyUploadsError(
        f"This upload link already has {cap} large uploads under way: finish one of them "
        "first (an upload left unfinished is dropped a day after it started). "
        "Nothing was used up."
    )
