"""Downloading a link the way its customer should: ``onetime get URL``.

Only a POST spends a use.  The token travels in the form body of
``POST <the link without its query>``, never in a query string, so it stays out
of the access logs of that request.  The answer is the file itself (200) or a
302 to a short-lived presigned URL, fetched with a plain GET that carries
neither the token nor any cookie or credential.

The bytes go to a temporary file beside the final one, created before the use is
spent (so an unwritable folder costs nothing), and take the final name only when
every byte announced has arrived.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qs, unquote, urlencode, urljoin, urlsplit, urlunsplit

import requests
import urllib3

from onetime_cli.client import ApiError, Unreachable, api_error, connection_failure, version
from onetime_cli.uploads import NoCredentials, storage_error

MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
BLOCK = 64 * 1024
FALLBACK_NAME = "download"
NAME_MAX_BYTES = 255  # NAME_MAX of common file systems, in bytes of UTF-8
TEMP_PREFIX, TEMP_SUFFIX = ".onetime-", ".part"
# What a file name must not carry: controls, format characters (bidi overrides,
# zero-width), line and paragraph separators, lone surrogates.
_UNSAFE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
# One parameter of a Content-Disposition: a token name, then a quoted string or a token.
_PARAMETER = re.compile(r';\s*([^\s=;"]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_EXT_VALUE = re.compile(r"([A-Za-z0-9!#$%&+^_`{}~-]+)'[^']*'(.*)", re.DOTALL)

Progress = Callable[[int], None]


class SpentError(Exception):
    """A failure after the request that spends the use was sent: the use may be gone."""


class BrokenTransfer(SpentError):
    """The file's bytes stopped before all of them arrived."""

    def __init__(self, origin: str, got: int, expected: int | None, reason: str) -> None:
        super().__init__(f"{origin}: {got} of {expected} bytes: {reason}")
        self.origin = origin
        self.got = got
        self.expected = expected
        self.reason = reason


class Unfetched(SpentError):
    """The redirect's target answered an error instead of the file (in words)."""

    def __init__(self, origin: str, status: int, message: str) -> None:
        super().__init__(f"{origin}: {status} {message}")
        self.origin = origin
        self.status = status
        self.message = message


class Lost(Unreachable, SpentError):
    """No answer after the request was sent (a read timeout, or the redirect's
    target cannot be reached): the use may or may not have been spent."""


@dataclass(frozen=True)
class Link:
    """A download link, taken apart: where to POST and what (never shown)."""

    redeem_url: str  # the link without its query (and without any user:password@)
    token: str
    origin: str  # scheme://host[:port]: all that messages ever name


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: no user, path, query or token."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def parse_link(url: str) -> Link:
    """The link a sender sent; ``ValueError`` (with no token in it) if it is not one."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("give the whole link, starting with https:// or http://.")
    try:
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise ValueError("the link's port is not a number.") from None
    tokens = [token for token in parse_qs(parts.query).get("token", []) if token]
    if not tokens:
        raise ValueError("the link has no token (…/download?token=…); give the whole link.")
    netloc = parts.netloc.rpartition("@")[2]
    redeem_url = urlunsplit((parts.scheme, netloc, parts.path or "/", "", ""))
    return Link(redeem_url, tokens[0], origin_of(url))


# --- the file's name ---------------------------------------------------------------------


def disposition_filename(header: str | None) -> str | None:
    """The file name a Content-Disposition gives: RFC 5987's ``filename*`` (percent-
    decoded, any Unicode) when it decodes, else ``filename``; ``None`` without either."""
    if not header:
        return None
    parameters: dict[str, str] = {}
    for match in _PARAMETER.finditer(header):
        name, value = match.group(1).lower(), match.group(2).strip()
        parameters.setdefault(name, value)
    extended = parameters.get("filename*")
    if extended is not None:
        found = _EXT_VALUE.fullmatch(extended.strip('"'))
        if found:
            with suppress(LookupError, UnicodeDecodeError):
                return unquote(found.group(2), encoding=found.group(1), errors="strict")
    plain = parameters.get("filename")
    if plain is None:
        return None
    if len(plain) >= 2 and plain[0] == plain[-1] == '"':
        plain = re.sub(r"\\(.)", r"\1", plain[1:-1], flags=re.DOTALL)
    # Header values arrive decoded as Latin-1; a server that sent UTF-8 bytes meant UTF-8.
    with suppress(UnicodeError):
        plain = plain.encode("latin-1").decode("utf-8")
    return plain


def safe_filename(name: str | None) -> str:
    """A name to save under in the chosen folder, whatever the server sent: its last
    path segment (``/`` and ``\\`` both separate), controls and format characters as
    ``_``, no leading dots or spaces (no hidden files, no ``.`` or ``..``), at most
    255 bytes; ``download`` when nothing is left."""
    if name is None:
        return FALLBACK_NAME
    last = re.split(r"[/\\]", name)[-1]
    shown = "".join("_" if unicodedata.category(ch) in _UNSAFE else ch for ch in last)
    shown = re.sub(r"^[\s.]+", "", shown).rstrip()
    return _fit(shown) if shown else FALLBACK_NAME


def _fit(name: str) -> str:
    """``name`` cut to NAME_MAX_BYTES of UTF-8, keeping a short extension."""
    if len(name.encode("utf-8")) <= NAME_MAX_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension.encode("utf-8")) > 16:
        stem, extension = name, ""
    ending = f".{extension}" if extension else ""
    room = NAME_MAX_BYTES - len(ending.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return cut.rstrip() + ending


# --- where it goes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The folder the file goes to, and its name there when the user chose one."""

    directory: Path
    name: str | None

    def path(self, name: str) -> Path:
        return self.directory / name


def target_for(output: str | None) -> Target:
    """``--output``: an existing folder (the server names the file), or a file path
    in an existing folder; ``ValueError`` otherwise."""
    if output is None:
        return Target(Path(), None)
    path = Path(output)
    if path.is_dir():
        return Target(path, None)
    if output.endswith(("/", os.sep)):
        raise ValueError(f"{output} is not a folder.")
    if not path.parent.is_dir():
        raise ValueError(f"{path.parent} is not a folder.")
    return Target(path.parent, path.name)


def exists(path: Path) -> bool:
    """True for anything at ``path``, a dangling symbolic link included."""
    return os.path.lexists(path)


def temporary_file(directory: Path) -> tuple[BinaryIO, Path]:
    """A new empty file in ``directory`` (hidden, ``.part``), with the permissions a
    new file gets there (the umask's), open for writing."""
    descriptor, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=directory)
    mask = os.umask(0)
    os.umask(mask)
    os.fchmod(descriptor, 0o666 & ~mask)
    return os.fdopen(descriptor, "wb"), Path(name)


def place(temp: Path, final: Path, *, force: bool) -> bool:
    """Give the finished download its name; False (``temp`` left alone) when
    something is already there and ``force`` is off, or when it is a folder."""
    if os.path.isdir(final):
        return False
    if force:
        os.replace(temp, final)
        return True
    try:
        os.link(temp, final)  # fails if anything is there, even one created just now
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links
        if exists(final):
            return False
        os.replace(temp, final)
        return True
    temp.unlink()
    return True


# --- the requests ------------------------------------------------------------------------


@dataclass
class Delivery:
    """The answer carrying the file: its headers, and the host that sends the bytes."""

    response: requests.Response
    origin: str
    remaining_uses: str | None  # X-Remaining-Uses from the onetime server, if it said

    @property
    def disposition(self) -> str | None:
        return self.response.headers.get("Content-Disposition")

    @property
    def length(self) -> int | None:
        value = self.response.headers.get("Content-Length", "").strip()
        return int(value) if value.isdigit() else None


def _headers() -> dict[str, str]:
    # identity: the bytes as stored, and a Content-Length that counts them.
    return {
        "Accept": "*/*",
        "Accept-Encoding": "identity",
        "User-Agent": f"onetime-cli/{version()}",
    }


@contextmanager
def redeem(link: Link, *, timeout: float) -> Iterator[Delivery]:
    """POST the token; follow the answer's redirects (at most MAX_REDIRECTS, each
    a GET without the token) to the file.  ``ApiError`` when the onetime server
    refuses, ``Unfetched`` when a redirect's target does."""
    with requests.Session() as session:
        origin = link.origin
        try:
            response = session.post(
                link.redeem_url,
                data=urlencode({"token": link.token}),
                headers={**_headers(), "Content-Type": "application/x-www-form-urlencoded"},
                auth=NoCredentials(),
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.ConnectTimeout as error:
            raise Unreachable(origin, f"no answer within {timeout:g} s") from error
        except requests.Timeout as error:
            raise Lost(origin, f"no answer within {timeout:g} s") from error
        except requests.ConnectionError as error:
            raise Unreachable(origin, connection_failure(error)) from error
        remaining = response.headers.get("X-Remaining-Uses")
        hops = 0
        try:
            while response.status_code in REDIRECTS:
                location = response.headers.get("Location")
                response.close()
                if not location:
                    raise Unfetched(origin, response.status_code, "a redirect with no Location.")
                if hops == MAX_REDIRECTS:
                    raise Unfetched(origin, response.status_code, "too many redirects.")
                url = urljoin(response.url, location)
                if urlsplit(url).scheme not in ("http", "https"):
                    raise Unfetched(origin, response.status_code, "a redirect to no web address.")
                hops += 1
                origin = origin_of(url)
                session.cookies.clear()  # nothing of one host's goes to the next
                response = _fetch(session, url, origin, timeout)
            if response.status_code != 200:
                raise _refusal(response, origin, redirected=hops > 0)
            yield Delivery(response, origin, remaining)
        finally:
            response.close()


def _fetch(session: requests.Session, url: str, origin: str, timeout: float) -> requests.Response:
    try:
        return session.get(
            url,
            headers=_headers(),
            auth=NoCredentials(),
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        )
    except requests.Timeout as error:
        raise Lost(origin, f"no answer within {timeout:g} s", what="the file's host") from error
    except requests.ConnectionError as error:
        raise Lost(origin, connection_failure(error), what="the file's host") from error


def _refusal(response: requests.Response, origin: str, redirected: bool) -> Exception:
    if not redirected:
        if 200 <= response.status_code < 300:
            return ApiError(
                response.status_code,
                "invalid_response",
                f"The server answered {response.status_code} without a file; "
                "is this a onetime download link?",
            )
        return api_error(response)
    kind = response.headers.get("Content-Type", "")
    if "json" in kind:
        error = api_error(response)
        return Unfetched(origin, error.status, error.message)
    refused = storage_error(response)
    detail = refused.message
    if not refused.code.startswith("http_"):
        detail = f"{refused.code}: {detail}"
    return Unfetched(origin, refused.status, detail)


def receive(delivery: Delivery, file: BinaryIO, on_progress: Progress | None = None) -> int:
    """Write the answer's bytes to ``file`` as they arrive; the count written.
    ``BrokenTransfer`` if the connection fails or ends before Content-Length;
    ``OSError`` from writing ``file`` passes through."""
    expected = delivery.length
    got = 0
    blocks = delivery.response.raw.stream(BLOCK, decode_content=False)
    while True:
        try:
            block = next(blocks, None)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as error:
            reason = "timed out" if _timed_out(error) else "the connection broke"
            raise BrokenTransfer(delivery.origin, got, expected, reason) from error
        if block is None:
            break
        file.write(block)
        got += len(block)
        if on_progress is not None:
            on_progress(len(block))
    if expected is not None and got != expected:
        raise BrokenTransfer(delivery.origin, got, expected, "the connection ended early")
    file.flush()
    os.fsync(file.fileno())
    return got


def _timed_out(error: BaseException) -> bool:
    return isinstance(error, (TimeoutError, urllib3.exceptions.TimeoutError)) or any(
        isinstance(cause, (TimeoutError, urllib3.exceptions.TimeoutError))
        for cause in (error.__cause__, error.__context__)
    )
