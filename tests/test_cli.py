"""The operators' command-line tool, ``onetime``.

First without a server (durations, configuration, usage, unreachable servers,
and canned answers from a tiny local HTTP server), then against the real stack
(dynalite, moto server, chalice local): every command end to end.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from click.testing import CliRunner, Result

from onetime_cli.durations import format_duration, parse_duration
from onetime_cli.links import link_id_from
from onetime_cli.main import cli
from tools.stack import HOST, SMALL_SAMPLE, Stack, free_port

TIMEOUT = 30
LINK_ID = "abcdefghijklmnop"
TOKEN = LINK_ID + "S" * 43
COMMANDS = ["link", "show", "revoke", "extend", "list"]


def invoke(
    args: list[str],
    url: str | None,
    key: str | None = "some-key",
    extra_env: Mapping[str, str] | None = None,
) -> Result:
    # The variables are given explicitly: nothing leaks in from the shell running pytest.
    env: Mapping[str, str | None] = {
        "ONETIME_URL": url,
        "ONETIME_API_KEY": key,
        "COLUMNS": None,
        "NO_COLOR": "1",
        **(extra_env or {}),
    }
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


# --- durations and link references -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("30m", 1800),
        ("2h", 7200),
        ("7d", 604_800),
        ("1w", 604_800),
        ("90", 90),
        ("1h30m", 5400),
        (" 2H ", 7200),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0s", "2x", "-5", "1.5h", "h", "2 h", "٣", "1h-5m"])
def test_invalid_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59, "59s"), (60, "1m"), (3661, "1h 1m"), (93_784, "1d 2h"), (-7200, "2h")],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    "given",
    [
        LINK_ID,
        TOKEN,
        f"https://onetime.example.com/download?token={TOKEN}",
        f" http://127.0.0.1:8000/api/download?token={TOKEN}&x=1 ",
    ],
)
def test_link_id_from_id_token_or_url(given: str) -> None:
    assert link_id_from(given) == LINK_ID


# --- help, usage and configuration -------------------------------------------------------


@pytest.mark.parametrize("command", [[], *[[name] for name in COMMANDS]])
def test_help(command: list[str]) -> None:
    result = invoke([*command, "--help"], url=None, key=None)
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: onetime")
    assert "Examples:" in result.stdout
    assert "onetime " + (command[0] if command else "link") in result.stdout


def test_help_lists_every_command_with_a_description() -> None:
    result = invoke(["--help"], url=None, key=None)
    listed = result.stdout.split("Commands:")[1].splitlines()
    descriptions = {line.split()[0]: line.split(maxsplit=1)[1] for line in listed if line.strip()}
    assert sorted(descriptions) == sorted(COMMANDS)
    assert all(len(text) > 10 for text in descriptions.values())


@pytest.mark.parametrize(
    "args",
    [
        ["link"],  # FILE missing
        ["link", "f", "--ttl", "2x"],
        ["link", "f", "--ttl", "0"],
        ["link", "f", "--uses", "0"],
        ["link", "f", "--uses", "many"],
        ["extend", LINK_ID],  # nothing to change
        ["extend", LINK_ID, "--ttl", "1.5d"],
        ["extend", LINK_ID, "--uses", "-1"],
        ["show"],
        ["list"],  # --file missing
        ["list", "--file", "f", "--limit", "0"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = invoke(args, url="http://127.0.0.1:9")
    assert result.exit_code == 2, result.output
    assert "Usage: onetime" in result.stderr
    assert "Traceback" not in result.output


def test_invalid_duration_says_what_is_accepted() -> None:
    result = invoke(["extend", LINK_ID, "--ttl", "soon"], url="http://127.0.0.1:9")
    assert result.exit_code == 2
    assert "'soon' is not a duration; use e.g. 30s, 30m, 2h, 7d, 1w" in result.stderr


@pytest.mark.parametrize(
    ("url", "key", "named"),
    [
        (None, "some-key", "ONETIME_URL"),
        ("http://127.0.0.1:9", None, "ONETIME_API_KEY"),
        ("http://127.0.0.1:9", "", "ONETIME_API_KEY"),
    ],
)
@pytest.mark.parametrize("args", [["link", "f"], ["show", LINK_ID], ["list", "--file", "f"]])
def test_missing_configuration_exits_3(
    url: str | None, key: str | None, named: str, args: list[str]
) -> None:
    result = invoke(args, url=url, key=key)
    assert result.exit_code == 3
    assert result.stderr.startswith("error: ")
    assert f"{named} (or --" in result.stderr
    assert result.stdout == ""


def test_both_missing_are_named_together() -> None:
    result = invoke(["show", LINK_ID], url=None, key=None)
    assert result.exit_code == 3
    assert "ONETIME_URL (or --url) and ONETIME_API_KEY (or --api-key) not set" in result.stderr


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://example.com", "http://"])
def test_unusable_url_exits_3(url: str) -> None:
    result = invoke(["show", LINK_ID], url=url)
    assert result.exit_code == 3
    assert "must be an http:// or https:// URL" in result.stderr


def test_options_override_the_environment() -> None:
    closed = f"http://{HOST}:{free_port()}"
    result = invoke(["--url", closed, "--api-key", "k", "show", LINK_ID], url=None, key=None)
    assert result.exit_code == 4
    assert closed in result.stderr


# --- servers that do not answer ----------------------------------------------------------


def test_refused_connection_exits_4_naming_the_url() -> None:
    url = f"http://{HOST}:{free_port()}"  # nothing listens there any more
    for args in (["link", "f"], ["show", LINK_ID], ["list", "--file", "f", "--all"]):
        result = invoke(args, url=url)
        assert result.exit_code == 4
        assert (
            result.stderr
            == f"error: cannot reach the onetime server at {url}: connection refused.\n"
        )
        assert result.stdout == ""


def test_silent_server_times_out_with_exit_4() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind((HOST, 0))
        silent.listen(8)
        url = f"http://{HOST}:{silent.getsockname()[1]}"
        started = time.monotonic()
        result = invoke(["--timeout", "0.5", "show", LINK_ID], url=url)
    assert result.exit_code == 4
    assert (
        result.stderr
        == f"error: cannot reach the onetime server at {url}: no answer within 0.5 s.\n"
    )
    assert time.monotonic() - started < 10


# --- canned answers from a local HTTP server ---------------------------------------------


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


@pytest.fixture
def canned() -> Iterator[Canned]:
    server = Canned()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_api_error_prints_the_servers_message_and_exits_1(canned: Canned) -> None:
    canned.answer(404, {"error": "link_not_found", "message": "No such link."})
    result = invoke(["show", LINK_ID], url=canned.url)
    assert result.exit_code == 1
    assert result.stderr == "error: No such link.\n"
    assert result.stdout == ""


def test_unavailable_says_when_to_retry(canned: Canned) -> None:
    canned.answer(
        503, {"error": "unavailable", "message": "Try again shortly."}, {"Retry-After": "7"}
    )
    result = invoke(["revoke", LINK_ID], url=canned.url)
    assert result.exit_code == 1
    assert result.stderr == "error: Try again shortly. Try again in 7 s.\n"


def test_unauthorized_points_at_the_key(canned: Canned) -> None:
    canned.answer(401, {"error": "unauthorized", "message": "The API key is not valid."})
    result = invoke(["list", "--file", "f"], url=canned.url)
    assert result.exit_code == 1
    assert (
        result.stderr == "error: The API key is not valid. Check ONETIME_API_KEY (or --api-key).\n"
    )


def test_error_without_json_still_reads_well(canned: Canned) -> None:
    canned.answer(502, b"<html>Bad Gateway</html>")
    result = invoke(["show", LINK_ID], url=canned.url)
    assert result.exit_code == 1
    assert result.stderr == "error: The server answered 502 Bad Gateway.\n"


def test_success_without_json_is_an_error(canned: Canned) -> None:
    canned.answer(200, b"<html>a login page</html>")
    result = invoke(["show", LINK_ID], url=canned.url)
    assert result.exit_code == 1
    assert "without a JSON object" in result.stderr


def test_pasted_url_sends_only_the_link_id(canned: Canned) -> None:
    canned.answer(200, {"id": LINK_ID, "status": "revoked", "file": "f"})
    result = invoke(["revoke", f"https://x.example/download?token={TOKEN}"], url=canned.url)
    assert result.exit_code == 0, result.output
    [(method, path, headers, _)] = canned.requests
    assert (method, path) == ("DELETE", f"/links/{LINK_ID}")
    assert headers["Authorization"] == "Bearer some-key"
    assert TOKEN not in json.dumps(canned.requests, default=str)


def test_netrc_does_not_replace_the_api_key(canned: Canned, tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {HOST} login someone password secret\n")
    netrc.chmod(0o600)
    canned.answer(200, {"id": LINK_ID, "status": "revoked", "file": "f"})
    result = invoke(["revoke", LINK_ID], url=canned.url, extra_env={"NETRC": str(netrc)})
    assert result.exit_code == 0, result.output
    assert canned.requests[0][2]["Authorization"] == "Bearer some-key"


def test_server_data_is_printed_verbatim_not_as_markup(canned: Canned) -> None:
    state = {"id": LINK_ID, "status": "active", "note": "[bold]x[/bold] :smile:", "redemptions": []}
    canned.answer(200, state)
    result = invoke(["show", LINK_ID], url=canned.url)
    assert result.exit_code == 0
    assert "[bold]x[/bold] :smile:" in result.stdout
    assert "No redemptions yet." in result.stdout


def test_list_all_follows_cursors(canned: Canned) -> None:
    canned.answer(200, {"links": [{"id": "a" * 16}], "next_cursor": "c1"})
    canned.answer(200, {"links": [{"id": "b" * 16}], "next_cursor": None})
    result = invoke(["list", "--file", "my file.pdf", "--all", "--json"], url=canned.url)
    assert result.exit_code == 0, result.output
    assert [link["id"] for link in json.loads(result.stdout)["links"]] == ["a" * 16, "b" * 16]
    queries = [parse_qs(urlsplit(path).query) for _, path, _, _ in canned.requests]
    assert queries == [{"file": ["my file.pdf"]}, {"file": ["my file.pdf"], "cursor": ["c1"]}]


# --- against the running stack -----------------------------------------------------------


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
    return requests.get(
        url,
        headers={"Accept": "application/json", "User-Agent": user_agent},
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def api(stack: Stack, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    return requests.request(
        method, stack.base_url + path, headers=headers, timeout=TIMEOUT, **kwargs
    )


def seconds_until(iso: str) -> float:
    moment = dt.datetime.fromisoformat(iso)
    assert moment.tzinfo is not None
    return moment.timestamp() - time.time()


@pytest.fixture
def own_file(stack: Stack) -> str:
    """A file no other test mints links for."""
    key = f"cli/{uuid.uuid4().hex}/notes [draft].txt"
    stack.client("s3").put_object(
        Bucket=stack.bucket, Key=key, Body=b"hello\n", ContentType="text/plain"
    )
    return key


def test_link_prints_a_url_that_downloads_once(stack: Stack) -> None:
    out = ok(stack, "link", SMALL_SAMPLE)
    url = out.removesuffix("\n")
    assert "\n" not in url  # one line, so url=$(onetime link FILE) works
    assert url.startswith(f"{stack.base_url}/download?token=")
    assert download(url).status_code == 302
    assert download(url).status_code == 410


def test_link_json(stack: Stack) -> None:
    minted = json.loads(
        ok(
            stack,
            *("link", SMALL_SAMPLE, "--json", "--uses", "2", "--ttl", "2h"),
            *("--filename", "cv.pdf", "--no-confirm", "--note", "ticket 4711"),
        )
    )
    for field in ("url", "id", "file", "filename", "size", "max_uses", "expires_at", "confirm"):
        assert field in minted
    assert minted["file"] == SMALL_SAMPLE
    assert minted["filename"] == "cv.pdf"
    assert minted["max_uses"] == 2
    assert minted["confirm"] is False
    assert 7200 - 60 < seconds_until(minted["expires_at"]) <= 7200
    assert state_of(stack, minted["id"])["note"] == "ticket 4711"


def test_show_lists_redemptions(stack: Stack) -> None:
    minted = json.loads(ok(stack, "link", SMALL_SAMPLE, "--json", "--uses", "3"))
    before = ok(stack, "show", minted["id"])
    assert "No redemptions yet." in before
    assert "0 of 3 used, 3 remaining" in before

    assert download(minted["url"], user_agent="cli-test/2.0").status_code == 302
    shown = ok(stack, "show", minted["id"])
    assert "No redemptions yet." not in shown
    assert "Redemptions" in shown
    row = next(line for line in shown.splitlines() if "cli-test/2.0" in line)
    assert "127.0.0.1" in row
    assert "redirect" in row
    assert "1 of 3 used, 2 remaining" in shown
    assert SMALL_SAMPLE in shown

    [redemption] = state_of(stack, minted["id"])["redemptions"]
    assert redemption["ip"] == "127.0.0.1"
    assert redemption["user_agent"] == "cli-test/2.0"
    assert redemption["path"] == "redirect"


def test_show_accepts_the_links_url(stack: Stack) -> None:
    minted = json.loads(ok(stack, "link", SMALL_SAMPLE, "--json"))
    assert state_of(stack, minted["url"])["id"] == minted["id"]
    assert download(minted["url"]).status_code == 302  # showing spent nothing


def test_extend_ttl_moves_the_expiry(stack: Stack) -> None:
    minted = json.loads(ok(stack, "link", SMALL_SAMPLE, "--json", "--ttl", "1h"))
    assert 3600 - 60 < seconds_until(state_of(stack, minted["id"])["expires_at"]) <= 3600

    out = ok(stack, "extend", minted["id"], "--ttl", "2d")
    assert out.startswith(f"Updated link {minted['id']}: expires ")
    state = state_of(stack, minted["id"])
    assert 2 * 86_400 - 60 < seconds_until(state["expires_at"]) <= 2 * 86_400
    assert state["status"] == "active"


def test_extend_uses_and_note(stack: Stack) -> None:
    minted = json.loads(ok(stack, "link", SMALL_SAMPLE, "--json"))
    assert download(minted["url"]).status_code == 302
    assert download(minted["url"]).status_code == 410

    out = ok(stack, "extend", minted["id"], "--uses", "2", "--note", "resent")
    assert "1 of 2 used, 1 remaining" in out
    state = state_of(stack, minted["id"])
    assert (state["max_uses"], state["note"], state["status"]) == (2, "resent", "active")
    assert download(minted["url"]).status_code == 302


@pytest.mark.parametrize("uses", ["0", "1"])
def test_extend_uses_below_uses_made_fails(stack: Stack, uses: str) -> None:
    minted = json.loads(ok(stack, "link", SMALL_SAMPLE, "--json", "--uses", "3"))
    assert download(minted["url"]).status_code == 302
    assert download(minted["url"]).status_code == 302

    result = run(stack, "extend", minted["id"], "--uses", uses)
    assert result.exit_code == 1
    answer = api(stack, "PATCH", f"/links/{minted['id']}", json={"max_uses": int(uses)})
    assert answer.status_code in (400, 409)
    assert result.stderr == f"error: {answer.json()['message']}\n"
    assert result.stdout == ""
    assert state_of(stack, minted["id"])["max_uses"] == 3


def test_revoke(stack: Stack) -> None:
    minted = json.loads(ok(stack, "link", SMALL_SAMPLE, "--json", "--uses", "5"))
    out = ok(stack, "revoke", minted["id"])
    assert out.startswith(f"Revoked link {minted['id']} ")
    state = state_of(stack, minted["id"])
    assert state["status"] == "revoked"
    assert state["revoked_at"]
    assert download(minted["url"]).status_code == 410
    assert ok(stack, "revoke", minted["id"]).startswith("Revoked link")  # twice is fine


def test_list_newest_first(stack: Stack, own_file: str) -> None:
    ids = [json.loads(ok(stack, "link", own_file, "--json"))["id"] for _ in range(3)]
    newest_first = ids[::-1]

    listed = json.loads(ok(stack, "list", "--file", own_file, "--json"))
    assert [link["id"] for link in listed["links"]] == newest_first
    assert listed["next_cursor"] is None

    table = ok(stack, "list", "--file", own_file)
    rows = [line for line in table.splitlines() if any(i in line for i in ids)]
    assert [next(i for i in ids if i in row) for row in rows] == newest_first
    assert all("active" in row and "0/1" in row and "notes [draft].txt" in row for row in rows)


def test_list_pages(stack: Stack, own_file: str) -> None:
    ids = [json.loads(ok(stack, "link", own_file, "--json"))["id"] for _ in range(3)]
    newest_first = ids[::-1]

    first = run(stack, "list", "--file", own_file, "--limit", "2")
    assert first.exit_code == 0
    assert [i for i in newest_first if i in first.stdout] == newest_first[:2]
    hint = first.stderr.strip()
    assert hint.startswith("More links: onetime list --file ")
    cursor = hint.split("--cursor ")[1].split()[0]

    rest = ok(stack, "list", "--file", own_file, "--limit", "2", "--cursor", cursor)
    assert [i for i in ids if i in rest] == newest_first[2:]

    every = json.loads(ok(stack, "list", "--file", own_file, "--limit", "2", "--all", "--json"))
    assert [link["id"] for link in every["links"]] == newest_first


def test_list_of_a_file_without_links(stack: Stack) -> None:
    assert ok(stack, "list", "--file", "nothing/here.pdf") == "No links for nothing/here.pdf.\n"


@pytest.mark.parametrize("command", [["show"], ["revoke"], ["extend", "--ttl", "1h"]])
def test_unknown_link_exits_1_with_the_servers_message(stack: Stack, command: list[str]) -> None:
    unknown = "a" * 16
    result = run(stack, command[0], unknown, *command[1:])
    assert result.exit_code == 1
    answer = api(stack, "GET", f"/links/{unknown}")
    assert answer.status_code == 404
    assert result.stderr == f"error: {answer.json()['message']}\n"


def test_unknown_file_exits_1(stack: Stack) -> None:
    result = run(stack, "link", "no/such/file.pdf")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert result.stdout == ""


def test_wrong_api_key_exits_1(stack: Stack) -> None:
    result = invoke(["show", "a" * 16], url=stack.base_url, key="not-the-key")
    assert result.exit_code == 1
    assert "Check ONETIME_API_KEY" in result.stderr
