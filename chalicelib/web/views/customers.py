"""The customer's answers: the landing page, a declined press, the page that says the
download started, the file itself (streamed or redirected), and the download session's
and landing form's cookies."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from chalice.app import Response

from chalicelib.domain.link import Link
from chalicelib.domain.refusals import DECLINED, bundle_note, redirect_note
from chalicelib.domain.sessions import HEADER as SESSION_HEADER
from chalicelib.domain.sessions import cookie_name
from chalicelib.domain.stamps import COOKIE as FORM_COOKIE
from chalicelib.services.redemption import (
    Declined,
    Landing,
    Opened,
    Redirect,
    Session,
    Stream,
)
from chalicelib.web.pages import customers as pages
from chalicelib.web.views.common import JSON, PRIVATE, Headers, iso, page_response


def link_headers(link: Link) -> Headers:
    return {"X-Remaining-Uses": str(link.remaining), "X-Expires-At": iso(link.expires_at)}


def landing_response(shown: Landing | Declined, token: str, now: float) -> Response:
    """The landing page: waiting for a press, or again after one that spent nothing."""
    return page_response(pages.landing(shown, token, now), 200, link_headers(shown.link))


def preview_response(link: Link, url: str, now: float) -> Response:
    return page_response(pages.preview(link, url, now), 200, link_headers(link))


# Declined: nothing was spent.  A GET that must confirm, or a press that came too soon, is
# a conflict with the link's state; a previewer is refused outright.
DECLINED_STATUS = {
    "confirm": 409,
    "too_fast": 409,
    "repeated": 409,
    "again_ended": 409,
    "refunded": 409,
    "no_form_cookie": 409,
    "bot": 403,
    "answer_required": 403,
    "wrong_answer": 403,
}


def declined_response(link: Link, reason: str, url: str) -> Response:
    entry = DECLINED[reason]
    body: dict[str, Any] = {
        "error": entry.code,
        "message": entry.message.format(url=url),
        "remaining": link.remaining,
    }
    if reason == "wrong_answer":
        body["answers_left"] = link.answers_left
    return Response(
        body=body,
        status_code=DECLINED_STATUS[reason],
        headers={**PRIVATE, **JSON, **link_headers(link)},
    )


BUNDLE_HEADER = "X-Bundle-Files"


def bundle_files(link: Link) -> list[dict[str, Any]]:
    """A bundle's files as the API lists them: number (``file=N``), name, size, type."""
    return [
        {
            "file": number,
            "name": bundled.filename,
            "size": bundled.object.size,
            "content_type": bundled.object.content_type,
        }
        for number, bundled in enumerate(link.files, start=1)
    ]


def opened_response(opened: Opened, url: str) -> Response:
    """A bundle's press for an API client: its files, and how to fetch each one in the
    download session (its credential is in the session headers)."""
    body: dict[str, Any] = {
        "files": bundle_files(opened.link),
        "remaining": opened.link.remaining,
        "message": bundle_note(url, len(opened.link.files), opened.session is not None),
    }
    if opened.session is not None:
        body["session_until"] = iso(opened.session.until)
    # Says "a list, not a file" to clients that save a 200's body (onetime get).
    headers = {
        **PRIVATE,
        **JSON,
        **link_headers(opened.link),
        BUNDLE_HEADER: str(len(body["files"])),
    }
    return Response(body=body, status_code=200, headers=headers)


def opened_page_response(opened: Opened, token: str, now: float) -> Response:
    until = opened.session.until if opened.session is not None else None
    html = pages.opened(opened.link, token, now, until)
    return page_response(html, 200, link_headers(opened.link))


def started_response(redirect: Redirect, token: str, now: float) -> Response:
    link = redirect.link
    until = redirect.session.until if redirect.session is not None else None
    html = pages.started(
        link.filename, redirect.location, redirect.lifetime, link.remaining, token, until
    )
    return page_response(html, 200, link_headers(link))


def session_headers(link_id: str, session: Session, base: str, now: float) -> Headers:
    """The download session's credential: a cookie the browser sends back to this link's
    address only, and the same value in a header for clients without a cookie jar.

    ``Path`` is the download route under the API's prefix, so no other route sees it.
    ``SameSite=Lax`` (not Strict): a customer who opens the link again from a webmail
    arrives by a cross-site navigation and must still carry the cookie; Lax sends it on
    top-level navigations and same-site POSTs, never on cross-site subrequests.
    ``Secure`` whenever the service is reached over HTTPS.
    """
    lifetime = max(int(session.until - now), 0)
    cookie = _cookie(cookie_name(link_id), session.key.value, base, f"; Max-Age={lifetime}")
    return {"Set-Cookie": cookie, SESSION_HEADER: session.key.value}


def form_headers(form_key: str, base: str) -> Headers:
    """The landing form's cookie: the key its stamp is bound to (chalicelib/domain/stamps.py), with
    the same scope as the session's.  No ``Max-Age``: it lasts while the browser runs, so a
    page left open for a while can still be pressed."""
    return {"Set-Cookie": _cookie(FORM_COOKIE, form_key, base)}


def _cookie(name: str, value: str, base: str, lifetime: str = "") -> str:
    address = urlsplit(base)
    cookie = (
        f"{name}={value}; Path={address.path.rstrip('/')}/download{lifetime}; "
        "HttpOnly; SameSite=Lax"
    )
    if address.scheme == "https":
        cookie += "; Secure"
    return cookie


def download_response(redemption: Stream | Redirect, url: str) -> Response:
    """The file, or the redirect to it.  Only the file carries ``Content-Disposition``:
    ``curl -OJ`` without ``-L`` saves the redirect's body, which must never land under
    the file's name (nor then stop ``curl -J``, which will not overwrite, from saving the
    real file)."""
    link = redemption.link
    headers: Headers = {**PRIVATE, **link_headers(link)}
    if isinstance(redemption, Stream):
        headers["Content-Disposition"] = redemption.disposition
        headers["Content-Type"] = link.object.content_type
        # Inside a download session a stream can be resumed: say so, and answer a part.
        headers["Accept-Ranges"] = "bytes" if redemption.session is not None else "none"
        status = 200
        if redemption.byte_range is not None:
            start, end = redemption.byte_range
            headers["Content-Range"] = f"bytes {start}-{end}/{link.object.size}"
            headers["ETag"] = link.object.etag
            status = 206
        return EncodedResponse(body=redemption.body_base64, status_code=status, headers=headers)
    # JSON, which is not a binary type: Chalice never treats the body as binary, whatever
    # the client's Accept.  The file's type and disposition travel in the presigned URL
    # and S3 sends them; the body is one line for a client that does not follow.
    headers["Location"] = redemption.location
    headers.update(JSON)
    session = redemption.session
    note = (
        redirect_note(url, session.key.value, session.until)
        if session is not None
        else redirect_note(url, None, None)
    )
    return Response(body={"message": note}, status_code=302, headers=headers)


class EncodedResponse(Response):
    """A response whose body is already base64 text: handed to API Gateway as is,
    flagged ``isBase64Encoded``, instead of Chalice encoding a bytes body itself."""

    def to_dict(self, binary_types: list[str] | None = None) -> dict[str, Any]:
        response: dict[str, Any] = super().to_dict(None)
        response["isBase64Encoded"] = True
        return response
