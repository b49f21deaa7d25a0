"""Operators' routes, all behind the API key: the link lifecycle (``/links``), grants
(``/grants``), presigned uploads (``/uploads``) and file requests (``/requests``).

Each route imports the services it calls when it runs: a container whose first request
is a customer's never loads minting, mail or file requests (a shorter cold start)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint, Response

from chalicelib.domain.errors import InvalidRequestError
from chalicelib.web.params import build, single, whole_number
from chalicelib.web.routes.request import (
    ANY_BODY,
    addresses,
    deps,
    json_body,
    mapped_errors,
    operator_request,
    query,
)
from chalicelib.web.views import common, multipart
from chalicelib.web.views import operators as views

if TYPE_CHECKING:
    from chalicelib.services.grants import GrantRequest

bp = Blueprint(__name__)


@bp.route("/links", methods=["POST"], content_types=ANY_BODY)
@mapped_errors()
def create_link() -> Response:
    from chalicelib.mail.mailer import Letter
    from chalicelib.services.minting import MintRequest

    request = operator_request()
    body = json_body(request, MintRequest, Letter)
    mail = {name: body.pop(name) for name in ("email", "subject", "message") if name in body}
    # Everything is validated before anything is minted, the address links will carry too.
    mint = build(MintRequest, body)
    urls = addresses(request)
    minting = deps().services().minting
    if mail:
        if "email" not in mail:
            raise InvalidRequestError("invalid_email", "subject and message need an email.")
        minted = minting.mint_and_mail(mint, Letter(**mail), urls)
    else:
        minted = minting.mint(mint)
    return common.minted_response(
        minted,
        urls.download(minted.token.value),
        status=201,
        location=urls.link(minted.link.link_id),
    )


@bp.route("/links", methods=["GET"])
@mapped_errors()
def list_links() -> Response:
    from chalicelib.services.links import LIST_LIMIT

    params = query(operator_request())
    links = deps().services().links
    file, email = single(params, "file"), single(params, "email")
    limit, cursor = whole_number(params, "limit", LIST_LIMIT), single(params, "cursor")
    # One listing at a time: each reads one index, and a cursor belongs to its listing.
    if file is not None and email is not None:
        raise InvalidRequestError(
            "invalid_query", "Give at most one of ?file=KEY and ?email=ADDRESS."
        )
    if email is not None:
        page = links.for_recipient(email, limit, cursor)
    elif file is not None:
        page = links.for_file(file, limit, cursor)
    else:
        page = links.newest(limit, cursor)
    return views.page_of_links_response(page, deps().clock())


@bp.route("/links/{link_id}", methods=["GET"])
@mapped_errors()
def show_link(link_id: str) -> Response:
    operator_request()
    links = deps().services().links
    return views.link_response(links.describe(link_id), deps().clock())


@bp.route("/links/{link_id}", methods=["PATCH"], content_types=ANY_BODY)
@mapped_errors()
def change_link(link_id: str) -> Response:
    from chalicelib.services.links import LinkChange

    change = build(LinkChange, json_body(operator_request(), LinkChange))
    links = deps().services().links
    return views.link_response(links.change(link_id, change), deps().clock())


@bp.route("/links/{link_id}/refund", methods=["POST"], content_types=ANY_BODY)
@mapped_errors()
def refund_link(link_id: str) -> Response:
    from chalicelib.services.links import RefundRequest

    request = operator_request()
    body = json_body(request, RefundRequest) if request.raw_body else {}
    links = deps().services().links
    link = links.refund(link_id, build(RefundRequest, body))
    return views.link_response(link, deps().clock())


@bp.route("/links/{link_id}/unlock", methods=["POST"], content_types=ANY_BODY)
@mapped_errors()
def unlock_link(link_id: str) -> Response:
    operator_request()
    links = deps().services().links
    return views.link_response(links.unlock(link_id), deps().clock())


@bp.route("/links/{link_id}/resend", methods=["POST"], content_types=ANY_BODY)
@mapped_errors()
def resend_link(link_id: str) -> Response:
    from chalicelib.services.minting import ResendRequest

    request = operator_request()
    body = json_body(request, ResendRequest) if request.raw_body else {}
    resend = build(ResendRequest, body)
    urls = addresses(request)
    minted = deps().services().minting.resend(link_id, resend, urls)
    return common.minted_response(
        minted,
        urls.download(minted.token.value),
        status=201,
        location=urls.link(minted.link.link_id),
    )


@bp.route("/links/{link_id}", methods=["DELETE"])
@mapped_errors()
def revoke_link(link_id: str) -> Response:
    operator_request()
    links = deps().services().links
    return views.link_response(links.revoke(link_id), deps().clock())


@bp.route("/uploads", methods=["POST"], content_types=ANY_BODY)
@mapped_errors()
def create_upload() -> Response:
    from chalicelib.services.uploads import UploadRequest

    upload = build(UploadRequest, json_body(operator_request(), UploadRequest))
    return views.upload_response(deps().services().uploading.begin(upload))


# A multipart upload's steps (``POST /uploads`` above the threshold starts one).


@bp.route("/uploads/parts", methods=["POST"], content_types=ANY_BODY)
@mapped_errors()
def sign_upload_parts() -> Response:
    from chalicelib.services.uploads import PartsRequest

    batch = build(PartsRequest, json_body(operator_request(), PartsRequest))
    return multipart.signed(deps().services().uploading.sign_parts(batch))


@bp.route("/uploads/parts", methods=["GET"])
@mapped_errors()
def list_upload_parts() -> Response:
    params = query(operator_request())
    ticket, parts = deps().services().uploading.held_parts(single(params, "upload"))
    return multipart.held(ticket, parts)


@bp.route("/uploads/complete", methods=["POST"], content_types=ANY_BODY)
@mapped_errors()
def complete_upload() -> Response:
    from chalicelib.services.uploads import CompleteRequest

    done = build(CompleteRequest, json_body(operator_request(), CompleteRequest))
    key, size = deps().services().uploading.complete(done)
    return multipart.completed(key, size)


# Grants: which buyer may mint links to which file.


@bp.route("/grants", methods=["POST"], content_types=ANY_BODY)
@mapped_errors()
def create_grant() -> Response:
    from chalicelib.services.grants import GrantRequest

    body = json_body(operator_request(), GrantRequest)
    grant = deps().services().granting.grant(_grant_request(body.get("subject"), body.get("file")))
    return views.grant_response(grant, 201)


@bp.route("/grants", methods=["GET"])
@mapped_errors()
def list_grants() -> Response:
    from chalicelib.services.links import LIST_LIMIT

    params = query(operator_request())
    page = (
        deps()
        .services()
        .granting.for_subject(
            single(params, "subject"),
            whole_number(params, "limit", LIST_LIMIT),
            single(params, "cursor"),
        )
    )
    return views.grants_response(page)


@bp.route("/grants", methods=["DELETE"])
@mapped_errors()
def delete_grant() -> Response:
    params = query(operator_request())
    request = _grant_request(single(params, "subject"), single(params, "file"))
    deps().services().granting.withdraw(request)
    return Response(body="", status_code=204, headers=dict(common.PRIVATE))


def _grant_request(subject: object, file: object) -> GrantRequest:
    from chalicelib.services.grants import GrantRequest

    # A missing field reads as empty, which the request refuses by name.
    return GrantRequest(subject=str(subject or ""), file=str(file or ""))


# File requests: upload links a person fills in with a file (see routes/uploaders.py).


@bp.route("/requests", methods=["POST"], content_types=ANY_BODY)
@mapped_errors()
def create_request() -> Response:
    from chalicelib.mail.mailer import Letter
    from chalicelib.services.filerequests import RequestSpec, upload_address

    request = operator_request()
    body = json_body(request, RequestSpec, Letter)
    mail = {name: body.pop(name) for name in ("email", "subject", "message") if name in body}
    spec = build(RequestSpec, body)  # everything is checked before anything is made
    urls = addresses(request)
    requesting = deps().services().requesting
    if mail:
        if "email" not in mail:
            raise InvalidRequestError("invalid_email", "subject and message need an email.")
        minted = requesting.request_and_mail(spec, Letter(**mail), urls)
    else:
        minted = requesting.request(spec)
    location = urls.request(minted.request.request_id)
    url = upload_address(urls, minted)
    return views.minted_request_response(minted, url, deps().clock(), location)


@bp.route("/requests", methods=["GET"])
@mapped_errors()
def list_requests() -> Response:
    from chalicelib.services.links import LIST_LIMIT

    params = query(operator_request())
    page = (
        deps()
        .services()
        .requesting.recent(whole_number(params, "limit", LIST_LIMIT), single(params, "cursor"))
    )
    return views.requests_response(page, deps().clock())


@bp.route("/requests/{request_id}", methods=["GET"])
@mapped_errors()
def show_request(request_id: str) -> Response:
    operator_request()
    found = deps().services().requesting.describe(request_id)
    return views.request_response(found, deps().clock())


@bp.route("/requests/{request_id}", methods=["DELETE"])
@mapped_errors()
def revoke_request(request_id: str) -> Response:
    request = operator_request()
    urls = addresses(request)
    closed, bundled = deps().services().requesting.close(request_id, urls)
    bundle_url = urls.download(bundled.token.value) if bundled is not None else None
    return views.request_response(closed, deps().clock(), bundle_url)
