"""Issue 22, item 2: Ctrl-C (or SIGTERM) during ``onetime get`` keeps the link's use.

A real ``onetime get`` process downloads the stack's 5 MiB sample through the redirect
path.  The test holds that transfer still after exactly 1 MiB (an HTTP proxy of the
test's own, which the CLI reaches through ``HTTP_PROXY``: nothing in the product knows
about it), checks that the session is already on disk, signals the process, and then
finishes the file with ``--resume`` or with a plain ``get``: byte-identical, one use.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.helpers import create, link_state, serving
from tools import ROOT
from tools.ports import HOST
from tools.samples import LARGE_SAMPLE
from tools.stack import Stack

HOLD_AFTER = 1024 * 1024  # the proxy passes this many body bytes, then holds: 16 blocks of 64 KiB
TIMEOUT = 60.0  # seconds: the bound of every wait (a loaded machine), never a pause
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection"})


class HoldingProxy(ThreadingHTTPServer):
    """A forward proxy that relays every answer, holding a long body after HOLD_AFTER bytes
    until ``release`` is set: a transfer that is still running when the signal comes."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), ProxyHandler)
        self.holding = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"


class ProxyHandler(BaseHTTPRequestHandler):
    server: HoldingProxy

    def relay(self) -> None:
        target = urlsplit(self.path)  # a proxy is asked for the absolute URL
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection(target.hostname or HOST, target.port, timeout=TIMEOUT)
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream.request(self.command, path, body=body or None, headers=headers)
        answer = upstream.getresponse()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        length = int(answer.getheader("Content-Length") or 0)
        if length > HOLD_AFTER:
            self.wfile.write(answer.read(HOLD_AFTER))
            self.wfile.flush()
            self.server.holding.set()
            self.server.release.wait(TIMEOUT)  # the client is gone by then: send no more
        else:
            self.wfile.write(answer.read())
        upstream.close()
        self.close_connection = True

    do_GET = do_POST = relay

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[HoldingProxy]:
    with serving(HoldingProxy()) as server:
        try:
            yield server
        finally:
            server.release.set()  # a handler still holding its answer lets go, so shutdown ends


def cli_env(proxy: str | None = None) -> dict[str, str]:
    """This checkout's CLI, with nothing of the shell's proxies or onetime settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("ONETIME_") and "proxy" not in name.lower()
    }
    if proxy is not None:
        env["HTTP_PROXY"] = env["http_proxy"] = proxy
    return env


def onetime_get(*args: str, proxy: str | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "onetime_cli", "get", *args],
        cwd=ROOT,
        env=cli_env(proxy),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def part_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".onetime-*.part"))


def wait_for_bytes(folder: Path, count: int, process: subprocess.Popen[str]) -> Path:
    """The temporary file, once ``count`` bytes are in it.  The proxy holds the transfer
    at exactly that many, so this is a bounded poll of a state that will arrive, not a
    race with a running transfer."""
    for _ in range(int(TIMEOUT / 0.01)):
        found = part_files(folder)
        if found and found[0].stat().st_size >= count:
            return found[0]
        assert process.poll() is None, process.communicate()
        threading.Event().wait(0.01)  # no clock to advance: a file system is polled
    raise AssertionError(f"no {count} bytes in {folder}: {[p.name for p in folder.iterdir()]}")


@pytest.mark.parametrize(
    ("sent", "exit_code", "again"),
    [(signal.SIGINT, 130, ["--resume"]), (signal.SIGTERM, 143, [])],
    ids=["sigint-then-resume", "sigterm-then-get-again"],
)
def test_an_interrupted_get_keeps_the_bytes_and_the_session_and_finishes_in_it(
    stack: Stack,
    proxy: HoldingProxy,
    tmp_path: Path,
    sent: signal.Signals,
    exit_code: int,
    again: list[str],
) -> None:
    minted = create(stack, LARGE_SAMPLE)
    sample = stack.client("s3").get_object(Bucket=stack.bucket, Key=LARGE_SAMPLE)["Body"].read()
    assert len(sample) > 5 * HOLD_AFTER

    first = onetime_get(minted["url"], "-o", str(tmp_path), proxy=proxy.url)
    try:
        assert proxy.holding.wait(TIMEOUT), first.communicate()
        temp = wait_for_bytes(tmp_path, HOLD_AFTER, first)
        # Saved before the first byte: the session is on disk while the bytes still come.
        kept = temp.with_name(temp.name + ".session")
        assert kept.exists()
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        first.send_signal(sent)
        out, err = first.communicate(timeout=TIMEOUT)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    proxy.release.set()

    assert first.returncode == exit_code, err
    assert out == ""
    assert "Aborted!" not in err
    assert "not used" not in err
    assert err.startswith(f"error: interrupted after {HOLD_AFTER:,} of {len(sample):,} bytes")
    assert "onetime get" in err and str(temp) in err
    assert temp.read_bytes() == sample[:HOLD_AFTER]  # kept, exactly the bytes that came
    assert json.loads(kept.read_text())["session"] not in err  # a credential: never shown

    finish = onetime_get(minted["url"], "-o", str(tmp_path), *again)
    out, err = finish.communicate(timeout=TIMEOUT)
    assert finish.returncode == 0, err
    saved = tmp_path / minted["filename"]
    assert out == f"{saved}\n"
    assert f"Resumed at {HOLD_AFTER:,} bytes." in err
    assert "not used" not in err
    assert saved.read_bytes() == sample
    assert [path.name for path in tmp_path.iterdir()] == [saved.name]  # nothing left behind

    state = link_state(stack, minted["id"])
    assert state["uses"] == 1  # the interrupted get's use, and no other
    [redemption] = state["redemptions"]
    assert redemption["redeliveries"] == 1  # the rest came within its session
