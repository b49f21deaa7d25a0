"""onetime: single-use download links for private S3 objects.

Routes and the factories that build the service once per container; the
logic lives in ``chalicelib``.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs

from chalice.app import Chalice, Request, Response

from chalicelib import responses
from chalicelib.apikeys import ApiKeys
from chalicelib.delivery import BINARY_TYPES
from chalicelib.errors import InvalidRequestError, OnetimeError
from chalicelib.params import boolean, single, whole_number
from chalicelib.service import DEFAULT_TTL, DEFAULT_USES, LinkService, MintRequest, Requester
from chalicelib.settings import get_settings
from chalicelib.urls import base_url, download_url

app = Chalice(app_name="onetime")
app.api.binary_types = list(BINARY_TYPES)  # why these: chalicelib/delivery.py
log = logging.getLogger("onetime")

_request: contextvars.ContextVar[Request] = contextvars.ContextVar("request")


@app.middleware("http")
def bind_request(event: Request, get_response: Callable[[Request], Response]) -> Response:
    # app.current_request is one attribute shared by all threads; chalice local
    # serves requests on threads, so each view reads its own request from here.
    reset = _request.set(event)
    try:
        return get_response(event)
    finally:
        _request.reset(reset)


def current_request() -> Request:
    return _request.get()


@functools.cache
def get_service() -> LinkService:
    # Imported here, not at module level: only a container's first request
    # pays for boto3, and ``import app`` stays cheap.
    from chalicelib.clients import dynamodb_client, s3_client
    from chalicelib.linkstore import LinkStore
    from chalicelib.objectstore import ObjectStore

    settings = get_settings()
    return LinkService(
        LinkStore(dynamodb_client(), settings.table, time.time),
        ObjectStore(s3_client(), settings.bucket),
        settings,
        time.time,
    )


@functools.cache
def get_api_keys() -> ApiKeys:
    return ApiKeys(get_settings().api_key_hashes)


def mapped_errors(view: Callable[..., Response]) -> Callable[..., Response]:
    """Turn the service's errors into HTTP answers; never leak a traceback."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except OnetimeError as error:
            if responses.status_of(error) >= 500:
                log.error("request failed: %s", error.message, exc_info=True)
            return responses.error_response(error)
        except Exception:
            log.exception("unexpected error")
            return responses.internal_error_response()

    return wrapper


def query(request: Request) -> Mapping[str, Sequence[str]]:
    params = request.query_params
    return {name: params.getlist(name) for name in params} if params else {}


def requester(request: Request) -> Requester:
    identity = request.context.get("identity") or {}
    return Requester(
        accept=request.headers.get("accept"),
        client_ip=str(identity.get("sourceIp") or ""),
        user_agent=request.headers.get("user-agent", ""),
    )


@app.route("/get-link", methods=["GET"])
@mapped_errors
def get_link() -> Response:
    request = current_request()
    get_api_keys().verify(request.headers.get("authorization"))
    params = query(request)
    mint = MintRequest(
        file=single(params, "file") or "",
        uses=whole_number(params, "uses", DEFAULT_USES),
        ttl=whole_number(params, "ttl", DEFAULT_TTL),
        filename=single(params, "filename"),
        confirm=boolean(params, "confirm", True),
    )
    minted = get_service().mint(mint)
    base = base_url(get_settings().public_url, request.headers, request.context)
    return responses.minted_response(minted, download_url(base, minted.token.value))


@app.route("/download", methods=["GET"])
@mapped_errors
def download() -> Response:
    request = current_request()
    token = single(query(request), "token")
    return responses.download_response(get_service().redeem(token, requester(request)))


@app.route(
    "/download",
    methods=["POST"],
    content_types=["application/x-www-form-urlencoded", "application/json", "text/plain"],
)
@mapped_errors
def download_by_post() -> Response:
    request = current_request()
    # Chalice has no form parser; a landing page's form posts the token in the body.
    form: dict[str, list[str]] = {}
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        raw = request.raw_body
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        form = parse_qs(text, keep_blank_values=True)
    from_form, from_query = single(form, "token"), single(query(request), "token")
    if from_form is not None and from_query is not None and from_form != from_query:
        raise InvalidRequestError("invalid_token", "Give the token only once.")
    token = from_form if from_form is not None else from_query
    return responses.download_response(get_service().redeem(token, requester(request)))


@app.route("/health", methods=["GET"])
def health() -> Response:
    try:
        get_service().ping()
    except Exception:
        log.warning("health check failed", exc_info=True)
        return responses.health_response(False)
    return responses.health_response(True)
