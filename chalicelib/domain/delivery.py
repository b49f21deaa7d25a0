"""How a redemption hands over the file: stream it in the response, or redirect to S3.

The trap is API Gateway's binary handling.  A streamed body leaves Lambda
base64-encoded, and comes out as bytes only when

* Chalice base64-encodes it: the response's Content-Type is in ``binary_types``;
* Chalice's own check passes: the request's ``Accept`` names a type in
  ``binary_types`` (else Chalice turns the finished response into a 400 -- after
  the view has spent the use);
* API Gateway decodes it: the *first* media type of ``Accept`` is in the API's
  binary media types (the same list; AWS docs, "Binary media types for REST
  APIs").  Otherwise the client receives base64 text.

A 302 has no body and none of these conditions, so it is safe for every client.
We stream only when all three hold, and decide which responses are possible
*before* the use is claimed.  Browsers (``Accept: text/html,...``) therefore get
small files streamed, which is why ``text/html`` is a binary type here: our own
HTML pages are served only to clients whose first ``Accept`` type is
``text/html``, so API Gateway decodes those too.  curl (``*/*``), clients with no
``Accept`` and API clients (``application/json``) get the redirect.

``*/*`` as a binary type would stream to everyone behind API Gateway, but Chalice
then answers 400 to every request without an ``Accept`` header, redirects and
errors included, so it is not an option.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# What is streamed, and nothing else: Chalice scans this list, lower-casing each entry,
# several times per request, so each type costs every request a little.  A small file of
# any other type is redirected to, which every client can follow.
BINARY_TYPES: tuple[str, ...] = (
    "application/octet-stream",
    "binary/octet-stream",  # S3's type for an object uploaded without one
    "application/pdf",
    "application/zip",
    "application/gzip",
    "application/epub+zip",
    "image/png",
    "image/jpeg",
    "image/webp",
    "audio/mpeg",
    "video/mp4",
    # A browser's first Accept type: see the module docstring.
    "text/html",
)
_BINARY = frozenset(BINARY_TYPES)


class Delivery(enum.Enum):
    STREAM = "stream"
    REDIRECT = "redirect"


def media_type(header_value: str) -> str:
    """``'Text/Plain; charset=utf-8'`` -> ``'text/plain'``."""
    return header_value.split(";", 1)[0].strip().lower()


def first_accept_type(accept: str | None) -> str:
    return media_type(accept.split(",", 1)[0]) if accept else ""


def prefers_html(accept: str | None) -> bool:
    """A browser navigating: its first Accept type is ``text/html``.

    The same test API Gateway applies, so a page we send as HTML to such a
    client is always decoded (``text/html`` is a binary type, above).
    """
    return first_accept_type(accept) == "text/html"


def accepts_stream(accept: str | None) -> bool:
    """Would a binary body reach this client intact, under Chalice and API Gateway alike?"""
    # The first Accept type appearing in BINARY_TYPES satisfies both Chalice's
    # check (any listed type) and API Gateway's (the first type).
    return first_accept_type(accept) in _BINARY


def choose(accept_stream: bool, size: int, content_type: str, stream_max_bytes: int) -> Delivery:
    if accept_stream and size <= stream_max_bytes and media_type(content_type) in _BINARY:
        return Delivery.STREAM
    return Delivery.REDIRECT


@dataclass(frozen=True)
class Accepts:
    """What a client's ``Accept`` header allows, read once per request: a page for a
    person (``html``), and a file streamed in the response (``stream``)."""

    html: bool = False
    stream: bool = False

    @classmethod
    def parse(cls, header: str | None) -> Accepts:
        return cls(html=prefers_html(header), stream=accepts_stream(header))


def byte_range(
    header: str | None, if_range: str | None, size: int, etag: str
) -> tuple[int, int] | None:
    """The one byte range a resumed download asks for (``Range: bytes=a-b``, ``a-`` or
    ``-n``), inclusive, within ``size``; None for the whole file: no header, several
    ranges, an unparsable or unsatisfiable one, or an ``If-Range`` that is not this ETag
    (the file a client holds a part of must be this one)."""
    if not header or (if_range is not None and if_range.strip() != etag):
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")

    def number(text: str) -> bool:
        return text.isascii() and text.isdigit()  # isdigit alone admits "²" and "٣"

    if not (number(first) or number(last)) or (first and not number(first)):
        return None
    if last and not number(last):
        return None
    if not first:  # the last n bytes
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    return (start, end) if 0 <= start <= end < size else None
