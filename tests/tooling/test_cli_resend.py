"""``onetime resend`` and ``onetime list --email``: canned answers first (what is sent,
what is printed), then against the real stack (dynalite, moto server, chalice local),
where the outbox shows the new email."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.tooling.cli import (
    CANNED_URL,
    LINK_ID,
    TOKEN,
    Canned,
    api,
    download,
    invoke,
    last_email,
    ok,
    run,
    sent_count,
    state_of,
    text_part,
)
from tools.samples import SMALL_SAMPLE
from tools.stack import Stack

NEW_ID = "qrstuvwxyzabcdef"


def test_resend_posts_new_values_and_prints_the_new_url(canned: Canned) -> None:
    canned.answer(201, {"url": CANNED_URL, "id": NEW_ID, "message_id": "m-2", "code": "123456"})
    result = invoke(
        ["resend", f"https://x.example/download?token={TOKEN}", "--uses", "2", "--ttl", "2d"],
        url=canned.url,
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == CANNED_URL + "\n"
    assert result.stderr == (
        f"Emailed link {NEW_ID} to the recipient of {LINK_ID} (message id m-2); "
        f"{LINK_ID} is withdrawn.\nIts code (also in the email): 123456\n"
    )
    [(method, path, _headers, body)] = canned.requests
    assert (method, path) == ("POST", f"/links/{LINK_ID}/resend")
    assert json.loads(body) == {"uses": 2, "ttl": 172_800}
    assert TOKEN not in json.dumps(canned.requests, default=str)


def test_resend_without_values_sends_an_empty_object(canned: Canned) -> None:
    canned.answer(201, {"url": CANNED_URL, "id": NEW_ID, "message_id": "m-2"})
    result = invoke(["resend", LINK_ID, "--json"], url=canned.url)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] == NEW_ID
    assert json.loads(canned.requests[0][3]) == {}


def test_a_refused_resend_exits_1_with_the_servers_message(canned: Canned) -> None:
    message = "The link was not emailed to anyone, so there is nobody to resend it to."
    canned.answer(409, {"error": "conflict", "message": message})
    result = invoke(["resend", LINK_ID], url=canned.url)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"error: {message}\n"


def test_list_by_email_says_how_to_go_on(canned: Canned) -> None:
    canned.answer(200, {"links": [{"id": "a" * 16, "status": "active"}], "next_cursor": "c1"})
    result = invoke(["list", "--email", "a@example.com", "--limit", "1"], url=canned.url)
    assert result.exit_code == 0, result.output
    assert "a" * 16 in result.stdout
    assert result.stderr == (
        "More links: onetime list --email a@example.com --limit 1 --cursor c1  (or --all)\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--file", "f", "--email", "a@example.com"],
        ["resend"],
        ["resend", LINK_ID, "--uses", "0"],
        ["resend", LINK_ID, "--ttl", "2x"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = invoke(args, url="http://127.0.0.1:9")
    assert result.exit_code == 2, result.output
    assert "Usage: onetime" in result.stderr


# --- against the stack -------------------------------------------------------------------


def test_resend_emails_a_new_link_and_withdraws_the_old(stack: Stack) -> None:
    customer = f"Resend.{uuid.uuid4().hex[:8]}@Example.com"
    old = json.loads(ok(stack, "link", SMALL_SAMPLE, "--email", customer, "--json"))
    before = sent_count(stack)
    result = run(stack, "resend", old["id"], "--ttl", "2h")
    assert result.exit_code == 0, result.output
    url = result.stdout.removesuffix("\n")
    assert url.startswith(f"{stack.base_url}/download?token=") and url != old["url"]
    assert sent_count(stack) == before + 1
    _last, message = last_email(stack)
    assert message["To"] == customer and url in text_part(message)
    assert download(old["url"]).status_code == 410
    assert download(url).status_code == 302
    replaced = state_of(stack, old["id"])
    assert replaced["status"] == "revoked" and replaced["replaced_by"]
    assert state_of(stack, replaced["replaced_by"])["replaces"] == old["id"]
    # Listed by the address in another case: the new link first.
    listed = json.loads(ok(stack, "list", "--email", customer.lower(), "--json"))
    assert [link["id"] for link in listed["links"]] == [replaced["replaced_by"], old["id"]]
    table = ok(stack, "list", "--email", customer.upper())
    assert old["id"] in table and replaced["replaced_by"] in table


def test_resend_of_a_link_without_recipient_exits_1(stack: Stack) -> None:
    minted = json.loads(ok(stack, "link", SMALL_SAMPLE, "--json"))
    result = run(stack, "resend", minted["id"])
    assert result.exit_code == 1
    answer = api(stack, "POST", f"/links/{minted['id']}/resend", json={})
    assert answer.status_code == 409
    assert result.stderr == f"error: {answer.json()['message']}\n"
