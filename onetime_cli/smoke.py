"""``onetime smoke``: a post-deploy check of a real stack, one line per step.

health, mint, head, redeem, revoke, gone: each step either prints ``ok`` and what it
saw, or ``failed`` and why, and the first failure ends the run.  The link is minted with
two uses so that the final 410 can only come from the revoke (after one redemption a
use is still left), and it is revoked even when a step in between fails: a smoke test
leaves no live link behind.

Neither the API key nor the link's token is ever printed: the token is a credential to
the operator's file, and the key to the whole API.  Every line is redacted of both,
in case a server (or a proxy in front of it) echoes them back in an error.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests
import urllib3

from onetime_cli import downloads
from onetime_cli.client import ApiClient, ApiError, JsonObject, Unreachable, connection_failure
from onetime_cli.client import version as client_version
from onetime_cli.uploads import NoCredentials

STEPS = ("health", "mint", "head", "redeem", "revoke", "gone")
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
    ]
    for name, step in steps:
        try:
            detail = step(smoke)
        except (StepFailed, ApiError, Unreachable, downloads.SpentError) as error:
            smoke.line("failed", name, describe(error))
            clean_up(smoke)
            return name
        smoke.line("ok", name, detail)
    return None


def describe(error: Exception) -> str:
    if isinstance(error, ApiError):
        return f"{error.status} {error.code}: {error.message}"
    if isinstance(error, downloads.BrokenTransfer):
        of = "" if error.expected is None else f" of {error.expected}"
        return f"the transfer from {error.origin} broke off after {error.got}{of} bytes"
    if isinstance(error, downloads.Unfetched):
        return f"{error.origin} answered {error.status}: {error.message}"
    if isinstance(error, Unreachable):
        return f"cannot reach {error.what} at {error.url}: {error.reason}"
    return str(error)


def clean_up(smoke: Run) -> None:
    """Revoke the link a failed run minted (best effort: the failure is already said)."""
    if smoke.link_id is None or smoke.revoked:
        return
    try:
        smoke.client.revoke_link(smoke.link_id)
    except (ApiError, Unreachable) as error:
        smoke.line("failed", "cleanup", f"could not revoke link {smoke.link_id}: {describe(error)}")
        return
    smoke.revoked = True
    smoke.line("ok", "cleanup", f"revoked link {smoke.link_id}")


def _headers() -> dict[str, str]:
    return {"Accept": "application/json", "User-Agent": f"onetime-cli/{client_version()}"}


def _plain_request(smoke: Run, method: str, url: str) -> requests.Response:
    """A request without the API key (what a customer or a load balancer sends)."""
    origin = downloads.origin_of(url)
    try:
        return requests.request(
            method,
            url,
            headers=_headers(),
            auth=NoCredentials(),
            timeout=smoke.timeout,
            allow_redirects=False,
        )
    except requests.Timeout as error:
        raise Unreachable(origin, f"no answer within {smoke.timeout:g} s") from error
    except requests.ConnectionError as error:
        raise Unreachable(origin, connection_failure(error)) from error


def health(smoke: Run) -> str:
    response = _plain_request(smoke, "GET", smoke.base_url + "/health")
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
    smoke.secrets.append(url)  # the whole URL before its token, so no prefix is left
    if token:
        smoke.secrets.append(token)
    smoke.secrets.sort(key=len, reverse=True)
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
    response = _plain_request(smoke, "HEAD", _link_url(smoke))
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
    response = _plain_request(smoke, "HEAD", _link_url(smoke))
    if response.status_code != 410:
        raise StepFailed(f"HEAD /download answered {response.status_code} after the revoke")
    return "HEAD /download answered 410 after the revoke (a use was left: the revoke did it)"
