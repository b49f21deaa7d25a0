"""What every audience's answers share: the one table where domain errors become status
codes, the headers every answer carries, the error answer (JSON, or the problem page for a
person), and the minted link's answer, which operators and buyers both get.

With the blueprints in ``chalicelib/web/routes``, the views are the only modules of
``chalicelib`` that import Chalice.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

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
from chalicelib.templates.engine import content_security_policy
from chalicelib.web.pages.common import problem

if TYPE_CHECKING:
    from chalicelib.services.minting import MintedLink

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
        "Content-Security-Policy": content_security_policy(),
        **(headers or {}),
    }
    return Response(body=html.encode("utf-8"), status_code=status, headers=all_headers)


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
        return page_response(problem(error, now), status, extra)
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
        from chalicelib.services.minting import UNCERTAIN  # loaded by the mint already

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
