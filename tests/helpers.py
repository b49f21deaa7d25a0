"""What the tiers' tests share: constants, the in-process world's parts, and small
calls to the app in-process and to the stack over HTTP.

Test modules import from here, never from each other.  Nothing heavy at import time
(boto3, moto, the app, requests are imported where used), so the unit tier may use it too.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from chalice.test import Client

    from tests.fakes import FrozenClock
    from tools.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
API_KEY = "test-api-key"
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
SMALL = bytes(range(256)) * 40  # 10 KiB, every byte value
TO = "customer@example.com"
TIMEOUT = 30  # seconds, for any one HTTP call to the stack

# How often a test's HTTP server looks for a shutdown: serve_forever's default of 0.5 s,
# paid at every teardown, came to about a minute over the CLI tests.
POLL_SECONDS = 0.01

SIGNED: set[tuple[str, str]] = set()  # (service, operation), over the whole session

Served = TypeVar("Served", bound=ThreadingHTTPServer)


@contextmanager
def serving(server: Served) -> Iterator[Served]:
    """``server`` answering on a thread of its own within the block; closed after it."""
    thread = threading.Thread(target=server.serve_forever, args=(POLL_SECONDS,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


def python(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """This checkout's Python run with ``args`` at its root, under ``env``; what it
    printed, as text (bounded: a hung run fails the test)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def token_of(minted: dict[str, Any] | str) -> str:
    """The token in a minted link: the answer of a mint, or the link's URL itself."""
    url = minted if isinstance(minted, str) else minted["url"]
    return str(parse_qs(urlsplit(url).query)["token"][0])


def reset_app_caches() -> None:
    """Forget the app's cached settings and clients (the one reset: ``app.reset``)."""
    import app as app_module

    app_module.reset()


# --- the in-process world: the app on moto, its AWS calls seen and faulted ---------------


class Hooks:
    """Sees every AWS operation the app's clients make (botocore's event hooks),
    and can make chosen operations fail, without touching the app's code."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.faults: dict[str, Callable[[], Any]] = {}

    def before_sign(self, event_name: str, **_: Any) -> None:
        # Every request the app signs, presigned URLs and POST forms included:
        # what its IAM policy must allow (tests/tooling/test_policy.py).
        _prefix, service, operation = event_name.split(".", 2)
        SIGNED.add((service, operation))

    def before_call(self, model: Any, **_: Any) -> Any:
        name = f"{model.service_model.service_name}:{model.name}"
        self.calls.append(name)
        fault = self.faults.get(name)
        return fault() if fault else None

    def fail(self, operation: str, fault: Callable[[], Any]) -> None:
        self.faults[operation] = fault


class FakeHttp:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = b""


def aws_error(code: str, status: int) -> Callable[[], Any]:
    """A fault: the operation answers with this AWS error code."""

    def answer() -> Any:
        parsed = {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return FakeHttp(status), parsed

    return answer


@dataclass
class InProcess:
    """The app in this process, on moto's in-memory AWS."""

    client: Client
    dynamodb: Any
    s3: Any
    table: str
    bucket: str
    hooks: Hooks
    clock: FrozenClock  # the app's one clock: advance it instead of editing items

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {API_KEY}"}

    def put(self, key: str, body: bytes, content_type: str = "application/pdf") -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def mint(self, key: str, **params: Any) -> dict[str, Any]:
        from urllib.parse import urlencode

        query = urlencode({"file": key, **params})
        response = self.client.http.get(f"/get-link?{query}", headers=self.auth())
        assert response.status_code == 200, response.body
        minted: dict[str, Any] = response.json_body
        return minted

    def item(self, link_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": f"link#{link_id}"}}, ConsistentRead=True
        ).get("Item", {})
        return found

    def uses(self, link_id: str) -> int:
        return int(self.item(link_id)["uses"]["N"])

    def table_items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.dynamodb.scan(TableName=self.table)["Items"]
        return items


# --- calls to the app in-process --------------------------------------------------------


def download(service: InProcess, token: str, accept: str | None = "application/pdf") -> Any:
    """A GET; by default from an API client that asks for the file itself."""
    headers = {"Accept": accept} if accept is not None else {}
    return service.client.http.get(f"/download?token={token}", headers=headers)


def redeem(service: InProcess, token: str, accept: str | None = "*/*") -> Any:
    """A POST of the token: how a person (past the landing page), curl -d, the CLI or an
    API client spends a use of a default link (docs/COUNTING.md)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if accept is not None:
        headers["Accept"] = accept
    return service.client.http.post("/download", headers=headers, body=f"token={token}")


def set_attribute(service: InProcess, link_id: str, name: str, value: int) -> None:
    service.dynamodb.update_item(
        TableName=service.table,
        Key={"pk": {"S": f"link#{link_id}"}},
        UpdateExpression="SET #n = :v",
        ExpressionAttributeNames={"#n": name},
        ExpressionAttributeValues={":v": {"N": str(value)}},
    )


def call(service: InProcess, method: str, path: str, body: Any = None, **headers: str) -> Any:
    all_headers = {**service.auth(), **headers}
    if body is not None:
        all_headers.setdefault("Content-Type", "application/json")
        body = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return service.client.http.request(method, path, headers=all_headers, body=body or b"")


def created(service: InProcess, path: str, body: Any) -> dict[str, Any]:
    """An operator's POST of ``body`` to ``path``, which must create (201); its answer."""
    response = call(service, "POST", path, body)
    assert response.status_code == 201, response.body
    answer: dict[str, Any] = response.json_body
    return answer


def epoch(iso: str) -> float:
    return dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


class JsonLines(logging.Handler):
    """What the app logs, exactly as its JSON formatter writes it."""

    def __init__(self) -> None:
        from chalicelib.logs import JsonFormatter

        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    def messages(self) -> list[str]:
        return [str(entry["message"]) for entry in self.entries()]

    def errors(self) -> list[dict[str, Any]]:
        return [entry for entry in self.entries() if entry["level"] == "ERROR"]

    def marked(self, marker: str, link_id: str | None = None) -> list[dict[str, Any]]:
        """Lines whose message holds ``marker`` (about ``link_id``, if given), any level."""
        return [
            entry
            for entry in self.entries()
            if marker in entry["message"] and (link_id is None or entry.get("link_id") == link_id)
        ]


@contextmanager
def app_log(level: int | None = None) -> Iterator[JsonLines]:
    """What the app's ``onetime`` logger writes within the block (from ``level`` up, if
    given, whatever the logger's own level)."""
    capture = JsonLines()
    logger = logging.getLogger("onetime")
    before = logger.level
    logger.addHandler(capture)
    if level is not None:
        logger.setLevel(level)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        logger.setLevel(before)


def sent() -> list[email.message.EmailMessage]:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    return [
        email.message_from_string(m.raw_data, policy=email.policy.default)
        for m in backend.sent_messages
        if hasattr(m, "raw_data")
    ]


def parts(message: email.message.EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    page = message.get_body(preferencelist=("html",))
    assert text is not None and page is not None
    return text.get_content(), page.get_content()


Jar = dict[str, str]  # a browser's cookies for the download route, by name


def browse(service: InProcess, token: str, method: str = "GET", jar: Jar | None = None) -> Any:
    headers = {"Accept": BROWSER_ACCEPT, **sent_cookies(jar)}
    response = getattr(service.client.http, method.lower())(
        f"/download?token={token}", headers=headers
    )
    return kept_cookies(response, jar)


def landing(service: InProcess, token: str) -> tuple[str, Jar]:
    """The landing page as a person's browser gets it, and the cookie jar its form's
    cookie went into (a browser sends it back with the form)."""
    jar: Jar = {}
    return text_of(browse(service, token, jar=jar)), jar


def submit(
    service: InProcess, fields: dict[str, str], jar: Jar | None, accept: str = BROWSER_ACCEPT
) -> Any:
    """A landing page's form posted as a browser posts it: ``fields`` form-encoded, with
    the cookies in ``jar``; what the answer sets is kept there."""
    from urllib.parse import urlencode

    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": accept}
    response = service.client.http.post(
        "/download", headers={**headers, **sent_cookies(jar)}, body=urlencode(fields)
    )
    return kept_cookies(response, jar)


def sent_cookies(jar: Jar | None) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}


def kept_cookies(response: Any, jar: Jar | None) -> Any:
    if jar is not None and "Set-Cookie" in response.headers:
        name, _, value = str(response.headers["Set-Cookie"]).split(";", 1)[0].partition("=")
        jar[name] = value
    return response


def text_of(response: Any) -> str:
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    return str(response.body.decode("utf-8"))


# --- a buyer's identity provider -----------------------------------------------------------


ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool"


CLIENT = "shop-web-client"


class Issuer:
    """An OIDC issuer on 127.0.0.1: a locally generated RSA key and its JWKS."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa
        from jwt.algorithms import RSAAlgorithm

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.fetches += 1
                body = issuer.jwks.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, sub: str = "buyer-1", key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "sub": sub,
            "aud": CLIENT,
            "token_use": "id",
            "iat": now,
            "exp": now + 600,
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        import jwt

        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": "k1"})


# --- the stack over HTTP ----------------------------------------------------------------


def operator(stack: Stack, method: str, path: str, status: int = 200, **sent: Any) -> Any:
    """An operator's call to the stack's API (``sent``: requests' ``params``, ``json``,
    or ``http``, a session of the caller's own); its JSON answer, once its status is
    ``status``."""
    import requests

    http = sent.pop("http", None) or requests
    response = http.request(
        method,
        f"{stack.base_url}{path}",
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=TIMEOUT,
        **sent,
    )
    assert response.status_code == status, response.text
    return response.json()


def mint(stack: Stack, key: str, **params: Any) -> dict[str, Any]:
    """``GET /get-link``: the default link to ``key``."""
    minted: dict[str, Any] = operator(stack, "GET", "/get-link", params={"file": key, **params})
    return minted


def create(stack: Stack, key: str, **fields: Any) -> dict[str, Any]:
    """``POST /links``: a link with what only the JSON API takes (``email``, ``verify``)."""
    made: dict[str, Any] = operator(stack, "POST", "/links", 201, json={"file": key, **fields})
    return made


def link_state(stack: Stack, link_id: str) -> dict[str, Any]:
    """What an operator sees of a link (``GET /links/{id}``): uses, redemptions, visits."""
    state: dict[str, Any] = operator(stack, "GET", f"/links/{link_id}")
    return state


def post_token(stack: Stack, url: str, accept: str) -> Any:
    """The token of the link ``url`` posted to ``/download`` (as ``curl -d`` or the
    page's button sends it), redirects not followed."""
    import requests

    return requests.post(
        f"{stack.base_url}/download",
        data={"token": token_of(url)},
        headers={"Accept": accept},
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def item(stack: Stack, link_id: str) -> dict[str, Any]:
    found: dict[str, Any] = stack.client("dynamodb").get_item(
        TableName=stack.table, Key={"pk": {"S": f"link#{link_id}"}}, ConsistentRead=True
    )["Item"]
    return found


def s3_bytes(stack: Stack, key: str) -> bytes:
    body: bytes = stack.client("s3").get_object(Bucket=stack.bucket, Key=key)["Body"].read()
    return body


# moto answers a claim's UPDATED_NEW with only the attributes whose value changed, where
# DynamoDB (and dynalite) send every attribute the update sets: on moto a claim then reads
# the link once more (DynamoLinkStore._delivered).  tests/stack/test_claim_answer.py counts
# one request on dynalite.
CLAIM_ON_MOTO = ["dynamodb:UpdateItem", "dynamodb:GetItem"]
