"""``/get-link``: a shop's backend (API key) or a signed-in buyer (JWT) asks for a link.

CORS is answered here, for the configured origins only (never ``*``): a shop's
single-page app on another origin calls this route with the buyer's token.
"""

from __future__ import annotations

import functools
from typing import Any

from chalice.app import Blueprint, Request, Response

from chalicelib.web.buyers import looks_like_jwt
from chalicelib.web.params import boolean, only, single, whole_number
from chalicelib.web.routes.request import (
    View,
    addresses,
    bearer,
    current_request,
    deps,
    mapped_errors,
    query,
)
from chalicelib.web.views import common

bp = Blueprint(__name__)

# What each caller may give; anything else is refused, not ignored.
BUYER_PARAMS = ("file", "filename")
KEY_PARAMS = ("file", "uses", "ttl", "filename", "confirm")


def with_cors(view: View) -> View:
    """Every answer of the route, errors included, carries the CORS headers."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        response = view(*args, **kwargs)
        response.headers.update(cors_headers(current_request()))
        return response

    return wrapper


@bp.route("/get-link", methods=["GET"])
@with_cors
@mapped_errors()
def get_link() -> Response:
    # Imported when a link is asked for: a customer's first request never loads minting.
    from chalicelib.services.minting import DEFAULT_TTL, DEFAULT_USES, MintRequest

    request = current_request()
    params = query(request)
    credential = bearer(request)
    urls = addresses(request)  # checked before anything is minted
    buyers = deps().buyer_tokens()
    services = deps().services()
    if buyers is not None and looks_like_jwt(credential):
        # A signed-in buyer asking for their own link: one use, default lifetime.
        subject = buyers.subject(credential)
        only(params, BUYER_PARAMS, "a buyer's link")
        mint = MintRequest(file=single(params, "file") or "", filename=single(params, "filename"))
        minted = services.buyers.mint(subject, mint)
    else:
        deps().api_keys().verify(request.headers.get("authorization"))
        only(params, KEY_PARAMS, "GET /get-link")
        mint = MintRequest(
            file=single(params, "file") or "",
            uses=whole_number(params, "uses", DEFAULT_USES),
            ttl=whole_number(params, "ttl", DEFAULT_TTL),
            filename=single(params, "filename"),
            confirm=boolean(params, "confirm", True),
        )
        minted = services.minting.mint(mint)
    return common.minted_response(minted, urls.download(minted.token.value))


@bp.route("/get-link", methods=["OPTIONS"])
def get_link_preflight() -> Response:
    # A shop's single-page app on another origin asks first.
    return Response(body="", status_code=204, headers=cors_headers(current_request(), True))


def cors_headers(request: Request, preflight: bool = False) -> dict[str, str | list[str]]:
    origin = request.headers.get("origin", "")
    headers: dict[str, str | list[str]] = {"Vary": "Origin"}
    if origin.rstrip("/") not in deps().settings().cors_origins:
        return headers
    headers["Access-Control-Allow-Origin"] = origin
    if preflight:
        headers["Access-Control-Allow-Methods"] = "GET, OPTIONS"
        headers["Access-Control-Allow-Headers"] = "Authorization"
        headers["Access-Control-Max-Age"] = "600"
    return headers
