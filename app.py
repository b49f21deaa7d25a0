"""onetime: single-use download links for private S3 objects.

Routes and the factories that build the service once per container; the
logic lives in ``chalicelib``.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs

from chalice.app import Chalice, Request, Response

from chalicelib import logs, responses
from chalicelib.apikeys import ApiKeys
from chalicelib.buyers import BuyerTokens, looks_like_jwt
from chalicelib.delivery import BINARY_TYPES, prefers_html
from chalicelib.errors import (
    ConfirmationRequiredError,
    InvalidRequestError,
    OnetimeError,
    UnsupportedMediaTypeError,
)
from chalicelib.mailer import Letter
from chalicelib.params import boolean, json_object, single, whole_number
from chalicelib.service import (
    DEFAULT_TTL,
    DEFAULT_USES,
    LIST_LIMIT,
    LinkChange,
    LinkService,
    MintRequest,
    Requester,
    UploadRequest,
)
from chalicelib.settings import get_settings
from chalicelib.urls import base_url, download_url

app = Chalice(app_name="onetime", configure_logs=False)
app.api.binary_types = list(BINARY_TYPES)  # why these: chalicelib/delivery.py
log = logs.configure()

View = Callable[..., Response]


@app.middleware("http")
def log_request(event: Request, get_response: Callable[[Request], Response]) -> Response:
    started = time.perf_counter()
    fields = logs.begin(request_id(event))
    status = 500
    try:
        response = get_response(event)
        status = response.status_code
        if event.context.get("resourcePath") == "/get-link":
            response.headers.update(cors_headers(event))
        return response
    finally:
        # One line per request: what happened, never the token or query string.
        log.info(
            "request",
            extra={
                "method": event.method,
                "route": event.context.get("resourcePath", ""),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        logs.end(fields)


def request_id(request: Request) -> str:
    context = getattr(request, "lambda_context", None)
    found = getattr(context, "aws_request_id", None) or request.context.get("requestId")
    return str(found or secrets.token_hex(16))


def current_request() -> Request:
    # chalice local serves on threads but keeps current_request per thread.
    request = app.current_request
    assert request is not None, "only called while handling a request"
    return request


@functools.cache
def get_service() -> LinkService:
    # Imported here, not at module level: only a container's first request
    # pays for boto3, and ``import app`` stays cheap.
    from chalicelib.clients import dynamodb_client, s3_client, ses_client
    from chalicelib.grantstore import GrantStore
    from chalicelib.linkstore import LinkStore
    from chalicelib.mailer import Mailer
    from chalicelib.objectstore import ObjectStore

    settings = get_settings()
    mailer = None
    if settings.mail_from:
        sender = settings.mail_from

        @functools.cache
        def mailer() -> Mailer:
            return Mailer(ses_client(), sender)

    dynamodb = dynamodb_client()
    return LinkService(
        LinkStore(dynamodb, settings.table, settings.retention_days * 86_400),
        ObjectStore(s3_client(), settings.bucket),
        settings,
        time.time,
        mailer,
        GrantStore(dynamodb, settings.table),
    )


@functools.cache
def get_api_keys() -> ApiKeys:
    return ApiKeys(get_settings().api_key_hashes)


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
                if responses.status_of(error) >= 500:
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
    html = pages and prefers_html(request.headers.get("accept"))
    response = (
        responses.error_response(error, html, time.time())
        if error is not None
        else responses.internal_error_response(html)
    )
    if request.method == "HEAD":
        return responses.head_response(response.status_code)
    return response


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


BUYER_PARAMS = {"file", "filename"}


@app.route("/get-link", methods=["GET"])
@mapped_errors()
def get_link() -> Response:
    request = current_request()
    params = query(request)
    credential = bearer(request)
    buyers = get_buyer_tokens()
    if buyers is not None and looks_like_jwt(credential):
        # A signed-in buyer asking for their own link: one use, default lifetime.
        subject = buyers.subject(credential)
        extra = set(params) - BUYER_PARAMS
        if extra:
            raise InvalidRequestError(
                f"invalid_{sorted(extra)[0]}", "A buyer's link takes only file and filename."
            )
        mint = MintRequest(file=single(params, "file") or "", filename=single(params, "filename"))
        minted = get_service().mint_for_buyer(subject, mint)
    else:
        get_api_keys().verify(request.headers.get("authorization"))
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


@app.route("/get-link", methods=["OPTIONS"])
def get_link_preflight() -> Response:
    # A shop's single-page app on another origin asks first; see cors_headers().
    return Response(body="", status_code=204, headers=cors_headers(current_request(), True))


def cors_headers(request: Request, preflight: bool = False) -> dict[str, str | list[str]]:
    """CORS for /get-link, for the configured origins only (never '*')."""
    origin = request.headers.get("origin", "")
    headers: dict[str, str | list[str]] = {"Vary": "Origin"}
    if origin.rstrip("/") not in get_settings().cors_origins:
        return headers
    headers["Access-Control-Allow-Origin"] = origin
    if preflight:
        headers["Access-Control-Allow-Methods"] = "GET, OPTIONS"
        headers["Access-Control-Allow-Headers"] = "Authorization"
        headers["Access-Control-Max-Age"] = "600"
    return headers


def bearer(request: Request) -> str:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


@functools.cache
def get_buyer_tokens() -> BuyerTokens | None:
    settings = get_settings()
    if not (settings.jwt_issuer and settings.jwt_audience and settings.jwt_jwks_url):
        return None
    return BuyerTokens(settings.jwt_issuer, settings.jwt_audience, settings.jwt_jwks_url)


@app.route("/download", methods=["GET", "HEAD"])
@mapped_errors(pages=True)
def download() -> Response:
    request = current_request()
    token = single(query(request), "token")
    if request.method == "HEAD":
        # Never spends a use: the status a GET would get, from one read.
        link = get_service().inspect(token)
        return responses.head_response(200, responses.link_headers(link))
    who = requester(request)
    if not prefers_html(who.accept):
        return responses.download_response(get_service().redeem(token, who))
    try:
        redemption = get_service().open(token, who)
    except ConfirmationRequiredError as waiting:
        # Mail scanners and chat previews open links in real browsers: a person
        # must press a button (a POST) before a use is spent.
        logs.annotate(outcome="landing")
        return responses.landing_response(waiting.link, str(token), time.time())
    return responses.download_response(redemption)


@app.route(
    "/download",
    methods=["POST"],
    content_types=["application/x-www-form-urlencoded", "application/json", "text/plain"],
)
@mapped_errors(pages=True)
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


# Operators: the link lifecycle.  Every route needs the API key.

MINT_FIELDS = {
    "file": str,
    "uses": int,
    "ttl": int,
    "filename": str,
    "confirm": bool,
    "note": str,
    "email": str,
    "subject": str,
    "message": str,
}
CHANGE_FIELDS = {"ttl": int, "max_uses": int, "note": str}
ANY_BODY = ["*/*"]  # parsed and refused here, in the API's own error format


def operator_request() -> Request:
    request = current_request()
    get_api_keys().verify(request.headers.get("authorization"))
    return request


def json_body(request: Request, fields: Mapping[str, type]) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "application/json")
    if not content_type.lower().startswith("application/json"):
        raise UnsupportedMediaTypeError("The body must be JSON (Content-Type: application/json).")
    return json_object(request.raw_body, fields)


@app.route("/links", methods=["POST"], content_types=ANY_BODY)
@mapped_errors()
def create_link() -> Response:
    request = operator_request()
    body = json_body(request, MINT_FIELDS)
    if "file" not in body:
        raise InvalidRequestError("invalid_file", "file is required.")
    mail = {name: body.pop(name) for name in ("email", "subject", "message") if name in body}
    # Everything is validated before anything is minted.
    mint = MintRequest(**body)
    base = base_url(get_settings().public_url, request.headers, request.context)
    if mail:
        if "email" not in mail:
            raise InvalidRequestError("invalid_email", "subject and message need an email.")
        minted = get_service().mint_and_mail(
            mint,
            Letter(to=mail["email"], subject=mail.get("subject"), message=mail.get("message", "")),
            lambda token: download_url(base, token),
        )
    else:
        minted = get_service().mint(mint)
    return responses.minted_response(
        minted,
        download_url(base, minted.token.value),
        status=201,
        location=f"{base}/links/{minted.link.link_id}",
    )


UPLOAD_FIELDS = {"filename": str, "content_type": str, "size": int}


@app.route("/uploads", methods=["POST"], content_types=ANY_BODY)
@mapped_errors()
def create_upload() -> Response:
    body = json_body(operator_request(), UPLOAD_FIELDS)
    for name in ("filename", "size"):
        if name not in body:
            raise InvalidRequestError(f"invalid_{name}", f"{name} is required.")
    upload = get_service().start_upload(UploadRequest(**body))
    return responses.upload_response(upload)


@app.route("/links", methods=["GET"])
@mapped_errors()
def list_links() -> Response:
    params = query(operator_request())
    service = get_service()
    page = service.links_for(
        single(params, "file") or "",
        whole_number(params, "limit", LIST_LIMIT),
        single(params, "cursor"),
    )
    return responses.page_of_links_response(page, time.time(), service.delivery_of)


@app.route("/links/{link_id}", methods=["GET"])
@mapped_errors()
def show_link(link_id: str) -> Response:
    operator_request()
    service = get_service()
    return responses.link_response(service.describe(link_id), time.time(), service.delivery_of)


@app.route("/links/{link_id}", methods=["PATCH"], content_types=ANY_BODY)
@mapped_errors()
def change_link(link_id: str) -> Response:
    change = LinkChange(**json_body(operator_request(), CHANGE_FIELDS))
    service = get_service()
    link = service.change(link_id, change)
    return responses.link_response(link, time.time(), service.delivery_of)


@app.route("/links/{link_id}", methods=["DELETE"])
@mapped_errors()
def revoke_link(link_id: str) -> Response:
    operator_request()
    service = get_service()
    return responses.link_response(service.revoke(link_id), time.time(), service.delivery_of)


# Grants: which buyer may mint links to which file (API key only).

GRANT_FIELDS = {"subject": str, "file": str}


@app.route("/grants", methods=["POST"], content_types=ANY_BODY)
@mapped_errors()
def create_grant() -> Response:
    body = json_body(operator_request(), GRANT_FIELDS)
    grant = get_service().grant(body.get("subject"), body.get("file"))
    return responses.grant_response(grant, 201)


@app.route("/grants", methods=["GET"])
@mapped_errors()
def list_grants() -> Response:
    params = query(operator_request())
    page = get_service().grants_for(
        single(params, "subject"),
        whole_number(params, "limit", LIST_LIMIT),
        single(params, "cursor"),
    )
    return responses.grants_response(page)


@app.route("/grants", methods=["DELETE"])
@mapped_errors()
def delete_grant() -> Response:
    params = query(operator_request())
    get_service().withdraw_grant(single(params, "subject"), single(params, "file"))
    return Response(body="", status_code=204, headers=dict(responses.PRIVATE))


@app.route("/health", methods=["GET"])
def health() -> Response:
    try:
        get_service().ping()
    except Exception:
        log.warning("health check failed", exc_info=True)
        return responses.health_response(False)
    return responses.health_response(True)
