"""Resend and the recipient listing, in process on moto: ``POST /links/{id}/resend``
replaces an emailed link with a new one to the same file, revokes the old one and emails
the new one to the stored recipient; ``GET /links?email=`` lists an address's links.

Every outcome is read where it lands: the answer, the items in the table, and the
messages in moto's SES outbox."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.helpers import (
    SMALL,
    InProcess,
    aws_error,
    browse,
    call,
    epoch,
    parts,
    redeem,
    reset_app_caches,
    sent,
    text_of,
    token_of,
)

TO = "Client.Person@Example.com"
FILE = "docs/contract.pdf"


def mint(service: InProcess, **fields: Any) -> dict[str, Any]:
    service.put(FILE, SMALL)
    response = call(service, "POST", "/links", {"file": FILE, **fields})
    assert response.status_code == 201, response.body
    minted: dict[str, Any] = response.json_body
    return minted


def resend(service: InProcess, link_id: str, body: Any = None) -> Any:
    return call(service, "POST", f"/links/{link_id}/resend", body)


def state(service: InProcess, link_id: str) -> dict[str, Any]:
    found: dict[str, Any] = call(service, "GET", f"/links/{link_id}").json_body
    return found


def to(address: str) -> list[Any]:
    return [m for m in sent() if m["To"] == address]


def test_resend_replaces_the_link_and_emails_the_new_one(mailing: InProcess) -> None:
    old = mint(mailing, email=TO, uses=3, ttl=7200, note="ticket 12", confirm=False)
    assert redeem(mailing, token_of(old)).status_code == 302  # one of three used
    mailing.clock.advance(600)
    response = resend(mailing, old["id"])
    assert response.status_code == 201, response.body
    new = response.json_body
    assert response.headers["Location"].endswith(f"/links/{new['id']}")
    # What the old link had left: two uses and the rest of its time.
    assert (new["max_uses"], new["file"], new["confirm"]) == (2, FILE, False)
    assert epoch(new["expires_at"]) == epoch(old["expires_at"])
    assert new["filename"] == old["filename"] and new["url"] != old["url"]
    # The outbox: the first email, then the new one, to the address as it was given.
    _first, second = to(TO)
    plain, page = parts(second)
    assert new["url"] in plain and new["url"] in page and old["url"] not in plain
    # The old link is withdrawn as replaced; the new one works.
    gone = redeem(mailing, token_of(old))
    assert gone.status_code == 410 and gone.json_body["error"] == "link_revoked"
    assert "newer link that was emailed to you" in gone.json_body["message"]
    page_gone = browse(mailing, token_of(old))
    assert page_gone.status_code == 410 and "newer link" in text_of(page_gone)
    assert redeem(mailing, token_of(new)).status_code == 302
    # The audit trail: one operation, seen from both ends.
    before, after = state(mailing, old["id"]), state(mailing, new["id"])
    assert (before["status"], before["replaced_by"]) == ("revoked", new["id"])
    assert epoch(before["revoked_at"]) == mailing.clock()
    assert (after["replaces"], after["recipient"], after["note"]) == (old["id"], TO, "ticket 12")
    assert after["message_id"] == new["message_id"] and after["message_id"]
    assert after["uses"] == 1 and before["uses"] == 1


def test_new_values_replace_what_is_left(mailing: InProcess) -> None:
    old = mint(mailing, email=TO, confirm=False)
    assert redeem(mailing, token_of(old)).status_code == 302  # used up
    refused = resend(mailing, old["id"])
    assert refused.status_code == 409 and "give uses" in refused.json_body["message"]
    assert state(mailing, old["id"])["replaced_by"] is None  # nothing happened
    response = resend(mailing, old["id"], {"uses": 2, "ttl": 3600})
    assert response.status_code == 201, response.body
    assert response.json_body["max_uses"] == 2
    assert epoch(response.json_body["expires_at"]) == mailing.clock() + 3600


def test_an_expired_link_needs_a_ttl(mailing: InProcess) -> None:
    old = mint(mailing, email=TO, ttl=60)
    mailing.clock.advance(61)
    refused = resend(mailing, old["id"])
    assert refused.status_code == 409 and "give a ttl" in refused.json_body["message"]
    assert resend(mailing, old["id"], {"ttl": 60}).status_code == 201


def test_a_code_link_gets_a_new_code_in_the_new_email(mailing: InProcess) -> None:
    old = mint(mailing, email=TO, verify="code")
    response = resend(mailing, old["id"])
    assert response.status_code == 201, response.body
    new = response.json_body
    assert new["verify"] == "code" and re.fullmatch(r"[0-9]{6}", new["code"])
    plain, page = parts(to(TO)[-1])
    assert f"Your download code: {new['code']}" in plain and new["code"] in page
    assert new["code"] not in new["url"]
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "*/*"}
    if new["code"] != old["code"]:
        # The old code does not open the new link (a 1 in a million draw aside).
        wrong = mailing.client.http.post(
            "/download",
            headers=headers,
            body=urlencode({"token": token_of(new), "answer": old["code"]}),
        )
        assert wrong.status_code == 403
    right = mailing.client.http.post(
        "/download",
        headers=headers,
        body=urlencode({"token": token_of(new), "answer": new["code"]}),
    )
    assert right.status_code == 302


def test_an_email_check_carries_over_to_the_new_link(mailing: InProcess) -> None:
    old = mint(mailing, email=TO, verify="email", notify="ops@example.com")
    new = resend(mailing, old["id"]).json_body
    assert "code" not in new and new["verify"] == "email"
    assert state(mailing, new["id"])["notify"] == "ops@example.com"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "*/*"}
    body = urlencode({"token": token_of(new), "answer": TO.lower()})
    assert mailing.client.http.post("/download", headers=headers, body=body).status_code == 302


def test_a_failing_email_restores_the_old_link(
    mailing: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = mint(mailing, email=TO, confirm=False)
    monkeypatch.setenv("ONETIME_MAIL_FROM", "unverified@onetime.local")  # SES refuses it
    reset_app_caches()
    response = resend(mailing, old["id"])
    assert response.status_code == 502 and response.json_body["error"] == "mail_failed"
    assert "old link works as before" in response.json_body["message"]
    assert len(to(TO)) == 1  # only the first email
    restored = state(mailing, old["id"])
    assert (restored["status"], restored["revoked_at"], restored["replaced_by"]) == (
        "active",
        None,
        None,
    )
    # The replacement exists (the audit trail keeps it) but is withdrawn: nobody has it.
    (replacement,) = [
        i for i in mailing.table_items() if i.get("replaces", {}).get("S") == old["id"]
    ]
    assert "revoked_at" in replacement
    assert redeem(mailing, token_of(old)).status_code == 302


def test_a_failing_revocation_emails_nothing_and_keeps_the_old_link(mailing: InProcess) -> None:
    old = mint(mailing, email=TO, confirm=False)
    outbox = len(sent())
    mailing.hooks.fail("dynamodb:UpdateItem", aws_error("InternalServerError", 500))
    response = resend(mailing, old["id"])
    mailing.hooks.faults.clear()
    assert response.status_code == 503
    assert len(sent()) == outbox  # nothing emailed
    assert state(mailing, old["id"])["status"] == "active"


def test_what_cannot_be_resent(mailing: InProcess) -> None:
    plain = mint(mailing)
    no_one = resend(mailing, plain["id"])
    assert no_one.status_code == 409 and "not emailed" in no_one.json_body["message"]
    assert resend(mailing, "aaaaaaaaaaaaaaaa").status_code == 404
    assert resend(mailing, "not-an-id").status_code == 404
    revoked = mint(mailing, email=TO)
    call(mailing, "DELETE", f"/links/{revoked['id']}")
    withdrawn = resend(mailing, revoked["id"])
    assert withdrawn.status_code == 409 and "withdrawn" in withdrawn.json_body["message"]
    replaced = mint(mailing, email=TO)
    newer = resend(mailing, replaced["id"]).json_body
    again = resend(mailing, replaced["id"])
    assert again.status_code == 409 and newer["id"] in again.json_body["message"]
    for body in ({"uses": 0}, {"ttl": 0}, {"uses": "2"}, {"other": 1}):
        assert resend(mailing, newer["id"], body).status_code == 400, body
    assert resend(mailing, newer["id"], "[]").status_code == 400
    assert (
        call(mailing, "POST", f"/links/{newer['id']}/resend", Authorization="").status_code == 401
    )


def test_resend_without_email_set_up_is_refused(service: InProcess) -> None:
    minted = mint(service)
    response = resend(service, minted["id"])
    assert response.status_code == 400 and response.json_body["error"] == "email_disabled"


# --- GET /links?email= ---------------------------------------------------------------


def listed(service: InProcess, query: str) -> Any:
    return call(service, "GET", f"/links?{query}")


def test_links_by_recipient_page_newest_first_in_any_case(mailing: InProcess) -> None:
    made = []
    for n in range(3):
        made.append(mint(mailing, email=TO if n != 1 else TO.lower())["id"])
        mailing.clock.advance(1)
    mint(mailing)  # no recipient: not listed
    mint(mailing, email="someone.else@example.com")
    first = listed(mailing, urlencode({"email": TO.upper(), "limit": 2}))
    assert first.status_code == 200, first.body
    assert [link["id"] for link in first.json_body["links"]] == made[::-1][:2]
    assert first.json_body["links"][0]["recipient"] == TO  # as given
    cursor = first.json_body["next_cursor"]
    assert cursor
    rest = listed(mailing, urlencode({"email": TO, "limit": 2, "cursor": cursor}))
    assert [link["id"] for link in rest.json_body["links"]] == made[:1]
    assert rest.json_body["next_cursor"] is None
    # The listing is a Query of the index, never a Scan.
    assert "dynamodb:Scan" not in mailing.hooks.calls
    assert "dynamodb:Query" in mailing.hooks.calls
    other = listed(mailing, urlencode({"email": "someone.else@example.com", "cursor": cursor}))
    assert other.status_code == 400 and other.json_body["error"] == "invalid_cursor"


def test_links_by_recipient_lists_a_resend_chain(mailing: InProcess) -> None:
    old = mint(mailing, email=TO)
    mailing.clock.advance(1)
    new = resend(mailing, old["id"]).json_body
    links = listed(mailing, urlencode({"email": TO})).json_body["links"]
    assert [(link["id"], link["status"]) for link in links] == [
        (new["id"], "active"),
        (old["id"], "revoked"),
    ]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("file=", "invalid_file"),
        ("file=a.pdf&email=a%40example.com", "invalid_query"),
        ("email=not-an-address", "invalid_email"),
        ("email=", "invalid_email"),
        ("email=a%40example.com&email=b%40example.com", "invalid_email"),
        ("email=a%40example.com&limit=0", "invalid_limit"),
    ],
)
def test_listing_takes_at_most_one_of_file_and_email(
    service: InProcess, query: str, code: str
) -> None:
    response = listed(service, query)
    assert response.status_code == 400 and response.json_body["error"] == code
