"""The CLI tests' harness: ``onetime`` run in-process, a canned server on 127.0.0.1, calls
to the stack, and what terminal output must never carry."""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import os
import re
import unicodedata
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from click.testing import CliRunner, Result

from onetime_cli.main import cli
from tests.helpers import TIMEOUT
from tools.outbox import outbox
from tools.ports import HOST
from tools.stack import Stack

LINK_ID = "abcdefghijklmnop"


TOKEN = LINK_ID + "S" * 43


CUSTOMER = "customer@example.com"


def invoke(
    args: list[str],
    url: str | None,
    key: str | None = "some-key",
    extra_env: Mapping[str, str] | None = None,
    color: bool = False,
) -> Result:
    """Run ``onetime``.  ``color`` keeps click from stripping escape sequences the
    way it does in a pipe, as on a terminal."""
    # The variables are given explicitly: nothing leaks in from the shell running pytest.
    env: Mapping[str, str | None] = {
        "ONETIME_URL": url,
        "ONETIME_API_KEY": key,
        "COLUMNS": None,
        "NO_COLOR": "1",
        **(extra_env or {}),
    }
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False, color=color)


class Canned(ThreadingHTTPServer):
    """Answers every request with the next canned (status, headers, body); records requests."""

    def __init__(self) -> None:
        super().__init__((HOST, 0), CannedHandler)
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        kind = "text/html" if isinstance(body, bytes) else "application/json"
        self.answers.append((status, {"Content-Type": kind, **(headers or {})}, raw))


class CannedHandler(BaseHTTPRequestHandler):
    server: Canned

    def handle_one(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.requests.append((self.command, self.path, dict(self.headers), body))
        status, headers, raw = self.server.answers.pop(0)
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(raw))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PATCH = do_DELETE = handle_one

    def log_message(self, format: str, *args: Any) -> None:
        pass


# A redemption's user agent as anyone holding a link can send it: clear the screen, a
# hidden hyperlink, then a carriage return and a forged audit row, reversed by U+202E.
EVIL = (
    "evil\x1b[2J\x1b]8;;http://x\x07click\x1b]8;;\x07\r2026-01-01 00:00  10.0.0.1  fake-row\u202e"
)


EVIL_SHOWN = (
    r"evil\x1b[2J\x1b]8;;http://x\x07click\x1b]8;;\x07\r2026-01-01 00:00  10.0.0.1  fake-row"
    r"\u202e"
)


# More of what a terminal obeys: backspace, line and paragraph separators, a newline,
# DEL, the one-byte CSI, an isolate and a zero-width space.
OTHERS = "a\bb\u2028c\u2029d\ne\x7ff\x9bg\u2066h\u200bi"


OTHERS_SHOWN = r"a\x08b\u2028c\u2029d\ne\x7ff\x9bg\u2066h\u200bi"


# rich's own styling (a bold column) is the only escape sequence a terminal may get.
OWN_STYLE = re.compile(r"\x1b\[[0-9;]*m")


TERMINAL = {"TTY_COMPATIBLE": "1", "COLUMNS": "1000"}


def assert_nothing_reaches_the_terminal_raw(output: str) -> None:
    """No control, format or separator character but the line ends; rich's own colours aside."""
    text = OWN_STYLE.sub("", output)
    for character in ("\x1b", "\r", "\x07", "\u202e", "\b", "\u2028", "\u2029", "\x9b"):
        assert character not in text, f"{character!r} reached the terminal"
    raw = {ch for ch in text if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")} - {"\n"}
    assert raw == set()


CANNED_URL = f"https://onetime.example.com/download?token={TOKEN}"


def run(stack: Stack, *args: str) -> Result:
    return invoke(list(args), url=stack.base_url, key=stack.api_key)


def ok(stack: Stack, *args: str) -> str:
    result = run(stack, *args)
    assert result.exit_code == 0, f"onetime {' '.join(args)}: {result.output}"
    return result.stdout


def state_of(stack: Stack, link_id: str) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(ok(stack, "show", link_id, "--json"))
    return state


def download(url: str, user_agent: str = "cli-test/1.0") -> requests.Response:
    """Redeem a link as `curl -d` or `onetime get` does: the token POSTed in the body to
    the link's address without its query.  (A GET never spends a link that waits for a
    person, the default; see ``look``.)"""
    parts = urlsplit(url)
    [token] = parse_qs(parts.query)["token"]
    return requests.post(
        parts._replace(query="").geturl(),
        data={"token": token},
        headers={"Accept": "*/*", "User-Agent": user_agent},
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def api(stack: Stack, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    return requests.request(
        method, stack.base_url + path, headers=headers, timeout=TIMEOUT, **kwargs
    )


def last_email(stack: Stack) -> tuple[dict[str, Any], email.message.EmailMessage]:
    [last] = outbox(stack.s3_port, last=1)
    message = email.message_from_string(last["raw_data"], policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return last, message


def text_part(message: email.message.EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text: str = body.get_content()
    return text


def sent_count(stack: Stack) -> int:
    return len(outbox(stack.s3_port, last=1_000_000))


def link_to(server: Canned, path: str = "/download") -> str:
    return f"{server.url}{path}?token={TOKEN}"


def get(*args: str, extra_env: Mapping[str, str] | None = None) -> Result:
    """``onetime get`` with no ONETIME_URL and no API key: it needs neither."""
    return invoke(["get", *args], url=None, key=None, extra_env=extra_env)


def files_in(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))
