"""The CLI and the recipient check: ``onetime link --verify email|code`` (and ``--notify``),
``onetime get --answer``, ``onetime unlock``, and what ``onetime show`` says of a link's
recipient, check and wrong answers.

First against canned answers (what reaches the terminal, and that bad input sends
nothing), then against the stack end to end, with the harness of tests/tooling/cli.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.tooling.cli import (
    CUSTOMER,
    EVIL,
    EVIL_SHOWN,
    LINK_ID,
    TERMINAL,
    Canned,
    assert_nothing_reaches_the_terminal_raw,
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
from tools.samples import SMALL_SAMPLE, sample_pdf
from tools.stack import Stack

CODE = re.compile(r"^Code: ([0-9]{6}) ", re.MULTILINE)
WRONG = "Nothing was used up: that answer is not right. After 5 wrong answers the link locks."


def code_in(stderr: str) -> str:
    found = CODE.search(stderr)
    assert found is not None, stderr
    return found.group(1)


def other_than(code: str) -> str:
    return "123456" if code != "123456" else "654321"


# --- canned answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["link", "f", "--verify", "email"],  # no address to check against
        ["link", "f", "--verify", "code", "--no-confirm"],  # nobody would be asked
        ["link", "f", "--verify", "password"],
        ["link", "f", "--verify"],
        ["unlock"],  # ID missing
        ["unlock", " "],
    ],
)
def test_bad_check_options_exit_2_and_send_nothing(canned: Canned, args: list[str]) -> None:
    result = invoke(args, url=canned.url)
    assert result.exit_code == 2, result.output
    assert "Error: " in result.stderr and "Traceback" not in result.output
    assert canned.requests == []


@pytest.mark.parametrize("given", ["", "  "])
def test_get_with_an_empty_answer_exits_2_and_sends_nothing(
    canned: Canned, tmp_path: Path, given: str
) -> None:
    result = get(link_to(canned), "-o", str(tmp_path), "--answer", given)
    assert result.exit_code == 2
    assert "'--answer'" in result.stderr
    assert (canned.requests, files_in(tmp_path)) == ([], [])


def test_link_sends_the_check_and_prints_the_code_on_stderr(canned: Canned) -> None:
    url = f"https://onetime.example.com/download?token={LINK_ID}{'S' * 43}"
    canned.answer(201, {"url": url, "id": LINK_ID, "verify": "code", "code": "048213"})
    result = invoke(
        ["link", "f", "--verify", "code", "--notify", "ops@example.com"], url=canned.url
    )
    assert result.exit_code == 0, result.output
    [(method, path, _, body)] = canned.requests
    assert (method, path) == ("POST", "/links")
    assert json.loads(body) == {"file": "f", "verify": "code", "notify": "ops@example.com"}
    assert result.stdout == url + "\n"  # url=$(onetime link ...) still captures the URL
    assert code_in(result.stderr) == "048213"  # leading zero kept


def test_get_sends_the_answer_with_the_token(canned: Canned, tmp_path: Path) -> None:
    canned.answer(403, {"error": "wrong_answer", "message": WRONG, "answers_left": 1})
    result = get(link_to(canned), "-o", str(tmp_path), "--answer", " 048-213 ")
    assert result.exit_code == 1
    assert result.stderr == f"error: {WRONG} 1 try left before the link locks.\n"
    [(method, _, _, body)] = canned.requests
    fields = parse_qs(body.decode())
    assert method == "POST" and fields["answer"] == [" 048-213 "]  # the server normalises
    assert files_in(tmp_path) == []


def test_show_escapes_terminal_controls_in_recipients_and_guesses(canned: Canned) -> None:
    guess = {"at": EVIL, "ip": EVIL, "user_agent": EVIL}
    canned.answer(
        200,
        {
            "id": LINK_ID,
            "status": "active",
            "redemptions": [],
            "recipient": EVIL,
            "message_id": EVIL,
            "notify": EVIL,
            "verify": EVIL,
            "wrong_answers": 2,
            "locked_at": None,
            "guesses": [guess, guess],
            "unlocked_at": [EVIL],
        },
    )
    result = invoke(["show", LINK_ID], url=canned.url, extra_env=TERMINAL, color=True)
    assert result.exit_code == 0, result.output
    assert_nothing_reaches_the_terminal_raw(result.stdout + result.stderr)
    # recipient, message id, notify, verify; 3 cells of 2 guesses; the unlock.
    assert result.stdout.count(EVIL_SHOWN) == 4 + 6 + 1


def test_show_says_how_many_of_a_long_history_it_lists(canned: Canned) -> None:
    """The server keeps the newest 20 records of each history, with totals: show says so."""
    guess = {"at": "2026-11-22T06:10:00Z", "ip": "192.0.2.1", "user_agent": "agent"}
    refund = {"at": "2026-11-22T06:20:00Z", "redemption": None}
    canned.answer(
        200,
        {
            "id": LINK_ID,
            "status": "active",
            "redemptions": [],
            "refunds": [refund] * 20,
            "refunds_total": 100,
            "verify": "code",
            "wrong_answers": 0,
            "locked_at": None,
            "guesses": [guess] * 20,
            "guesses_total": 200,
            "unlocked_at": ["2026-11-22T06:15:00Z"] * 20,
            "unlocks_total": 40,
        },
    )
    result = invoke(["show", LINK_ID], url=canned.url)
    assert result.exit_code == 0, result.output
    assert "Wrong answers (the newest 20 of 200)" in result.stdout
    assert "Unlocked (the newest 20 of 40) (UTC):" in result.stdout
    assert "Refunds (the newest 20 of 100)" in result.stdout


# --- against the running stack -----------------------------------------------------------


def minted_with_code(stack: Stack) -> tuple[dict[str, Any], str]:
    result = run(stack, "link", SMALL_SAMPLE, "--verify", "code", "--json")
    assert result.exit_code == 0, result.output
    minted: dict[str, Any] = json.loads(result.stdout)
    assert minted["verify"] == "code" and code_in(result.stderr) == minted["code"]
    return minted, minted["code"]


def test_a_code_link_downloads_only_with_its_code(stack: Stack, tmp_path: Path) -> None:
    result = run(stack, "link", SMALL_SAMPLE, "--verify", "code")
    assert result.exit_code == 0, result.output
    url = result.stdout.removesuffix("\n")
    assert "\n" not in url and url.startswith(f"{stack.base_url}/download?token=")
    code = code_in(result.stderr)
    assert code not in url
    link_id = parse_qs(url.split("?", 1)[1])["token"][0][:16]

    asked = get(url, "-o", str(tmp_path))
    assert asked.exit_code == 1
    assert asked.stderr.startswith("error: Nothing was used up.")
    assert asked.stderr.endswith(" Give it with --answer.\n")
    wrong = get(url, "-o", str(tmp_path), "--answer", other_than(code))
    assert wrong.exit_code == 1
    assert wrong.stderr == f"error: {WRONG} 4 tries left before the link locks.\n"
    assert files_in(tmp_path) == []
    state = state_of(stack, link_id)
    assert (state["uses"], state["wrong_answers"], len(state["guesses"])) == (0, 1, 1)

    right = get(url, "-o", str(tmp_path), "--answer", f"{code[:3]}-{code[3:]}")
    assert right.exit_code == 0, right.output
    [saved] = files_in(tmp_path)
    assert (tmp_path / saved).read_bytes() == sample_pdf()
    assert right.stdout == f"{tmp_path / saved}\n"
    state = state_of(stack, link_id)
    assert (state["uses"], state["wrong_answers"]) == (1, 1)


def test_five_wrong_answers_lock_until_unlock(stack: Stack, tmp_path: Path) -> None:
    minted, code = minted_with_code(stack)
    for left in ("4 tries", "3 tries", "2 tries", "1 try"):
        wrong = get(minted["url"], "-o", str(tmp_path), "--answer", other_than(code))
        assert wrong.exit_code == 1
        assert wrong.stderr.endswith(f" {left} left before the link locks.\n")
    fifth = get(minted["url"], "-o", str(tmp_path), "--answer", other_than(code))
    assert fifth.exit_code == 1
    assert fifth.stderr.startswith("error: This link is locked")
    right = get(minted["url"], "-o", str(tmp_path), "--answer", code)
    assert right.exit_code == 1 and "locked" in right.stderr
    assert files_in(tmp_path) == []
    state = state_of(stack, minted["id"])
    assert (state["uses"], state["wrong_answers"], len(state["guesses"])) == (0, 5, 5)
    assert state["locked_at"] is not None

    shown = ok(stack, "show", minted["id"])
    assert re.search(r"^verify +code$", shown, re.MULTILINE)
    assert re.search(r"^wrong answers +5 of 5: locked since \S+Z \(", shown, re.MULTILINE)
    assert "Wrong answers" in shown
    rows = [line for line in shown.splitlines() if "onetime-cli/" in line]
    assert len(rows) == 5 and all("127.0.0.1" in row for row in rows)

    unlocked = run(stack, "unlock", minted["url"])  # the URL works: only the id is sent
    assert unlocked.exit_code == 0, unlocked.output
    assert unlocked.stdout == (
        f"Unlocked link {minted['id']}: it takes answers again "
        "(5 wrong answers so far, listed by onetime show).\n"
    )
    state = state_of(stack, minted["id"])
    assert (state["wrong_answers"], state["locked_at"], len(state["guesses"])) == (0, None, 5)
    [at] = state["unlocked_at"]
    shown = ok(stack, "show", minted["id"])
    assert re.search(r"^wrong answers +0 of 5 \(5 left before it locks\)$", shown, re.MULTILINE)
    assert f"Unlocked (UTC): {at[:10]} " in shown

    again = get(minted["url"], "-o", str(tmp_path), "--answer", code)
    assert again.exit_code == 0, again.output
    [saved] = files_in(tmp_path)
    assert (tmp_path / saved).read_bytes() == sample_pdf()
    assert state_of(stack, minted["id"])["uses"] == 1


def test_unlock_json_and_unlock_of_a_link_without_a_check(stack: Stack) -> None:
    minted, _ = minted_with_code(stack)
    state = json.loads(ok(stack, "unlock", minted["id"], "--json"))
    assert (state["id"], state["verify"], state["unlocked_at"] != []) == (
        minted["id"],
        "code",
        True,
    )
    plain = json.loads(ok(stack, "link", SMALL_SAMPLE, "--json"))
    refused = run(stack, "unlock", plain["id"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: ") and refused.stdout == ""
    assert state_of(stack, plain["id"])["unlocked_at"] == []


def test_an_email_link_takes_the_address_and_show_names_the_recipient(
    stack: Stack, tmp_path: Path
) -> None:
    result = run(
        stack,
        *("link", SMALL_SAMPLE, "--email", CUSTOMER, "--verify", "email"),
        *("--notify", "ops@example.com"),
    )
    assert result.exit_code == 0, result.output
    url = result.stdout.removesuffix("\n")
    assert result.stderr.startswith(f"Emailed to {CUSTOMER} (message id ")
    assert CODE.search(result.stderr) is None  # no code: the address is the answer
    _, message = last_email(stack)
    assert message["To"] == CUSTOMER and url in text_part(message)
    link_id = parse_qs(url.split("?", 1)[1])["token"][0][:16]
    state = state_of(stack, link_id)
    assert (state["recipient"], state["verify"], state["notify"]) == (
        CUSTOMER,
        "email",
        "ops@example.com",
    )
    shown = ok(stack, "show", link_id)
    for name, value in (
        ("recipient", CUSTOMER),
        ("message id", state["message_id"]),
        ("notify", "ops@example.com"),
        ("verify", "email"),
    ):
        assert re.search(rf"^{name} +{re.escape(value)}$", shown, re.MULTILINE), name
    assert "No wrong answers." in shown

    wrong = get(url, "-o", str(tmp_path), "--answer", "someone.else@example.com")
    assert wrong.exit_code == 1 and "4 tries left" in wrong.stderr
    right = get(url, "-o", str(tmp_path), "--answer", CUSTOMER.upper())
    assert right.exit_code == 0, right.output
    [saved] = files_in(tmp_path)
    assert (tmp_path / saved).read_bytes() == sample_pdf()


def test_verify_email_without_email_sends_nothing(stack: Stack) -> None:
    before = sent_count(stack)
    result = run(stack, "link", SMALL_SAMPLE, "--verify", "email", "--json")
    assert result.exit_code == 2 and "--verify email needs --email" in result.stderr
    assert (result.stdout, sent_count(stack)) == ("", before)
