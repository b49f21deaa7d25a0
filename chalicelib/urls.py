"""The public address of the service, as the customer's browser must see it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode


def base_url(public_url: str | None, headers: Mapping[str, str], context: Mapping[str, Any]) -> str:
    """Absolute base URL, including API Gateway's stage or base-path prefix.

    API Gateway reports the path as the client sent it (``/api/get-link`` on the
    execute-api domain, ``/files/get-link`` under a base-path mapping) next to
    the route (``/get-link``); what precedes the route is the prefix.
    """
    if public_url:
        return public_url
    path = str(context.get("path") or "")
    route = str(context.get("resourcePath") or "")
    prefix = path[: -len(route)] if route and path.endswith(route) else ""
    host = headers.get("host") or str(context.get("domainName") or "localhost")
    scheme = (headers.get("x-forwarded-proto") or "http").split(",")[0].strip()
    return f"{scheme}://{host}{prefix.rstrip('/')}"


def download_url(base: str, token: str) -> str:
    return f"{base}/download?{urlencode({'token': token})}"
