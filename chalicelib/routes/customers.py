"""The customer's routes: ``/download``, the link a customer opens."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import logs, responses
from chalicelib.delivery import prefers_html
from chalicelib.params import single
from chalicelib.routes.request import (
    current_request,
    deps,
    mapped_errors,
    query,
    requester,
    token_of,
)
from chalicelib.services.redemption import Landing

bp = Blueprint(__name__)


@bp.route("/download", methods=["GET", "HEAD"])
@mapped_errors(pages=True)
def download() -> Response:
    request = current_request()
    token = single(query(request), "token")
    redeeming = deps().services().redeeming
    if request.method == "HEAD":
        # Never spends a use: the status a GET would get, from one read.
        link = redeeming.inspect(token)
        return responses.head_response(200, responses.link_headers(link))
    who = requester(request)
    if not prefers_html(who.accept):
        return responses.download_response(redeeming.redeem(token, who))
    # Mail scanners and chat previews open links in real browsers: a link that asks
    # for confirmation shows a page whose button (a POST) spends the use.
    outcome = redeeming.open(token, who)
    if isinstance(outcome, Landing):
        logs.annotate(outcome="landing")
        return responses.landing_response(outcome.link, str(token), deps().clock())
    return responses.download_response(outcome)


@bp.route(
    "/download",
    methods=["POST"],
    content_types=["application/x-www-form-urlencoded", "application/json", "text/plain"],
)
@mapped_errors(pages=True)
def download_by_post() -> Response:
    request = current_request()
    redeeming = deps().services().redeeming
    return responses.download_response(redeeming.redeem(token_of(request), requester(request)))
