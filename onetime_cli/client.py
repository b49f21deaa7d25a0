"""A small client for the onetime HTTP API: one method per endpoint.

Every method returns the decoded JSON object of a successful answer, raises
``ApiError`` when the server answers with an error, and ``Unreachable`` when
no answer comes at all (refused, timed out, name not found).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any, TypedDict, Unpack
from urllib.parse import quote

import requests
import requests.auth

JsonObject = dict[str, Any]
DEFAULT_TIMEOUT = 30.0


def version() -> str:
    try:
        return metadata.version("onetime")
    except metadata.PackageNotFoundError:
        return "dev"


class ApiError(Exception):
    """The server answered with an error status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        retry_after: str | None = None,
        answers_left: int | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        # A wrong answer to a link's recipient check: how many more it takes before it locks.
        self.answers_left = answers_left


class Unreachable(Exception):
    """No answer from the server: the request may or may not have been processed."""

    def __init__(self, url: str, reason: str, what: str = "the onetime server") -> None:
        super().__init__(f"cannot reach {url}: {reason}")
        self.url = url
        self.reason = reason
        self.what = what

    @property
    def described(self) -> str:
        return f"cannot reach {self.what} at {self.url}: {self.reason}"


# The fields of what the client sends: None leaves a field out (the server's default).


class Mail(TypedDict, total=False):
    """Send what is made to one address, with a subject and a message of one's own."""

    email: str | None
    subject: str | None
    message: str | None


class LinkTerms(Mail, total=False):
    """A link's terms, beside its file.  ``verify`` (``email`` or ``code``) asks the person
    for that address, or for the code the answer carries once, before a download counts."""

    uses: int | None
    ttl: int | None
    filename: str | None
    confirm: bool | None
    note: str | None
    verify: str | None
    notify: str | None


class LinkChanges(TypedDict, total=False):
    """A new lifetime from now, a new total of uses, a new note."""

    ttl: int | None
    max_uses: int | None
    note: str | None


class RequestTerms(Mail, total=False):
    """A file request's terms, and those of the links its uploads make."""

    files: int | None
    ttl: int | None
    max_size: int | None
    content_types: list[str] | None
    note: str | None
    show_link: bool | None
    notify: str | None
    link_uses: int | None
    link_ttl: int | None
    bundle: bool | None


class Page(TypedDict, total=False):
    """At most ``limit`` items of a listing, from ``cursor`` on."""

    limit: int | None
    cursor: str | None


class LinksQuery(Page, total=False):
    """The links of ``file``, or those emailed to ``email`` (in any case); with neither,
    every link."""

    file: str | None
    email: str | None


class BearerAuth(requests.auth.AuthBase):
    """The API key as a bearer token.  Set as the session's auth, it also keeps
    requests from replacing it with credentials from ~/.netrc."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.api_key}"
        return request


class ApiClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests.Session()
        self._session.auth = BearerAuth(api_key)
        self._session.headers.update(
            {
                "Accept": "application/json",
                "User-Agent": f"onetime-cli/{version()}",
            }
        )

    def create_link(self, file: str | list[str], **terms: Unpack[LinkTerms]) -> JsonObject:
        """Mint a link; with ``email`` the server also mails it (and answers ``message_id``).
        A list of several keys mints one link to all of them (a bundle)."""
        named: dict[str, Any] = {"file": file} if isinstance(file, str) else {"files": file}
        return self._request("POST", "/links", json={**named, **terms})

    def create_upload(self, filename: str, content_type: str, size: int) -> JsonObject:
        """A presigned S3 POST form (``key``, ``url``, ``fields``) for one file this large."""
        body = {"filename": filename, "content_type": content_type, "size": size}
        return self._request("POST", "/uploads", json=body)

    def sign_parts(self, upload: str, numbers: list[int]) -> JsonObject:
        """URLs for these parts of a multipart upload (``parts``: number, size, url)."""
        return self._request("POST", "/uploads/parts", json={"upload": upload, "parts": numbers})

    def held_parts(self, upload: str) -> JsonObject:
        """The parts S3 already holds for a multipart upload (``held``)."""
        return self._request("GET", "/uploads/parts", params={"upload": upload})

    def complete_upload(self, upload: str) -> JsonObject:
        return self._request("POST", "/uploads/complete", json={"upload": upload})

    def get_link(self, link_id: str) -> JsonObject:
        return self._request("GET", _link_path(link_id))

    def update_link(self, link_id: str, **changes: Unpack[LinkChanges]) -> JsonObject:
        return self._request("PATCH", _link_path(link_id), json=dict(changes))

    def revoke_link(self, link_id: str) -> JsonObject:
        return self._request("DELETE", _link_path(link_id))

    def unlock_link(self, link_id: str) -> JsonObject:
        """Let a link locked by wrong answers to its check take answers again (409 for a
        link without a check)."""
        return self._request("POST", _link_path(link_id) + "/unlock")

    def refund_link(self, link_id: str, *, redemption: str | None = None) -> JsonObject:
        """Give one use back (the use of ``redemption``, a redemption's id, if given);
        the server answers 409 when there is nothing to give back."""
        body = {"redemption": redemption}
        return self._request("POST", _link_path(link_id) + "/refund", json=body)

    def list_links(self, **query: Unpack[LinksQuery]) -> JsonObject:
        """One page of links, newest first."""
        return self._request("GET", "/links", params=dict(query))

    def iter_links(self, **query: Unpack[LinksQuery]) -> Iterator[JsonObject]:
        """Every link, newest first, following the cursor page by page."""
        return _every("links", lambda at: self.list_links(**(query | {"cursor": at})), query)

    def resend_link(
        self, link_id: str, *, uses: int | None = None, ttl: int | None = None
    ) -> JsonObject:
        """Replace an emailed link and email the new one to the same address; the old
        one is withdrawn.  Without ``uses``/``ttl`` the new link gets what the old had left."""
        body = {"uses": uses, "ttl": ttl}
        return self._request("POST", _link_path(link_id) + "/resend", json=body)

    def create_request(self, **terms: Unpack[RequestTerms]) -> JsonObject:
        """Make a file request (an upload link, ``url``); with ``email`` the server also
        mails it (and answers ``message_id``)."""
        return self._request("POST", "/requests", json=dict(terms))

    def get_request(self, request_id: str) -> JsonObject:
        return self._request("GET", _request_path(request_id))

    def revoke_request(self, request_id: str) -> JsonObject:
        return self._request("DELETE", _request_path(request_id))

    def list_requests(self, **page: Unpack[Page]) -> JsonObject:
        return self._request("GET", "/requests", params=dict(page))

    def iter_requests(self, **page: Unpack[Page]) -> Iterator[JsonObject]:
        """Every file request, newest first, following the cursor page by page."""
        return _every("requests", lambda at: self.list_requests(**(page | {"cursor": at})), page)

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: JsonObject | None = None,
        params: JsonObject | None = None,
    ) -> JsonObject:
        # A field left None is not sent: the server takes its default.
        json = None if json is None else _without_none(json)
        params = None if params is None else _without_none(params)
        url = self.base_url + path
        with answered(self.base_url, self.timeout):
            response = self._session.request(
                method, url, json=json, params=params, timeout=self.timeout
            )
        return _decode(response)


def _link_path(link_id: str) -> str:
    # quote() with no safe characters: an id can never change the path's shape.
    return "/links/" + quote(link_id, safe="")


def _request_path(request_id: str) -> str:
    return "/requests/" + quote(request_id, safe="")


def next_cursor(page: JsonObject) -> str | None:
    """Where the next page starts, ``None`` after the last.  GET /links answers it as
    ``next_cursor`` (null at the end); GET /requests as ``cursor`` (absent at the end)."""
    cursor = page.get("next_cursor") or page.get("cursor")
    return cursor if isinstance(cursor, str) and cursor else None


def _every(
    key: str, page_at: Callable[[str | None], JsonObject], first: Page
) -> Iterator[JsonObject]:
    """The items under ``key`` of every page from ``first``'s cursor on, fetched as they
    are read."""
    cursor = first.get("cursor")
    while True:
        page = page_at(cursor)
        yield from page.get(key) or []
        cursor = next_cursor(page)
        if not cursor:
            return


def _without_none(values: JsonObject) -> JsonObject:
    return {name: value for name, value in values.items() if value is not None}


def _decode(response: requests.Response) -> JsonObject:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if 200 <= response.status_code < 300:
        if not isinstance(body, dict):
            raise ApiError(
                response.status_code,
                "invalid_response",
                f"The server answered {response.status_code} without a JSON object; "
                "is ONETIME_URL the onetime API?",
            )
        return body
    raise api_error(response, body)


def api_error(response: requests.Response, body: Any = None) -> ApiError:
    """The ``ApiError`` for an error answer: its JSON ``error`` and ``message``
    (``body``, when already decoded), or the bare status."""
    if body is None:
        try:
            body = response.json()
        except ValueError:
            body = None
    error = body if isinstance(body, dict) else {}
    code = error.get("error")
    message = error.get("message")
    status = response.status_code
    if not (isinstance(message, str) and message):
        message = f"The server answered {status} {response.reason or ''}".rstrip() + "."
    left = error.get("answers_left")
    return ApiError(
        status,
        code if isinstance(code, str) and code else f"http_{status}",
        message,
        response.headers.get("Retry-After"),
        left if isinstance(left, int) and not isinstance(left, bool) else None,
    )


def no_answer(timeout: float) -> str:
    return f"no answer within {timeout:g} s"


@contextmanager
def answered(origin: str, timeout: float) -> Iterator[None]:
    """``Unreachable`` (``origin``) when a request sent inside gets no answer: refused,
    timed out, or the host name unknown."""
    try:
        yield
    except requests.Timeout as error:
        raise Unreachable(origin, no_answer(timeout)) from error
    except requests.ConnectionError as error:
        raise Unreachable(origin, connection_failure(error)) from error


def connection_failure(error: BaseException) -> str:
    """A short reason for a failed connection, from the chain of wrapped errors."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return "host name not found"
        if isinstance(current, TimeoutError):
            return "timed out"
        linked = [*current.args, getattr(current, "reason", None)]
        linked += [current.__cause__, current.__context__]
        pending.extend(item for item in linked if isinstance(item, BaseException))
    return "connection failed"
