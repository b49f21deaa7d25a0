"""Download sessions (docs/COUNTING.md): the client that redeemed gets the file again,
without spending, within its window and cap; nobody else does.  In-process, on moto, with
the app's frozen clock."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chalicelib.domain.link import REDELIVERY_CAP
from tests.helpers import (
    BROWSER_ACCEPT,
    SMALL,
    InProcess,
    aws_error,
    call,
    reset_app_caches,
    token_of,
)

FORM = "application/x-www-form-urlencoded"


def post(
    service: InProcess,
    token: str,
    *,
    cookie: str | None = None,
    header: str | None = None,
    accept: str = "*/*",
    extra: str = "",
) -> Any:
    headers = {"Content-Type": FORM, "Accept": accept}
    if cookie is not None:
        headers["Cookie"] = cookie
    if header is not None:
        headers["X-Download-Session"] = header
    return service.client.http.post("/download", headers=headers, body=f"token={token}{extra}")


def cookie_of(response: Any) -> str:
    """The name=value pair a browser would send back."""
    return str(response.headers["Set-Cookie"]).split(";", 1)[0]


def state(service: InProcess, link_id: str) -> dict[str, Any]:
    found: dict[str, Any] = call(service, "GET", f"/links/{link_id}").json_body
    return found


@pytest.fixture
def minted(service: InProcess) -> dict[str, Any]:
    service.put("docs/a.pdf", SMALL)
    return service.mint("docs/a.pdf")  # one use, waits for a person


def test_a_redemption_opens_a_session_scoped_to_the_link(
    service: InProcess, minted: dict[str, Any]
) -> None:
    first = post(service, token_of(minted))
    assert first.status_code == 302
    attributes = [part.strip() for part in first.headers["Set-Cookie"].split(";")]
    name, _, value = attributes[0].partition("=")
    assert name == f"onetime_{minted['id']}"
    assert set(attributes[1:]) == {"Path=/download", "Max-Age=3600", "HttpOnly", "SameSite=Lax"}
    assert first.headers["X-Download-Session"] == value
    secret = value.split(".", 1)[1]
    # Only the secret's hash is stored, with the claim.
    assert secret not in json.dumps(service.table_items())
    (record,) = service.item(minted["id"])["redemptions"]["M"].values()
    assert len(record["M"]["session"]["S"]) == 64


def test_the_session_gets_the_file_again_without_spending(
    service: InProcess, minted: dict[str, Any]
) -> None:
    first = post(service, token_of(minted))
    cookie = cookie_of(first)
    service.clock.advance(600)
    again = post(service, token_of(minted), cookie=cookie)
    assert again.status_code == 302
    assert "X-Amz-Signature=" in again.headers["Location"]
    by_header = post(service, token_of(minted), header=first.headers["X-Download-Session"])
    assert by_header.status_code == 302
    streamed = post(service, token_of(minted), cookie=cookie, accept="application/pdf")
    assert streamed.status_code == 200 and streamed.body == SMALL
    shown = state(service, minted["id"])
    assert shown["uses"] == 1
    assert shown["redemptions"][0]["redeliveries"] == 3
    assert service.uses(minted["id"]) == 1


def test_everyone_else_gets_410(service: InProcess, minted: dict[str, Any]) -> None:
    first = post(service, token_of(minted))
    name, _, value = cookie_of(first).partition("=")
    claim_id, _, secret = value.partition(".")
    forged = f"{name}={claim_id}.{secret[::-1]}"
    assert post(service, token_of(minted)).status_code == 410
    assert post(service, token_of(minted), cookie=forged).status_code == 410
    # Another link's session is no session for this one.
    service.put("docs/b.pdf", SMALL)
    other = service.mint("docs/b.pdf")
    other_session = post(service, token_of(other)).headers["X-Download-Session"]
    assert post(service, token_of(minted), header=other_session).status_code == 410
    assert post(service, token_of(minted), cookie=f"{name}={other_session}").status_code == 410
    assert service.uses(minted["id"]) == 1


def test_the_session_ends_with_its_window(service: InProcess, minted: dict[str, Any]) -> None:
    cookie = cookie_of(post(service, token_of(minted)))
    service.clock.advance(3599)
    assert post(service, token_of(minted), cookie=cookie).status_code == 302
    service.clock.advance(2)
    ended = post(service, token_of(minted), cookie=cookie)
    assert ended.status_code == 410
    assert ended.json_body["error"] == "link_used"


def test_revoking_or_refunding_ends_the_session(service: InProcess) -> None:
    service.put("docs/a.pdf", SMALL)
    for end in ("revoke", "refund"):
        minted = service.mint("docs/a.pdf")
        cookie = cookie_of(post(service, token_of(minted)))
        if end == "revoke":
            assert call(service, "DELETE", f"/links/{minted['id']}").status_code == 200
            assert post(service, token_of(minted), cookie=cookie).status_code == 410
        else:
            (redemption,) = state(service, minted["id"])["redemptions"]
            body = {"redemption": redemption["id"]}
            assert call(service, "POST", f"/links/{minted['id']}/refund", body).status_code == 200
            # The refunded use's session is over (it says so); the use itself is back.
            assert post(service, token_of(minted), cookie=cookie).status_code == 409
            assert post(service, token_of(minted)).status_code == 302
            assert service.uses(minted["id"]) == 1


def test_the_cap_bounds_re_deliveries(service: InProcess, minted: dict[str, Any]) -> None:
    cookie = cookie_of(post(service, token_of(minted)))
    statuses = [
        post(service, token_of(minted), cookie=cookie).status_code
        for _ in range(REDELIVERY_CAP + 2)
    ]
    assert statuses == [302] * REDELIVERY_CAP + [410, 410]
    assert state(service, minted["id"])["redemptions"][0]["redeliveries"] == REDELIVERY_CAP


def test_a_browser_with_the_session_is_offered_download_again(
    service: InProcess, minted: dict[str, Any]
) -> None:
    cookie = cookie_of(post(service, token_of(minted)))
    mine = service.client.http.get(
        f"/download?token={token_of(minted)}", headers={"Accept": BROWSER_ACCEPT, "Cookie": cookie}
    )
    assert mine.status_code == 200
    page = mine.body.decode()
    assert "Download again" in page and "until" in page
    assert 'name="again"' in page
    someone_else = service.client.http.get(
        f"/download?token={token_of(minted)}", headers={"Accept": BROWSER_ACCEPT}
    )
    assert someone_else.status_code == 410
    assert b"already been used" in someone_else.body
    pressed = post(
        service, token_of(minted), cookie=cookie, accept=BROWSER_ACCEPT, extra="&again=1"
    )
    assert pressed.status_code == 200
    assert b"Your download has started" in pressed.body
    assert service.uses(minted["id"]) == 1


def test_a_page_press_sets_the_cookie_and_offers_download_again(
    service: InProcess, minted: dict[str, Any]
) -> None:
    landing = service.client.http.get(
        f"/download?token={token_of(minted)}", headers={"Accept": BROWSER_ACCEPT}
    )
    shown = re.search(r'name="shown" value="([^"]+)"', landing.body.decode())
    assert shown
    service.clock.advance(2)
    started = post(
        service,
        token_of(minted),
        accept=BROWSER_ACCEPT,
        extra=f"&shown={shown.group(1)}",
        cookie=cookie_of(landing),
    )
    assert started.status_code == 200
    assert "Set-Cookie" in started.headers
    text = started.body.decode()
    assert "press Download again (until " in text


def test_sessions_can_be_turned_off(
    service: InProcess, minted: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONETIME_SESSION_SECONDS", "0")
    reset_app_caches()
    first = post(service, token_of(minted))
    assert first.status_code == 302
    assert "Set-Cookie" not in first.headers and "X-Download-Session" not in first.headers
    assert post(service, token_of(minted)).status_code == 410


def test_secure_cookie_over_https(service: InProcess, minted: dict[str, Any]) -> None:
    response = service.client.http.post(
        "/download",
        headers={"Content-Type": FORM, "Accept": "*/*", "X-Forwarded-Proto": "https"},
        body=f"token={token_of(minted)}",
    )
    assert response.headers["Set-Cookie"].endswith("; Secure")


def test_dynamodb_failing_during_a_re_delivery_is_503_and_delivers_nothing(
    service: InProcess, minted: dict[str, Any]
) -> None:
    cookie = cookie_of(post(service, token_of(minted)))
    service.hooks.fail("dynamodb:UpdateItem", aws_error("InternalServerError", 500))
    response = post(service, token_of(minted), cookie=cookie)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "Location" not in response.headers
    service.hooks.faults.clear()
    assert state(service, minted["id"])["redemptions"][0]["redeliveries"] == 0
    assert service.uses(minted["id"]) == 1


def test_a_streamed_file_resumes_with_range_inside_the_session(
    service: InProcess, minted: dict[str, Any]
) -> None:
    def streamed(headers: dict[str, str]) -> Any:
        return service.client.http.post(
            "/download",
            headers={"Content-Type": FORM, "Accept": "application/pdf", **headers},
            body=f"token={token_of(minted)}",
        )

    first = streamed({"Range": "bytes=100-"})  # a first redemption sends the whole file
    assert first.status_code == 200 and first.body == SMALL
    assert first.headers["Accept-Ranges"] == "bytes"
    cookie = cookie_of(first)
    part = streamed({"Cookie": cookie, "Range": "bytes=100-"})
    assert part.status_code == 206
    assert part.body == SMALL[100:]
    assert part.headers["Content-Range"] == f"bytes 100-{len(SMALL) - 1}/{len(SMALL)}"
    etag = part.headers["ETag"]
    tail = streamed({"Cookie": cookie, "Range": "bytes=-10", "If-Range": etag})
    assert tail.status_code == 206 and tail.body == SMALL[-10:]
    changed = streamed({"Cookie": cookie, "Range": "bytes=100-", "If-Range": '"other"'})
    assert changed.status_code == 200 and changed.body == SMALL  # not the file it has a part of
    assert service.uses(minted["id"]) == 1


def test_download_again_after_the_session_spends_nothing_silently(service: InProcess) -> None:
    service.put("docs/a.pdf", SMALL)
    minted = service.mint("docs/a.pdf", uses=2)
    cookie = cookie_of(post(service, token_of(minted)))
    service.clock.advance(3601)  # the free window has ended; one use is left
    pressed = post(
        service, token_of(minted), cookie=cookie, accept=BROWSER_ACCEPT, extra="&again=1"
    )
    assert pressed.status_code == 200
    assert b"The time to download again for free has ended" in pressed.body
    assert service.uses(minted["id"]) == 1  # not spent behind the person's back
    as_api = post(service, token_of(minted), cookie=cookie, extra="&again=1")
    assert as_api.status_code == 409
    assert as_api.json_body["error"] == "session_ended"


@pytest.mark.parametrize(
    "range_", ["bytes=\u00b2-", "bytes=0-\u00b2", "bytes=-\u00b2", "bytes=\u0663-"]
)
def test_a_range_of_other_digits_is_the_whole_file_not_a_500(
    service: InProcess, minted: dict[str, Any], range_: str
) -> None:
    first = post(service, token_of(minted), accept="application/pdf")
    again = post(
        service,
        token_of(minted),
        cookie=cookie_of(first),
        accept="application/pdf",
        extra="",
    )
    assert again.status_code == 200
    ranged = service.client.http.post(
        "/download",
        headers={
            "Content-Type": FORM,
            "Accept": "application/pdf",
            "Cookie": cookie_of(first),
            "Range": range_,
        },
        body=f"token={token_of(minted)}",
    )
    assert ranged.status_code == 200 and ranged.body == SMALL


def test_a_damaged_cookie_does_not_hide_a_good_header(
    service: InProcess, minted: dict[str, Any]
) -> None:
    first = post(service, token_of(minted))
    name = cookie_of(first).split("=", 1)[0]
    again = post(
        service,
        token_of(minted),
        cookie=f"{name}=garbage",
        header=first.headers["X-Download-Session"],
    )
    assert again.status_code == 302
    assert service.uses(minted["id"]) == 1


def test_a_replayed_form_without_the_render_cookie_gets_nothing_and_re_keys_nothing(
    service: InProcess, minted: dict[str, Any]
) -> None:
    """Issue 20, break 5: another client replayed the person's form (token and stamp, no
    cookie) and got the file; the replay also re-keyed the person's session, so the
    person then got 410."""
    token = token_of(minted)
    page = service.client.http.get(f"/download?token={token}", headers={"Accept": BROWSER_ACCEPT})
    shown = re.search(r'name="shown" value="([^"]+)"', page.body.decode())
    assert shown
    form = f"&shown={shown.group(1)}"
    rendered = cookie_of(page) if "Set-Cookie" in page.headers else None  # the page's cookie
    service.clock.advance(2)
    pressed = post(service, token, accept=BROWSER_ACCEPT, extra=form, cookie=rendered)
    assert b"Your download has started" in pressed.body
    session = cookie_of(pressed)
    for accept in (BROWSER_ACCEPT, "*/*"):  # another client: the form, none of the cookies
        replayed = post(service, token, accept=accept, extra=form)
        assert replayed.status_code == 410  # the link is used up: said plainly, nothing more
        assert "X-Download-Session" not in replayed.headers and "Location" not in replayed.headers
        assert b"Your download has started" not in replayed.body
    (redemption,) = state(service, minted["id"])["redemptions"]
    assert redemption["redeliveries"] == 0
    assert post(service, token, cookie=session).status_code == 302  # the person's session
    assert service.uses(minted["id"]) == 1


def test_the_landing_page_binds_its_form_to_a_cookie(service: InProcess) -> None:
    service.put("docs/a.pdf", SMALL)
    minted = service.mint("docs/a.pdf", uses=3)
    token = token_of(minted)
    page = service.client.http.get(f"/download?token={token}", headers={"Accept": BROWSER_ACCEPT})
    attributes = [part.strip() for part in page.headers["Set-Cookie"].split(";")]
    name, _, key = attributes[0].partition("=")
    assert name == "onetime_form" and len(key) == 43
    assert set(attributes[1:]) == {"Path=/download", "HttpOnly", "SameSite=Lax"}
    # The same client keeps its key: a page it shows in another tab stays valid.
    other_tab = service.client.http.get(
        f"/download?token={token}", headers={"Accept": BROWSER_ACCEPT, "Cookie": attributes[0]}
    )
    assert cookie_of(other_tab) == attributes[0]
    shown = re.search(r'name="shown" value="([^"]+)"', page.body.decode())
    assert shown
    form = f"&shown={shown.group(1)}"
    service.clock.advance(2)
    # Another client with this form: the page again (bound to its own cookie), or a 409.
    as_page = post(service, token, accept=BROWSER_ACCEPT, extra=form)
    assert as_page.status_code == 200
    assert b"did not send back the cookie" in as_page.body
    assert cookie_of(as_page) != attributes[0] and "X-Download-Session" not in as_page.headers
    as_api = post(service, token, extra=form)
    assert as_api.status_code == 409 and as_api.json_body["error"] == "form_cookie_missing"
    wrong_key = post(service, token, extra=form, cookie=cookie_of(as_page))
    assert wrong_key.status_code == 409 and wrong_key.json_body["error"] == "too_fast"
    assert service.uses(minted["id"]) == 0
    assert post(service, token, extra=form, cookie=attributes[0]).status_code == 302
    assert service.uses(minted["id"]) == 1


def test_an_ended_session_after_a_refund_does_not_spend_the_refunded_use_silently(
    service: InProcess, minted: dict[str, Any]
) -> None:
    """Issue 20, break 7: after a refund naming a redemption, that client's next POST with
    its ended session silently spent the refunded use."""
    first = post(service, token_of(minted))
    cookie, header = cookie_of(first), first.headers["X-Download-Session"]
    (redemption,) = state(service, minted["id"])["redemptions"]
    body = {"redemption": redemption["id"]}
    assert call(service, "POST", f"/links/{minted['id']}/refund", body).status_code == 200
    for credential in ({"cookie": cookie}, {"header": header}):
        ended = post(service, token_of(minted), **credential)
        assert ended.status_code == 409
        assert ended.json_body["error"] == "session_ended"
        assert "refunded" in ended.json_body["message"]
        assert "without the session" in ended.json_body["message"]
        assert "Location" not in ended.headers and "X-Download-Session" not in ended.headers
    page = post(service, token_of(minted), cookie=cookie, accept=BROWSER_ACCEPT, extra="&again=1")
    assert page.status_code == 200 and b"given back by the sender" in page.body
    assert service.uses(minted["id"]) == 0
    # Sent without the session, as the answer says: that spends the use given back.
    assert post(service, token_of(minted)).status_code == 302
    assert service.uses(minted["id"]) == 1
