"""``make serve`` and ``make outbox`` as a user runs them, and the local stack's log redaction.

``python -m tools.serve`` runs as a subprocess on free ports, with its state and logs in a
temporary directory (SERVE_LOG_DIR), and is stopped with SIGTERM as a background job would be.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
import requests

from chalicelib.domain.tokens import new_token
from tests.helpers import BROWSER_ACCEPT, python
from tools import ROOT
from tools.outbox import outbox
from tools.ports import free_port, port_is_free
from tools.redaction import redact
from tools.samples import LARGE_SAMPLE, SMALL_SAMPLE, sample_pdf
from tools.servestate import STATE_FILE

TOKEN = new_token().value
READY = "Ctrl-C stops everything."
START_TIMEOUT = 90  # a shared, loaded machine; it is ready in ~10 s
STOP_TIMEOUT = 20
SENDER = "sales@example.test"
PREFIX = "customers/"
# Nothing of the caller's environment may steer the stack under test.
STEERING = re.compile(r"^(AWS_|ONETIME_|PORT$|S3_PORT$|DYNAMODB_PORT$|SERVE_LOG_DIR$|LAST$)")


def clean_env(**settings: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not STEERING.match(name)}
    return {**env, **settings}


def serve_env(log_dir: Path, **settings: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    chosen = {
        "PORT": str(free_port()),
        "S3_PORT": str(free_port()),
        "DYNAMODB_PORT": str(free_port()),
        "ONETIME_TABLE": f"serve-{suffix}",
        "ONETIME_BUCKET": f"serve-{suffix}",
        "SERVE_LOG_DIR": str(log_dir),
    }
    return clean_env(**{**chosen, **settings})


class Served:
    """``python -m tools.serve`` as a user runs it, its output collected as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.serve"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout)),
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr)),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str], lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.stdout)

    @property
    def errors(self) -> str:
        return "".join(self.stderr)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while READY not in self.output:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"make serve did not get ready:\n{self.errors}")
            time.sleep(0.1)

    def finish(self, timeout: float = START_TIMEOUT) -> int:
        """Its exit status, once it has exited by itself."""
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"make serve still runs after {timeout} s") from None
        self._join()
        return status

    def stop(self) -> int:
        """SIGTERM, as to a background job (which ignores SIGINT); SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        self._join()
        return self.process.returncode

    def _join(self) -> None:
        for reader in self._readers:
            reader.join(timeout=STOP_TIMEOUT)


def run_outbox(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return python("-m", "tools.outbox", env=env)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `make serve` with its own sender and a key prefix, shared by the tests below."""
    log_dir = tmp_path_factory.mktemp("serve")
    serve = Served(serve_env(log_dir, ONETIME_MAIL_FROM=SENDER, ONETIME_KEY_PREFIX=PREFIX))
    serve.wait_ready()
    try:
        yield serve
    finally:
        serve.stop()


def port_of(served: Served, name: str) -> int:
    return int(served.env[name])


def send_email(served: Served, subject: str) -> None:
    response = requests.post(
        f"http://127.0.0.1:{port_of(served, 'PORT')}/links",
        json={"file": PREFIX + SMALL_SAMPLE, "email": "customer@example.com", "subject": subject},
        headers={"Authorization": "Bearer onetime-dev-key"},
        timeout=30,
    )
    assert response.status_code == 201, response.text


# ---------------------------------------------------------------- make serve


def test_serve_sends_from_onetime_mail_from(served: Served) -> None:
    assert f"sender {SENDER}" in served.output
    send_email(served, "From the chosen sender")
    [last] = outbox(port_of(served, "S3_PORT"), last=1)
    assert f"From: {SENDER}" in last["raw_data"]
    assert "From the chosen sender" in last["raw_data"]


def test_serve_prints_an_upload_link_that_opens_its_page(served: Served) -> None:
    (link,) = re.findall(r"^ {4}(http://\S+/upload\?\S+)$", served.output, flags=re.MULTILINE)
    page = requests.get(link, headers={"Accept": BROWSER_ACCEPT}, timeout=30)
    assert page.status_code == 200 and "Send a file" in page.text
    # Files sent through it go under the key prefix too, where they can be linked.
    assert f'value="{PREFIX}requests/' in page.text


def test_serve_uploads_the_samples_under_the_key_prefix(served: Served) -> None:
    links = re.findall(r"^ {4}(http://\S+/download\?\S+)$", served.output, flags=re.MULTILINE)
    assert len(links) == 2, served.output
    assert f"({PREFIX}{SMALL_SAMPLE})" in served.output
    assert f"({PREFIX}{LARGE_SAMPLE})" in served.output
    assert f"onetime link '{PREFIX}{SMALL_SAMPLE}'" in served.output
    # The printed link works: it serves the sample, stored under the prefix.  A GET
    # spends nothing (docs/COUNTING.md); the POST the output suggests does.
    assert requests.get(links[0], headers={"Accept": "*/*"}, timeout=30).status_code == 409
    address, _, query = links[0].partition("?")
    token = query.removeprefix("token=")
    response = requests.post(address, data={"token": token}, headers={"Accept": "*/*"}, timeout=30)
    assert response.status_code == 200
    assert response.content == sample_pdf()
    again = requests.post(address, data={"token": token}, headers={"Accept": "*/*"}, timeout=30)
    assert again.status_code == 410


def test_outbox_reads_the_ports_of_the_running_serve(served: Served) -> None:
    state = json.loads((Path(served.env["SERVE_LOG_DIR"]) / STATE_FILE).read_text())
    assert state["pid"] == served.process.pid
    assert state["api_port"] == port_of(served, "PORT")
    assert state["s3_port"] == port_of(served, "S3_PORT")
    assert state["dynamodb_port"] == port_of(served, "DYNAMODB_PORT")
    assert state["base_url"] == f"http://127.0.0.1:{port_of(served, 'PORT')}"

    send_email(served, "Read back by make outbox")
    env = clean_env(SERVE_LOG_DIR=served.env["SERVE_LOG_DIR"], LAST="1")  # no S3_PORT
    result = run_outbox(env)
    assert result.returncode == 0, result.stderr
    assert f"From:    {SENDER}" in result.stdout
    assert "Subject: Read back by make outbox" in result.stdout

    # An explicit S3_PORT still wins over the state file.
    nobody = free_port()
    result = run_outbox({**env, "S3_PORT": str(nobody)})
    assert result.returncode == 1
    assert f"nothing answers on 127.0.0.1:{nobody}" in result.stderr


def test_sigterm_stops_serve_and_removes_its_state(served: Served) -> None:
    """Last of the module: it stops the shared `make serve`."""
    state = Path(served.env["SERVE_LOG_DIR"]) / STATE_FILE
    assert state.exists()
    assert served.stop() == 0
    assert not state.exists()
    for name in ("PORT", "S3_PORT", "DYNAMODB_PORT"):
        assert port_is_free(port_of(served, name)), name  # every process was stopped
    result = run_outbox(clean_env(SERVE_LOG_DIR=served.env["SERVE_LOG_DIR"]))
    assert result.returncode == 1
    assert "no `make serve` is running" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["PORT", "S3_PORT", "DYNAMODB_PORT"])
def test_a_port_in_use_is_refused_in_one_line(tmp_path: Path, name: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        env = serve_env(tmp_path, **{name: str(port)})
        serve = Served(env)
        status = serve.finish()
    assert status != 0
    assert f"port {port} is in use" in serve.errors
    assert name in serve.errors
    assert len(serve.errors.strip().splitlines()) == 1, serve.errors
    assert "Traceback" not in serve.errors
    assert READY not in serve.output
    assert not (tmp_path / STATE_FILE).exists()


def test_a_startup_failure_is_one_clear_line(tmp_path: Path) -> None:
    # moto refuses a two-letter bucket name, as S3 does, after the stand-ins have started.
    serve = Served(serve_env(tmp_path, ONETIME_BUCKET="ab"))
    status = serve.finish()
    assert status == 1
    [line] = serve.errors.strip().splitlines()
    assert line.startswith("onetime: could not start: ")
    assert "InvalidBucketName" in line
    assert READY not in serve.output
    assert not (tmp_path / STATE_FILE).exists()  # and its processes were stopped
    for variable in ("PORT", "S3_PORT", "DYNAMODB_PORT"):
        assert port_is_free(int(serve.env[variable])), variable


# ---------------------------------------------------------------- make outbox, nothing running


def test_outbox_says_when_no_serve_is_running(tmp_path: Path) -> None:
    result = run_outbox(clean_env(SERVE_LOG_DIR=str(tmp_path)))
    assert result.returncode == 1
    assert "outbox: no `make serve` is running" in result.stderr
    assert "make serve" in result.stderr and "S3_PORT" in result.stderr

    # A state file left by a serve that was killed outright names a process that is gone.
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    state = {
        "pid": int(gone.stdout),
        "api_port": 1,
        "s3_port": free_port(),
        "dynamodb_port": 3,
        "base_url": "http://127.0.0.1:1",
        "table": "t",
        "bucket": "b",
    }
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    result = run_outbox(clean_env(SERVE_LOG_DIR=str(tmp_path)))
    assert result.returncode == 1
    assert f"left by process {state['pid']}, which has exited" in result.stderr


# ---------------------------------------------------------------- log redaction


@pytest.mark.parametrize(
    "name",
    [
        "token",
        "tok%65n",
        "%74oken",
        "%74%6F%6B%65%6E",
        "%74%6f%6b%65%6e",
        "TOKEN",
        "tok%2565n",  # encoded twice
        "+token",
        "token%2B",
        "to+ken",
    ],
)
def test_a_token_parameter_is_redacted_however_its_name_is_spelled(name: str) -> None:
    line = f'127.0.0.1 - - [x] "GET /download?file=a.pdf&{name}={TOKEN} HTTP/1.1" 302 -\n'
    redacted = redact(line.encode()).decode()
    assert TOKEN not in redacted and TOKEN[16:] not in redacted
    assert f"&{name}=<redacted> HTTP/1.1" in redacted
    assert "file=a.pdf" in redacted  # other parameters stay readable


def test_anything_shaped_like_a_token_is_redacted_wherever_it_stands() -> None:
    line = f"GET /files/{TOKEN}/x?t={TOKEN};id=abc\n".encode()
    assert redact(line) == b"GET /files/<redacted>/x?t=<redacted>;id=abc\n"
    digest = "a" * 64  # a SHA-256 digest is not a token
    assert redact(f"key={digest}\n".encode()) == f"key={digest}\n".encode()


def test_redaction_is_linear_on_a_long_line() -> None:
    line = b"GET /" + b"a" * 200_000 + b" HTTP/1.1\n"
    assert redact(line) == line  # quadratic backtracking would take minutes here
