"""Sending a large file in parts: a multipart upload the server started (``POST
/uploads`` above its threshold), parts PUT to S3 a few at a time, each retried, and the
upload remembered on disk so that ``onetime share FILE --resume`` goes on after Ctrl-C.

The server signs part URLs in batches as they are needed (they live 15 minutes); a
resumed upload asks it which parts S3 already holds and sends only the others.  Each
part is read from the file as it is sent, never held whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

from onetime_cli.client import ApiClient, JsonObject, Unreachable, connection_failure
from onetime_cli.uploads import FileChanged, NoCredentials, StorageError, storage_error

PARALLEL = 4  # parts in flight at once
ATTEMPTS = 5  # per part; between them 1, 2, 4, 8 s
BATCH = 8  # part URLs asked for at a time: a few ahead of those being sent

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Remembered:
    """What ``--resume`` needs of an upload under way: written before the first part."""

    base_url: str
    path: str
    size: int
    mtime_ns: int
    name: str
    content_type: str
    key: str
    upload: str  # the server's ticket
    part_size: int
    parts: int


def state_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "onetime" / "uploads"


def state_path(base_url: str, path: Path, name: str) -> Path:
    stat = path.stat()
    # The same file, unchanged, sent under the same name to the same server.
    ident = "\0".join(
        (base_url, str(path.resolve()), name, str(stat.st_size), str(stat.st_mtime_ns))
    )
    return state_dir() / (hashlib.sha256(ident.encode()).hexdigest()[:32] + ".json")


def remember(where: Path, state: Remembered) -> None:
    where.parent.mkdir(parents=True, exist_ok=True)
    partial = where.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(state)))
    os.replace(partial, where)  # whole or not at all, whenever a signal comes


def recall(where: Path) -> Remembered | None:
    try:
        return Remembered(**json.loads(where.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def forget(where: Path) -> None:
    with contextlib.suppress(OSError):
        where.unlink()


class Stopped(Exception):
    """The upload was interrupted: the part being read gives up."""


class PartBody:
    """One part of the file as a request body: ``length`` bytes from ``offset``, read a
    block at a time from a handle of its own (parts go out in parallel)."""

    def __init__(
        self, path: Path, offset: int, length: int, stop: threading.Event, on_read: Progress
    ) -> None:
        self._file = path.open("rb")
        self._file.seek(offset)
        self._left = length
        self._length = length
        self._stop = stop
        self._on_read = on_read

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        if self._stop.is_set():
            raise Stopped()
        if self._left == 0:
            return b""
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        block = self._file.read(min(wanted, 1024 * 1024))
        if not block:
            raise FileChanged(self._length, self._length - self._left)
        self._left -= len(block)
        self._on_read(len(block))
        return block

    def close(self) -> None:
        self._file.close()


class Sender:
    """Sends the parts S3 does not hold yet, ``PARALLEL`` at a time, then completes."""

    def __init__(
        self,
        client: ApiClient,
        state: Remembered,
        *,
        timeout: float,
        on_progress: Progress | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._state = state
        self._timeout = timeout
        self._lock = threading.Lock()
        self._on_progress = on_progress
        self._sleep = sleep
        self._stop = threading.Event()
        self._urls: dict[int, str] = {}

    def held(self) -> dict[int, int]:
        answer = self._client.held_parts(self._state.upload)
        return {int(p["number"]): int(p["size"]) for p in answer.get("held") or []}

    def send(self, held: dict[int, int]) -> JsonObject:
        """Send every part not in ``held`` at its size, then complete the upload."""
        todo = [n for n in range(1, self._state.parts + 1) if held.get(n) != self._length(n)]
        self._advance(
            sum(self._length(n) for n in range(1, self._state.parts + 1))
            - sum(self._length(n) for n in todo)
        )
        pool = ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="part")
        try:
            pending: set[Future[None]] = set()
            queue = list(todo)
            while queue or pending:
                while queue and len(pending) < PARALLEL:
                    number = queue.pop(0)
                    if number not in self._urls:
                        self._sign([number, *[n for n in queue if n not in self._urls]])
                    pending.add(pool.submit(self._put, number))
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()  # the first failure that outlasted its retries
        except BaseException:
            self._stop.set()  # parts being read give up at their next block
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return self._client.complete_upload(self._state.upload)

    def _length(self, number: int) -> int:
        if number < self._state.parts:
            return self._state.part_size
        return self._state.size - (self._state.parts - 1) * self._state.part_size

    def _advance(self, amount: int) -> None:
        if self._on_progress is not None and amount:
            with self._lock:
                self._on_progress(amount)

    def _sign(self, numbers: list[int]) -> None:
        answer = self._client.sign_parts(self._state.upload, numbers[:BATCH])
        with self._lock:
            for part in answer.get("parts") or []:
                self._urls[int(part["number"])] = str(part["url"])

    def _put(self, number: int) -> None:
        offset = (number - 1) * self._state.part_size
        for attempt in range(1, ATTEMPTS + 1):
            sent = 0

            def counted(amount: int) -> None:
                nonlocal sent
                sent += amount
                self._advance(amount)

            body = PartBody(
                Path(self._state.path), offset, self._length(number), self._stop, counted
            )
            try:
                response = requests.put(
                    self._urls[number],
                    data=body,
                    auth=NoCredentials(),
                    timeout=self._timeout,
                    allow_redirects=False,
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                if isinstance(error.__context__, Stopped) or self._stop.is_set():
                    raise Stopped() from error
                failure: Exception = Unreachable(
                    self._urls[number].split("?", 1)[0], connection_failure(error), what="S3"
                )
            else:
                if response.status_code == 200 and response.headers.get("ETag"):
                    return
                failure = storage_error(response)
            finally:
                body.close()
            self._advance(-sent)  # sent again from its start
            if attempt == ATTEMPTS or self._stop.is_set():
                raise failure
            if isinstance(failure, StorageError) and failure.status == 403:
                self._sign([number])  # its URL expired, or the credentials that signed it
            self._sleep(2.0 ** (attempt - 1))


def started_state(
    base_url: str, path: Path, name: str, content_type: str, answer: dict[str, Any]
) -> Remembered | None:
    """What to remember of a ``POST /uploads`` answer, None unless it started a multipart
    upload."""
    upload = answer.get("upload")
    if not isinstance(upload, str):
        return None
    stat = path.stat()
    return Remembered(
        base_url=base_url,
        path=str(path.resolve()),
        size=int(answer["size"]),
        mtime_ns=stat.st_mtime_ns,
        name=name,
        content_type=content_type,
        key=str(answer["key"]),
        upload=upload,
        part_size=int(answer["part_size"]),
        parts=int(answer["parts"]),
    )


# What sending parts may fail with, besides the API's errors (``failures.failure_for``).
FAILURES = (Unreachable, StorageError, FileChanged)
