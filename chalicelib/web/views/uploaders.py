"""The uploader's answers: the upload page (or its terms, for a client that is not a
browser), a freshly signed form for its script, and the file received (a page, or JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chalice.app import Response

from chalicelib.domain.addresses import Addresses
from chalicelib.templates.engine import content_security_policy
from chalicelib.web.pages import uploaders as pages
from chalicelib.web.views.common import JSON, PRIVATE, iso, page_response

if TYPE_CHECKING:
    from chalicelib.services.filerequests import Received, UploadPage


def upload_page_response(
    page: UploadPage, done_url: str, urls: Addresses, token: str, now: float
) -> Response:
    # The script may send to the bucket's origin (a form, or parts), and ask this service
    # for a fresh form or a multipart upload's steps.
    parts = urlsplit(str(page.script_form["url"]))
    policy = content_security_policy(pages.UPLOAD_SCRIPT, f"'self' {parts.scheme}://{parts.netloc}")
    steps = {step: urls.upload_step(token, step) for step in ("multipart", "parts", "complete")}
    body = pages.upload(page, done_url, urls.upload_form(token), now, steps)
    return page_response(body, 200, {"Content-Security-Policy": policy})


def upload_form_response(page: UploadPage) -> Response:
    """A freshly signed form for the upload page's script (``pages.upload``'s ``data``)."""
    body = {
        "url": page.script_form["url"],
        "fields": page.script_form["fields"],
        "prefix": page.key_prefix,
        "expires_at": iso(page.form_expires_at),
    }
    return Response(body=body, headers={**PRIVATE, **JSON})


def received_response(
    received: Received, url: str | None, now: float, bundle_url: str | None = None
) -> Response:
    policy = content_security_policy(pages.COPY_SCRIPT if url is not None else None)
    return page_response(
        pages.received(received, url, now, bundle_url), 201, {"Content-Security-Policy": policy}
    )


UPLOAD_PAGE_NOTE = (
    "This is an upload link: open it in a browser to send a file. Opening it uses nothing."
)


def upload_terms_response(page: UploadPage) -> Response:
    terms = page.terms
    body = {
        "message": UPLOAD_PAGE_NOTE,
        "max_files": terms.max_files,
        "max_size": terms.max_bytes,
        "content_types": list(terms.content_types),
        "expires_at": iso(terms.expires_at),
    }
    return Response(body=body, headers={**PRIVATE, **JSON})


def received_json_response(
    received: Received, url: str | None, bundle_url: str | None = None
) -> Response:
    link = received.minted.link
    body: dict[str, Any] = {
        "id": link.link_id,
        "file": link.object.key,
        "filename": received.filename,
        "size": link.object.size,
        "max_uses": link.max_uses,
        "expires_at": iso(link.expires_at),
        "emailed": received.emailed,
        "files_left": received.request.remaining,
    }
    if url is not None:
        body["url"] = url
    if bundle_url is not None:
        body["bundle_url"] = bundle_url  # this upload filled a bundling request
    return Response(body=body, status_code=201, headers={**PRIVATE, **JSON})
