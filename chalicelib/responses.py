"""HTTP responses: the one place where domain errors become status codes.

This is the only module of ``chalicelib`` that imports Chalice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from chalice.app import Response

from chalicelib.delivery import Delivery
from chalicelib.errors import (
    ConfigurationError,
    InvalidRequestError,
    LinkExpiredError,
    LinkGoneError,
    LinkNotFoundError,
    LinkRevokedError,
    LinkUsedUpError,
    ObjectNotFoundError,
    OnetimeError,
    UnauthorizedError,
    UnavailableError,
)
from chalicelib.service import MintedLink, Redemption

# Looked up along each error's class hierarchy, most specific first.
STATUS: dict[type[OnetimeError], int] = {
    InvalidRequestError: 400,
    UnauthorizedError: 401,
    ObjectNotFoundError: 404,
    LinkNotFoundError: 404,
    LinkGoneError: 410,
    ConfigurationError: 500,
    UnavailableError: 503,
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


def error_response(error: OnetimeError) -> Response:
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
    elif isinstance(error, UnavailableError):
        headers["Retry-After"] = str(error.retry_after)
    elif isinstance(error, UnauthorizedError):
        headers["WWW-Authenticate"] = 'Bearer realm="onetime"'
    return Response(body=body, status_code=status_of(error), headers=headers)


def internal_error_response() -> Response:
    body = {"error": "internal", "message": "Something went wrong on our side; try again later."}
    return Response(body=body, status_code=500, headers={**PRIVATE, **JSON})


def minted_response(minted: MintedLink, url: str, status: int = 200) -> Response:
    link = minted.link
    body = {
        "url": url,
        "id": link.link_id,
        "file": link.object.key,
        "filename": link.filename,
        "size": link.object.size,
        "max_uses": link.max_uses,
        "expires_at": iso(link.expires_at),
        "confirm": link.confirm,
    }
    return Response(body=body, status_code=status, headers={**PRIVATE, **JSON})


def download_response(redemption: Redemption) -> Response:
    link = redemption.link
    headers: Headers = {
        **PRIVATE,
        "Content-Disposition": redemption.disposition,
        "X-Remaining-Uses": str(link.remaining),
        "X-Expires-At": iso(link.expires_at),
    }
    if redemption.delivery is Delivery.STREAM:
        headers["Content-Type"] = link.object.content_type
        return Response(body=redemption.body, status_code=200, headers=headers)
    # No Content-Type on the redirect: with none, Chalice never treats the
    # (empty) body as binary, whatever the client's Accept.  The type and
    # disposition travel in the presigned URL and S3 sends them.
    headers["Location"] = redemption.location
    return Response(body="", status_code=302, headers=headers)


def health_response(healthy: bool) -> Response:
    body = {"status": "ok" if healthy else "unavailable"}
    headers: Headers = {**PRIVATE, **JSON}
    if not healthy:
        headers["Retry-After"] = "5"
    return Response(body=body, status_code=200 if healthy else 503, headers=headers)
