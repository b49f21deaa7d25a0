"""The customer's routes: ``/download``, the link a customer opens.

What spends a use is decided in ``chalicelib/services/redemption.py`` (the rule is
docs/COUNTING.md); here each outcome becomes its answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chalice.app import Blueprint, Response

from chalicelib.domain.addresses import Addresses
from chalicelib.domain.stamps import FIELD
from chalicelib.services.redemption import Declined, Landing, Opened, Redemption, Redirect
from chalicelib.web.pages.customers import AGAIN_FIELD, ANSWER_FIELD
from chalicelib.web.params import single, whole_number
from chalicelib.web.routes.request import (
    addresses,
    current_request,
    deps,
    form,
    mapped_errors,
    query,
    requester,
    session_key,
    token_of,
)
from chalicelib.web.views import common
from chalicelib.web.views import customers as views

bp = Blueprint(__name__)


@bp.route("/download", methods=["GET", "HEAD"])
@mapped_errors(pages=True)
def download() -> Response:
    request = current_request()
    token = single(query(request), "token")
    redeeming = deps().services().redeeming
    who = requester(request)
    if request.method == "HEAD":
        # Never spends a use: whether the link could be redeemed now, from one request.
        link = redeeming.head(token, who)
        return common.head_response(200, views.link_headers(link))
    urls = addresses(request)  # checked before anything is spent
    file = file_number(query(request))
    outcome = redeeming.get(token, who, session_key(request, token), file)
    return answer(outcome, str(token), who.accepts.html, urls)


@bp.route(
    "/download",
    methods=["POST"],
    content_types=["application/x-www-form-urlencoded", "application/json", "text/plain"],
)
@mapped_errors(pages=True)
def download_by_post() -> Response:
    request = current_request()
    who = requester(request)
    fields = form(request)  # parsed once: token, render stamp, "Download again", answer
    token = token_of(request, fields)
    shown = single(fields, FIELD)
    again = single(fields, AGAIN_FIELD) is not None  # the "Download again" button
    session = session_key(request, token)
    urls = addresses(request)  # checked before anything is spent
    typed = single(fields, ANSWER_FIELD)  # the recipient check's answer, if asked
    file = file_number(fields) if "file" in fields else file_number(query(request))
    redeeming = deps().services().redeeming
    outcome = redeeming.post(token, who, shown, session, again=again, answer=typed, file=file)
    return answer(outcome, str(token), who.accepts.html, urls)


def file_number(params: Mapping[str, Sequence[str]]) -> int | None:
    """Which file of a bundle (``file=N``, from 1), if one is named.  A number, not a
    name: names may repeat or hold any character, and the list never changes once
    minted, so a number names the same file for the link's whole life."""
    if single(params, "file") is None:
        return None
    return whole_number(params, "file", 0)


def answer(outcome: Redemption, token: str, html: bool, urls: Addresses) -> Response:
    now = deps().clock()
    if isinstance(outcome, Landing):
        page = views.landing_response(outcome, token, now)
        page.headers.update(views.form_headers(outcome.form_key, urls.base))
        return page
    if isinstance(outcome, Declined):
        if html and outcome.reason == "bot":
            # A previewer's page: no button it could press in vain.
            return views.preview_response(outcome.link, urls.download(token), now)
        if html:
            page = views.landing_response(outcome, token, now)
            page.headers.update(views.form_headers(outcome.form_key, urls.base))
            return page
        return views.declined_response(outcome.link, outcome.reason, urls.download(token))
    if isinstance(outcome, Opened):
        # A bundle's press: its files, each fetched in the session just opened.
        response = (
            views.opened_page_response(outcome, token, now)
            if html
            else views.opened_response(outcome, urls.download(token))
        )
    elif isinstance(outcome, Redirect) and outcome.for_page:
        # The landing page's button: a page that says the download started, and starts it.
        response = views.started_response(outcome, token, now)
    else:
        response = views.download_response(outcome, urls.download(token))
    if outcome.session is not None:
        link_id = outcome.link.link_id
        response.headers.update(views.session_headers(link_id, outcome.session, urls.base, now))
    return response
