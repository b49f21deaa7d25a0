"""HTTP responses: the one place where domain errors become status codes.

With the blueprints in ``chalicelib/routes``, the only modules of ``chalicelib``
that import Chalice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from chalice.app import Response

from chalicelib.domain.errors import (
    AlreadyReceivedError,
    ConfigurationError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    LinkExpiredError,
    LinkGoneError,
    LinkLockedError,
    LinkNotFoundError,
    LinkRevokedError,
    LinkUsedUpError,
    MailError,
    ObjectNotFoundError,
    OnetimeError,
    RateLimitedError,
    RequestGoneError,
    RequestNotFoundError,
    UnauthorizedError,
    UnavailableError,
    UnsupportedMediaTypeError,
    UploadEmptyError,
    UploadMissingError,
    UploadTooLargeError,
    UploadTypeError,
)
from chalicelib.domain.filerequest import FileRequest
from chalicelib.domain.link import Link
from chalicelib.domain.refusals import DECLINED, REDIRECT_NOTE
from chalicelib.domain.sessions import HEADER as SESSION_HEADER
from chalicelib.domain.sessions import cookie_name
from chalicelib.domain.stamps import COOKIE as FORM_COOKIE
from chalicelib.services.filerequests import MintedRequest, Received, UploadPage
from chalicelib.services.minting import UNCERTAIN, MintedLink
from chalicelib.services.redemption import Redirect, Session, Stream
from chalicelib.services.uploads import Upload
from chalicelib.storage.stores import Grant, GrantPage, Page, RequestPage
from chalicelib.web import pages

# Looked up along each error's class hierarchy, most specific first.
STATUS: dict[type[OnetimeError], int] = {
    InvalidRequestError: 400,
    UnauthorizedError: 401,
    ObjectNotFoundError: 404,
    LinkNotFoundError: 404,
    ForbiddenError: 403,
    ConflictError: 409,
    UnsupportedMediaTypeError: 415,
    LinkGoneError: 410,
    LinkLockedError: 423,
    ConfigurationError: 500,
    RateLimitedError: 429,
    MailError: 502,
    UnavailableError: 503,
    RequestNotFoundError: 404,
    RequestGoneError: 410,
    UploadMissingError: 400,
    UploadTooLargeError: 413,
    UploadEmptyError: 400,
    UploadTypeError: 415,
    AlreadyReceivedError: 409,
}

# Every answer about a link is private to one customer and one moment.
Headers = dict[str, "str | list[str]"]

PRIVATE: Headers = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
JSON: Headers = {"Content-Type": "application/json"}


def iso(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def status_of(error: OnetimeError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


PAGE: Headers = {
    "Content-Type": "text/html; charset=utf-8",
    "X-Frame-Options": "DENY",
}


def page_response(html: str, status: int, headers: Headers | None = None) -> Response:
    # Bytes, not str: text/html is a binary type (chalicelib/domain/delivery.py), and
    # Chalice base64-encodes only bytes bodies.
    all_headers: Headers = {
        **PRIVATE,
        **PAGE,
        "Content-Security-Policy": pages.content_security_policy(),
        **(headers or {}),
    }
    return Response(body=html.encode("utf-8"), status_code=status, headers=all_headers)


def landing_response(
    link: Link,
    token: str,
    now: float,
    stamp: str,
    declined: str | None = None,
    again_until: float | None = None,
) -> Response:
    html = pages.landing(link, token, now, stamp, declined, again_until)
    return page_response(html, 200, link_headers(link))


# Declined: nothing was spent.  A GET that must confirm, or a press that came too soon, is
# a conflict with the link's state; a previewer is refused outright.
DECLINED_STATUS = {
    "confirm": 409,
    "too_fast": 409,
    "repeated": 409,
    "again_ended": 409,
    "refunded": 409,
    "no_form_cookie": 409,
    "bot": 403,
    "answer_required": 403,
    "wrong_answer": 403,
}


def declined_response(link: Link, reason: str, url: str) -> Response:
    code, message = DECLINED[reason]
    body: dict[str, Any] = {
        "error": code,
        "message": message.format(url=url),
        "remaining": link.remaining,
    }
    if reason == "wrong_answer":
        body["answers_left"] = link.answers_left
    return Response(
        body=body,
        status_code=DECLINED_STATUS[reason],
        headers={**PRIVATE, **JSON, **link_headers(link)},
    )


def started_response(redirect: Redirect, token: str, now: float) -> Response:
    link = redirect.link
    until = redirect.session.until if redirect.session is not None else None
    html = pages.started(
        link.filename, redirect.location, redirect.lifetime, link.remaining, token, until
    )
    return page_response(html, 200, link_headers(link))


def session_headers(link_id: str, session: Session, base: str, now: float) -> Headers:
    """The download session's credential: a cookie the browser sends back to this link's
    address only, and the same value in a header for clients without a cookie jar.

    ``Path`` is the download route under the API's prefix, so no other route sees it.
    ``SameSite=Lax`` (not Strict): a customer who opens the link again from a webmail
    arrives by a cross-site navigation and must still carry the cookie; Lax sends it on
    top-level navigations and same-site POSTs, never on cross-site subrequests.
    ``Secure`` whenever the service is reached over HTTPS.
    """
    lifetime = max(int(session.until - now), 0)
    cookie = _cookie(cookie_name(link_id), session.key.value, base, f"; Max-Age={lifetime}")
    return {"Set-Cookie": cookie, SESSION_HEADER: session.key.value}


def form_headers(form_key: str, base: str) -> Headers:
    """The landing form's cookie: the key its stamp is bound to (chalicelib/domain/stamps.py), with
    the same scope as the session's.  No ``Max-Age``: it lasts while the browser runs, so a
    page left open for a while can still be pressed."""
    return {"Set-Cookie": _cookie(FORM_COOKIE, form_key, base)}


def _cookie(name: str, value: str, base: str, lifetime: str = "") -> str:
    address = urlsplit(base)
    cookie = (
        f"{name}={value}; Path={address.path.rstrip('/')}/download{lifetime}; "
        "HttpOnly; SameSite=Lax"
    )
    if address.scheme == "https":
        cookie += "; Secure"
    return cookie


def link_headers(link: Link) -> Headers:
    return {"X-Remaining-Uses": str(link.remaining), "X-Expires-At": iso(link.expires_at)}


def head_response(status: int, headers: Headers | None = None) -> Response:
    # No Content-Type: an empty answer must never count as binary to Chalice.
    return Response(body="", status_code=status, headers={**PRIVATE, **(headers or {})})


def error_response(error: OnetimeError, html: bool = False, now: float = 0.0) -> Response:
    """The error as JSON, or as a page for a person when ``html``."""
    status = status_of(error)
    if html:
        extra: Headers = {}
        if isinstance(error, UnavailableError):
            extra["Retry-After"] = str(error.retry_after)
        return page_response(pages.problem(error, now), status, extra)
    body: dict[str, Any] = {"error": error.code, "message": error.message}
    headers: Headers = {**PRIVATE, **JSON}
    if isinstance(error, LinkUsedUpError):
        body["uses"] = error.uses
        if error.last_used_at is not None:
            body["last_used_at"] = iso(error.last_used_at)
    elif isinstance(error, LinkExpiredError):
        body["expired_at"] = iso(error.expired_at)
    elif isinstance(error, LinkRevokedError):
        body["revoked_at"] = iso(error.revoked_at)
    elif isinstance(error, LinkLockedError):
        body["locked_at"] = iso(error.locked_at)
    elif isinstance(error, UnavailableError | RateLimitedError):
        headers["Retry-After"] = str(error.retry_after)
    elif isinstance(error, UnauthorizedError):
        headers["WWW-Authenticate"] = 'Bearer realm="onetime"'
    return Response(body=body, status_code=status, headers=headers)


def internal_error_response(html: bool = False) -> Response:
    error = OnetimeError("Something went wrong on our side; try again later.")
    error.code = "internal"
    return error_response(error, html)


EMAIL_UNCERTAIN = (
    "The mail service stopped answering after the email was handed to it, so it may or may "
    "not arrive. This link works either way; resending it is safe (POST /links/{id}/resend "
    "with this link's id replaces it with a new one)."
)


def minted_response(
    minted: MintedLink, url: str, status: int = 200, location: str | None = None
) -> Response:
    link = minted.link
    body: dict[str, Any] = {
        "url": url,
        "id": link.link_id,
        "file": link.object.key,
        "filename": link.filename,
        "size": link.object.size,
        "max_uses": link.max_uses,
        "expires_at": iso(link.expires_at),
        "confirm": link.confirm,
    }
    if minted.message_id is not None:
        body["message_id"] = minted.message_id
    if minted.email is not None:
        body["email"] = minted.email
        if minted.email == UNCERTAIN:
            body["message"] = EMAIL_UNCERTAIN
    if link.check is not None:
        body["verify"] = link.check
    if minted.code is not None:
        body["code"] = minted.code  # shown once: only its keyed digest is stored
    headers: Headers = {**PRIVATE, **JSON}
    if location:
        headers["Location"] = location
    return Response(body=body, status_code=status, headers=headers)


def link_state(link: Link, now: float) -> dict[str, Any]:
    """What an operator sees of a link: everything but the token."""
    return {
        "id": link.link_id,
        "file": link.object.key,
        "filename": link.filename,
        "size": link.object.size,
        "content_type": link.object.content_type,
        "max_uses": link.max_uses,
        "uses": link.uses,
        "remaining": link.remaining,
        "created_at": iso(link.created_at),
        "expires_at": iso(link.expires_at),
        "status": link.status(now),
        "revoked_at": iso(link.revoked_at) if link.revoked_at is not None else None,
        "note": link.note,
        "confirm": link.confirm,
        "redemptions": [
            {
                "id": use.claim_id,
                "at": iso(use.at),
                "ip": use.client_ip,
                "user_agent": use.user_agent,
                "path": link.delivery_of(use).value,
                "suspected_automation": _suspicion(link.suspicion(use)),
                "refunded_at": iso(use.refunded_at) if use.refunded_at is not None else None,
                "redeliveries": use.redeliveries,
                "redelivered_at": (
                    iso(use.redelivered_at) if use.redelivered_at is not None else None
                ),
            }
            for use in link.uses_log
        ],
        "visits": {
            "counts": dict(link.visit_counts),
            "recent": [
                {
                    "at": iso(visit.at),
                    "ip": visit.client_ip,
                    "user_agent": visit.user_agent,
                    "kind": visit.kind,
                }
                for visit in link.visits
            ],
        },
        # The newest HISTORY_KEPT records of each history, and how many there ever were.
        "refunds": [
            {"at": iso(refund.at), "redemption": refund.claim_id} for refund in link.refunds
        ],
        "refunds_total": link.refund_total,
        # Who it went to (personal data, deleted with the link by the table's TTL).
        "recipient": link.recipient,
        "message_id": link.message_id,
        "notify": link.notify,
        # The recipient check: never its answer, which is stored only as a keyed digest.
        "verify": link.check,
        "locked_at": iso(link.locked_at) if link.locked_at is not None else None,
        "wrong_answers": link.wrong_answers,
        "guesses": [
            {"at": iso(g.at), "ip": g.client_ip, "user_agent": g.user_agent} for g in link.guesses
        ],
        "guesses_total": link.guess_total,
        "unlocked_at": [iso(at) for at in link.unlocked],
        "unlocks_total": link.unlock_total,
        "replaces": link.replaces,
        "replaced_by": link.replaced_by,
    }


def _suspicion(reason: str | None) -> dict[str, str] | None:
    return None if reason is None else {"reason": reason}


def link_response(link: Link, now: float) -> Response:
    return Response(body=link_state(link, now), status_code=200, headers={**PRIVATE, **JSON})


def page_of_links_response(page: Page, now: float) -> Response:
    body = {
        "links": [link_state(link, now) for link in page.links],
        "next_cursor": page.cursor,
    }
    return Response(body=body, status_code=200, headers={**PRIVATE, **JSON})


def download_response(redemption: Stream | Redirect) -> Response:
    link = redemption.link
    headers: Headers = {
        **PRIVATE,
        **link_headers(link),
        "Content-Disposition": redemption.disposition,
    }
    if isinstance(redemption, Stream):
        headers["Content-Type"] = link.object.content_type
        # Inside a download session a stream can be resumed: say so, and answer a part.
        headers["Accept-Ranges"] = "bytes" if redemption.session is not None else "none"
        status = 200
        if redemption.byte_range is not None:
            start, end = redemption.byte_range
            headers["Content-Range"] = f"bytes {start}-{end}/{link.object.size}"
            headers["ETag"] = link.object.etag
            status = 206
        return EncodedResponse(body=redemption.body_base64, status_code=status, headers=headers)
    # JSON, which is not a binary type: Chalice never treats the body as binary, whatever
    # the client's Accept.  The file's type and disposition travel in the presigned URL
    # and S3 sends them; the body is one line for a client that does not follow.
    headers["Location"] = redemption.location
    headers.update(JSON)
    return Response(body={"message": REDIRECT_NOTE}, status_code=302, headers=headers)


class EncodedResponse(Response):
    """A response whose body is already base64 text: handed to API Gateway as is,
    flagged ``isBase64Encoded``, instead of Chalice encoding a bytes body itself."""

    def to_dict(self, binary_types: list[str] | None = None) -> dict[str, Any]:
        response: dict[str, Any] = super().to_dict(None)
        response["isBase64Encoded"] = True
        return response


def health_response(checks: dict[str, bool]) -> Response:
    """Which dependency failed, in our words only: never AWS's text."""
    healthy = all(checks.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: "ok" if ok else "unavailable" for name, ok in checks.items()},
    }
    headers: Headers = {**PRIVATE, **JSON}
    if not healthy:
        headers["Retry-After"] = "5"
    return Response(body=body, status_code=200 if healthy else 503, headers=headers)


def upload_response(upload: Upload) -> Response:
    body = {
        "key": upload.key,
        "url": upload.url,
        "fields": upload.fields,
        "expires_at": iso(upload.expires_at),
    }
    return Response(body=body, status_code=201, headers={**PRIVATE, **JSON})


def grant_state(grant: Grant) -> dict[str, Any]:
    return {"subject": grant.subject, "file": grant.file, "created_at": iso(grant.created_at)}


def grant_response(grant: Grant, status: int = 200) -> Response:
    return Response(body=grant_state(grant), status_code=status, headers={**PRIVATE, **JSON})


def grants_response(page: GrantPage) -> Response:
    body = {"grants": [grant_state(g) for g in page.grants], "next_cursor": page.cursor}
    return Response(body=body, status_code=200, headers={**PRIVATE, **JSON})


# File requests


def request_state(request: FileRequest, now: float) -> dict[str, Any]:
    """What an operator sees of a file request: everything but the token.  Each received
    file names its download link by id; the link's token is never stored, so to hand out
    another, mint one to the file's key."""
    state: dict[str, Any] = {
        "id": request.request_id,
        "status": request.status(now),
        "created_at": iso(request.created_at),
        "expires_at": iso(request.expires_at),
        "max_files": request.max_files,
        "files": request.files,
        "max_size": request.max_bytes,
        "content_types": list(request.content_types),
        "note": request.note,
        "show_link": request.show_link,
        "notify": request.notify,
        "link_uses": request.link_uses,
        "link_ttl": request.link_ttl,
        "received": [
            {
                "at": iso(r.at),
                "file": r.key,
                "filename": r.filename,
                "size": r.size,
                "content_type": r.content_type,
                "link_id": r.link_id,
            }
            for r in request.receipts
        ],
    }
    if request.revoked_at is not None:
        state["revoked_at"] = iso(request.revoked_at)
    return state


def request_response(request: FileRequest, now: float) -> Response:
    return Response(body=request_state(request, now), headers={**PRIVATE, **JSON})


def minted_request_response(minted: MintedRequest, url: str, now: float, location: str) -> Response:
    body = {"url": url, **request_state(minted.request, now)}
    if minted.message_id is not None:
        body["message_id"] = minted.message_id
    return Response(body=body, status_code=201, headers={**PRIVATE, **JSON, "Location": location})


def requests_response(page: RequestPage, now: float) -> Response:
    body = {"requests": [request_state(r, now) for r in page.requests], "next_cursor": page.cursor}
    return Response(body=body, headers={**PRIVATE, **JSON})


def upload_page_response(page: UploadPage, done_url: str, form_url: str, now: float) -> Response:
    # The script may send to the bucket's origin, and ask this service for a fresh form.
    parts = urlsplit(str(page.script_form["url"]))
    policy = pages.content_security_policy(
        pages.UPLOAD_SCRIPT, f"'self' {parts.scheme}://{parts.netloc}"
    )
    return page_response(
        pages.upload(page, done_url, form_url, now), 200, {"Content-Security-Policy": policy}
    )


def upload_form_response(page: UploadPage) -> Response:
    """A freshly signed form for the upload page's script (``pages.upload``'s ``data``)."""
    body = {
        "url": page.script_form["url"],
        "fields": page.script_form["fields"],
        "prefix": page.key_prefix,
        "expires_at": iso(page.form_expires_at),
    }
    return Response(body=body, headers={**PRIVATE, **JSON})


def received_response(received: Received, url: str | None, now: float) -> Response:
    policy = pages.content_security_policy(pages.COPY_SCRIPT if url is not None else None)
    return page_response(
        pages.received(received, url, now), 201, {"Content-Security-Policy": policy}
    )


UPLOAD_PAGE_NOTE = (
    "This is an upload link: open it in a browser to send a file. Opening it uses nothing."
)


def upload_terms_response(page: UploadPage) -> Response:
    terms = page.terms
    body = {
        "message": UPLOAD_PAGE_NOTE,
        "max_files": terms.max_files,
        "max_size": terms.max_bytes,
        "content_types": list(terms.content_types),
        "expires_at": iso(terms.expires_at),
    }
    return Response(body=body, headers={**PRIVATE, **JSON})


def received_json_response(received: Received, url: str | None) -> Response:
    link = received.minted.link
    body: dict[str, Any] = {
        "id": link.link_id,
        "file": link.object.key,
        "filename": received.filename,
        "size": link.object.size,
        "max_uses": link.max_uses,
        "expires_at": iso(link.expires_at),
        "emailed": received.emailed,
        "files_left": received.request.remaining,
    }
    if url is not None:
        body["url"] = url
    return Response(body=body, status_code=201, headers={**PRIVATE, **JSON})
