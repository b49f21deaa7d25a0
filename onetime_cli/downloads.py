"""Downloading a link the way its customer should: ``onetime get URL``.

Only a POST spends a use.  The token travels in the form body of
``POST <the link without its query>``, never in a query string, so it stays out
of the access logs of that request.  The answer is the file itself (200) or a
302 to a short-lived presigned URL, fetched with a plain GET that carries
neither the token nor any cookie or credential.

The bytes go to a temporary file beside the final one, created before the use is
spent (so an unwritable folder costs nothing), and take the final name only when
every byte announced has arrived.

A server with download sessions answers the redemption with ``X-Download-Session``:
sent back with the token, it gets the file again without spending a use.  When the
transfer breaks, ``fetch`` does that (a bounded number of times) and asks the file's
host for the bytes still missing (``Range``), appending them to the temporary file.
The session value is a credential: it is never shown, and it is written beside the
temporary file, to ``<temporary file>.session`` (mode 0600), as soon as the server
opens it, before the first byte: a download given up, interrupted (Ctrl-C, SIGTERM)
or killed can then be finished by ``onetime get`` again, within the session.  While a
``get`` writes a temporary file it holds a lock on it, so that no other ``get`` appends
to the same one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import stat
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qs, unquote, urlencode, urljoin, urlsplit, urlunsplit

import requests
import urllib3

from onetime_cli.client import (
    ApiError,
    Unreachable,
    api_error,
    connection_failure,
    no_answer,
    version,
)
from onetime_cli.links import link_id_from
from onetime_cli.uploads import NoCredentials, storage_error

MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
BLOCK = 64 * 1024
FALLBACK_NAME = "download"
NAME_MAX_BYTES = 255  # NAME_MAX of common file systems, in bytes of UTF-8
TEMP_PREFIX, TEMP_SUFFIX = ".onetime-", ".part"
SESSION_SUFFIX = ".session"  # beside a kept temporary file: the session that finishes it
SESSION_HEADER = "X-Download-Session"
BUNDLE_HEADER = "X-Bundle-Files"  # a bundle's press: its files, not a file
RESUME_TRIES = 3  # how often a broken transfer is taken up again before giving up
RETRY_DELAYS = (0.0, 1.0, 3.0)  # seconds before each of those tries
# A session value as the client keeps and sends it: visible ASCII, nothing a header forbids.
_SESSION_VALUE = re.compile(r"[!-~]{1,512}")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
# What a file name must not carry: controls, format characters (bidi overrides,
# zero-width), line and paragraph separators, lone surrogates.
_UNSAFE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
# One parameter of a Content-Disposition: a token name, then a quoted string or a token.
_PARAMETER = re.compile(r';\s*([^\s=;"]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_EXT_VALUE = re.compile(r"([A-Za-z0-9!#$%&+^_`{}~-]+)'[^']*'(.*)", re.DOTALL)

Progress = Callable[[int], None]
Keep = Callable[["Resumable"], None]  # told each time what finishing the download takes changes


class Busy(Exception):
    """Another ``onetime get`` is writing this temporary file right now."""

    def __init__(self, temp: Path) -> None:
        super().__init__(f"{temp} is being written by another onetime get")
        self.temp = temp


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


class WrongRange(SpentError):
    """The file's host answered a request for the rest with bytes that do not continue
    the ones kept (another range, another length, another version of the file)."""


@dataclass(frozen=True)
class BundledFile:
    """One file of a bundle, as its press lists it: ``file=number`` fetches it."""

    number: int
    name: str
    size: int


class BundleOpened(Exception):
    """The link is a bundle: its press answered with its files (``X-Bundle-Files``), not
    with a file, and the session that fetches them is in the ``Resumable``."""

    def __init__(self, files: list[BundledFile]) -> None:
        super().__init__(f"a bundle of {len(files)} files")
        self.files = files


class GaveUp(SpentError):
    """A broken download that the session could not finish within ``RESUME_TRIES``:
    ``written`` bytes are in the temporary file, ``last`` says what failed last."""

    def __init__(self, written: int, length: int | None, tries: int, last: str) -> None:
        super().__init__(f"{written} of {length} bytes after {tries} tries: {last}")
        self.written = written
        self.length = length
        self.tries = tries
        self.last = last


@dataclass
class Resumable:
    """What finishing a broken download takes: the session the redemption opened (a
    credential: never shown, and left out of ``repr``), and what the file is, so that
    bytes from a later answer are appended only to the same file."""

    session: str | None = field(default=None, repr=False)
    length: int | None = None  # the whole file's, in bytes
    etag: str | None = None


@dataclass(frozen=True)
class Link:
    """A download link, taken apart: where to POST and what (never shown)."""

    redeem_url: str  # the link without its query (and without any user:password@)
    token: str
    origin: str  # scheme://host[:port]: all that messages ever name
    file: int | None = None  # a bundle's file, by number (``file=N``)


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
        what = "is not a folder" if path.exists() else "does not exist"
        raise ValueError(f"{output} {what}.")
    if not path.parent.is_dir():
        what = "is not a folder" if path.parent.exists() else "does not exist"
        raise ValueError(f"{path.parent} {what}.")
    return Target(path.parent, path.name)


def exists(path: Path) -> bool:
    """True for anything at ``path``, a dangling symbolic link included."""
    return os.path.lexists(path)


def temp_prefix(link: Link) -> str:
    """How the temporary files of ``link`` begin: ``.onetime-<link id>-``, so that
    ``--resume`` finds the one it left (the id is no secret; a token of another shape
    is named by a digest, never by itself)."""
    link_id = link_id_from(link.token)
    if not re.fullmatch(r"[a-z2-7]{16}", link_id):
        link_id = hashlib.sha256(link.token.encode()).hexdigest()[:16]
    if link.file is not None:
        # A bundle's file: ``.onetime-<id>.<n>-``, which the bundle's own ``-`` glob skips.
        return f"{TEMP_PREFIX}{link_id}.{link.file}-"
    return f"{TEMP_PREFIX}{link_id}-"


def temporary_file(directory: Path, link: Link | None = None) -> tuple[BinaryIO, Path]:
    """A new empty file in ``directory`` (hidden, ``.part``, named for ``link``), with
    the permissions a new file gets there (the umask's), open for writing."""
    prefix = temp_prefix(link) if link is not None else TEMP_PREFIX
    descriptor, name = tempfile.mkstemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=directory)
    mask = os.umask(0)
    os.umask(mask)
    os.fchmod(descriptor, 0o666 & ~mask)
    file = os.fdopen(descriptor, "wb")
    _lock(file, Path(name))
    return file, Path(name)


def _lock(file: BinaryIO, temp: Path) -> None:
    """Hold ``temp`` for this process until ``file`` is closed (or the process ends,
    however it ends); ``Busy`` if another process holds it."""
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        raise Busy(temp) from None


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


# --- resuming ----------------------------------------------------------------------------


def session_path(temp: Path) -> Path:
    """Where the session that finishes the download kept in ``temp`` is written."""
    return temp.with_name(temp.name + SESSION_SUFFIX)


def save_session(temp: Path, resumable: Resumable) -> Path:
    """Write what finishing the download kept in ``temp`` needs beside it, readable by
    its owner only (0600 whatever the umask; a symbolic link there is not followed).
    The record is written whole under another name and then renamed over the old one,
    so a signal at any moment leaves the old record or the new, never half of one."""
    path = session_path(temp)
    draft = path.with_name(path.name + ".new")
    draft.unlink(missing_ok=True)  # a new file, never one someone else made
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(draft, flags, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        os.fchmod(descriptor, 0o600)  # whatever the umask
        record = {"session": resumable.session, "length": resumable.length}
        json.dump({**record, "etag": resumable.etag}, out)
        out.flush()
        os.fsync(descriptor)
    os.replace(draft, path)
    return path


def load_session(path: Path) -> Resumable | None:
    """The ``Resumable`` a session file holds; None if it is not one."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    session, length, etag = record.get("session"), record.get("length"), record.get("etag")
    if not (isinstance(session, str) and _SESSION_VALUE.fullmatch(session)):
        return None
    if not (length is None or (isinstance(length, int) and length >= 0)):
        return None
    return Resumable(session, length, etag if isinstance(etag, str) else None)


def _own(found: os.stat_result, private: bool = False) -> bool:
    """A regular file of this user's (and, if ``private``, no one else's to read)."""
    mine = stat.S_ISREG(found.st_mode) and found.st_uid == os.geteuid()
    return mine and not (private and found.st_mode & 0o077)


def interrupted(directory: Path, link: Link) -> tuple[Path, Resumable] | None:
    """The download of ``link`` that a previous ``get`` gave up in ``directory``: its
    temporary file and session (the newest, if there are several); None without one.
    Only this user's files count, the session readable by no one else: in a shared
    folder, bytes someone else left must never become the start of the file."""
    found: list[tuple[float, Path, Resumable]] = []
    for path in directory.glob(f"{temp_prefix(link)}*{TEMP_SUFFIX}{SESSION_SUFFIX}"):
        temp = path.with_name(path.name[: -len(SESSION_SUFFIX)])
        try:
            kept, session = os.lstat(temp), os.lstat(path)
        except OSError:
            continue
        if not (_own(kept) and _own(session, private=True)):
            continue
        resumable = load_session(path)
        if resumable is not None:
            found.append((kept.st_mtime, temp, resumable))
    if not found:
        return None
    _, temp, resumable = max(found, key=lambda entry: entry[0])
    return temp, resumable


def reopen(temp: Path) -> BinaryIO:
    """The kept temporary file, open for writing at its end (never through a link);
    ``Busy`` while another ``get`` is still writing it."""
    descriptor = os.open(temp, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
    file = os.fdopen(descriptor, "wb")
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        file.close()
        raise IsADirectoryError(0, "not a regular file", str(temp))
    _lock(file, temp)
    file.seek(0, os.SEEK_END)
    return file


# --- the requests ------------------------------------------------------------------------


@dataclass
class Delivery:
    """The answer carrying the file: its headers, and the host that sends the bytes."""

    response: requests.Response
    origin: str
    remaining_uses: str | None  # X-Remaining-Uses from the onetime server, if it said
    start: int = 0  # where in the file its body begins (a 206 answers the rest)
    total: int | None = None  # the whole file's length, when known

    @property
    def disposition(self) -> str | None:
        return self.response.headers.get("Content-Disposition")

    @property
    def length(self) -> int | None:
        """The bytes this answer carries (Content-Length)."""
        value = self.response.headers.get("Content-Length", "").strip()
        return int(value) if value.isdigit() else None

    @property
    def etag(self) -> str | None:
        return self.response.headers.get("ETag")


def _headers() -> dict[str, str]:
    # identity: the bytes as stored, and a Content-Length that counts them.
    return {
        "Accept": "*/*",
        "Accept-Encoding": "identity",
        "User-Agent": f"onetime-cli/{version()}",
    }


@contextmanager
def redeem(
    link: Link,
    *,
    timeout: float,
    resumable: Resumable | None = None,
    offset: int = 0,
    answer: str | None = None,
    keep: Keep | None = None,
) -> Iterator[Delivery]:
    """POST the token; follow the answer's redirects (at most MAX_REDIRECTS, each
    a GET without the token) to the file.  ``ApiError`` when the onetime server
    refuses, ``Unfetched`` when a redirect's target does.

    With ``resumable``, its session (if any) goes with the token, and the session the
    answer opens is kept in it; with an ``offset``, the redirect's target is asked for
    the bytes from there on, and a 206 that does not continue them is ``WrongRange``.

    ``answer`` goes with the token when the link has a recipient check (the address it
    was sent to, or the code given with it); a wrong one is ``ApiError`` 403
    ``wrong_answer``, with ``answers_left``.

    ``keep`` is told of a session as soon as the onetime server's answer opens one,
    before the redirect is followed: from then on the use is spent, and what would get
    the file again must outlive this process."""
    fields = {"token": link.token}
    if link.file is not None:
        fields["file"] = str(link.file)
    if answer is not None:
        fields["answer"] = answer
    post_headers = {**_headers(), "Content-Type": "application/x-www-form-urlencoded"}
    if resumable is not None and resumable.session is not None:
        post_headers[SESSION_HEADER] = resumable.session
    with requests.Session() as session:
        origin = link.origin
        try:
            response = _send(session, "POST", link.redeem_url, post_headers, timeout, fields)
        except requests.ConnectTimeout as error:
            raise Unreachable(origin, no_answer(timeout)) from error
        except requests.Timeout as error:
            raise Lost(origin, no_answer(timeout)) from error
        except requests.ConnectionError as error:
            raise Unreachable(origin, connection_failure(error)) from error
        given = response.headers.get(SESSION_HEADER, "").strip()
        fresh = resumable is not None and given != resumable.session
        if resumable is not None and fresh and _SESSION_VALUE.fullmatch(given):
            resumable.session = given
            if keep is not None:
                keep(resumable)
        remaining = response.headers.get("X-Remaining-Uses")
        if response.status_code == 200 and BUNDLE_HEADER in response.headers:
            try:
                raise BundleOpened(_bundle_files(response, origin))
            finally:
                response.close()
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
                response = _fetch(session, url, origin, timeout, offset)
            delivery = Delivery(response, origin, remaining)
            if response.status_code == 206 and hops > 0 and offset > 0:
                delivery.start, delivery.total = _continuation(delivery, offset, resumable)
            elif response.status_code == 200:
                delivery.total = delivery.length
            else:
                raise _refusal(response, origin, redirected=hops > 0)
            yield delivery
        finally:
            response.close()


def _bundle_files(response: requests.Response, origin: str) -> list[BundledFile]:
    """A bundle's files from its press's answer (``BundleOpened`` in openapi.yaml)."""
    try:
        listed = response.json()["files"]
        return [BundledFile(int(f["file"]), str(f["name"]), int(f["size"])) for f in listed]
    except (ValueError, KeyError, TypeError) as error:
        raise Unfetched(origin, response.status_code, "a bundle's list that is not one.") from error


def _continuation(delivery: Delivery, offset: int, resumable: Resumable | None) -> tuple[int, int]:
    """Where a 206 begins and the file's whole length, if it carries exactly the bytes
    from ``offset`` to the end of the same file; ``WrongRange`` otherwise."""
    found = _CONTENT_RANGE.fullmatch(delivery.response.headers.get("Content-Range", "").strip())
    if found is None or found.group(3) == "*":
        raise WrongRange(f"{delivery.origin}: a 206 without a usable Content-Range")
    first, last, total = (int(found.group(index)) for index in (1, 2, 3))
    known = resumable.length if resumable is not None else None
    etag = resumable.etag if resumable is not None else None
    if first != offset or last != total - 1 or (known is not None and total != known):
        raise WrongRange(f"{delivery.origin}: bytes {first}-{last}/{total}, not {offset}-")
    if etag is not None and delivery.etag is not None and delivery.etag != etag:
        raise WrongRange(f"{delivery.origin}: another version of the file")
    return first, total


def _send(
    session: requests.Session,
    method: str,
    url: str,
    headers: dict[str, str],
    timeout: float,
    form: dict[str, str] | None = None,
) -> requests.Response:
    # Redirects are followed by hand (each a GET without the token, cookies dropped), and
    # the body is read as it streams in, to the file.
    return session.request(
        method,
        url,
        data=None if form is None else urlencode(form),
        headers=headers,
        auth=NoCredentials(),
        timeout=timeout,
        allow_redirects=False,
        stream=True,
    )


def _fetch(
    session: requests.Session, url: str, origin: str, timeout: float, offset: int = 0
) -> requests.Response:
    headers = _headers()
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    try:
        return _send(session, "GET", url, headers, timeout)
    except requests.Timeout as error:
        raise Lost(origin, no_answer(timeout), what="the file's host") from error
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


# --- the whole download, taken up again where it broke -------------------------------------

Watch = Callable[[Delivery], AbstractContextManager[Progress | None]]


@dataclass(frozen=True)
class Fetched:
    size: int
    disposition: str | None  # the last answer's that gave one
    remaining_uses: str | None
    breaks: int  # how often the transfer broke and was taken up again
    start: int  # where the last answer's bytes began: above 0 when it sent only the rest


def _retryable(error: Exception) -> bool:
    """A failure that asking again, within the session, may get past."""
    if isinstance(error, (BrokenTransfer, Unreachable, WrongRange)):
        return True
    if isinstance(error, (ApiError, Unfetched)):
        return error.status in (408, 429) or error.status >= 500
    return False


def described(error: Exception) -> str:
    """A failure of a download in a few words (what ``GaveUp`` says failed last)."""
    if isinstance(error, BrokenTransfer):
        return f"{error.origin}: {error.reason}"
    if isinstance(error, Unreachable):
        return error.described
    if isinstance(error, Unfetched):
        return f"{error.origin} answered {error.status}: {error.message}"
    if isinstance(error, ApiError):
        return f"the onetime server answered {error.status}: {error.message}"
    return str(error)


def fetch(
    link: Link,
    file: BinaryIO,
    resumable: Resumable,
    *,
    timeout: float,
    watch: Watch,
    tries: int = RESUME_TRIES,
    delays: Sequence[float] | None = None,
    answer: str | None = None,
    keep: Keep | None = None,
) -> Fetched:
    """Redeem ``link`` and write the file to ``file``, after what it holds already.

    ``file`` is empty for a new download; for ``--resume`` it holds the bytes kept, and
    ``resumable`` the session that gets the rest.  When the transfer breaks (or the
    file's host cannot be reached) and the redemption opened a session, the token is
    sent again with it (no use is spent) and the rest is asked for with ``Range``; an
    answer with the whole file (200) starts it over.  After ``tries`` such attempts,
    ``GaveUp``.  ``watch`` is entered around each answer's bytes (a progress bar).
    ``answer`` is the link's recipient check's (see ``redeem``).  ``keep`` is told what
    finishing the download takes whenever that changes, before any byte of an answer is
    written: a new session, or the length and version of the file."""
    waits = RETRY_DELAYS if delays is None else delays
    breaks = 0
    disposition: str | None = None
    remaining: str | None = None
    while True:
        offset = file.tell()
        try:
            with redeem(
                link, timeout=timeout, resumable=resumable, offset=offset, answer=answer, keep=keep
            ) as delivery:
                if delivery.start != offset:  # the whole file (again): start over
                    file.seek(0)
                    file.truncate()
                if remaining is None:
                    remaining = delivery.remaining_uses
                disposition = delivery.disposition or disposition
                known = (resumable.length, resumable.etag)
                resumable.length = delivery.total
                resumable.etag = delivery.etag or resumable.etag
                changed = (resumable.length, resumable.etag) != known
                if keep is not None and resumable.session is not None and changed:
                    keep(resumable)
                with watch(delivery) as advance:
                    receive(delivery, file, advance)
                return Fetched(file.tell(), disposition, remaining, breaks, delivery.start)
        except (BrokenTransfer, Unreachable, WrongRange, ApiError, Unfetched) as error:
            if resumable.session is None or not _retryable(error):
                raise
            if isinstance(error, WrongRange):  # those bytes do not go on from these
                file.seek(0)
                file.truncate()
                resumable.length = resumable.etag = None
            if breaks == tries:
                file.flush()
                raise GaveUp(file.tell(), resumable.length, tries, described(error)) from error
        wait = waits[min(breaks, len(waits) - 1)] if waits else 0.0
        breaks += 1
        if wait > 0:
            time.sleep(wait)
