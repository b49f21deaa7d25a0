"""``onetime request`` and ``onetime requests``: file requests (upload links) from the
command line.

Sizes and usage first, then canned answers (what is sent, what is shown), then against
the real stack (dynalite, moto server, chalice local), as tests/tooling/test_cli.py does.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from typing import Any

import pytest
import requests

from onetime_cli.sizes import parse_size
from tests.helpers import TIMEOUT, token_of
from tests.tooling.cli import (
    CUSTOMER,
    EVIL,
    EVIL_SHOWN,
    LINK_ID,
    OTHERS,
    OTHERS_SHOWN,
    TERMINAL,
    TOKEN,
    Canned,
    api,
    assert_nothing_reaches_the_terminal_raw,
    invoke,
    last_email,
    ok,
    run,
    sent_count,
    text_part,
)
from tools.stack import Stack

OPERATOR = "ops@example.com"
DAY = 86_400


# --- sizes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10MB", 10_000_000),
        ("5MiB", 5 * 1024**2),
        ("1.5GB", 1_500_000_000),
        ("500KiB", 512_000),
        ("2kb", 2000),
        ("10 MB", 10_000_000),
        ("123", 123),
        ("123B", 123),
        (" 1GiB ", 1024**3),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "abc", "MB", "10XB", "-5", "1e6", "10 M B", "٣MB"])
def test_invalid_sizes(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a size; use e\.g\. 20MiB, 500KiB"):
        parse_size(text)


@pytest.mark.parametrize(("text", "says"), [("0", "more than zero"), ("0.5B", "whole number")])
def test_sizes_that_are_no_size_of_a_file(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_size(text)


# --- help and usage ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["request"], ["requests"], ["requests", "show"], ["requests", "revoke"]]
)
def test_help(command: list[str]) -> None:
    result = invoke([*command, "--help"], url=None, key=None)
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: onetime {' '.join(command)} ")
    assert f"Examples:\n    onetime {' '.join(command)}" in result.stdout


def test_help_lists_the_request_commands() -> None:
    listed = invoke(["--help"], url=None, key=None).stdout.split("Commands:")[1]
    assert "request   Ask someone for files: make an upload link" in listed
    assert "requests  List file requests (upload links)" in listed
    inside = invoke(["requests", "--help"], url=None, key=None).stdout.split("Commands:")[1]
    assert sorted(line.split()[0] for line in inside.splitlines() if line.strip()) == [
        "revoke",
        "show",
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["request", "--files", "0"], "Invalid value for '--files': 0 is not in the range x>=1"),
        (["request", "--files", "some"], "'some' is not a valid integer"),
        (["request", "--max-size", "abc"], "'abc' is not a size; use e.g. 20MiB, 500KiB"),
        (["request", "--max-size", "0"], "'0' is not a size: it must be more than zero"),
        (["request", "--ttl", "soon"], "'soon' is not a duration; use e.g. 30s"),
        (["request", "--link-ttl", "0"], "'0' is not a duration: it must be longer than zero"),
        (["request", "--link-uses", "0"], "0 is not in the range x>=1"),
        (["request", "--no-show-link"], "--no-show-link needs --notify"),
        (["request", "--message", "hi"], "--subject and --message need --email"),
        (["requests", "--limit", "0"], "0 is not in the range x>=1"),
        (["requests", "show"], "Missing argument 'ID'"),
        (["requests", "show", " "], "give a file request's id (or its upload URL)"),
        (["requests", "revoke"], "Missing argument 'ID'"),
        (["requests", "--json", "show", LINK_ID], "for show, put --json after its ID"),
        (["requests", "frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_usage_errors_exit_2_and_send_nothing(canned: Canned, args: list[str], says: str) -> None:
    result = invoke(args, url=canned.url)
    assert result.exit_code == 2, result.output
    assert "Usage: onetime" in result.stderr
    assert says in result.stderr
    assert canned.requests == []


@pytest.mark.parametrize(
    "args", [["request"], ["requests"], ["requests", "show", LINK_ID], ["requests", "revoke", "x"]]
)
def test_missing_configuration_exits_3(args: list[str]) -> None:
    result = invoke(args, url=None)
    assert result.exit_code == 3
    assert result.stderr.startswith("error: ONETIME_URL (or --url) not set.")


# --- canned answers ----------------------------------------------------------------------


def request_state(**changes: Any) -> dict[str, Any]:
    state = {
        "id": LINK_ID,
        "status": "active",
        "created_at": "2026-11-30T10:00:00Z",
        "expires_at": "2026-12-07T10:00:00Z",
        "max_files": 2,
        "files": 1,
        "max_size": 10_000_000,
        "content_types": ["application/pdf"],
        "note": "ticket 4711",
        "show_link": True,
        "notify": None,
        "link_uses": 1,
        "link_ttl": DAY,
        "received": [
            {
                "at": "2026-11-30T11:00:00Z",
                "file": f"requests/{LINK_ID}/0123456789abcdef/Vertrag.pdf",
                "filename": "Vertrag.pdf",
                "size": 2048,
                "content_type": "application/pdf",
                "link_id": "qrstuvwxyz234567",
            }
        ],
    }
    return {**state, **changes}


def test_request_sends_every_option_and_only_those_given(canned: Canned) -> None:
    canned.answer(201, {"url": "u", **request_state()})
    canned.answer(201, {"url": "u", **request_state()})
    args = ["request", "--files", "3", "--ttl", "2d", "--max-size", "5MiB", "--note", "n"]
    args += ["--type", "application/pdf", "--type", "image/png", "--notify", OPERATOR]
    args += ["--no-show-link", "--link-uses", "2", "--link-ttl", "3h"]
    args += ["--email", CUSTOMER, "--subject", "Files, please", "--message", "Thanks."]
    assert invoke(args, url=canned.url).exit_code == 0
    assert invoke(["request"], url=canned.url).exit_code == 0
    [(method, path, headers, body), (_, _, _, bare)] = canned.requests
    assert (method, path, headers["Authorization"]) == ("POST", "/requests", "Bearer some-key")
    assert json.loads(body) == {
        "files": 3,
        "ttl": 2 * DAY,
        "max_size": 5 * 1024**2,
        "content_types": ["application/pdf", "image/png"],
        "note": "n",
        "show_link": False,
        "notify": OPERATOR,
        "link_uses": 2,
        "link_ttl": 3 * 3600,
        "email": CUSTOMER,
        "subject": "Files, please",
        "message": "Thanks.",
    }
    assert json.loads(bare) == {}  # the server's defaults


def test_a_pasted_upload_url_sends_only_the_request_id(canned: Canned) -> None:
    canned.answer(200, request_state())
    canned.answer(200, request_state(status="revoked"))
    url = f"https://x.example/upload?token={TOKEN}&terms=abc.def"
    assert invoke(["requests", "show", url], url=canned.url).exit_code == 0
    assert invoke(["requests", "revoke", TOKEN], url=canned.url).exit_code == 0
    sent = [(method, path) for method, path, _, _ in canned.requests]
    assert sent == [("GET", f"/requests/{LINK_ID}"), ("DELETE", f"/requests/{LINK_ID}")]
    assert TOKEN not in json.dumps(canned.requests, default=str)


def test_list_follows_the_cursor_the_server_answers(canned: Canned) -> None:
    canned.answer(200, {"requests": [request_state(id="a" * 16)], "cursor": "next page"})
    canned.answer(200, {"requests": [request_state(id="b" * 16)]})  # the last: no cursor
    result = invoke(["requests", "--all", "--limit", "1", "--json"], url=canned.url)
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in json.loads(result.stdout)["requests"]] == ["a" * 16, "b" * 16]
    assert [path for _, path, _, _ in canned.requests] == [
        "/requests?limit=1",
        "/requests?limit=1&cursor=next+page",
    ]


def test_an_api_error_exits_1_with_the_servers_message(canned: Canned) -> None:
    canned.answer(404, {"error": "link_not_found", "message": f"There is no file request {EVIL}."})
    result = invoke(["requests", "show", LINK_ID], url=canned.url, color=True)
    assert result.exit_code == 1
    assert result.stderr == f"error: There is no file request {EVIL_SHOWN}.\n"
    assert result.stdout == ""


def evil_request() -> dict[str, Any]:
    received = {
        "at": EVIL,
        "file": EVIL,
        "filename": OTHERS,
        "size": EVIL,
        "content_type": EVIL,
        "link_id": EVIL,
    }
    return request_state(
        id=EVIL, status=EVIL, note=OTHERS, content_types=[EVIL], notify=EVIL, received=[received]
    )


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
@pytest.mark.parametrize(
    ("args", "answer", "shown"),
    [
        (["requests", "show", LINK_ID], evil_request(), 9),
        (["requests"], {"requests": [evil_request()], "cursor": EVIL}, 3),
        (["requests", "revoke", LINK_ID], evil_request(), 1),
        (["request"], {"url": EVIL, **evil_request()}, 4),
    ],
    ids=["show", "list", "revoke", "request"],
)
def test_server_text_is_escaped(
    canned: Canned, terminal: bool, args: list[str], answer: dict[str, Any], shown: int
) -> None:
    canned.answer(200, answer)
    env = TERMINAL if terminal else None
    result = invoke(args, url=canned.url, extra_env=env, color=terminal)
    assert result.exit_code == 0, result.output
    assert_nothing_reaches_the_terminal_raw(result.stdout + result.stderr)
    everything = result.stdout + result.stderr
    assert everything.count(EVIL_SHOWN) == shown  # every field and cell that held it
    assert "show" not in args or everything.count(OTHERS_SHOWN) == 2  # the note and filename


def test_json_escapes_and_keeps_the_value(canned: Canned) -> None:
    canned.answer(200, evil_request())
    result = invoke(["requests", "show", LINK_ID, "--json"], url=canned.url, color=True)
    assert result.exit_code == 0, result.output
    assert_nothing_reaches_the_terminal_raw(result.stdout)
    assert json.loads(result.stdout) == evil_request()


# --- against the running stack -----------------------------------------------------------


def server_state(stack: Stack, request_id: str) -> dict[str, Any]:
    """The request as the API has it, read without the CLI."""
    answer = api(stack, "GET", f"/requests/{request_id}")
    assert answer.status_code == 200, answer.text
    state: dict[str, Any] = answer.json()
    return state


def newest_request(stack: Stack) -> str | None:
    answer = api(stack, "GET", "/requests", params={"limit": 1})
    assert answer.status_code == 200, answer.text
    found = answer.json()["requests"]
    return found[0]["id"] if found else None


def request_url(stack: Stack, *args: str) -> str:
    """``onetime request`` with ``args``: the upload URL it printed, alone on stdout."""
    result = run(stack, "request", *args)
    assert result.exit_code == 0, result.output
    url = result.stdout.removesuffix("\n")
    assert "\n" not in url
    assert url.startswith(f"{stack.base_url}/upload?token=")
    return url


def upload(
    stack: Stack, url: str, name: str, body: bytes, content_type: str = "application/pdf"
) -> requests.Response:
    """What an uploader's browser does: the file into the request's folder under a fresh
    nonce, then the confirmation S3 redirects it to."""
    token = token_of(url)
    key = f"requests/{token[:16]}/{secrets.token_hex(8)}/{name}"
    stack.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=body, ContentType=content_type)
    return requests.get(
        f"{stack.base_url}/upload/done",
        params={"token": token, "key": key},
        headers={"Accept": "text/html"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def days_until(iso: str) -> float:
    return (dt.datetime.fromisoformat(iso).timestamp() - time.time()) / DAY


def test_request_prints_the_url_then_a_summary_and_makes_what_was_asked(stack: Stack) -> None:
    result = run(
        stack,
        "request",
        *["--files", "3", "--ttl", "2d", "--max-size", "10MB", "--note", "ticket 4711"],
        *["--type", "application/pdf", "--type", "Image/PNG", "--link-uses", "2"],
        *["--link-ttl", "3h"],
    )
    assert result.exit_code == 0, result.output
    [url] = result.stdout.splitlines()  # the URL alone: url=$(onetime request) captures it
    assert url.startswith(f"{stack.base_url}/upload?token=") and "&terms=" in url
    request_id = token_of(url)[:16]
    assert result.stderr.splitlines() == [
        f"Upload link {request_id}: up to 3 files of at most 9.5 MiB (10,000,000 bytes) each "
        "(types: application/pdf, image/png); expires "
        + result.stderr.split("expires ")[1].split("\n")[0],
        "Each file received gets a download link for 2 downloads, valid 3h; shown to the uploader.",
    ]
    assert "(in 1d 23h)" in result.stderr or "(in 2d)" in result.stderr
    state = server_state(stack, request_id)
    assert (state["status"], state["max_files"], state["files"]) == ("active", 3, 0)
    assert state["max_size"] == 10_000_000
    assert state["content_types"] == ["application/pdf", "image/png"]
    assert (state["link_uses"], state["link_ttl"], state["note"]) == (2, 3 * 3600, "ticket 4711")
    assert 1.99 < days_until(state["expires_at"]) <= 2
    assert requests.get(url, timeout=TIMEOUT).status_code == 200  # the upload page shows


def test_request_json_has_the_servers_defaults(stack: Stack) -> None:
    minted = json.loads(ok(stack, "request", "--json", "--max-size", "5MiB"))
    assert minted["url"].startswith(f"{stack.base_url}/upload?token=")
    assert minted == {**server_state(stack, minted["id"]), "url": minted["url"]}
    assert (minted["max_files"], minted["files"], minted["max_size"]) == (1, 0, 5 * 1024**2)
    assert (minted["content_types"], minted["show_link"], minted["notify"]) == ([], True, None)
    assert (minted["link_uses"], minted["link_ttl"]) == (1, DAY)
    assert 6.99 < days_until(minted["expires_at"]) <= 7


@pytest.mark.parametrize(
    ("args", "body", "code"),
    [
        (["--files", "101"], {"files": 101}, "invalid_files"),
        # Above the deployment's limit (5 GiB, one form upload's most).
        (["--max-size", "6GiB"], {"max_size": 6 * 1024**3}, "invalid_max_size"),
        (["--type", "pdf"], {"content_types": ["pdf"]}, "invalid_content_types"),
        (["--ttl", "31d"], {"ttl": 31 * DAY}, "invalid_ttl"),
        (["--notify", "not-an-address"], {"notify": "not-an-address"}, "invalid_email"),
    ],
)
def test_a_request_the_server_refuses_exits_1_and_makes_nothing(
    stack: Stack, args: list[str], body: dict[str, Any], code: str
) -> None:
    before = newest_request(stack)
    result = run(stack, "request", *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert newest_request(stack) == before
    answer = api(stack, "POST", "/requests", json=body)  # the same request, without the CLI
    assert answer.status_code == 400 and answer.json()["error"] == code
    assert result.stderr == f"error: {answer.json()['message']}\n"


@pytest.mark.parametrize(
    "args", [["--files", "0"], ["--max-size", "abc"], ["--no-show-link"], ["--subject", "S"]]
)
def test_bad_input_exits_2_and_makes_nothing(stack: Stack, args: list[str]) -> None:
    before = newest_request(stack)
    result = run(stack, "request", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert newest_request(stack) == before


def new_requests(stack: Stack, count: int) -> list[str]:
    """``count`` new requests' ids, newest first."""
    urls = [request_url(stack, "--note", f"request {n}") for n in range(count)]
    return [token_of(url)[:16] for url in reversed(urls)]


def test_requests_lists_newest_first(stack: Stack) -> None:
    newest_first = new_requests(stack, 3)

    table = ok(stack, "requests")
    rows = [line for line in table.splitlines() if any(i in line for i in newest_first)]
    assert [next(i for i in newest_first if i in row) for row in rows] == newest_first
    assert all("active" in row and "0/1" in row for row in rows)
    assert [row.rsplit("  ", 1)[1] for row in rows] == ["request 2", "request 1", "request 0"]

    listed = json.loads(ok(stack, "requests", "--limit", "3", "--json"))
    assert [request["id"] for request in listed["requests"]] == newest_first
    assert listed["requests"][0] == server_state(stack, newest_first[0])


def test_requests_pages(stack: Stack) -> None:
    newest_first = new_requests(stack, 3)

    first = run(stack, "requests", "--limit", "2")
    assert first.exit_code == 0
    assert [i for i in newest_first if i in first.stdout] == newest_first[:2]
    hint = first.stderr.strip()
    assert hint.startswith("More requests: onetime requests --limit 2 --cursor ")
    cursor = hint.split("--cursor ")[1].split()[0]
    rest = ok(stack, "requests", "--limit", "2", "--cursor", cursor)
    assert [i for i in newest_first if i in rest] == newest_first[2:]

    every = json.loads(ok(stack, "requests", "--limit", "2", "--all", "--json"))
    listed = [request["id"] for request in every["requests"]]
    assert listed[:3] == newest_first
    assert len(listed) == len(set(listed))


def test_show_lists_a_received_file_with_its_download_link(stack: Stack) -> None:
    url = request_url(stack, "--files", "2", "--type", "application/pdf", "--note", "contract")
    request_id = token_of(url)[:16]
    before = ok(stack, "requests", "show", request_id)
    assert "0 of 2 received" in before and "No files received yet." in before

    confirmed = upload(stack, url, "Vertrag (signiert).pdf", b"%PDF-1.4 signed\n")
    assert confirmed.status_code == 201, confirmed.text

    state = json.loads(ok(stack, "requests", "show", url, "--json"))  # the URL works too
    assert state == server_state(stack, request_id)
    assert (state["status"], state["files"]) == ("active", 1)
    [received] = state["received"]
    assert received["filename"] == "Vertrag (signiert).pdf"
    assert (received["size"], received["content_type"]) == (16, "application/pdf")
    shown = ok(stack, "requests", "show", request_id)
    assert "1 of 2 received" in shown
    [row] = [line for line in shown.splitlines() if received["link_id"] in line]
    assert "Vertrag (signiert).pdf" in row and "16 bytes" in row and received["file"] in row

    link = json.loads(ok(stack, "show", received["link_id"], "--json"))
    assert (link["file"], link["filename"], link["status"]) == (
        received["file"],
        "Vertrag (signiert).pdf",
        "active",
    )


def test_revoke_stops_the_link_taking_files_and_keeps_what_it_took(stack: Stack) -> None:
    url = request_url(stack, "--files", "3")
    request_id = token_of(url)[:16]
    assert upload(stack, url, "first.pdf", b"one").status_code == 201

    out = ok(stack, "requests", "revoke", request_id)
    assert out.startswith(
        f"Revoked upload link {request_id}: it takes no more files (1 of 3 received)."
    )
    state = server_state(stack, request_id)
    assert (state["status"], state["files"]) == ("revoked", 1)
    assert state["revoked_at"]
    refused = upload(stack, url, "second.pdf", b"two")
    assert refused.status_code == 410
    assert server_state(stack, request_id)["files"] == 1
    # The file already received keeps its download link.
    link_id = state["received"][0]["link_id"]
    assert json.loads(ok(stack, "show", link_id, "--json"))["status"] == "active"
    again = json.loads(ok(stack, "requests", "revoke", request_id, "--json"))  # twice is fine
    assert (again["status"], again["revoked_at"]) == ("revoked", state["revoked_at"])


@pytest.mark.parametrize("command", ["show", "revoke"])
def test_an_unknown_request_exits_1_with_the_servers_message(stack: Stack, command: str) -> None:
    unknown = "a" * 16
    result = run(stack, "requests", command, unknown)
    assert result.exit_code == 1
    answer = api(stack, "GET", f"/requests/{unknown}")
    assert answer.status_code == 404
    assert result.stderr == f"error: {answer.json()['message']}\n"


def test_request_email_sends_the_upload_link_and_prints_it(stack: Stack) -> None:
    result = run(
        stack, "request", "--email", CUSTOMER, "--subject", "Ihre Unterlagen", "--message", "Danke"
    )
    assert result.exit_code == 0, result.output
    url = result.stdout.removesuffix("\n")
    assert "\n" not in url and url.startswith(f"{stack.base_url}/upload?token=")
    assert result.stderr.splitlines()[0].startswith(f"Emailed to {CUSTOMER} (message id ")
    _, message = last_email(stack)
    assert (message["To"], message["Subject"]) == (CUSTOMER, "Ihre Unterlagen")
    assert url in text_part(message) and "Danke" in text_part(message)


def test_request_email_to_a_bad_address_exits_1_and_makes_and_sends_nothing(stack: Stack) -> None:
    before, sent = newest_request(stack), sent_count(stack)
    result = run(stack, "request", "--email", "not-an-address")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stdout == ""
    assert (newest_request(stack), sent_count(stack)) == (before, sent)


def test_notify_emails_each_received_files_link_instead_of_showing_it(stack: Stack) -> None:
    url = request_url(stack, "--notify", OPERATOR, "--no-show-link", "--link-uses", "2")
    request_id = token_of(url)[:16]
    state = server_state(stack, request_id)
    assert (state["show_link"], state["notify"], state["link_uses"]) == (False, OPERATOR, 2)
    shown = ok(stack, "requests", "show", request_id)
    assert f"2 downloads, valid 1d; emailed to {OPERATOR}" in shown

    confirmed = upload(stack, url, "scan.pdf", b"scanned")
    assert confirmed.status_code == 201, confirmed.text
    assert "/download?token=" not in confirmed.text  # the uploader does not see it
    _, message = last_email(stack)
    assert message["To"] == OPERATOR and request_id in text_part(message)
    [received] = server_state(stack, request_id)["received"]
    assert f"/download?token={received['link_id']}" in text_part(message)
