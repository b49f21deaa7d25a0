"""The S3 stand-in: moto server (S3, SES and SSM on one port) behind a shim that answers
a form POST with the bucket's CORS headers, as S3 does, and serves what SES sent at
OUTBOX_PATH for `make outbox`.

Stack.start_standins runs it in its own process: ``python -m tools.s3standin HOST PORT``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from types import TracebackType
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment


def bucket_cors_headers(bucket: str, origin: str, method: str) -> list[tuple[str, str]]:
    """The CORS headers S3 adds to a ``method`` request from ``origin``: those of the
    bucket's first rule that allows both, as moto holds it (in this process); none if no
    rule does.  Origins are compared exactly: our rules have no wildcard."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.exceptions import S3ClientError
    from moto.s3.models import s3_backends

    try:
        rules = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(bucket).cors
    except S3ClientError:  # no such bucket (or no bucket in the path: SES)
        return []
    for rule in rules:
        if origin in (rule.allowed_origins or ()) and method in (rule.allowed_methods or ()):
            headers = [
                ("Access-Control-Allow-Origin", origin),
                ("Access-Control-Allow-Methods", ", ".join(rule.allowed_methods)),
                ("Vary", "Origin"),
            ]
            if rule.exposed_headers:
                headers.append(("Access-Control-Expose-Headers", ", ".join(rule.exposed_headers)))
            if rule.max_age_seconds is not None:
                headers.append(("Access-Control-Max-Age", str(rule.max_age_seconds)))
            return headers
    return []


class FormPostCors:
    """moto 5.2 applies a bucket's CORS rules to preflights, GETs and PUTs, but answers a
    POST (the browser's upload form) with none: S3 answers it with the matching rule's
    headers, which a page's script needs to read the outcome.  This adds them."""

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        origin = environ.get("HTTP_ORIGIN")
        if environ.get("REQUEST_METHOD") != "POST" or not origin:
            return self._app(environ, start_response)
        # Path-style, as boto3 presigns for an endpoint on an IP address: /<bucket>[/<key>].
        bucket = str(environ.get("PATH_INFO", "")).lstrip("/").split("/", 1)[0]
        added = bucket_cors_headers(bucket, str(origin), "POST")

        def start(
            status: str,
            headers: list[tuple[str, str]],
            exc_info: tuple[type[BaseException], BaseException, TracebackType]
            | tuple[None, None, None]
            | None = None,
        ) -> Any:
            present = {name.lower() for name, _ in headers}
            extra = [(name, value) for name, value in added if name.lower() not in present]
            return start_response(status, [*headers, *extra], exc_info)

        return self._app(environ, start)


# Not a bucket's path: S3 bucket names never hold "_".
OUTBOX_PATH = "/_onetime/outbox"


def sent_raw_messages() -> list[dict[str, object]]:
    """Every raw message moto's SES (v1 and v2 share it) accepted in this process, oldest
    first: id, source, destinations and raw_data (the MIME text)."""
    from moto.ses.models import RawMessage, ses_backends

    messages: list[dict[str, object]] = []
    # dict.values: the accounts and regions in use; moto's own indexing would create more.
    for regions in dict.values(ses_backends):
        for backend in dict.values(regions):
            for message in backend.sent_messages:
                if isinstance(message, RawMessage):
                    messages.append(
                        {
                            "id": message.id,
                            "source": message.source,
                            "destinations": message.destinations,
                            "raw_data": message.raw_data,
                        }
                    )
    return messages


class Outbox:
    """``GET OUTBOX_PATH``: SES's sent messages as JSON.  moto 5.2.5's own
    ``/moto-api/data.json`` walks every model it tracks, and once a multipart upload has
    left part keys (which name no bucket) it answers 500 (MissingBucket); this reads SES
    alone, so no S3 activity can break it."""

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != OUTBOX_PATH or environ.get("REQUEST_METHOD") != "GET":
            return self._app(environ, start_response)
        body = json.dumps({"messages": sent_raw_messages()}).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


def serve_s3(host: str, port: int) -> None:
    """moto server (S3 and SES), as ``moto_server -H host -p port`` runs it, behind
    FormPostCors and Outbox.  Start it with MOTO_DISABLE_GLOBAL_CORS=true in the environment (moto
    reads it on import): then only the buckets' own CORS rules answer."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        host, port, FormPostCors(Outbox(app)), threaded=True, request_handler=MotoRequestHandler
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tools.s3standin HOST PORT")
    serve_s3(sys.argv[1], int(sys.argv[2]))
