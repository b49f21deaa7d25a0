"""The public address of the service, as the customer's browser must see it, read from the
request (what each address is called under it: ``chalicelib/domain/addresses.py``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chalicelib.domain.errors import InvalidRequestError

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# A DNS name or an IP address (IPv6 in brackets), and an optional port: nothing that
# could carry a path, a userinfo "@" or a fragment into the links we hand out.
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?")
_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~-]+)*/?")


def base_url(public_url: str | None, headers: Mapping[str, str], context: Mapping[str, Any]) -> str:
    """Absolute base URL, including API Gateway's stage or base-path prefix.

    API Gateway reports the path as the client sent it (``/api/get-link`` on the
    execute-api domain, ``/files/get-link`` under a base-path mapping) next to
    the route (``/get-link``); what precedes the route is the prefix.

    Without ``public_url`` the host and scheme come from the request, so they are
    checked: only ``http``/``https`` and a well-formed host, or the request is refused
    before anything is minted.  Production sets ``ONETIME_PUBLIC_URL``.
    """
    if public_url:
        return public_url
    path = str(context.get("path") or "")
    route = str(context.get("resourcePath") or "")
    prefix = path[: -len(route)] if route and path.endswith(route) else ""
    host = headers.get("host") or str(context.get("domainName") or "localhost")
    scheme = (headers.get("x-forwarded-proto") or "http").split(",")[0].strip().lower()
    if (
        scheme not in ("http", "https")
        or not _HOST.fullmatch(host)
        or not _PREFIX.fullmatch(prefix)
    ):
        raise InvalidRequestError(
            "invalid_host",
            "The request's Host or X-Forwarded-Proto cannot make a link address "
            "(the service's ONETIME_PUBLIC_URL avoids relying on them).",
        )
    return f"{scheme}://{host}{prefix.rstrip('/')}"
