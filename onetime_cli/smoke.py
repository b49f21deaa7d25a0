"""``onetime smoke``: a post-deploy check of a real stack, one line per step.

health, mint, head, redeem, revoke, gone: each step either prints ``ok`` and what it
saw, or ``failed`` and why, and the first failure ends the run.  The link is minted with
two uses so that the final 410 can only come from the revoke (after one redemption a
use is still left), and it is revoked even when a step in between fails: a smoke test
leaves no live link behind.

Then what the product does beyond a redirect (issue 24): email (a link mailed to SES's
mailbox simulator, with a recipient check, which reads the SSM secret), landing (its
page, as a browser is shown it), press (its button pressed as a browser presses it, the
check answered: the page that starts the download, and the file it points at), stream (a
link without a landing page opened in a browser: the file comes in the answer itself,
through the API's binary handling), and request (a file request: its page, the presigned
POST to S3, the confirmation, and the link it makes, downloaded).  Every
link and request the run makes is revoked at its end, or by the clean-up of a failed run.

Neither the API key nor the link's token is ever printed: the token is a credential to
the operator's file, and the key to the whole API.  Every line is redacted of both,
in case a server (or a proxy in front of it) echoes them back in an error.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import urllib3

from onetime_cli import downloads
from onetime_cli.client import ApiClient, ApiError, JsonObject, Unreachable, answered
from onetime_cli.client import version as client_version
from onetime_cli.uploads import NoCredentials, StorageError, post_form

STEPS = (
    "health",
    "mint",
    "head",
    "redeem",
    "revoke",
    "gone",
    "email",
    "landing",
    "press",
    "stream",
    "request",
)
# SES's mailbox simulator: accepted from a verified sender even in the SES sandbox, and
# never delivered to anyone (docs/DEPLOY.md, "Prerequisites").
SIMULATOR = "success@simulator.amazonses.com"
# The landing page counts a press only this long after it was shown (a person's pace;
# chalicelib/services/redemption.py MIN_PRESS_SECONDS is 0.8 s), so the run waits as one.
PRESS_AFTER = 1.0
# What a browser's navigation sends: the pages, and small files streamed in the answer.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
UPLOAD_NAME = "onetime-smoke.txt"
UPLOAD_BODY = b"onetime smoke test: a file request's upload\n"
USES = 2  # one for the redemption, one left so that only the revoke explains the 410
TTL = 600  # seconds: long enough for a slow run, short if the cleanup fails too
NOTE = "onetime smoke test"
REDACTED = "[redacted]"
_PLAIN_MD5 = re.compile(r'"?([0-9a-f]{32})"?', re.IGNORECASE)


class StepFailed(Exception):
    """A step saw something other than what a working deployment answers."""


@dataclass
class Run:
    """One smoke test: where, with what, and the secrets never to print."""

    client: ApiClient
    base_url: str
    file: str
    timeout: float
    say: Callable[[str], None]
    secrets: list[str] = field(default_factory=list)
    link_id: str | None = None
    url: str | None = None
    size: int | None = None
    revoked: bool = False
    sha256: str | None = None
    # What the later steps made, revoked at the end (or by clean_up): links, a request.
    links: list[str] = field(default_factory=list)
    request_id: str | None = None
    checked_url: str | None = None
    page_form: dict[str, str] = field(default_factory=dict)  # the landing page's fields
    page_action: str = ""
    browser: requests.Session = field(default_factory=requests.Session)
    pause: Callable[[float], None] = time.sleep

    def secret(self, url: str) -> None:
        """Never print this link or its token (the whole URL first: no prefix is left)."""
        self.secrets.append(url)
        token = _token(url)
        if token:
            self.secrets.append(token)
        self.secrets.sort(key=len, reverse=True)

    def line(self, outcome: str, step: str, detail: str) -> None:
        text = f"{outcome:<6} {step:<7} {detail}"
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, REDACTED)
        self.say(text)


def run(
    client: ApiClient,
    base_url: str,
    api_key: str,
    file: str,
    *,
    timeout: float,
    say: Callable[[str], None],
) -> str | None:
    """Run every step in order; the name of the step that failed, or None."""
    smoke = Run(client, base_url.rstrip("/"), file, timeout, say, secrets=[api_key])
    steps: list[tuple[str, Callable[[Run], str]]] = [
        ("health", health),
        ("mint", mint),
        ("head", head),
        ("redeem", redeem),
        ("revoke", revoke),
        ("gone", gone),
        ("email", email),
        ("landing", landing),
        ("press", press),
        ("stream", stream),
        ("request", file_request),
    ]
    with smoke.browser:
        for name, step in steps:
            try:
                detail = step(smoke)
            except (
                StepFailed,
                ApiError,
                Unreachable,
                downloads.SpentError,
                StorageError,
            ) as error:
                smoke.line("failed", name, describe(error))
                clean_up(smoke)
                return name
            smoke.line("ok", name, detail)
        failed = clean_up(smoke, quiet=True)
    return "cleanup" if failed else None


def describe(error: Exception) -> str:
    if isinstance(error, ApiError):
        return f"{error.status} {error.code}: {error.message}"
    if isinstance(error, downloads.BrokenTransfer):
        of = "" if error.expected is None else f" of {error.expected}"
        return f"the transfer from {error.origin} broke off after {error.got}{of} bytes"
    if isinstance(error, StorageError):
        return f"S3 refused the upload: {error}"
    return downloads.described(error)


def clean_up(smoke: Run, *, quiet: bool = False) -> bool:
    """Revoke what the run made and has not revoked yet (best effort after a failure,
    which is already said); ``quiet`` says only what failed.  True if something could not
    be revoked."""
    failed = False
    pending = [] if smoke.link_id is None or smoke.revoked else [smoke.link_id]
    for link_id in [*pending, *smoke.links]:
        try:
            smoke.client.revoke_link(link_id)
        except (ApiError, Unreachable) as error:
            smoke.line("failed", "cleanup", f"could not revoke link {link_id}: {describe(error)}")
            failed = True
            continue
        if link_id == smoke.link_id:
            smoke.revoked = True
        if not quiet:
            smoke.line("ok", "cleanup", f"revoked link {link_id}")
    smoke.links.clear()
    if smoke.request_id is not None:
        try:
            smoke.client.revoke_request(smoke.request_id)
        except (ApiError, Unreachable) as error:
            reason = describe(error)
            smoke.line(
                "failed", "cleanup", f"could not withdraw request {smoke.request_id}: {reason}"
            )
            failed = True
        else:
            if not quiet:
                smoke.line("ok", "cleanup", f"withdrew request {smoke.request_id}")
        smoke.request_id = None
    return failed


def _headers() -> dict[str, str]:
    return {"Accept": "application/json", "User-Agent": f"onetime-cli/{client_version()}"}


def _send(
    smoke: Run,
    method: str,
    url: str,
    *,
    browser: bool = False,
    form: dict[str, str] | None = None,
) -> requests.Response:
    """A request without the API key, redirects not followed: what a customer or a load
    balancer sends, or with ``browser`` what a browser does (in the run's session, which
    keeps the cookies a page sets); ``form`` goes as the body a page's form posts."""
    headers = _headers()
    if browser:
        headers["Accept"] = BROWSER_ACCEPT
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    send = smoke.browser.request if browser else requests.request
    with answered(downloads.origin_of(url), smoke.timeout):
        response = send(
            method,
            url,
            data=None if form is None else urlencode(form),
            headers=headers,
            auth=NoCredentials(),
            timeout=smoke.timeout,
            allow_redirects=False,
        )
    return response


def health(smoke: Run) -> str:
    response = _send(smoke, "GET", smoke.base_url + "/health")
    try:
        body = response.json()
    except ValueError:
        body = None
    said = json.dumps(body, ensure_ascii=False)[:200] if body is not None else "no JSON"
    if response.status_code != 200:
        raise StepFailed(f"GET /health answered {response.status_code} ({said})")
    return f"GET /health answered 200 ({said})"


def mint(smoke: Run) -> str:
    minted = smoke.client.create_link(smoke.file, uses=USES, ttl=TTL, note=NOTE)
    link_id, url, size = minted.get("id"), minted.get("url"), minted.get("size")
    if not isinstance(link_id, str) or not isinstance(url, str):
        raise StepFailed("POST /links answered without the link's id and url")
    smoke.link_id, smoke.url = link_id, url
    token = _token(url)
    smoke.secret(url)
    if not token:  # the later steps could not use it (and would raise, not report)
        raise StepFailed(f"POST /links answered a url without a token for link {link_id}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise StepFailed(f"POST /links answered no size for {smoke.file} (link {link_id})")
    smoke.size = size
    return f"link {link_id} to {smoke.file} ({size} bytes, {USES} uses, {TTL // 60} min)"


def _token(url: str) -> str | None:
    try:
        return downloads.parse_link(url).token
    except ValueError:
        return None


def _link_url(smoke: Run) -> str:
    assert smoke.url is not None  # minted: the steps run in order
    return smoke.url


def _link_state(smoke: Run) -> JsonObject:
    assert smoke.link_id is not None
    return smoke.client.get_link(smoke.link_id)


def head(smoke: Run) -> str:
    # The server's HEAD takes the token in the query: it only asks whether the link
    # could be redeemed now, and must spend nothing.
    response = _send(smoke, "HEAD", _link_url(smoke))
    remaining = response.headers.get("X-Remaining-Uses")
    if response.status_code != 200:
        raise StepFailed(f"HEAD /download answered {response.status_code}, not 200")
    if remaining != str(USES):
        raise StepFailed(f"HEAD /download answered X-Remaining-Uses {remaining}, not {USES}")
    state = _link_state(smoke)
    if state.get("uses") != 0 or state.get("remaining") != USES:
        raise StepFailed(
            f"after the HEAD, GET /links/{smoke.link_id} says {state.get('uses')} uses and "
            f"{state.get('remaining')} remaining: the HEAD spent a use"
        )
    return (
        f"HEAD /download answered 200, X-Remaining-Uses {remaining}; "
        f"GET /links/{smoke.link_id}: 0 uses (nothing spent)"
    )


class Digests:
    """The bytes' count, SHA-256 (printed: compare it with the file's own) and MD5
    (S3's ETag of a single-part upload)."""

    def __init__(self) -> None:
        self.count = 0
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)

    def update(self, block: bytes) -> None:
        self.count += len(block)
        self.sha256.update(block)
        self.md5.update(block)


@contextmanager
def _delivery(smoke: Run) -> Iterator[downloads.Delivery]:
    link = downloads.parse_link(_link_url(smoke))
    with downloads.redeem(link, timeout=smoke.timeout) as delivery:
        yield delivery


def redeem(smoke: Run) -> str:
    """POST the token as ``onetime get`` does (following a redirect to S3 without it),
    and count and digest the bytes as they arrive: nothing is written to disk."""
    digests = Digests()
    with _delivery(smoke) as delivery:
        length, etag, remaining = delivery.length, delivery.etag, delivery.remaining_uses
        try:
            for block in delivery.response.raw.stream(downloads.BLOCK, decode_content=False):
                digests.update(block)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as error:
            raise downloads.BrokenTransfer(
                delivery.origin, digests.count, length, "the connection broke"
            ) from error
    sha256 = digests.sha256.hexdigest()
    smoke.sha256 = sha256
    got = f"{digests.count} bytes, SHA-256 {sha256}"
    if digests.count != smoke.size:
        raise StepFailed(f"{got}: the mint said {smoke.size} bytes")
    if length is not None and length != digests.count:
        raise StepFailed(f"{got}: Content-Length said {length}")
    if remaining != str(USES - 1):
        raise StepFailed(f"{got}, but X-Remaining-Uses {remaining}, not {USES - 1}")
    # S3's ETag is the body's MD5 only for a single-part upload without SSE-KMS: a
    # multipart ETag ends in "-<parts>" and is not matched, so it is not compared.
    found = _PLAIN_MD5.fullmatch((etag or "").strip().removeprefix("W/"))
    checked = "no MD5 ETag to compare"
    if found is not None:
        if found.group(1).lower() != digests.md5.hexdigest():
            raise StepFailed(f"{got}: MD5 {digests.md5.hexdigest()}, but the ETag says {etag}")
        checked = "MD5 matches the ETag"
    return f"POST /download: {got}, as minted; {checked}; {remaining} use left"


def revoke(smoke: Run) -> str:
    assert smoke.link_id is not None
    state = smoke.client.revoke_link(smoke.link_id)
    smoke.revoked = True
    if state.get("status") != "revoked":
        raise StepFailed(f"DELETE /links/{smoke.link_id} left it {state.get('status')}")
    return f"DELETE /links/{smoke.link_id}: revoked"


def gone(smoke: Run) -> str:
    response = _send(smoke, "HEAD", _link_url(smoke))
    if response.status_code != 410:
        raise StepFailed(f"HEAD /download answered {response.status_code} after the revoke")
    return "HEAD /download answered 410 after the revoke (a use was left: the revoke did it)"


def email(smoke: Run) -> str:
    """A link emailed to SES's mailbox simulator, with a recipient check: SES must accept
    the message, and the check's key is the SSM secret (read at the mint)."""
    minted = smoke.client.create_link(
        smoke.file, uses=1, ttl=TTL, note=NOTE, email=SIMULATOR, verify="email"
    )
    link_id, url, message_id = minted.get("id"), minted.get("url"), minted.get("message_id")
    if not isinstance(link_id, str) or not isinstance(url, str) or not _token(url):
        raise StepFailed("POST /links with an email answered without the link's id and url")
    smoke.links.append(link_id)
    smoke.secret(url)
    smoke.checked_url = url
    if not isinstance(message_id, str) or not message_id:
        raise StepFailed(f"POST /links answered no SES message id for link {link_id}")
    return f"link {link_id} emailed to {SIMULATOR} with a recipient check; SES message {message_id}"


class _Form(HTMLParser):
    """The hidden fields of a page's form (what a browser would send back)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = found.get("action") or ""
        elif tag == "input" and found.get("type") == "hidden" and found.get("name"):
            self.fields[str(found["name"])] = found.get("value") or ""


def landing(smoke: Run) -> str:
    assert smoke.checked_url is not None and smoke.links
    response = _send(smoke, "GET", smoke.checked_url, browser=True)
    kind = response.headers.get("Content-Type", "")
    if response.status_code != 200 or not kind.startswith("text/html"):
        raise StepFailed(f"GET /download in a browser answered {response.status_code} {kind}")
    form = _Form()
    form.feed(response.text)
    if form.action is None or "token" not in form.fields:
        raise StepFailed("the landing page has no download form")
    smoke.page_form, smoke.page_action = form.fields, form.action
    state = smoke.client.get_link(smoke.links[-1])
    if state.get("uses") != 0:
        raise StepFailed(f"showing the landing page spent a use ({state.get('uses')} uses)")
    size = len(response.content)
    return f"GET /download in a browser: the landing page (200, {size} bytes); nothing spent"


def press(smoke: Run) -> str:
    """Press the page's button as a browser does, a moment after it was shown, answering
    the check (the address verifies against the SSM-keyed digest): the answer is a page
    that starts the download, and what it points at is the file."""
    assert smoke.checked_url is not None and smoke.page_form
    smoke.pause(PRESS_AFTER)
    target = urljoin(smoke.checked_url, smoke.page_action)
    form = {**smoke.page_form, "answer": SIMULATOR}
    response = _send(smoke, "POST", target, browser=True, form=form)
    found = _REFRESH.search(response.text) if response.status_code == 200 else None
    if found is None:
        heading = re.search(r"<h1[^>]*>(.*?)</h1>", response.text, re.S)
        said = heading.group(1).strip()[:120] if heading else "no page that starts a download"
        raise StepFailed(f"pressing Download answered {response.status_code} ({said})")
    location = html.unescape(found.group(1))
    smoke.secrets.append(location)  # a presigned URL: a credential while it lasts
    smoke.secrets.sort(key=len, reverse=True)
    body = _fetched(smoke, location)
    sha256 = hashlib.sha256(body).hexdigest()
    got = f"{len(body)} bytes, SHA-256 {sha256}"
    if len(body) != smoke.size or sha256 != smoke.sha256:
        raise StepFailed(f"{got} from {downloads.origin_of(location)}: not the file")
    return (
        f"POST /download from the page, the check answered: the download page, then {got} "
        f"from {downloads.origin_of(location)}"
    )


_REFRESH = re.compile(r'<meta http-equiv="refresh" content="0;url=([^"]+)">')


def _fetched(smoke: Run, url: str) -> bytes:
    origin = downloads.origin_of(url)
    with answered(origin, smoke.timeout):
        response = requests.get(url, auth=NoCredentials(), timeout=smoke.timeout)
    if response.status_code != 200:
        raise StepFailed(f"{origin} answered {response.status_code} for the file")
    return response.content


def stream(smoke: Run) -> str:
    """A one-use link without a landing page (``confirm`` off), opened in a browser: a
    file under 4 MiB comes back in the answer itself, through the API's binary handling."""
    minted = smoke.client.create_link(smoke.file, uses=1, ttl=TTL, note=NOTE, confirm=False)
    link_id, url = minted.get("id"), minted.get("url")
    if not isinstance(link_id, str) or not isinstance(url, str) or not _token(url):
        raise StepFailed("POST /links answered without the link's id and url")
    smoke.links.append(link_id)
    smoke.secret(url)
    response = _send(smoke, "GET", url, browser=True)
    kind = response.headers.get("Content-Type", "")
    if response.status_code != 200 or kind.startswith("text/html"):
        where = response.headers.get("Location")
        how = f"a redirect to {downloads.origin_of(where)}" if where else kind or "no body"
        raise StepFailed(f"GET /download in a browser answered {response.status_code} ({how})")
    body = response.content
    sha256 = hashlib.sha256(body).hexdigest()
    got = f"{len(body)} bytes, SHA-256 {sha256}"
    if len(body) != smoke.size or sha256 != smoke.sha256:
        raise StepFailed(f"{got} ({kind}): not the file's bytes (a binary answer left encoded?)")
    return f"link {link_id} without a landing page, in a browser: {got}, streamed ({kind})"


def file_request(smoke: Run) -> str:
    """A file request end to end: its page, the presigned POST to S3, the confirmation,
    and the link the confirmation makes, downloaded."""
    made = smoke.client.create_request(
        files=1, ttl=TTL, note=NOTE, show_link=True, link_uses=1, link_ttl=TTL
    )
    request_id, url = made.get("id"), made.get("url")
    if not isinstance(request_id, str) or not isinstance(url, str) or not _token(url):
        raise StepFailed("POST /requests answered without the request's id and url")
    smoke.request_id = request_id
    smoke.secret(url)
    page = _send(smoke, "GET", url, browser=True)
    if page.status_code != 200 or not page.headers.get("Content-Type", "").startswith("text/"):
        raise StepFailed(f"GET /upload in a browser answered {page.status_code}")
    token = _token(url)
    base = url.split("/upload?", 1)[0]
    signed = _json_get(smoke, f"{base}/upload/form?{urlencode({'token': token})}")
    fields = {str(k): str(v) for k, v in dict(signed.get("fields") or {}).items()}
    fields.setdefault("Content-Type", "text/plain")
    key = str(signed.get("prefix") or "") + UPLOAD_NAME
    post_form(
        str(signed.get("url")),
        fields,
        io.BytesIO(UPLOAD_BODY),
        filename=UPLOAD_NAME,
        content_type="text/plain",
        size=len(UPLOAD_BODY),
        timeout=smoke.timeout,
    )
    received = _json_get(
        smoke, f"{base}/upload/done?{urlencode({'token': token, 'key': key})}", status=201
    )
    link_id, link_url = received.get("id"), received.get("url")
    if not isinstance(link_id, str) or not isinstance(link_url, str) or not _token(link_url):
        raise StepFailed("GET /upload/done answered without the new link's id and url")
    smoke.links.append(link_id)
    smoke.secret(link_url)
    with downloads.redeem(downloads.parse_link(link_url), timeout=smoke.timeout) as delivery:
        body = delivery.response.content
    if body != UPLOAD_BODY:
        raise StepFailed(f"the request's link delivered {len(body)} bytes, not the upload's")
    storage = downloads.origin_of(str(signed.get("url")))
    return (
        f"request {request_id}: page, presigned POST to {storage}, confirmed, "
        f"link {link_id} delivered the {len(body)} bytes uploaded"
    )


def _json_get(smoke: Run, url: str, status: int = 200) -> JsonObject:
    response = _send(smoke, "GET", url)
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != status or not isinstance(body, dict):
        path = urlsplit(url).path
        code = body.get("error") if isinstance(body, dict) else None
        raise StepFailed(f"GET {path} answered {response.status_code} {code or ''}".rstrip())
    return body
