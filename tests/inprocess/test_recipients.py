"""Recipients in process, on moto: a link knows who it was emailed to, and a recipient
check (``verify``) that only the recipient can pass, compared inside the claim's write.

A wrong answer spends nothing and is counted; the fifth locks the link (423) until an
operator unlocks it.  A press with no answer at all (a scanner clicking the button) is
not counted and gets nothing."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.helpers import (
    BROWSER_ACCEPT,
    SMALL,
    InProcess,
    aws_error,
    browse,
    call,
    landing,
    parts,
    reset_app_caches,
    sent,
    submit,
    text_of,
    token_of,
)

TO = "Client.Person@Example.com"


def mint(service: InProcess, **fields: Any) -> dict[str, Any]:
    service.put("docs/contract.pdf", SMALL)
    response = call(service, "POST", "/links", {"file": "docs/contract.pdf", **fields})
    assert response.status_code == 201, response.body
    minted: dict[str, Any] = response.json_body
    return minted


def press(service: InProcess, token: str, answer: str | None, accept: str = BROWSER_ACCEPT) -> Any:
    """The landing page's form, as a person sends it after reading the page."""
    page, jar = landing(service, token)
    shown = re.search(r'name="shown" value="([^"]+)"', page)
    assert shown is not None
    service.clock.advance(3)
    fields = {"token": token, "shown": shown.group(1)}
    if answer is not None:
        fields["answer"] = answer
    return submit(service, fields, jar, accept)


def state(service: InProcess, link_id: str) -> dict[str, Any]:
    found: dict[str, Any] = call(service, "GET", f"/links/{link_id}").json_body
    return found


def test_a_code_link_asks_for_its_code_and_only_the_right_one_downloads(
    service: InProcess,
) -> None:
    minted = mint(service, verify="code")
    code = minted["code"]
    assert re.fullmatch(r"[0-9]{6}", code) and minted["verify"] == "code"
    assert code not in minted["url"]
    token = token_of(minted)
    page = text_of(browse(service, token))
    assert '<input id="answer" name="answer" type="text"' in page and "required" in page
    # A person is shown the page again, saying why nothing happened (an API client gets
    # 403: test_an_api_client_gets_json_reasons).
    blank = press(service, token, None)
    assert blank.status_code == 200 and "type the email address" in text_of(blank)
    assert state(service, minted["id"])["wrong_answers"] == 0  # a blank press is not a guess
    wrong = press(service, token, "000000" if code != "000000" else "111111")
    assert wrong.status_code == 200
    assert "4 tries left before the link locks" in text_of(wrong)
    after = state(service, minted["id"])
    assert (after["uses"], after["wrong_answers"], len(after["guesses"])) == (0, 1, 1)
    right = press(service, token, f" {code[:3]}-{code[3:]} ")  # as people type it
    assert right.status_code == 200 and "Your download has started" in text_of(right)
    assert state(service, minted["id"])["uses"] == 1


def test_an_email_link_takes_the_address_it_was_sent_to(mailing: InProcess) -> None:
    minted = mint(mailing, email=TO, verify="email")
    assert "code" not in minted
    token = token_of(minted)
    page = text_of(browse(mailing, token))
    assert 'type="email"' in page
    assert "not right" in text_of(press(mailing, token, "someone.else@example.com"))
    right = press(mailing, token, "  client.person@example.COM")
    assert right.status_code == 200
    found = state(mailing, minted["id"])
    assert found["recipient"] == TO and found["message_id"] == minted["message_id"]
    assert found["verify"] == "email" and found["uses"] == 1


def test_five_wrong_answers_lock_the_link_until_an_operator_unlocks_it(
    service: InProcess,
) -> None:
    minted = mint(service, verify="code")
    token, code = token_of(minted), minted["code"]
    wrong = "123456" if code != "123456" else "654321"
    for left in (4, 3, 2, 1):
        assert f"{left} tr" in text_of(press(service, token, wrong))
    fifth = press(service, token, wrong)
    assert fifth.status_code == 423
    assert "This link is locked" in text_of(fifth)
    locked = state(service, minted["id"])
    assert locked["locked_at"] is not None and locked["wrong_answers"] == 5
    # Locked: the page says so, even the right answer gets nothing, and nothing more is
    # counted.
    assert browse(service, token).status_code == 423
    direct = service.client.http.post(
        "/download",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "*/*"},
        body=urlencode({"token": token, "answer": code}),
    )
    assert direct.status_code == 423 and direct.json_body["error"] == "link_locked"
    assert state(service, minted["id"])["wrong_answers"] == 5
    unlocked = call(service, "POST", f"/links/{minted['id']}/unlock")
    assert unlocked.status_code == 200
    assert unlocked.json_body["locked_at"] is None and len(unlocked.json_body["guesses"]) == 5
    assert len(unlocked.json_body["unlocked_at"]) == 1
    assert press(service, token, code).status_code == 200


def test_an_api_client_gets_json_reasons(service: InProcess) -> None:
    minted = mint(service, verify="code")
    token = token_of(minted)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "*/*"}
    blank = service.client.http.post("/download", headers=headers, body=f"token={token}")
    assert blank.status_code == 403 and blank.json_body["error"] == "answer_required"
    wrong = service.client.http.post("/download", headers=headers, body=f"token={token}&answer=abc")
    assert wrong.status_code == 403
    assert (wrong.json_body["error"], wrong.json_body["answers_left"]) == ("wrong_answer", 4)
    right = service.client.http.post(
        "/download", headers=headers, body=f"token={token}&answer={minted['code']}"
    )
    assert right.status_code == 302


def test_the_table_never_holds_the_code_or_the_address_in_the_clear(
    mailing: InProcess,
) -> None:
    coded = mint(mailing, verify="code")
    by_mail = mint(mailing, email=TO, verify="email")
    items = {i["pk"]["S"]: i for i in mailing.table_items()}
    coded_item = str(items[f"link#{coded['id']}"])
    assert coded["code"] not in coded_item
    mailed_item = items[f"link#{by_mail['id']}"]
    # The recipient is kept (support needs it) but the check's answer is only a digest.
    assert mailed_item["recipient"] == {"S": TO}
    assert TO.lower() not in str(mailed_item["answer_digest"])
    assert "answer_digest" not in state(mailing, by_mail["id"])


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"verify": "password"}, "invalid_verify"),
        ({"verify": "code", "confirm": False}, "invalid_verify"),
        ({"verify": "email"}, "invalid_verify"),  # no address to check against
        ({"notify": "not an address"}, "invalid_notify"),
    ],
)
def test_bad_checks_are_400_and_mint_nothing(
    service: InProcess, fields: dict[str, Any], code: str
) -> None:
    service.put("docs/contract.pdf", SMALL)
    response = call(service, "POST", "/links", {"file": "docs/contract.pdf", **fields})
    assert response.status_code == 400 and response.json_body["error"] == code
    assert [i for i in service.table_items() if i["pk"]["S"].startswith("link#")] == []


def test_unlocking_a_link_without_a_check_is_a_conflict(service: InProcess) -> None:
    minted = mint(service)
    assert call(service, "POST", f"/links/{minted['id']}/unlock").status_code == 409
    assert call(service, "POST", "/links/aaaaaaaaaaaaaaaa/unlock").status_code == 404


def test_a_throttled_counting_write_spends_nothing(service: InProcess) -> None:
    minted = mint(service, verify="code")
    token = token_of(minted)
    service.hooks.fail(
        "dynamodb:UpdateItem", aws_error("ProvisionedThroughputExceededException", 400)
    )
    assert (
        press(service, token, "999999" if minted["code"] != "999999" else "888888").status_code
        == 503
    )
    service.hooks.faults.clear()
    assert state(service, minted["id"])["uses"] == 0


def test_the_email_of_a_code_link_shows_the_code_as_text(mailing: InProcess) -> None:
    minted = mint(mailing, email="buyer@example.com", verify="code")
    (message,) = [m for m in sent() if m["To"] == "buyer@example.com"]
    plain, page = parts(message)
    assert minted["url"] in plain
    assert f"Your download code: {minted['code']}" in plain and minted["code"] in page
    assert all(minted["code"] not in url for url in re.findall(r"https?://\S+", plain + page))


@pytest.fixture
def keyed(service: InProcess, monkeypatch: pytest.MonkeyPatch) -> InProcess:
    """The secret in SSM Parameter Store, as a deployment has it."""
    import boto3

    monkeypatch.setenv("ONETIME_SECRET_PARAMETER", "/onetime/test/secret")
    reset_app_caches()
    boto3.session.Session().client("ssm").put_parameter(
        Name="/onetime/test/secret", Value="a long random value", Type="SecureString"
    )
    return service


def test_the_secret_is_read_once_per_container_and_only_for_checks(keyed: InProcess) -> None:
    keyed.hooks.calls.clear()
    plain = mint(keyed)
    assert "ssm:GetParameter" not in keyed.hooks.calls  # links without a check never read it
    minted = mint(keyed, verify="code")
    wrong = "000000" if minted["code"] != "000000" else "111111"
    press(keyed, token_of(minted), wrong)
    assert press(keyed, token_of(minted), minted["code"]).status_code == 200
    assert keyed.hooks.calls.count("ssm:GetParameter") == 1
    assert press(keyed, token_of(plain), None).status_code == 200


def test_keys_differ_so_a_digest_made_with_another_secret_does_not_verify(
    keyed: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    minted = mint(keyed, verify="code")
    # The same code, checked under another deployment's secret (the derived fallback).
    monkeypatch.delenv("ONETIME_SECRET_PARAMETER")
    reset_app_caches()
    assert "not right" in text_of(press(keyed, token_of(minted), minted["code"]))


def test_an_unreadable_secret_is_503_and_spends_and_mints_nothing(
    service: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONETIME_SECRET_PARAMETER", "/onetime/test/missing")
    reset_app_caches()
    service.put("docs/contract.pdf", SMALL)
    refused = call(service, "POST", "/links", {"file": "docs/contract.pdf", "verify": "code"})
    assert refused.status_code == 503
    assert [i for i in service.table_items() if i["pk"]["S"].startswith("link#")] == []
    plain = call(service, "POST", "/links", {"file": "docs/contract.pdf"})
    assert plain.status_code == 201  # links without a check do not need it


def test_a_locked_link_says_so_in_its_state_and_an_overlong_answer_is_not_counted(
    service: InProcess,
) -> None:
    minted = mint(service, verify="code")
    token = token_of(minted)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "*/*"}
    overlong = service.client.http.post(
        "/download", headers=headers, body=urlencode({"token": token, "answer": "9" * 321})
    )
    assert overlong.status_code == 400 and overlong.json_body["error"] == "invalid_answer"
    assert state(service, minted["id"])["wrong_answers"] == 0
    for _ in range(5):
        service.client.http.post("/download", headers=headers, body=f"token={token}&answer=x")
    assert state(service, minted["id"])["status"] == "locked"


def test_operators_see_the_newest_records_and_exact_totals_of_a_long_history(
    service: InProcess,
) -> None:
    """30 wrong answers with an unlock after every fifth, then two refunded uses: the state
    lists the newest 20 guesses (user agents cut to 200 bytes) and every total."""
    minted = mint(service, verify="code", uses=1)
    token, code = token_of(minted), minted["code"]
    wrong = "123456" if code != "123456" else "654321"
    agent = "Mozilla/5.0 " + "é" * 300

    def answer(given: str) -> Any:
        service.clock.advance(1)
        return service.client.http.post(
            "/download",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "*/*",
                "User-Agent": agent,
            },
            body=urlencode({"token": token, "answer": given}),
        )

    for n in range(30):
        assert answer(wrong).status_code in (403, 423)
        if n % 5 == 4:
            assert call(service, "POST", f"/links/{minted['id']}/unlock").status_code == 200
    for _ in range(2):
        assert answer(code).status_code in (200, 302)
        assert call(service, "POST", f"/links/{minted['id']}/refund", {}).status_code == 200
    after = state(service, minted["id"])
    assert (after["guesses_total"], after["unlocks_total"], after["refunds_total"]) == (30, 6, 2)
    assert (len(after["guesses"]), len(after["unlocked_at"]), len(after["refunds"])) == (20, 6, 2)
    assert len(after["guesses"][-1]["user_agent"].encode()) <= 200
    assert after["wrong_answers"] == 0 and after["uses"] == 0
