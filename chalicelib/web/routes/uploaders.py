"""The uploader's routes: ``/upload``, the page a file request's link opens,
``/upload/form``, a freshly signed form for the page's script when Upload is pressed, and
``/upload/done``, where S3 (or the page's script) sends the browser once the file is in.
A file above the multipart threshold goes in parts: ``/upload/multipart`` starts it,
``/upload/parts`` signs a batch of parts (POST) or lists those S3 holds (GET, to resume),
``/upload/complete`` joins them; then ``/upload/done`` confirms it as any upload.

Opening the page spends nothing (scanners open upload links too).  What a confirmation
checks, takes and mints is decided in ``chalicelib/services/filerequests.py``.
"""

from __future__ import annotations

from urllib.parse import urlencode

from chalice.app import Blueprint, Response

from chalicelib.web.params import build, single
from chalicelib.web.routes.request import (
    ANY_BODY,
    addresses,
    current_request,
    deps,
    json_body,
    mapped_errors,
    query,
    requester,
)
from chalicelib.web.views import common, multipart
from chalicelib.web.views import uploaders as views

bp = Blueprint(__name__)


@bp.route("/upload", methods=["GET", "HEAD"])
@mapped_errors(pages=True)
def upload_page() -> Response:
    request = current_request()
    params = query(request)
    token = single(params, "token")
    urls = addresses(request)
    done = urls.received(str(token))
    # (``terms``, which links made before the page read the request carry, is ignored.)
    page = deps().services().receiving.page(token, done)
    if request.method == "HEAD":
        return common.head_response(200)
    if not requester(request).accepts.html:
        # Only a navigating browser gets the page (chalicelib/domain/delivery.py says why).
        return views.upload_terms_response(page)
    return views.upload_page_response(page, done, urls, str(token), deps().clock())


@bp.route("/upload/form", methods=["GET"])
@mapped_errors()
def upload_form() -> Response:
    """The script's form, signed again: the same answer as the page's (a withdrawn, filled
    or expired request is refused the same way), as JSON."""
    request = current_request()
    params = query(request)
    token = single(params, "token")
    done = addresses(request).received(str(token))
    page = deps().services().receiving.page(token, done)
    return views.upload_form_response(page)


@bp.route("/upload/done", methods=["GET"])
@mapped_errors(pages=True)
def upload_done() -> Response:
    request = current_request()
    params = query(request)
    urls = addresses(request)  # checked before anything is taken
    receiving = deps().services().receiving
    received = receiving.confirm(single(params, "token"), single(params, "key"), urls)
    show = received.request.show_link
    url = urls.download(received.minted.token.value) if show else None
    bundled = received.bundle
    bundle_url = urls.download(bundled.token.value) if show and bundled is not None else None
    if not requester(request).accepts.html:
        return views.received_json_response(received, url, bundle_url)
    return views.received_response(received, url, deps().clock(), bundle_url)


@bp.route("/upload/multipart", methods=["POST"], content_types=ANY_BODY)
@mapped_errors()
def start_multipart() -> Response:
    from chalicelib.services.uploads import UploadRequest  # only when a large file is sent

    request = current_request()
    token = single(query(request), "token")
    file = build(UploadRequest, json_body(request, UploadRequest))
    return multipart.started(deps().services().receiving.start_multipart(token, file))


@bp.route("/upload/parts", methods=["POST"], content_types=ANY_BODY)
@mapped_errors()
def sign_parts() -> Response:
    from chalicelib.services.uploads import PartsRequest  # only when a large file is sent

    request = current_request()
    token = single(query(request), "token")
    batch = build(PartsRequest, json_body(request, PartsRequest))
    receiving = deps().services().receiving
    return multipart.signed(receiving.sign_parts(token, batch.upload, batch.parts))


@bp.route("/upload/parts", methods=["GET"])
@mapped_errors()
def list_parts() -> Response:
    params = query(current_request())
    receiving = deps().services().receiving
    ticket, parts = receiving.held_parts(single(params, "token"), single(params, "upload"))
    return multipart.held(ticket, parts)


@bp.route("/upload/complete", methods=["POST"], content_types=ANY_BODY)
@mapped_errors()
def complete_multipart() -> Response:
    from chalicelib.services.uploads import CompleteRequest  # only when a large file is sent

    """Join the parts; the page then goes to ``done``, which confirms the file."""
    request = current_request()
    token = single(query(request), "token")
    body = build(CompleteRequest, json_body(request, CompleteRequest))
    key, size = deps().services().receiving.complete_multipart(token, body.upload)
    done = addresses(request).received(str(token)) + "&" + urlencode({"key": key})
    return multipart.completed(key, size, done=done)
