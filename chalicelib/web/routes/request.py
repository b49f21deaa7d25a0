"""What every route shares: the dependencies, who is asking, strict parameters and
bodies, bearer credentials, the per-request log line, and the one place where the
service's errors become HTTP answers."""

from __future__ import annotations

import functools
import secrets
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from chalice.app import Chalice, Request, Response

from chalicelib import logs
from chalicelib.domain.addresses import Addresses
from chalicelib.domain.errors import InvalidRequestError, OnetimeError, UnsupportedMediaTypeError
from chalicelib.domain.sessions import HEADER as SESSION_HEADER
from chalicelib.domain.sessions import SessionKey, cookie_name
from chalicelib.domain.stamps import COOKIE as FORM_COOKIE
from chalicelib.domain.stamps import parse_form_key
from chalicelib.domain.text import printable
from chalicelib.services.redemption import Requester
from chalicelib.web.params import json_fields, json_object, single
from chalicelib.web.urls import base_url
from chalicelib.web.views import common

if TYPE_CHECKING:
    from chalicelib.clock import Clock
    from chalicelib.services import Services
    from chalicelib.settings import Settings
    from chalicelib.web.apikeys import ApiKeys
    from chalicelib.web.buyers import BuyerTokens

log = logs.get_logger("request")
View = Callable[..., Response]


@dataclass(frozen=True)
class Dependencies:
    """What the routes use, built by ``app.py``'s factories (each once per container)."""

    app: Chalice
    services: Callable[[], Services]
    api_keys: Callable[[], ApiKeys]
    buyer_tokens: Callable[[], BuyerTokens | None]
    settings: Callable[[], Settings]
    clock: Clock


_wired: list[Dependencies] = []


def wire(dependencies: Dependencies) -> None:
    _wired[:] = [dependencies]


def deps() -> Dependencies:
    return _wired[0]


def current_request() -> Request:
    # chalice local serves on threads but keeps current_request per thread.
    request = deps().app.current_request
    assert request is not None, "only called while handling a request"
    return request


def log_request(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Middleware: one line per request, saying what happened -- never the token or
    the query string."""
    started = time.perf_counter()
    fields = logs.begin(request_id(event))
    metrics = logs.counting()  # the request's metrics ride in this same line
    status = 500
    try:
        response = get_response(event)
        status = response.status_code
        return response
    finally:
        log.info(
            "request",
            extra={
                "method": event.method,
                "route": event.context.get("resourcePath", ""),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                **logs.counted(metrics),
            },
        )
        logs.end(fields)


def request_id(request: Request) -> str:
    context = getattr(request, "lambda_context", None)
    found = getattr(context, "aws_request_id", None) or request.context.get("requestId")
    return str(found or secrets.token_hex(16))


# Errors


def mapped_errors(pages: bool = False) -> Callable[[View], View]:
    """Turn the service's errors into HTTP answers; never leak a traceback.

    With ``pages``, a client that prefers HTML gets a page for a person; a
    HEAD gets the status and headers alone.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            try:
                return view(*args, **kwargs)
            except OnetimeError as error:
                if common.status_of(error) >= 500:
                    logs.annotate(outcome="failed", reason=error.code)
                    log.error("request failed: %s", error.message, exc_info=True)
                else:
                    # Refused attempts (404, 410, bad input) are kept here, not in the table.
                    logs.annotate(outcome="refused", reason=error.code)
                    logs.metric("Refused", Reason=error.code)
                return answer_error(error, pages)
            except Exception:
                logs.annotate(outcome="failed", reason="internal")
                log.exception("unexpected error")
                return answer_error(None, pages)

        return wrapper

    return decorate


def answer_error(error: OnetimeError | None, pages: bool) -> Response:
    request = current_request()
    html = pages and requester(request).accepts.html
    response = (
        common.error_response(error, html, deps().clock())
        if error is not None
        else common.internal_error_response(html)
    )
    if request.method == "HEAD":
        # The GET's status and headers (Retry-After, WWW-Authenticate ...), without a body.
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
        return common.head_response(response.status_code, headers)
    return response


# Who is asking


# Each request's requester, read once however many parts of the answer ask (its Accept
# header is parsed there and nowhere else); gone with the request.
_asking: weakref.WeakKeyDictionary[Request, Requester] = weakref.WeakKeyDictionary()


def requester(request: Request) -> Requester:
    """Who is asking, read from the request once."""
    found = _asking.get(request)
    if found is None:
        found = _asking[request] = _read_requester(request)
    return found


def _read_requester(request: Request) -> Requester:
    identity = request.context.get("identity") or {}
    return Requester(
        accept=request.headers.get("accept"),
        client_ip=str(identity.get("sourceIp") or ""),
        # Kept as sent, but with control characters escaped: the audit trail is read
        # on operators' terminals, and a forged row must not be possible.
        user_agent=printable(request.headers.get("user-agent", "")),
        range=request.headers.get("range"),
        if_range=request.headers.get("if-range"),
        form_key=next(filter(None, map(parse_form_key, cookies(request, FORM_COOKIE))), None),
    )


def bearer(request: Request) -> str:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def operator_request() -> Request:
    """The current request, if it carries a valid API key."""
    request = current_request()
    deps().api_keys().verify(request.headers.get("authorization"))
    return request


def addresses(request: Request) -> Addresses:
    """The service's addresses as the customer must see them."""
    return Addresses(base_url(deps().settings().public_url, request.headers, request.context))


def session_key(request: Request, token: str | None) -> SessionKey | None:
    """The download session this client holds for the token's link: its cookie, or the
    same value in the ``X-Download-Session`` header (for clients without a cookie jar)."""
    if not token:
        return None
    for value in cookies(request, cookie_name(token[:16])):
        found = SessionKey.parse(value)
        if found is not None:
            return found  # a stale or damaged cookie does not hide a good header
    return SessionKey.parse(request.headers.get(SESSION_HEADER.lower()))


def cookies(request: Request, name: str) -> list[str]:
    """The values of the cookies called ``name`` the client sent (a browser may hold two,
    set for different paths)."""
    found = []
    for part in request.headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            found.append(value)
    return found


# Parameters and bodies, read strictly


def query(request: Request) -> Mapping[str, Sequence[str]]:
    params = request.query_params
    return {name: params.getlist(name) for name in params} if params else {}


def form(request: Request) -> dict[str, list[str]]:
    """A urlencoded form body's fields (Chalice has no form parser); else none."""
    # Media types are case-insensitive; Chalice routed an upper-case one here too.
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return {}
    raw = request.raw_body
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return parse_qs(text, keep_blank_values=True)


def token_of(request: Request, fields: Mapping[str, Sequence[str]]) -> str | None:
    """The token, from the query or the form body's ``fields``, given once."""
    from_form, from_query = single(fields, "token"), single(query(request), "token")
    if from_form is not None and from_query is not None and from_form != from_query:
        raise InvalidRequestError("invalid_token", "Give the token only once.")
    return from_form if from_form is not None else from_query


ANY_BODY = ["*/*"]  # parsed and refused here, in the API's own error format


def json_body(request: Request, *models: type) -> dict[str, Any]:
    """A JSON object whose fields are those of ``models`` (dataclasses), each of its type."""
    content_type = request.headers.get("content-type", "application/json")
    if not content_type.lower().startswith("application/json"):
        raise UnsupportedMediaTypeError("The body must be JSON (Content-Type: application/json).")
    return json_object(request.raw_body, json_fields(*models))
