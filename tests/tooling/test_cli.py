"""The operators' command-line tool, ``onetime``.

First without a server (durations, configuration, usage, unreachable servers,
and canned answers from a tiny local HTTP server), then against the real stack
(dynalite, moto server, chalice local): every command end to end.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import socket
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from click.testing import Result

from onetime_cli import downloads
from onetime_cli.durations import format_duration, parse_duration
from onetime_cli.links import link_id_from
from onetime_cli.render import printable
from onetime_cli.uploads import FileChanged, FormBody, guess_content_type
from tests.helpers import TIMEOUT, serving
from tests.tooling.cli import (
    CANNED_URL,
    CUSTOMER,
    EVIL,
    EVIL_SHOWN,
    LINK_ID,
    OTHERS,
    OTHERS_SHOWN,
    TERMINAL,
    TOKEN,
    Canned,
    CannedHandler,
    api,
    assert_nothing_reaches_the_terminal_raw,
    download,
    files_in,
    get,
    invoke,
    last_email,
    link_to,
    ok,
    run,
    sent_count,
    state_of,
    text_part,
)
from tools.ports import HOST, free_port
from tools.samples import LARGE_SAMPLE, SMALL_SAMPLE
from tools.stack import Stack

REPORT_NAME = "Prüfbericht 2026.bin"
THIS_FILE = str(Path(__file__).resolve())  # a file that certainly exists
COMMANDS = [
    "link",
    "share",
    "show",
    "revoke",
    "unlock",
    "refund",
    "resend",
    "extend",
    "list",
    "get",
    "request",
    "requests",
    "smoke",
]


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


# --- the upload form ---------------------------------------------------------------------


def parse_form(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart/form-data body, in order: (headers, content)."""
    boundary = content_type.split("multipart/form-data; boundary=")[1].encode()
    chunks = body.split(b"--" + boundary)
    assert chunks[0] == b"" and chunks[-1] == b"--\r\n"
    parts = []
    for chunk in chunks[1:-1]:
        assert chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n")
        head, content = chunk[2:-2].split(b"\r\n\r\n", 1)
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        parts.append((headers, content))
    return parts


def test_form_body_streams_fields_then_exactly_the_declared_bytes() -> None:
    data = os.urandom(100_000)
    progress: list[int] = []
    body = FormBody(
        {"key": "uploads/x/a.bin", "Content-Type": "application/octet-stream", "policy": "p"},
        io.BytesIO(data + b"grown since"),
        filename='Prüf "bericht".bin',
        content_type="application/octet-stream",
        size=len(data),
        on_progress=progress.append,
    )
    blocks = list(iter(lambda: body.read(16_384), b""))
    raw = b"".join(blocks)
    assert len(raw) == len(body)
    assert max(len(block) for block in blocks) <= 16_384
    assert sum(progress) == len(data) and len(progress) > 1
    parts = parse_form(body.content_type, raw)
    assert [(headers["Content-Disposition"], content) for headers, content in parts[:-1]] == [
        ('form-data; name="key"', b"uploads/x/a.bin"),
        ('form-data; name="Content-Type"', b"application/octet-stream"),
        ('form-data; name="policy"', b"p"),
    ]
    headers, content = parts[-1]
    assert headers == {
        "Content-Disposition": 'form-data; name="file"; filename="Prüf %22bericht%22.bin"',
        "Content-Type": "application/octet-stream",
    }
    assert content == data


def test_form_body_refuses_a_file_that_shrank() -> None:
    body = FormBody({}, io.BytesIO(b"short"), filename="a", content_type="text/plain", size=10)
    with pytest.raises(FileChanged, match="expected 10 bytes, read 5"):
        while body.read(1024):
            pass


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Rapport.pdf", "application/pdf"),
        ("photo.JPG", "image/jpeg"),
        ("backup.tar.gz", "application/gzip"),
        (REPORT_NAME, "application/octet-stream"),
        ("README", "application/octet-stream"),
    ],
)
def test_content_type_is_guessed_from_the_name(name: str, kind: str) -> None:
    assert guess_content_type(name) == kind


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
        ["refund"],  # ID missing
        ["refund", LINK_ID, "--redemption", " "],  # refused before any request
        ["list", "--file", "f", "--limit", "0"],
        ["link", "f", "--message", "hi"],  # a message needs --email
        ["share"],  # FILE missing
        ["share", "no/such/file.bin"],
        ["share", "."],  # a directory
        ["share", THIS_FILE, "--subject", "Hi"],
        ["share", THIS_FILE, "--uses", "0"],
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


def test_share_without_configuration_exits_3_before_uploading(report: Path) -> None:
    result = invoke(["share", str(report)], url=None)
    assert result.exit_code == 3
    assert "ONETIME_URL (or --url) not set" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_share_of_an_unreadable_file_exits_2(report: Path) -> None:
    report.chmod(0)
    result = invoke(["share", str(report)], url="http://127.0.0.1:9")
    assert result.exit_code == 2
    assert "is not readable" in result.stderr


def test_share_help_says_how_large_files_go_and_resume() -> None:
    # Issue 25: above the server's threshold a file goes in parts, and --resume goes on.
    result = invoke(["share", "--help"], url=None, key=None)
    text = " ".join(result.stdout.split())
    assert "goes in parts" in text and "--resume" in text
    assert "not supported" not in text


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
        silent.bind((HOST, free_port()))
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


@pytest.fixture
def report(tmp_path: Path) -> Path:
    """About 300 KB of random bytes, under a name that is not ASCII."""
    path = tmp_path / REPORT_NAME
    path.write_bytes(os.urandom(300 * 1024))
    return path


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


def patched_state(status: str) -> dict[str, Any]:
    """What PATCH answers for a one-use link, unused, whose expiry moved a day on."""
    return {
        "id": LINK_ID,
        "status": status,
        "uses": 0,
        "max_uses": 1,
        "remaining": 1,
        "expires_at": "2099-01-01T00:00:00Z",
        "revoked_at": "2026-01-01T00:00:00Z" if status == "revoked" else None,
    }


@pytest.mark.parametrize("code", ["link_revoked", "conflict"])
def test_extend_of_a_revoked_link_says_what_the_server_refused(canned: Canned, code: str) -> None:
    message = "Link abcdefghijklmnop was revoked; it cannot be changed."
    canned.answer(409, {"error": code, "message": message})
    result = invoke(["extend", LINK_ID, "--ttl", "1d"], url=canned.url)
    assert result.exit_code == 1
    assert (result.stdout, result.stderr) == ("", f"error: {message}\n")
    [(method, path, _, body)] = canned.requests
    assert (method, path, json.loads(body)) == ("PATCH", f"/links/{LINK_ID}", {"ttl": 86_400})


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        ("revoked", "a revoked link stays revoked; mint a new one"),
        ("used", "give --uses above the uses made"),
        ("expired", "give --ttl to move the expiry"),
    ],
)
@pytest.mark.parametrize(
    "options", [["--ttl", "1d"], ["--uses", "1"], ["--ttl", "1d", "--note", "n", "--json"]]
)
def test_extend_that_leaves_the_link_dead_is_not_a_success(
    canned: Canned, status: str, hint: str, options: list[str]
) -> None:
    # An older server answers 200 and its state even when the link stays unusable.
    canned.answer(200, patched_state(status))
    result = invoke(["extend", LINK_ID, *options], url=canned.url)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: link {LINK_ID} is {status}; extending it changes nothing ({hint}).\n"
    )


def test_extend_that_makes_the_link_active_reports_it(canned: Canned) -> None:
    canned.answer(200, patched_state("active"))
    result = invoke(["extend", LINK_ID, "--ttl", "1d"], url=canned.url)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Updated link {LINK_ID}: expires 2099-01-01T00:00:00Z (in ")
    assert result.stdout.endswith(", 0 of 1 used, 1 remaining.\n")


def test_a_note_on_a_revoked_link_is_changed_and_says_it_will_not_deliver(canned: Canned) -> None:
    canned.answer(200, {**patched_state("revoked"), "note": "refunded"})
    result = invoke(["extend", LINK_ID, "--note", "refunded"], url=canned.url)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Updated link {LINK_ID}: expires ")
    assert result.stdout.endswith(" It is revoked: it will not deliver.\n")


def evil_state(**changes: Any) -> dict[str, Any]:
    redemption = {"at": EVIL, "ip": EVIL, "user_agent": EVIL, "path": EVIL}
    state = {
        "id": LINK_ID,
        "status": "active",
        "file": EVIL,
        "filename": EVIL,
        "size": EVIL,
        "content_type": EVIL,
        "max_uses": 2,
        "uses": 1,
        "remaining": 1,
        "created_at": EVIL,
        "expires_at": EVIL,
        "note": OTHERS,
        "confirm": True,
        "redemptions": [redemption, {**redemption, "user_agent": OTHERS}],
    }
    return {**state, **changes}


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (EVIL, EVIL_SHOWN),
        (OTHERS, OTHERS_SHOWN),
        ("tab\there", r"tab\there"),
        ("\ud800lone", r"\ud800lone"),  # a lone surrogate could not even be encoded
        ("\U000e0041tag", r"\U000e0041tag"),
        ("Prüfbericht 📄 [bold] C:\\x.pdf", "Prüfbericht 📄 [bold] C:\\x.pdf"),
        (None, "None"),
    ],
    ids=["user-agent", "others", "tab", "surrogate", "astral", "harmless", "none"],
)
def test_printable_escapes_what_a_terminal_would_obey(value: object, shown: str) -> None:
    assert printable(value) == shown


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_show_escapes_terminal_controls_in_server_data(canned: Canned, terminal: bool) -> None:
    canned.answer(200, evil_state())
    result = invoke(
        ["show", LINK_ID], url=canned.url, extra_env=TERMINAL if terminal else None, color=terminal
    )
    assert result.exit_code == 0, result.output
    assert_nothing_reaches_the_terminal_raw(result.stdout + result.stderr)
    assert result.stdout.count(EVIL_SHOWN) == 13  # every field and cell that held it
    assert OTHERS_SHOWN in result.stdout
    # The forged row stays inside the cell that carried it, never a line of its own.
    assert all(EVIL_SHOWN in line for line in result.stdout.splitlines() if "fake-row" in line)


@pytest.mark.parametrize(
    "args", [["show", LINK_ID], ["revoke", LINK_ID], ["extend", LINK_ID, "--ttl", "1d"]]
)
def test_json_output_escapes_terminal_controls_and_keeps_the_value(
    canned: Canned, args: list[str]
) -> None:
    state = evil_state(id=EVIL + OTHERS)
    canned.answer(200, state)
    result = invoke([*args, "--json"], url=canned.url, color=True)
    assert result.exit_code == 0, result.output
    assert_nothing_reaches_the_terminal_raw(result.stdout)
    assert json.loads(result.stdout) == state  # JSON's own escapes: the raw value survives


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_list_escapes_terminal_controls_in_server_data(canned: Canned, terminal: bool) -> None:
    link = {"id": EVIL, "status": EVIL, "uses": EVIL, "max_uses": 1, "filename": EVIL}
    canned.answer(200, {"links": [link, {**link, "filename": OTHERS}], "next_cursor": EVIL})
    canned.answer(200, {"links": [link], "next_cursor": EVIL})
    env = TERMINAL if terminal else None
    table = invoke(["list", "--file", "f"], url=canned.url, extra_env=env, color=terminal)
    as_json = invoke(["list", "--file", "f", "--json"], url=canned.url, color=terminal)
    for result in (table, as_json):
        assert result.exit_code == 0, result.output
        assert_nothing_reaches_the_terminal_raw(result.stdout + result.stderr)
    assert table.stdout.count(EVIL_SHOWN) == 7
    assert OTHERS_SHOWN in table.stdout
    assert EVIL_SHOWN in table.stderr  # the cursor in the hint for the next page
    assert json.loads(as_json.stdout)["links"] == [link]


@pytest.mark.parametrize(
    ("args", "answer", "printed"),
    [
        (["revoke", LINK_ID], evil_state(), "stdout"),
        (["extend", LINK_ID, "--ttl", "1d"], evil_state(id=EVIL), "stdout"),
        (["link", "f"], {"url": EVIL}, "stdout"),
        (["link", "f", "--email", CUSTOMER], {"url": "u", "message_id": EVIL}, "stderr"),
    ],
)
def test_one_line_answers_escape_terminal_controls(
    canned: Canned, args: list[str], answer: dict[str, Any], printed: str
) -> None:
    canned.answer(200, answer)
    result = invoke(args, url=canned.url, color=True)
    assert result.exit_code == 0, result.output
    assert_nothing_reaches_the_terminal_raw(result.stdout + result.stderr)
    assert EVIL_SHOWN in getattr(result, printed)


def test_error_messages_escape_terminal_controls(canned: Canned) -> None:
    canned.answer(409, {"error": "conflict", "message": EVIL})
    result = invoke(["extend", LINK_ID, "--ttl", "1d"], url=canned.url, color=True)
    assert result.exit_code == 1
    assert result.stderr == f"error: {EVIL_SHOWN}\n"


def test_s3_error_messages_escape_terminal_controls(canned: Canned, report: Path) -> None:
    answer_upload_form(canned)
    refusal = f"<Error><Code>x\x1b[2J</Code><Message>{EVIL}</Message></Error>"
    canned.answer(403, refusal.encode(), {"Content-Type": "application/xml"})
    result = invoke(["share", str(report)], url=canned.url, color=True)
    assert result.exit_code == 1
    assert_nothing_reaches_the_terminal_raw(result.stderr)
    assert result.stderr == f"error: S3 refused the upload (403 x\\x1b[2J): {EVIL_SHOWN}\n"


@pytest.mark.parametrize(
    ("by", "value"), [("file", "my file.pdf"), ("email", "A@Example.com")], ids=["file", "email"]
)
def test_list_all_follows_cursors(canned: Canned, by: str, value: str) -> None:
    canned.answer(200, {"links": [{"id": "a" * 16}], "next_cursor": "c1"})
    canned.answer(200, {"links": [{"id": "b" * 16}], "next_cursor": None})
    result = invoke(["list", f"--{by}", value, "--all", "--json"], url=canned.url)
    assert result.exit_code == 0, result.output
    assert [link["id"] for link in json.loads(result.stdout)["links"]] == ["a" * 16, "b" * 16]
    queries = [parse_qs(urlsplit(path).query) for _, path, _, _ in canned.requests]
    assert queries == [{by: [value]}, {by: [value], "cursor": ["c1"]}]


CANNED_KEY = f"uploads/0123456789abcdef/{REPORT_NAME}"


def answer_upload_form(canned: Canned, s3_url: str | None = None) -> dict[str, str]:
    fields = {
        "Content-Type": "application/octet-stream",
        "key": CANNED_KEY,
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "policy": "eyJjb25kaXRpb25zIjogW119",
        "x-amz-signature": "0" * 64,
    }
    form = {"key": CANNED_KEY, "url": s3_url or f"{canned.url}/bucket", "fields": fields}
    canned.answer(201, {**form, "expires_at": "2026-11-23T05:51:26Z"})
    return fields


def test_share_streams_the_form_to_s3_then_mints(canned: Canned, report: Path) -> None:
    fields = answer_upload_form(canned)
    canned.answer(204, b"")
    canned.answer(201, {"url": CANNED_URL, "id": LINK_ID, "file": CANNED_KEY})
    result = invoke(["share", str(report), "--ttl", "2h", "--no-confirm"], url=canned.url)
    assert result.exit_code == 0, result.output
    assert (result.stdout, result.stderr) == (CANNED_URL + "\n", "")
    [(_, form_path, _, form), (method, path, headers, body), (_, link_path, _, link)] = (
        canned.requests
    )
    assert form_path == "/uploads"
    assert json.loads(form) == {
        "filename": REPORT_NAME,
        "content_type": "application/octet-stream",
        "size": 300 * 1024,
    }
    assert (method, path) == ("POST", "/bucket")
    assert "Authorization" not in headers  # the API key never goes to S3
    assert headers["Content-Length"] == str(len(body))  # not chunked: S3 needs the length
    assert "Transfer-Encoding" not in headers
    parts = parse_form(headers["Content-Type"], body)
    # Every field of the form first, in order, then the file (S3 ignores fields after it).
    dispositions = [headers["Content-Disposition"] for headers, _ in parts]
    assert dispositions == [
        *(f'form-data; name="{name}"' for name in fields),
        f'form-data; name="file"; filename="{REPORT_NAME}"',
    ]
    assert [content.decode() for _, content in parts[:-1]] == list(fields.values())
    assert parts[-1][1] == report.read_bytes()
    assert link_path == "/links"
    assert json.loads(link) == {"file": CANNED_KEY, "ttl": 7200, "confirm": False}


def test_share_with_filename_uploads_under_that_name_and_type(canned: Canned, report: Path) -> None:
    answer_upload_form(canned)
    canned.answer(204, b"")
    canned.answer(201, {"url": CANNED_URL})
    result = invoke(["share", str(report), "--filename", "Bericht final.pdf"], url=canned.url)
    assert result.exit_code == 0, result.output
    upload = json.loads(canned.requests[0][3])
    assert (upload["filename"], upload["content_type"]) == ("Bericht final.pdf", "application/pdf")
    assert "filename" not in json.loads(canned.requests[2][3])  # the key already ends in it


def test_share_shows_progress_on_a_terminal(canned: Canned, report: Path) -> None:
    answer_upload_form(canned)
    canned.answer(204, b"")
    canned.answer(201, {"url": CANNED_URL})
    terminal = {"TTY_COMPATIBLE": "1", "COLUMNS": "160"}
    result = invoke(["share", str(report)], url=canned.url, extra_env=terminal)
    assert result.exit_code == 0, result.output
    assert result.stdout == CANNED_URL + "\n"
    assert f"Uploading {REPORT_NAME}" in result.stderr
    assert "300.0/300.0 KiB" in result.stderr  # bytes sent of the total
    assert "/s" in result.stderr  # the rate


def test_share_quiet_prints_only_the_url(canned: Canned, report: Path) -> None:
    answer_upload_form(canned)
    canned.answer(204, b"")
    canned.answer(201, {"url": CANNED_URL, "message_id": "m-1"})
    terminal = {"TTY_COMPATIBLE": "1", "COLUMNS": "160"}
    result = invoke(
        ["share", str(report), "--quiet", "--email", CUSTOMER], url=canned.url, extra_env=terminal
    )
    assert result.exit_code == 0, result.output
    assert (result.stdout, result.stderr) == (CANNED_URL + "\n", "")


def test_share_of_a_file_over_the_limit_uploads_nothing(canned: Canned, report: Path) -> None:
    canned.answer(
        400, {"error": "invalid_size", "message": "size must be between 1 and 1000 bytes."}
    )
    result = invoke(["share", str(report)], url=canned.url)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: size must be between 1 and 1000 bytes. ")
    assert "300.0 KiB (307,200 bytes)" in result.stderr
    assert result.stdout == ""
    assert len(canned.requests) == 1  # no upload, no link


def test_share_refused_by_s3_says_why(canned: Canned, report: Path) -> None:
    answer_upload_form(canned)
    refusal = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        b"<Message>Invalid according to Policy: Policy expired.</Message>"
        b"<RequestId>R</RequestId></Error>"
    )
    canned.answer(403, refusal, {"Content-Type": "application/xml"})
    result = invoke(["share", str(report)], url=canned.url)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: S3 refused the upload (403 AccessDenied): "
        "Invalid according to Policy: Policy expired.\n"
    )
    assert result.stdout == ""
    assert len(canned.requests) == 2  # no link to a file that is not there


def test_share_when_s3_is_unreachable_exits_4(canned: Canned, report: Path) -> None:
    closed = f"http://{HOST}:{free_port()}/bucket"
    answer_upload_form(canned, s3_url=closed)
    result = invoke(["share", str(report)], url=canned.url)
    assert result.exit_code == 4
    assert result.stderr == f"error: cannot reach S3 at {closed}: connection refused.\n"


def test_share_says_where_the_file_is_when_minting_fails(canned: Canned, report: Path) -> None:
    answer_upload_form(canned)
    canned.answer(204, b"")
    failed = "The email could not be sent: the mail service failed."
    canned.answer(502, {"error": "mail_failed", "message": failed})
    result = invoke(["share", str(report), "--email", CUSTOMER], url=canned.url)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {failed} The file is uploaded as {CANNED_KEY}; mint a link to it with: "
        f"onetime link '{CANNED_KEY}'\n"
    )
    assert result.stdout == ""


def test_link_email_sends_the_mail_fields(canned: Canned) -> None:
    canned.answer(201, {"url": CANNED_URL, "id": LINK_ID, "message_id": "m-1"})
    result = invoke(
        ["link", "f.pdf", "--email", CUSTOMER, "--subject", "Your file", "--message", "Hi"],
        url=canned.url,
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == CANNED_URL + "\n"
    assert result.stderr == f"Emailed to {CUSTOMER} (message id m-1).\n"
    sent = json.loads(canned.requests[0][3])
    assert sent == {"file": "f.pdf", "email": CUSTOMER, "subject": "Your file", "message": "Hi"}


# --- refunds, and what show says of redemptions and visits (canned) ---------------------

REDEMPTION_ID = "9f86d081884c7d65"


def refunded_state(**changes: Any) -> dict[str, Any]:
    """A one-use link whose use was given back."""
    state = {
        "id": LINK_ID,
        "status": "active",
        "file": "reports/q3.pdf",
        "max_uses": 1,
        "uses": 0,
        "remaining": 1,
        "refunds": [{"at": "2026-11-30T10:05:00Z", "redemption": None}],
    }
    return {**state, **changes}


def test_refund_posts_to_the_refund_route_with_only_the_link_id(canned: Canned) -> None:
    canned.answer(200, refunded_state())
    result = invoke(["refund", f"https://x.example/download?token={TOKEN}"], url=canned.url)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Gave back one use of link {LINK_ID}: 0 of 1 used, 1 remaining.\n"
    [(method, path, headers, body)] = canned.requests
    assert (method, path) == ("POST", f"/links/{LINK_ID}/refund")
    assert headers["Authorization"] == "Bearer some-key"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {}  # no redemption named: one use, whichever
    assert TOKEN not in json.dumps(canned.requests, default=str)


def test_refund_of_a_named_redemption_sends_its_id_and_names_it(canned: Canned) -> None:
    canned.answer(200, refunded_state(max_uses=3, uses=1, remaining=2))
    result = invoke(["refund", LINK_ID, "--redemption", REDEMPTION_ID], url=canned.url)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Gave back the use of redemption {REDEMPTION_ID} of link {LINK_ID}: "
        "1 of 3 used, 2 remaining.\n"
    )
    [(method, path, _, body)] = canned.requests
    assert (method, path) == ("POST", f"/links/{LINK_ID}/refund")
    assert json.loads(body) == {"redemption": REDEMPTION_ID}


def test_refund_of_a_link_that_still_cannot_deliver_says_so(canned: Canned) -> None:
    canned.answer(200, refunded_state(status="revoked"))
    result = invoke(["refund", LINK_ID], url=canned.url)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("1 remaining. It is revoked: it will not deliver.\n")


def test_refund_json_prints_the_links_state(canned: Canned) -> None:
    state = refunded_state()
    canned.answer(200, state)
    result = invoke(["refund", LINK_ID, "--json"], url=canned.url)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == state


def test_refund_with_nothing_to_give_back_exits_1_with_the_servers_message(
    canned: Canned,
) -> None:
    message = "The link has no use to give back: it has not been used."
    canned.answer(409, {"error": "conflict", "message": message})
    result = invoke(["refund", LINK_ID], url=canned.url)
    assert result.exit_code == 1
    assert result.stderr == f"error: {message}\n"
    assert result.stdout == ""


def counted_state() -> dict[str, Any]:
    """A link with a suspected and refunded redemption, a plain one, visits and refunds."""
    redemption = {
        "ip": "10.0.0.5",
        "user_agent": "curl/8.5.0",
        "path": "redirect",
        "suspected_automation": None,
        "refunded_at": None,
    }
    return {
        **refunded_state(max_uses=2, uses=1, remaining=1),
        "redemptions": [
            {
                **redemption,
                "id": REDEMPTION_ID,
                "at": "2026-11-30T10:00:01Z",
                "suspected_automation": {"reason": "within 10 s of the link being made"},
                "refunded_at": "2026-11-30T10:05:00Z",
            },
            {
                **redemption,
                "id": "0123456789abcdef",
                "at": "2026-11-30T11:30:00Z",
                "user_agent": "Mozilla/5.0 (person)",
                "path": "stream",
            },
        ],
        "visits": {
            "counts": {"too_fast": 1, "preview": 1, "page": 2},
            "recent": [
                {
                    "at": "2026-11-30T09:59:00Z",
                    "ip": "10.0.0.7",
                    "user_agent": "curl/8.5.0",
                    "kind": "preview",
                },
                {
                    "at": "2026-11-30T11:29:00Z",
                    "ip": "10.0.0.8",
                    "user_agent": "Mozilla/5.0 (person)",
                    "kind": "page",
                },
            ],
        },
        "refunds": [
            {"at": "2026-11-30T10:05:00Z", "redemption": REDEMPTION_ID},
            {"at": "2026-11-30T12:00:00Z", "redemption": None},
        ],
    }


def line_with(output: str, *parts: str) -> str:
    """The one line of ``output`` holding every one of ``parts``."""
    [line] = [line for line in output.splitlines() if all(part in line for part in parts)]
    return line


def test_show_marks_suspected_and_refunded_redemptions_and_lists_visits_and_refunds(
    canned: Canned,
) -> None:
    state = counted_state()
    canned.answer(200, state)
    canned.answer(200, state)
    result = invoke(["show", LINK_ID], url=canned.url)
    assert result.exit_code == 0, result.output
    out = result.stdout

    suspected = line_with(out, REDEMPTION_ID, "10.0.0.5")
    assert "2026-11-30 10:00   10.0.0.5   curl/8.5.0" in suspected
    assert suspected.endswith(
        "redirect   suspected automation: within 10 s of the link being made; "
        "refunded at 2026-11-30 10:05"
    )
    plain = line_with(out, "0123456789abcdef")
    assert plain.endswith("stream")  # neither suspected nor refunded
    assert "ID" in line_with(out, "Time (UTC)", "Path", "Notes")

    # Known kinds in their order, whatever the server's; then the recent visits.
    assert "4 in all: page 2, preview 1, too_fast 1 (the last 2 below)" in out
    assert "2026-11-30 09:59   10.0.0.7   curl/8.5.0" in line_with(out, "preview", "10.0.0.7")
    assert "Mozilla/5.0 (person)" in line_with(out, "page", "10.0.0.8")

    assert line_with(out, "2026-11-30 12:00").endswith("— (one use, none named)")
    assert f"\n2026-11-30 10:05   {REDEMPTION_ID}\n" in out  # the refund naming it
    headings = ["Redemptions", "Visits that spent nothing", "Refunds"]
    assert [out.index(f"\n{heading}\n") for heading in headings] == sorted(
        out.index(f"\n{heading}\n") for heading in headings
    )

    as_json = invoke(["show", LINK_ID, "--json"], url=canned.url)
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == state  # still the raw state


def test_show_says_when_nothing_was_visited_or_refunded(canned: Canned) -> None:
    canned.answer(
        200, refunded_state(redemptions=[], visits={"counts": {}, "recent": []}, refunds=[])
    )
    canned.answer(200, {"id": LINK_ID, "status": "active", "redemptions": []})  # an older server
    quiet = invoke(["show", LINK_ID], url=canned.url)
    older = invoke(["show", LINK_ID], url=canned.url)
    assert quiet.exit_code == older.exit_code == 0
    assert "No visits that spent nothing." in quiet.stdout
    assert "No refunds." in quiet.stdout
    assert "isits" not in older.stdout and "efund" not in older.stdout


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_show_escapes_terminal_controls_in_visits_refunds_and_suspicions(
    canned: Canned, terminal: bool
) -> None:
    hostile = {
        "id": EVIL,
        "at": EVIL,
        "ip": EVIL,
        "user_agent": EVIL,
        "path": EVIL,
        "suspected_automation": {"reason": EVIL},
        "refunded_at": EVIL,
    }
    visit = {"at": EVIL, "ip": EVIL, "user_agent": EVIL, "kind": EVIL}
    state = evil_state(
        redemptions=[hostile, {**hostile, "suspected_automation": None, "refunded_at": None}],
        visits={"counts": {EVIL: 3}, "recent": [visit, {**visit, "user_agent": OTHERS}]},
        refunds=[{"at": EVIL, "redemption": EVIL}],
    )
    canned.answer(200, state)
    result = invoke(
        ["show", LINK_ID], url=canned.url, extra_env=TERMINAL if terminal else None, color=terminal
    )
    assert result.exit_code == 0, result.output
    assert_nothing_reaches_the_terminal_raw(result.stdout + result.stderr)
    # The link's 6 fields; the redemptions' 5 cells twice, with the reason and the refund
    # time once; the kind counted; the visits' 4 cells, the user agent once; the refund's 2.
    assert result.stdout.count(EVIL_SHOWN) == 6 + 12 + 1 + 7 + 2
    assert f"suspected automation: {EVIL_SHOWN}; refunded at {EVIL_SHOWN}" in result.stdout
    assert f"3 in all: {EVIL_SHOWN} 3" in result.stdout
    assert result.stdout.count(OTHERS_SHOWN) == 2  # the note, and the visit's user agent
    assert all(EVIL_SHOWN in line for line in result.stdout.splitlines() if "fake-row" in line)


# --- against the running stack -----------------------------------------------------------


def look(url: str, user_agent: str = "curl/8.5.0") -> requests.Response:
    """A GET of the link by a curl-like client: it spends nothing."""
    return requests.get(
        url,
        headers={"Accept": "*/*", "User-Agent": user_agent},
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def utc_minute(iso: str) -> str:
    """How show's tables write a time: ``2026-11-30 19:50`` (UTC)."""
    return dt.datetime.fromisoformat(iso).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


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


def test_refund_gives_a_use_back_once_per_use_and_per_redemption(stack: Stack) -> None:
    minted = json.loads(ok(stack, "link", SMALL_SAMPLE, "--json"))
    link_id = minted["id"]
    assert download(minted["url"]).status_code == 302
    assert state_of(stack, link_id)["status"] == "used"

    # One use given back, none named: the link delivers again.
    out = ok(stack, "refund", link_id)
    assert out == f"Gave back one use of link {link_id}: 0 of 1 used, 1 remaining.\n"
    state = state_of(stack, link_id)
    assert (state["uses"], state["remaining"], state["status"]) == (0, 1, "active")
    [refund] = state["refunds"]
    assert refund["redemption"] is None
    assert abs(seconds_until(refund["at"])) < 60
    [first] = state["redemptions"]
    assert first["refunded_at"] is None  # no redemption was named
    shown = ok(stack, "show", link_id)
    assert "(one use, none named)" in shown
    assert "0 of 1 used, 1 remaining" in shown

    # Nothing left to give back: the server's 409, exit 1, nothing changed.
    again = run(stack, "refund", link_id)
    assert again.exit_code == 1
    assert again.stderr.startswith("error: ")
    assert "no use to give back" in again.stderr
    assert again.stdout == ""
    assert len(state_of(stack, link_id)["refunds"]) == 1

    # The given-back use is spent again; then that redemption's use is given back by its id.
    assert download(minted["url"], user_agent="cli-test/again").status_code == 302
    assert download(minted["url"]).status_code == 410
    first, second = state_of(stack, link_id)["redemptions"]
    assert second["user_agent"] == "cli-test/again" and second["id"] != first["id"]
    out = ok(stack, "refund", link_id, "--redemption", second["id"])
    assert out == (
        f"Gave back the use of redemption {second['id']} of link {link_id}: "
        "0 of 1 used, 1 remaining.\n"
    )
    state = state_of(stack, link_id)
    assert (state["uses"], state["status"]) == (0, "active")
    assert [refund["redemption"] for refund in state["refunds"]] == [None, second["id"]]
    assert state["redemptions"][0]["refunded_at"] is None
    assert abs(seconds_until(state["redemptions"][1]["refunded_at"])) < 60

    shown = ok(stack, "show", link_id)
    row = line_with(shown, second["id"], "cli-test/again")
    assert f"refunded at {utc_minute(state['redemptions'][1]['refunded_at'])}" in row
    assert "refunded at" not in line_with(shown, first["id"], "cli-test/1.0")
    for redemption in state["redemptions"]:
        suspected = redemption["suspected_automation"]
        row = line_with(shown, redemption["id"], redemption["user_agent"])
        if suspected is None:
            assert "suspected automation" not in row
        else:
            assert f"suspected automation: {suspected['reason']}" in row

    # The same redemption cannot be given back twice.
    repeat = run(stack, "refund", link_id, "--redemption", second["id"])
    assert repeat.exit_code == 1
    assert "already given back" in repeat.stderr
    assert repeat.stdout == ""
    assert len(state_of(stack, link_id)["refunds"]) == 2


def test_a_get_by_a_curl_like_client_spends_nothing_and_show_lists_it(stack: Stack) -> None:
    minted = json.loads(ok(stack, "link", SMALL_SAMPLE, "--json"))
    before = ok(stack, "show", minted["id"])
    assert "No visits that spent nothing." in before
    assert "No refunds." in before

    answer = look(minted["url"], user_agent="curl/8.5.0")
    assert answer.status_code == 409
    state = state_of(stack, minted["id"])
    assert (state["uses"], state["redemptions"]) == (0, [])
    assert state["visits"]["counts"] == {"preview": 1}
    [visit] = state["visits"]["recent"]
    assert (visit["kind"], visit["ip"], visit["user_agent"]) == (
        "preview",
        "127.0.0.1",
        "curl/8.5.0",
    )

    shown = ok(stack, "show", minted["id"])
    assert "Visits that spent nothing" in shown
    assert "1 in all: preview 1" in shown
    row = line_with(shown, "curl/8.5.0")
    assert row.startswith(utc_minute(visit["at"]))
    assert "127.0.0.1" in row and row.endswith("preview")
    assert "No redemptions yet." in shown
    assert download(minted["url"]).status_code == 302  # the use was still there


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


def test_link_email_sends_the_url_and_prints_it(stack: Stack) -> None:
    note = "hi from the cli test"
    result = run(stack, "link", SMALL_SAMPLE, "--email", CUSTOMER, "--message", note)
    assert result.exit_code == 0, result.output
    url = result.stdout.removesuffix("\n")
    assert "\n" not in url and url.startswith(f"{stack.base_url}/download?token=")
    assert result.stderr.startswith(f"Emailed to {CUSTOMER} (message id ")
    last, message = last_email(stack)
    assert message["To"] == CUSTOMER and CUSTOMER in json.dumps(last["destinations"])
    text = text_part(message)
    assert url in text and note in text


def test_link_email_to_a_bad_address_exits_1_and_sends_nothing(stack: Stack) -> None:
    before = sent_count(stack)
    result = run(stack, "link", SMALL_SAMPLE, "--email", "not-an-address")
    assert result.exit_code == 1
    answer = api(stack, "POST", "/links", json={"file": SMALL_SAMPLE, "email": "not-an-address"})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_email"
    assert result.stderr == f"error: {answer.json()['message']}\n"
    assert result.stdout == ""
    assert sent_count(stack) == before


def fetch(url: str) -> requests.Response:
    got = requests.get(
        url,
        headers={"Accept": "application/octet-stream"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    if got.status_code == 302:  # a large file is fetched from S3 directly
        got = requests.get(got.headers["Location"], timeout=TIMEOUT)
    return got


def test_share_uploads_a_file_whose_link_downloads_it_intact(stack: Stack, report: Path) -> None:
    result = run(stack, "share", str(report), "--no-confirm")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no terminal, no progress bar
    url = result.stdout.removesuffix("\n")
    assert "\n" not in url and url.startswith(f"{stack.base_url}/download?token=")
    got = fetch(url)
    assert got.status_code == 200
    assert got.content == report.read_bytes()
    assert fetch(url).status_code == 410  # single use


def test_share_json(stack: Stack, report: Path) -> None:
    minted = json.loads(ok(stack, "share", str(report), "--json", "--uses", "2", "--note", "n"))
    assert minted["key"].startswith("uploads/")
    assert minted["key"].endswith(f"/{REPORT_NAME}")
    assert minted["file"] == minted["key"]
    assert minted["filename"] == REPORT_NAME
    assert (minted["size"], minted["max_uses"]) == (300 * 1024, 2)
    state = state_of(stack, minted["id"])
    assert (state["content_type"], state["note"]) == ("application/octet-stream", "n")


def test_share_with_email_sends_the_link(stack: Stack, report: Path) -> None:
    result = run(stack, "share", str(report), "--email", CUSTOMER, "--subject", "Ihr Bericht")
    assert result.exit_code == 0, result.output
    url = result.stdout.removesuffix("\n")
    assert result.stderr.startswith(f"Emailed to {CUSTOMER} (message id ")
    _, message = last_email(stack)
    assert (message["To"], message["Subject"]) == (CUSTOMER, "Ihr Bericht")
    assert url in text_part(message)


# =========================================================================================
# onetime get: the customer's download (a POST with the token in the body, then the file)
# =========================================================================================

PDF_BYTES = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"%%EOF\n"
RESUME_DISPOSITION = (
    "attachment; filename=\"R_sum_.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20caf%C3%A9.pdf"
)
RESUME = "Résumé café.pdf"
PRESIGNED_PATH = "/bucket/samples/R.pdf?X-Amz-Signature=" + "0" * 64


def no_token_in(result: Result) -> None:
    assert TOKEN not in result.output
    assert TOKEN[16:] not in result.output  # nor its secret half


@pytest.fixture
def storage() -> Iterator[Canned]:
    """A second canned server: the host a redirect sends the download to (S3)."""
    with serving(Canned()) as server:
        yield server


def answer_redirect(canned: Canned, storage: Canned, body: bytes = PDF_BYTES) -> None:
    """The onetime server's 302 to a presigned URL; the storage's 200 with the file."""
    redirect = {"Location": storage.url + PRESIGNED_PATH, "X-Remaining-Uses": "0"}
    canned.answer(302, b"", redirect)
    storage.answer(
        200, body, {"Content-Type": "application/pdf", "Content-Disposition": RESUME_DISPOSITION}
    )


def test_get_posts_the_token_in_the_body_and_follows_the_redirect_without_it(
    canned: Canned, storage: Canned, tmp_path: Path
) -> None:
    answer_redirect(canned, storage)
    result = get(link_to(canned, "/api/download"), "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    saved = tmp_path / RESUME
    assert result.stdout == f"{saved}\n"
    assert result.stderr == "Saved 10.0 KiB (10,255 bytes). The link is now used up.\n"
    assert saved.read_bytes() == PDF_BYTES
    assert files_in(tmp_path) == [RESUME]  # no temporary file left behind
    no_token_in(result)

    [(method, path, headers, body)] = canned.requests
    assert (method, path, body) == ("POST", "/api/download", f"token={TOKEN}".encode())
    assert urlsplit(path).query == ""  # the token is in the body, never in the POST's query
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["Accept"] == "*/*"
    assert "Authorization" not in headers  # a customer's download needs no API key

    [(method, path, headers, body)] = storage.requests
    assert (method, path, body) == ("GET", PRESIGNED_PATH, b"")
    assert "Authorization" not in headers and "Cookie" not in headers
    assert TOKEN[16:] not in json.dumps(storage.requests, default=str)


def test_get_saves_a_streamed_file_under_its_name_in_the_current_folder(
    canned: Canned, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(300 * 1024)
    disposition = 'attachment; filename="data 2026.bin"'
    canned.answer(
        200, data, {"Content-Type": "application/zip", "Content-Disposition": disposition}
    )
    monkeypatch.chdir(tmp_path)
    result = get(link_to(canned))
    assert result.exit_code == 0, result.output
    assert result.stdout == "data 2026.bin\n"
    assert (tmp_path / "data 2026.bin").read_bytes() == data
    assert files_in(tmp_path) == ["data 2026.bin"]
    [(method, path, _, body)] = canned.requests
    assert (method, path, body) == ("POST", "/download", f"token={TOKEN}".encode())


def test_get_output_names_the_file(canned: Canned, storage: Canned, tmp_path: Path) -> None:
    answer_redirect(canned, storage)
    result = get(link_to(canned), "--output", str(tmp_path / "mine.pdf"), "--quiet")
    assert result.exit_code == 0, result.output
    assert (result.stdout, result.stderr) == (f"{tmp_path / 'mine.pdf'}\n", "")
    assert (tmp_path / "mine.pdf").read_bytes() == PDF_BYTES
    assert files_in(tmp_path) == ["mine.pdf"]


def test_get_refuses_to_overwrite_a_named_file_before_spending_the_use(
    canned: Canned, tmp_path: Path
) -> None:
    mine = tmp_path / "mine.pdf"
    mine.write_bytes(b"precious")
    result = get(link_to(canned), "-o", str(mine))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {mine} already exists; give --force to replace it. "
        "Nothing was sent to the server, so this spent no use.\n"
    )
    assert canned.requests == []  # nothing was sent: the use is not spent
    assert mine.read_bytes() == b"precious"
    assert files_in(tmp_path) == ["mine.pdf"]


def test_get_keeps_the_bytes_when_the_servers_name_is_taken(
    canned: Canned, storage: Canned, tmp_path: Path
) -> None:
    (tmp_path / RESUME).write_bytes(b"precious")
    answer_redirect(canned, storage)
    result = get(link_to(canned), "-o", str(tmp_path))
    assert result.exit_code == 2
    assert result.stdout == ""
    found = re.fullmatch(
        rf"error: {re.escape(str(tmp_path / RESUME))} already exists; give --force to replace "
        r"it\. The link's use is spent, so the download is kept in (.+): rename it to keep it\.\n",
        result.stderr,
    )
    assert found, result.stderr
    kept = Path(found.group(1))
    assert kept.parent == tmp_path and kept.name.endswith(".part")
    assert kept.read_bytes() == PDF_BYTES  # the spent use is not wasted
    assert (tmp_path / RESUME).read_bytes() == b"precious"
    assert files_in(tmp_path) == sorted([RESUME, kept.name])


@pytest.mark.parametrize("named", [False, True], ids=["servers-name", "output"])
def test_get_force_replaces_the_file(
    canned: Canned, storage: Canned, tmp_path: Path, named: bool
) -> None:
    (tmp_path / RESUME).write_bytes(b"old")
    answer_redirect(canned, storage)
    output = tmp_path / RESUME if named else tmp_path
    result = get(link_to(canned), "-o", str(output), "--force")
    assert result.exit_code == 0, result.output
    assert (tmp_path / RESUME).read_bytes() == PDF_BYTES
    assert files_in(tmp_path) == [RESUME]


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (410, "link_used", "This link has already been used (1 time). Ask the sender."),
        (404, "link_not_found", "This link is not valid."),
        (400, "malformed_token", "This link is incomplete."),
        (409, "confirmation_required", "Press Download to confirm."),
    ],
)
def test_get_prints_the_services_refusal_and_exits_1(
    canned: Canned, tmp_path: Path, status: int, code: str, message: str
) -> None:
    canned.answer(status, {"error": code, "message": message})
    result = get(link_to(canned), "-o", str(tmp_path))
    assert result.exit_code == 1
    assert (result.stdout, result.stderr) == ("", f"error: {message}\n")
    assert files_in(tmp_path) == []  # the temporary file is gone too


@pytest.mark.parametrize("status", [429, 503])
def test_get_says_when_to_retry(canned: Canned, tmp_path: Path, status: int) -> None:
    canned.answer(status, {"error": "unavailable", "message": "Try later."}, {"Retry-After": "7"})
    result = get(link_to(canned), "-o", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr == "error: Try later. Try again in 7 s.\n"


def test_get_escapes_terminal_controls_in_the_servers_message(
    canned: Canned, tmp_path: Path
) -> None:
    canned.answer(410, {"error": "link_used", "message": EVIL})
    result = invoke(["get", link_to(canned), "-o", str(tmp_path)], url=None, color=True)
    assert result.exit_code == 1
    assert result.stderr == f"error: {EVIL_SHOWN}\n"


def test_get_when_the_storage_refuses_says_the_use_may_be_spent(
    canned: Canned, storage: Canned, tmp_path: Path
) -> None:
    canned.answer(302, b"", {"Location": storage.url + PRESIGNED_PATH})
    refusal = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    storage.answer(403, refusal, {"Content-Type": "application/xml"})
    result = get(link_to(canned), "-o", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {storage.url} did not send the file (403): AccessDenied: Request has expired "
        "The link's use may be spent: try `onetime get` again, or ask the sender for a new "
        "link.\n"
    )
    assert files_in(tmp_path) == []


def test_get_follows_only_a_few_redirects(canned: Canned, tmp_path: Path) -> None:
    for _ in range(10):
        canned.answer(302, b"", {"Location": "/elsewhere"})
    result = get(link_to(canned), "-o", str(tmp_path))
    assert result.exit_code == 1
    assert "too many redirects" in result.stderr
    assert [method for method, *_ in canned.requests] == ["POST"] + ["GET"] * 5
    assert all(body == b"" for *_, body in canned.requests[1:])  # the token went only once
    assert files_in(tmp_path) == []


def test_get_refused_connection_exits_4_naming_the_host_not_the_token(tmp_path: Path) -> None:
    origin = f"http://{HOST}:{free_port()}"  # nothing listens there any more
    result = get(f"{origin}/download?token={TOKEN}", "-o", str(tmp_path))
    assert result.exit_code == 4
    assert (
        result.stderr
        == f"error: cannot reach the onetime server at {origin}: connection refused.\n"
    )
    no_token_in(result)
    assert files_in(tmp_path) == []


class ShortBody:
    """A server that answers one request with a Content-Length larger than the body it
    sends, then hangs up: a transfer that breaks off.  Records what it received."""

    def __init__(self, announced: int, sent: bytes) -> None:
        self.listener = socket.create_server((HOST, free_port()))
        self.url = f"http://{HOST}:{self.listener.getsockname()[1]}"
        self.received = b""
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: {announced}\r\n"
            'Content-Disposition: attachment; filename="broken.pdf"\r\n\r\n'
        )
        self.answer = head.encode() + sent
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            while not self.complete():
                block = connection.recv(65536)
                if not block:
                    return
                self.received += block
            connection.sendall(self.answer)

    def complete(self) -> bool:
        """Whether the request's head and its whole body (Content-Length) are in."""
        head, blank, body = self.received.partition(b"\r\n\r\n")
        found = re.search(rb"(?im)^content-length: *(\d+)", head)
        return bool(blank) and len(body) >= (int(found.group(1)) if found else 0)

    def close(self) -> None:
        self.thread.join(timeout=TIMEOUT)
        self.listener.close()


def test_get_short_body_exits_4_and_leaves_no_file(tmp_path: Path) -> None:
    server = ShortBody(announced=1000, sent=b"x" * 10)
    try:
        result = get(f"{server.url}/download?token={TOKEN}", "-o", str(tmp_path))
    finally:
        server.close()
    assert result.exit_code == 4
    assert result.stderr == (
        f"error: the download from {server.url} broke off after 10 of 1,000 bytes (the "
        "connection broke); nothing was saved. The link's use may be spent: try `onetime get` "
        "again, or ask the sender for a new link.\n"
    )
    assert files_in(tmp_path) == []  # neither broken.pdf nor the temporary file
    assert server.received.startswith(b"POST /download HTTP/1.1\r\n")
    assert server.received.endswith(f"\r\n\r\ntoken={TOKEN}".encode())
    no_token_in(result)


@pytest.mark.parametrize(
    ("disposition", "saved"),
    [
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ("attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd", "passwd"),
        ('attachment; filename="..\\\\..\\\\evil.exe"', "evil.exe"),
        ('attachment; filename="\x1b[2J.pdf"', "_[2J.pdf"),
        ("attachment; filename*=UTF-8''%1B%5B2J.pdf", "_[2J.pdf"),
        ("attachment; filename*=UTF-8''invoice%E2%80%AEfdp.exe", "invoice_fdp.exe"),
        ('attachment; filename=".bashrc"', "bashrc"),  # no hidden file in someone's home
        ('attachment; filename=".."', "download"),
        ('attachment; filename="."', "download"),
        ("attachment; filename*=UTF-8''%2F", "download"),
        ('attachment; filename=""', "download"),
        ("attachment", "download"),
    ],
    ids=lambda value: printable(value),
)
def test_get_saves_a_hostile_name_flat_and_harmless(
    canned: Canned, tmp_path: Path, disposition: str, saved: str
) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    canned.answer(200, b"data", {"Content-Disposition": disposition})
    result = invoke(["get", link_to(canned), "-o", str(folder)], url=None, color=True)
    assert result.exit_code == 0, result.output
    assert files_in(folder) == [saved]
    assert (folder / saved).read_bytes() == b"data"
    assert files_in(tmp_path) == ["downloads"]  # nothing outside the folder
    assert result.stdout == f"{folder / saved}\n"
    assert_nothing_reaches_the_terminal_raw(result.output)


@pytest.mark.parametrize(
    ("disposition", "name"),
    [
        (RESUME_DISPOSITION, RESUME),  # filename* wins
        (
            "attachment; filename*=utf-8''%E2%82%AC%20rates.pdf; filename=\"EUR rates.pdf\"",
            "€ rates.pdf",
        ),
        ('attachment; filename="a;b \\"c\\".pdf"', 'a;b "c".pdf'),
        ("attachment; filename=plain.txt", "plain.txt"),
        ("attachment; filename*=ISO-8859-1''caf%E9.txt", "café.txt"),
        # filename* that does not decode: the plain name stands
        ("attachment; filename*=UTF-8''caf%E9.txt; filename=\"cafe.txt\"", "cafe.txt"),
        ("attachment; filename*=nonsense''x.txt; filename=\"x.txt\"", "x.txt"),
        (None, None),
    ],
)
def test_disposition_filename(disposition: str | None, name: str | None) -> None:
    assert downloads.disposition_filename(disposition) == name


def test_a_name_too_long_for_the_file_system_is_cut_keeping_its_extension() -> None:
    name = downloads.safe_filename("é" * 300 + ".pdf")
    assert name == "é" * 125 + ".pdf"
    assert len(name.encode()) <= 255


def test_get_shows_progress_on_a_terminal(canned: Canned, storage: Canned, tmp_path: Path) -> None:
    answer_redirect(canned, storage, body=os.urandom(300 * 1024))
    result = get(link_to(canned), "-o", str(tmp_path), extra_env=TERMINAL)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{tmp_path / RESUME}\n"
    assert f"Downloading {RESUME}" in result.stderr
    assert "300.0/300.0 KiB" in result.stderr  # bytes received of the total
    assert "/s" in result.stderr  # the rate


def test_get_quiet_prints_only_the_saved_path(
    canned: Canned, storage: Canned, tmp_path: Path
) -> None:
    answer_redirect(canned, storage)
    result = get(link_to(canned), "-o", str(tmp_path), "--quiet", extra_env=TERMINAL)
    assert result.exit_code == 0, result.output
    assert (result.stdout, result.stderr) == (f"{tmp_path / RESUME}\n", "")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "Missing argument 'URL'"),
        (["https://onetime.example.com/download"], "the link has no token"),
        (["https://onetime.example.com/download?token="], "the link has no token"),
        ([f"onetime.example.com/download?token={TOKEN}"], "give the whole link"),
        ([f"ftp://onetime.example.com/download?token={TOKEN}"], "give the whole link"),
        (
            [f"https://x.example/download?token={TOKEN}", "-o", "no/such/folder/f.pdf"],
            "no/such/folder does not exist",
        ),
        (
            [f"https://x.example/download?token={TOKEN}", "-o", "no/such/"],
            "no/such/ does not exist",
        ),
    ],
)
def test_get_usage_errors_exit_2_without_the_token(args: list[str], says: str) -> None:
    result = get(*args)
    assert result.exit_code == 2, result.output
    assert "Usage: onetime get" in result.stderr
    assert says in result.stderr
    no_token_in(result)


# --- onetime get against the running stack -----------------------------------------------


@pytest.mark.parametrize("key", [SMALL_SAMPLE, LARGE_SAMPLE])
def test_get_downloads_a_single_use_link_once(stack: Stack, tmp_path: Path, key: str) -> None:
    minted = json.loads(ok(stack, "link", key, "--json"))
    sample = stack.client("s3").get_object(Bucket=stack.bucket, Key=key)["Body"].read()

    first = get(minted["url"], "-o", str(tmp_path))
    assert first.exit_code == 0, first.output
    saved = tmp_path / minted["filename"]
    assert minted["filename"] == key.rsplit("/", 1)[1]
    assert first.stdout == f"{saved}\n"
    assert files_in(tmp_path) == [saved.name]
    assert saved.read_bytes() == sample

    again = get(minted["url"], "-o", str(tmp_path), "--force")
    assert again.exit_code == 1
    assert again.stderr.startswith("error: This link has already been used")
    assert saved.read_bytes() == sample  # --force replaced nothing: nothing came
    assert files_in(tmp_path) == [saved.name]

    token = parse_qs(urlsplit(minted["url"]).query)["token"][0]
    assert token not in first.output + again.output
    state = state_of(stack, minted["id"])
    assert (state["uses"], [r["path"] for r in state["redemptions"]]) == (1, ["redirect"])


# =========================================================================================
# Download sessions: get takes a broken transfer up again, get --resume, show's re-deliveries
# =========================================================================================

SESSION = "0123456789abcdef." + "s" * 43  # <claim id>.<secret>, as the server hands it out
WHOLE = bytes(range(256)) * 800  # 204,800 bytes
CUT = 70_001  # where the first answer breaks off (not on a block boundary)
CUT_HEADER = "X-Test-Cut"  # a canned answer's own: how many body bytes to send, then hang up
FRESH_PATH = "/bucket/samples/R.pdf?X-Amz-Signature=" + "1" * 64  # the second presigned URL


class CuttingHandler(CannedHandler):
    """A canned answer that may announce its whole body, send only ``X-Test-Cut`` bytes
    of it and hang up: a transfer that breaks off.  Records requests as Canned does."""

    def handle_one(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.requests.append((self.command, self.path, dict(self.headers), body))
        status, headers, raw = self.server.answers.pop(0)
        sent = dict(headers)
        cut = sent.pop(CUT_HEADER, None)
        self.send_response(status)
        for name, value in {**sent, "Content-Length": str(len(raw))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw if cut is None else raw[: int(cut)])
        self.close_connection = True

    do_GET = do_POST = handle_one


@pytest.fixture
def flaky() -> Iterator[Canned]:
    """The storage (S3) host, whose answers may break off (``X-Test-Cut``)."""
    server = Canned()
    server.RequestHandlerClass = CuttingHandler
    with serving(server):
        yield server


@pytest.fixture
def no_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries at once: the tests wait for no backoff."""
    monkeypatch.setattr(downloads, "RETRY_DELAYS", (0.0,))


def redirect_with_session(
    canned: Canned, flaky: Canned, path: str = PRESIGNED_PATH, session: str | None = SESSION
) -> None:
    """The onetime server's 302 to a presigned URL, opening (or going on with) a session."""
    headers = {"Location": flaky.url + path, "X-Remaining-Uses": "0"}
    if session is not None:
        headers["X-Download-Session"] = session
        headers["Set-Cookie"] = f"onetime_{LINK_ID}={session}; Path=/download; HttpOnly"
    canned.answer(302, b"", headers)


def whole_file(flaky: Canned, cut: int | None = None) -> None:
    headers = {"Content-Type": "application/pdf", "Content-Disposition": RESUME_DISPOSITION}
    if cut is not None:
        headers[CUT_HEADER] = str(cut)
    flaky.answer(200, WHOLE, headers)


def rest_of_file(
    flaky: Canned, start: int, cut: int | None = None, total: int = len(WHOLE)
) -> None:
    headers = {
        "Content-Type": "application/pdf",
        "Content-Disposition": RESUME_DISPOSITION,
        "Content-Range": f"bytes {start}-{total - 1}/{total}",
    }
    if cut is not None:
        headers[CUT_HEADER] = str(cut)
    flaky.answer(206, WHOLE[start:total], headers)


def sessions_sent(canned: Canned) -> list[str | None]:
    """The X-Download-Session header of each POST the onetime server received."""
    return [
        headers.get("X-Download-Session")
        for method, _, headers, _ in canned.requests
        if method == "POST"
    ]


def ranges_asked(server: Canned) -> list[str | None]:
    return [headers.get("Range") for _, _, headers, _ in server.requests]


def secrets_not_in(result: Result) -> None:
    no_token_in(result)
    assert SESSION not in result.output
    assert SESSION.split(".")[1] not in result.output


@pytest.fixture
def broken_off(canned: Canned, flaky: Canned) -> None:
    """The first try's transfer breaks off after CUT bytes; the server then redirects
    the next try, within the same session, to a fresh presigned URL."""
    redirect_with_session(canned, flaky)
    whole_file(flaky, cut=CUT)
    redirect_with_session(canned, flaky, FRESH_PATH)


def test_get_resumes_a_broken_transfer_through_the_session_with_a_range(
    canned: Canned, flaky: Canned, tmp_path: Path, broken_off: None
) -> None:
    rest_of_file(flaky, CUT)
    result = get(link_to(canned), "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    saved = tmp_path / RESUME
    assert result.stdout == f"{saved}\n"
    assert result.stderr == (
        "Saved 200.0 KiB (204,800 bytes). The transfer broke 1 time; resumed at 70,001 bytes. "
        "The link is now used up.\n"
    )
    assert saved.read_bytes() == WHOLE
    assert files_in(tmp_path) == [RESUME]  # neither the temporary file nor a session file

    # The first POST opened the session; the second carried it back, in the header only.
    assert sessions_sent(canned) == [None, SESSION]
    assert [body for *_, body in canned.requests] == [f"token={TOKEN}".encode()] * 2
    assert all("Cookie" not in headers for _, _, headers, _ in canned.requests)
    # The storage was asked for the whole file, then for the bytes after those written.
    assert [path for _, path, _, _ in flaky.requests] == [PRESIGNED_PATH, FRESH_PATH]
    assert ranges_asked(flaky) == [None, f"bytes={CUT}-"]
    assert SESSION not in json.dumps(flaky.requests, default=str)  # S3 never sees it
    secrets_not_in(result)


def test_get_starts_over_when_the_storage_answers_the_range_with_the_whole_file(
    canned: Canned, flaky: Canned, tmp_path: Path, broken_off: None
) -> None:
    whole_file(flaky)  # 200: the Range was not honoured
    result = get(link_to(canned), "-o", str(tmp_path / "mine.pdf"))
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(
        "Saved 200.0 KiB (204,800 bytes). The transfer broke 1 time; started over."
    )
    assert (tmp_path / "mine.pdf").read_bytes() == WHOLE  # not the first bytes twice
    assert files_in(tmp_path) == ["mine.pdf"]
    assert ranges_asked(flaky) == [None, f"bytes={CUT}-"]
    assert sessions_sent(canned) == [None, SESSION]


def test_get_starts_over_when_the_range_does_not_continue_the_bytes_kept(
    canned: Canned, flaky: Canned, tmp_path: Path, broken_off: None
) -> None:
    rest_of_file(flaky, CUT, total=len(WHOLE) - 1)  # another length: another file
    redirect_with_session(canned, flaky, FRESH_PATH)
    whole_file(flaky)
    result = get(link_to(canned), "-o", str(tmp_path / "mine.pdf"), "--quiet")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mine.pdf").read_bytes() == WHOLE
    assert files_in(tmp_path) == ["mine.pdf"]
    assert ranges_asked(flaky) == [None, f"bytes={CUT}-", None]  # the third asks for all
    assert sessions_sent(canned) == [None, SESSION, SESSION]


def test_get_without_a_session_does_not_ask_again_and_keeps_nothing(
    canned: Canned, flaky: Canned, tmp_path: Path
) -> None:
    redirect_with_session(canned, flaky, session=None)  # a server before sessions
    whole_file(flaky, cut=CUT)
    result = get(link_to(canned), "-o", str(tmp_path))
    assert result.exit_code == 4
    assert f"broke off after {CUT:,} of {len(WHOLE):,} bytes" in result.stderr
    assert "nothing was saved" in result.stderr
    assert len(canned.requests) == 1  # another POST would spend another use
    assert files_in(tmp_path) == []


def test_get_gives_up_keeping_the_bytes_and_the_session_and_resume_finishes(
    canned: Canned, flaky: Canned, tmp_path: Path, no_waits: None
) -> None:
    redirect_with_session(canned, flaky)
    whole_file(flaky, cut=CUT)
    for attempt in range(downloads.RESUME_TRIES):  # each try gets 1,000 bytes further
        redirect_with_session(canned, flaky, FRESH_PATH)
        rest_of_file(flaky, CUT + 1000 * attempt, cut=1000)
    gave_up = get(link_to(canned), "-o", str(tmp_path))
    written = CUT + 1000 * downloads.RESUME_TRIES
    assert gave_up.exit_code == 4
    assert gave_up.stdout == ""
    assert sessions_sent(canned) == [None] + [SESSION] * downloads.RESUME_TRIES
    assert ranges_asked(flaky) == [None] + [
        f"bytes={CUT + 1000 * attempt}-" for attempt in range(downloads.RESUME_TRIES)
    ]

    [part, session_file] = files_in(tmp_path)
    assert part.startswith(f".onetime-{LINK_ID}-") and part.endswith(".part")
    assert session_file == part + ".session"
    temp, kept = tmp_path / part, tmp_path / session_file
    assert temp.read_bytes() == WHOLE[:written]
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert json.loads(kept.read_text())["session"] == SESSION
    assert gave_up.stderr == (
        f"error: the download broke off after {written:,} of {len(WHOLE):,} bytes, and 3 "
        f"tries to resume it failed (the last: {flaky.url}: the connection broke). The bytes "
        f"are kept in {temp}, and the download session in {kept} (readable only by you: it "
        "lets whoever holds it get the file again). To finish it without spending another "
        "use, run the same `onetime get` again (the same link and --output), while the "
        "session lasts (an hour, unless the sender's service says otherwise).\n"
    )
    secrets_not_in(gave_up)

    canned.requests.clear()
    flaky.requests.clear()
    redirect_with_session(canned, flaky, FRESH_PATH)
    rest_of_file(flaky, written)
    resumed = get(link_to(canned), "-o", str(tmp_path), "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout == f"{tmp_path / RESUME}\n"
    assert resumed.stderr == (
        f"Saved 200.0 KiB (204,800 bytes). Resumed at {written:,} bytes. The link is now used up.\n"
    )
    assert (tmp_path / RESUME).read_bytes() == WHOLE
    assert files_in(tmp_path) == [RESUME]  # the temporary and the session file are gone
    assert sessions_sent(canned) == [SESSION]  # the very first POST carries the session
    assert ranges_asked(flaky) == [f"bytes={written}-"]
    secrets_not_in(resumed)


def give_up_once(canned: Canned, flaky: Canned, folder: Path) -> Path:
    """A get that breaks off and gives up; the temporary file it kept."""
    redirect_with_session(canned, flaky)
    whole_file(flaky, cut=CUT)
    for _ in range(downloads.RESUME_TRIES):
        canned.answer(503, {"error": "unavailable", "message": "Try later."})
    result = get(link_to(canned), "-o", str(folder))
    assert result.exit_code == 4, result.output
    assert "(the last: the onetime server answered 503: Try later.)" in result.stderr
    [part, _] = files_in(folder)
    canned.requests.clear()
    flaky.requests.clear()
    return folder / part


def test_resume_when_the_session_is_over_removes_what_was_kept(
    canned: Canned, flaky: Canned, tmp_path: Path, no_waits: None
) -> None:
    give_up_once(canned, flaky, tmp_path)
    message = "This link has already been used (1 time). Ask the sender."
    canned.answer(410, {"error": "link_used", "message": message})
    result = get(link_to(canned), "-o", str(tmp_path), "--resume")
    assert result.exit_code == 1
    assert result.stderr == f"error: {message} The kept bytes and session are removed.\n"
    assert sessions_sent(canned) == [SESSION]
    assert flaky.requests == []
    assert files_in(tmp_path) == []


def test_resume_that_breaks_again_keeps_both_for_the_next_try(
    canned: Canned, flaky: Canned, tmp_path: Path, no_waits: None
) -> None:
    temp = give_up_once(canned, flaky, tmp_path)
    for attempt in range(downloads.RESUME_TRIES + 1):
        redirect_with_session(canned, flaky, FRESH_PATH)
        rest_of_file(flaky, CUT + 10 * attempt, cut=10)
    result = get(link_to(canned), "-o", str(tmp_path), "--resume")
    assert result.exit_code == 4
    assert files_in(tmp_path) == sorted([temp.name, temp.name + ".session"])
    assert temp.read_bytes() == WHOLE[: CUT + 10 * (downloads.RESUME_TRIES + 1)]
    assert sessions_sent(canned) == [SESSION] * (downloads.RESUME_TRIES + 1)
    secrets_not_in(result)


def test_resume_shows_progress_from_the_bytes_kept(
    canned: Canned, flaky: Canned, tmp_path: Path, no_waits: None
) -> None:
    give_up_once(canned, flaky, tmp_path)
    redirect_with_session(canned, flaky, FRESH_PATH)
    rest_of_file(flaky, CUT)
    result = get(link_to(canned), "-o", str(tmp_path), "--resume", extra_env=TERMINAL)
    assert result.exit_code == 0, result.output
    assert f"Resuming {RESUME}" in result.stderr
    assert "200.0/200.0 KiB" in result.stderr  # the kept bytes count towards the whole
    assert (tmp_path / RESUME).read_bytes() == WHOLE
    assert ranges_asked(flaky) == [f"bytes={CUT}-"]


def test_resume_with_nothing_to_resume_sends_nothing(canned: Canned, tmp_path: Path) -> None:
    for name, mode in (("bcdefghijklmnopq-x", 0o600), (f"{LINK_ID}-y", 0o644)):
        # Another link's; and this link's, but with a session others could read (not ours).
        (tmp_path / f".onetime-{name}.part").write_bytes(b"kept bytes")
        kept = tmp_path / f".onetime-{name}.part.session"
        kept.write_text(json.dumps({"session": SESSION}))
        kept.chmod(mode)
    (tmp_path / f".onetime-{LINK_ID}-z.part.session").write_text("not a session")
    (tmp_path / f".onetime-{LINK_ID}-z.part.session").chmod(0o600)
    (tmp_path / f".onetime-{LINK_ID}-z.part").write_bytes(b"kept bytes")
    result = get(link_to(canned), "-o", str(tmp_path), "--resume")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: no interrupted download of this link in {tmp_path} to resume (give the "
        "--output it had). Nothing was sent to the server, so this spent no use.\n"
    )
    assert canned.requests == []


def test_show_counts_each_redemptions_re_deliveries(canned: Canned) -> None:
    state = counted_state()
    first, second = state["redemptions"]
    first.update(redeliveries=3, redelivered_at="2026-11-30T10:20:00Z")
    second.update(redeliveries=0, redelivered_at=None)
    canned.answer(200, state)
    canned.answer(200, counted_state())  # a server before sessions: no such fields
    result = invoke(["show", LINK_ID], url=canned.url)
    older = invoke(["show", LINK_ID], url=canned.url)
    assert result.exit_code == older.exit_code == 0, result.output
    out = result.stdout
    assert "Re-deliveries" in line_with(out, "ID", "Path", "Notes")
    assert "redirect   3, last 2026-11-30 10:20   suspected automation" in line_with(
        out, REDEMPTION_ID, "10.0.0.5"
    )
    assert line_with(out, "0123456789abcdef").endswith("stream     0")
    assert "Re-deliveries" not in older.stdout


def test_show_escapes_terminal_controls_in_re_deliveries(canned: Canned) -> None:
    state = evil_state(
        redemptions=[{"id": "r1", "path": "redirect", "redeliveries": EVIL, "redelivered_at": EVIL}]
    )
    canned.answer(200, state)
    result = invoke(["show", LINK_ID], url=canned.url, extra_env=TERMINAL, color=True)
    assert result.exit_code == 0, result.output
    assert_nothing_reaches_the_terminal_raw(result.stdout)
    assert f"{EVIL_SHOWN}, last {EVIL_SHOWN}" in result.stdout


# --- download sessions against the running stack ----------------------------------------


def test_get_resume_finishes_a_download_through_the_stacks_session(
    stack: Stack, tmp_path: Path
) -> None:
    minted = json.loads(ok(stack, "link", LARGE_SAMPLE, "--json"))
    sample = stack.client("s3").get_object(Bucket=stack.bucket, Key=LARGE_SAMPLE)["Body"].read()
    # The first get, broken off after 1 MiB: a redemption, and the bytes up to there.
    first = download(minted["url"])
    assert first.status_code == 302
    session = first.headers["X-Download-Session"]
    part = requests.get(
        first.headers["Location"], headers={"Range": "bytes=0-1048575"}, timeout=TIMEOUT
    )
    assert part.status_code == 206
    assert part.content == sample[:1048576]
    link = downloads.parse_link(minted["url"])
    file, temp = downloads.temporary_file(tmp_path, link)
    with file:
        file.write(part.content)
    resumable = downloads.Resumable(session, len(sample), part.headers.get("ETag"))
    downloads.save_session(temp, resumable)

    resumed = get(minted["url"], "-o", str(tmp_path), "--resume")
    assert resumed.exit_code == 0, resumed.output
    saved = tmp_path / minted["filename"]
    assert resumed.stdout == f"{saved}\n"
    # The rest came as a 206 from the first MiB on: only it was fetched again.
    assert f"({len(sample):,} bytes). Resumed at 1,048,576 bytes." in resumed.stderr
    assert saved.read_bytes() == sample
    assert files_in(tmp_path) == [saved.name]
    assert session not in resumed.output

    state = state_of(stack, minted["id"])
    assert state["uses"] == 1  # the resumed download spent nothing
    [redemption] = state["redemptions"]
    assert redemption["redeliveries"] == 1
    assert redemption["redelivered_at"] is not None
    shown = ok(stack, "show", minted["id"])
    assert f"1, last {utc_minute(redemption['redelivered_at'])}" in line_with(
        shown, redemption["id"]
    )

    # Without the session, the same link is used up.
    again = get(minted["url"], "-o", str(tmp_path), "--force")
    assert again.exit_code == 1
    assert again.stderr.startswith("error: This link has already been used")
    assert saved.read_bytes() == sample
