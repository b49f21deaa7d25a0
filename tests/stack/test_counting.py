"""The counting rule (docs/COUNTING.md), row by row, over HTTP against the local stack:
dynalite, moto server and chalice local as real processes."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from chalicelib.domain.link import REDELIVERY_CAP
from tests.helpers import BROWSER_ACCEPT, TIMEOUT, item, mint, s3_bytes, token_of
from tools.ports import free_port
from tools.samples import LARGE_SAMPLE, SMALL_SAMPLE
from tools.stack import Stack

# Real previewers' and scanners' requests: User-Agent and Accept as they send them.
PROFILES: dict[str, tuple[str, str | None]] = {
    "slack": ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "*/*"),
    "facebook": (
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "*/*",
    ),
    "whatsapp": ("WhatsApp/2.23.20.0 A", None),
    "telegram": ("TelegramBot (like TwitterBot)", None),
    "discord": (
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "*/*",
    ),
    "twitter": ("Twitterbot/1.0", "*/*"),
    "linkedin": (
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        "*/*",
    ),
    "teams": (
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 "
        "skype-url-preview@microsoft.com",
        "*/*",
    ),
    "outlook": (
        "Mozilla/4.0 (compatible; ms-office; MSOffice 16) Microsoft Outlook 16.0",
        "*/*",
    ),
    "go": ("Go-http-client/1.1", None),
    "python-requests": ("python-requests/2.32.3", "*/*"),
    "imessage": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko)"
        " Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
        "*/*",
    ),
    "image-unfurler": ("Mozilla/5.0 (compatible; ImageFetcher)", "image/webp,*/*"),
    "download-manager": ("Wget/1.21.3", "*/*"),
    "headless-chrome": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/120.0.0.0 Safari/537.36",
        BROWSER_ACCEPT,
    ),
}


def request(
    method: str,
    url: str,
    *,
    accept: str | None = "*/*",
    agent: str = "test-client/1",
    extra: dict[str, str] | None = None,
    data: dict[str, str] | None = None,
    session: requests.Session | None = None,
) -> requests.Response:
    session = session or requests.Session()
    session.headers.pop("Accept", None)  # only what the profile sends
    headers = {"User-Agent": agent, **(extra or {})}
    if accept is not None:
        headers["Accept"] = accept
    return session.request(
        method, url, headers=headers, data=data, allow_redirects=False, timeout=TIMEOUT
    )


def post(stack: Stack, minted: dict[str, Any], **kwargs: Any) -> requests.Response:
    data = {"token": token_of(minted), **kwargs.pop("fields", {})}
    return request("POST", f"{stack.base_url}/download", data=data, **kwargs)


def uses(stack: Stack, minted: dict[str, Any]) -> int:
    return int(item(stack, minted["id"])["uses"]["N"])


def state(stack: Stack, minted: dict[str, Any]) -> dict[str, Any]:
    response = requests.get(
        f"{stack.base_url}/links/{minted['id']}",
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    found: dict[str, Any] = response.json()
    return found


def fetch(location: str) -> bytes:
    response = requests.get(location, timeout=TIMEOUT)
    assert response.status_code == 200
    return response.content


# ------------------------------------------------------------- default links (confirm=true)


def test_a_browser_get_shows_the_page_and_spends_nothing(stack: Stack) -> None:
    minted = mint(stack, SMALL_SAMPLE)
    page = request("GET", minted["url"], accept=BROWSER_ACCEPT, agent="Mozilla/5.0 Firefox/130")
    assert page.status_code == 200
    assert "Your download is ready" in page.text
    assert uses(stack, minted) == 0
    assert state(stack, minted)["visits"]["counts"] == {"page": 1}


@pytest.mark.parametrize("accept", ["*/*", None, "application/json", "image/webp,*/*"])
def test_a_get_that_does_not_want_html_is_told_how_and_spends_nothing(
    stack: Stack, accept: str | None
) -> None:
    minted = mint(stack, SMALL_SAMPLE)
    response = request("GET", minted["url"], accept=accept, extra={"Range": "bytes=0-32768"})
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "confirmation_required"
    assert f"onetime get '{minted['url']}'" in body["message"]
    assert f"curl -fOJL -d '' '{minted['url']}'" in body["message"]
    assert b"%PDF" not in response.content
    assert uses(stack, minted) == 0
    assert state(stack, minted)["visits"]["counts"] == {"preview": 1}


def test_a_plain_curl_saves_no_file_and_spends_nothing(stack: Stack) -> None:
    minted = mint(stack, SMALL_SAMPLE)
    response = request("GET", minted["url"], agent="curl/7.88.1")  # curl -OJ URL
    assert response.status_code == 409 and "Location" not in response.headers
    assert uses(stack, minted) == 0


@pytest.mark.parametrize("accept", [BROWSER_ACCEPT, "*/*", None])
def test_head_never_spends(stack: Stack, accept: str | None) -> None:
    minted = mint(stack, SMALL_SAMPLE)
    response = request("HEAD", minted["url"], accept=accept)
    assert response.status_code == 200
    assert response.headers["X-Remaining-Uses"] == "1"
    assert response.content == b""
    assert uses(stack, minted) == 0


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_previewers_and_scanners_spend_nothing_then_the_person_gets_the_file(
    stack: Stack, profile: str
) -> None:
    agent, accept = PROFILES[profile]
    minted = mint(stack, LARGE_SAMPLE)
    for method in ("GET", "HEAD"):
        for extra in ({}, {"Range": "bytes=0-32768"}):
            answer = request(method, minted["url"], accept=accept, agent=agent, extra=extra)
            assert answer.status_code in (200, 403, 409), (method, extra, answer.status_code)
            assert b"PK" not in answer.content[:4]
    assert uses(stack, minted) == 0
    person = post(stack, minted, agent="Mozilla/5.0 Firefox/130")
    assert person.status_code == 302
    assert fetch(person.headers["Location"]) == s3_bytes(stack, LARGE_SAMPLE)
    assert uses(stack, minted) == 1


@pytest.mark.parametrize("profile", ["slack", "discord", "teams", "headless-chrome"])
def test_a_known_previewer_cannot_spend_by_post_either(stack: Stack, profile: str) -> None:
    agent, accept = PROFILES[profile]
    minted = mint(stack, SMALL_SAMPLE)
    refused = post(stack, minted, agent=agent, accept=accept)
    assert refused.status_code in (200, 403)
    assert uses(stack, minted) == 0
    assert state(stack, minted)["visits"]["counts"] == {"bot": 1}


def landing_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html))


def test_a_press_sooner_than_a_person_spends_nothing(stack: Stack) -> None:
    minted = mint(stack, SMALL_SAMPLE)
    browser = requests.Session()  # keeps the page's form cookie, as a browser does
    page = request("GET", minted["url"], accept=BROWSER_ACCEPT, session=browser)
    fields = landing_fields(page.text)
    assert set(fields) == {"token", "shown"}
    pressed = request(
        "POST", f"{stack.base_url}/download", accept=BROWSER_ACCEPT, data=fields, session=browser
    )  # at once: a scanner clicking on load
    assert pressed.status_code == 200
    assert "Press Download again" in pressed.text
    assert uses(stack, minted) == 0
    assert state(stack, minted)["visits"]["counts"] == {"page": 1, "too_fast": 1}


def test_an_edited_render_time_spends_nothing(stack: Stack) -> None:
    minted = mint(stack, SMALL_SAMPLE)
    browser = requests.Session()
    page = request("GET", minted["url"], accept=BROWSER_ACCEPT, session=browser)
    fields = landing_fields(page.text)
    millis, _, rest = fields["shown"].partition(".")
    fields["shown"] = f"{int(millis) - 60_000}.{rest}"  # "shown a minute ago"
    pressed = request(
        "POST", f"{stack.base_url}/download", accept=BROWSER_ACCEPT, data=fields, session=browser
    )
    assert "Press Download again" in pressed.text
    assert uses(stack, minted) == 0


@pytest.mark.parametrize("accept", ["*/*", None, "application/json"])
def test_a_post_without_the_page_spends_one_use(stack: Stack, accept: str | None) -> None:
    minted = mint(stack, LARGE_SAMPLE)
    response = post(stack, minted, accept=accept, agent="curl/8.5.0")
    assert response.status_code == 302
    message = response.json()["message"]
    assert message.startswith("The file is at the address in the Location header; with curl")
    assert response.headers["X-Download-Session"] in message  # the command that fetches it again
    assert fetch(response.headers["Location"]) == s3_bytes(stack, LARGE_SAMPLE)
    assert uses(stack, minted) == 1
    again = post(stack, minted, accept=accept)
    assert again.status_code == 410


def test_a_streamable_post_gets_the_bytes(stack: Stack) -> None:
    minted = mint(stack, SMALL_SAMPLE)
    response = post(stack, minted, accept="application/pdf")
    assert response.status_code == 200
    assert response.content == s3_bytes(stack, SMALL_SAMPLE)
    assert uses(stack, minted) == 1


# ------------------------------------------------------------ integration links (confirm=false)


@pytest.mark.parametrize("accept", ["*/*", None, "application/json"])
def test_a_direct_link_redeems_on_get_and_says_to_add_L(stack: Stack, accept: str | None) -> None:
    minted = mint(stack, LARGE_SAMPLE, confirm="false")
    response = request("GET", minted["url"], accept=accept, agent="curl/8.5.0")
    assert response.status_code == 302
    assert "add -L" in response.json()["message"]
    assert fetch(response.headers["Location"]) == s3_bytes(stack, LARGE_SAMPLE)
    assert uses(stack, minted) == 1


def test_a_direct_link_is_not_spent_by_a_previewer(stack: Stack) -> None:
    minted = mint(stack, SMALL_SAMPLE, confirm="false")
    agent, accept = PROFILES["slack"]
    response = request("GET", minted["url"], accept=accept, agent=agent)
    assert response.status_code == 403
    assert response.json()["error"] == "automated_client"
    assert uses(stack, minted) == 0
    assert request("GET", minted["url"], agent="integration/1").status_code == 302


def test_head_of_a_direct_link_spends_nothing(stack: Stack) -> None:
    minted = mint(stack, SMALL_SAMPLE, confirm="false")
    assert request("HEAD", minted["url"]).status_code == 200
    assert uses(stack, minted) == 0


# ------------------------------------------------------------------------------- the audit


def test_a_redemption_soon_after_minting_is_flagged(stack: Stack) -> None:
    minted = mint(stack, SMALL_SAMPLE, confirm="false")
    headless = PROFILES["headless-chrome"][0]
    # HeadlessChrome is a previewer: refused.  A desktop agent right after minting is
    # let through, and flagged.
    assert request("GET", minted["url"], agent=headless).status_code == 403
    assert request("GET", minted["url"], agent="Mozilla/5.0 Firefox/130").status_code == 302
    (redemption,) = state(stack, minted)["redemptions"]
    assert redemption["suspected_automation"] == {"reason": "within 10 s of the link being made"}


# ------------------------------------------------------------------------------- refunds


def refund(
    stack: Stack,
    minted: dict[str, Any],
    body: dict[str, str] | None = None,
    session: requests.Session | None = None,
) -> Any:
    return (session or requests.Session()).post(
        f"{stack.base_url}/links/{minted['id']}/refund",
        json=body if body is not None else {},
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=TIMEOUT,
    )


def test_refund_gives_a_use_back_once(stack: Stack) -> None:
    minted = mint(stack, SMALL_SAMPLE)
    nothing = refund(stack, minted)
    assert nothing.status_code == 409
    assert post(stack, minted).status_code == 302
    (redemption,) = state(stack, minted)["redemptions"]
    given = refund(stack, minted, {"redemption": redemption["id"]})
    assert given.status_code == 200
    assert given.json()["uses"] == 0
    assert given.json()["redemptions"][0]["refunded_at"] is not None
    assert given.json()["refunds"][0]["redemption"] == redemption["id"]
    assert refund(stack, minted, {"redemption": redemption["id"]}).status_code == 409
    assert post(stack, minted).status_code == 302  # the use is back
    assert uses(stack, minted) == 1


def race(stack: Stack, workers: int, action: Callable[[int, requests.Session], int]) -> list[int]:
    # chalice local listens with a backlog of 5: every worker opens its keep-alive
    # connection before the barrier, so the race is between requests, not connects.
    sessions = [requests.Session() for _ in range(workers)]
    for session in sessions:
        assert session.get(f"{stack.base_url}/health", timeout=TIMEOUT).status_code == 200
    barrier = threading.Barrier(workers, timeout=30)
    results: list[int] = [0] * workers

    def run(index: int) -> None:
        barrier.wait()
        results[index] = action(index, sessions[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize("round_", range(5))
def test_refunds_racing_redemptions_never_exceed_the_limit_plus_refunds(
    stack: Stack, round_: int
) -> None:
    minted = mint(stack, SMALL_SAMPLE, uses=2)
    assert post(stack, minted).status_code == 302
    assert post(stack, minted).status_code == 302  # used up: only refunds free a use

    def act(index: int, session: requests.Session) -> int:
        if index < 3:
            return int(refund(stack, minted, session=session).status_code)
        return int(post(stack, minted, session=session).status_code)

    results = race(stack, 24, act)
    refunds_given = results[:3].count(200)
    redeemed = results[3:].count(302)
    assert refunds_given + results[:3].count(409) == 3
    assert redeemed <= refunds_given
    final = state(stack, minted)
    assert final["uses"] == 2 + redeemed - refunds_given
    assert len(final["refunds"]) == refunds_given
    assert len(final["redemptions"]) == 2 + redeemed


# ----------------------------------------------------------------------- download sessions


def test_a_cookie_jar_resumes_a_broken_download_without_spending(stack: Stack) -> None:
    """curl -c jar -b jar: take the first MiB, lose the connection, come back later with
    the session for a new address, and ask for the rest."""
    minted = mint(stack, LARGE_SAMPLE)
    jar = requests.Session()  # the cookie jar
    first = post(stack, minted, session=jar)
    assert first.status_code == 302
    assert f"onetime_{minted['id']}" in jar.cookies.get_dict()
    head = requests.get(
        first.headers["Location"], headers={"Range": "bytes=0-1048575"}, timeout=TIMEOUT
    )
    assert head.status_code == 206 and len(head.content) == 1024 * 1024
    again = post(stack, minted, session=jar)  # the first address may have expired by now
    assert again.status_code == 302
    rest = requests.get(
        again.headers["Location"], headers={"Range": "bytes=1048576-"}, timeout=TIMEOUT
    )
    assert rest.status_code == 206
    assert head.content + rest.content == s3_bytes(stack, LARGE_SAMPLE)
    assert uses(stack, minted) == 1
    (redemption,) = state(stack, minted)["redemptions"]
    assert redemption["redeliveries"] == 1
    stranger = post(stack, minted)  # no jar: the link is used
    assert stranger.status_code == 410


def test_concurrent_re_deliveries_never_exceed_the_cap(stack: Stack) -> None:
    minted = mint(stack, SMALL_SAMPLE)
    first = post(stack, minted)
    session = first.headers["X-Download-Session"]

    def act(index: int, client: requests.Session) -> int:
        response = post(stack, minted, session=client, extra={"X-Download-Session": session})
        return int(response.status_code)

    results = race(stack, 32, act)
    assert results.count(302) == REDELIVERY_CAP
    assert results.count(410) == 32 - REDELIVERY_CAP  # past the cap: a use, and none is left
    assert uses(stack, minted) == 1
    (redemption,) = state(stack, minted)["redemptions"]
    assert redemption["redeliveries"] == REDELIVERY_CAP


@pytest.mark.parametrize("round_", range(3))
def test_first_redemptions_racing_still_give_exactly_the_limit(stack: Stack, round_: int) -> None:
    minted = mint(stack, SMALL_SAMPLE, uses=3)
    results = race(
        stack, 24, lambda index, client: int(post(stack, minted, session=client).status_code)
    )
    assert results.count(302) == 3
    assert uses(stack, minted) == 3


def test_a_redirect_that_led_nowhere_is_recovered_through_the_session(stack: Stack) -> None:
    """The client got its 302 but could not reach S3 (here: the address's port is closed
    to it); it comes back with its session and gets the file on the same one use."""
    minted = mint(stack, SMALL_SAMPLE)
    jar = requests.Session()
    first = post(stack, minted, session=jar)
    assert first.status_code == 302
    address = urlsplit(first.headers["Location"])
    unreachable = address._replace(netloc=f"127.0.0.1:{free_port()}").geturl()
    with pytest.raises(requests.ConnectionError):
        requests.get(unreachable, timeout=TIMEOUT)
    again = post(stack, minted, session=jar)
    assert again.status_code == 302
    assert fetch(again.headers["Location"]) == s3_bytes(stack, SMALL_SAMPLE)
    assert uses(stack, minted) == 1


@pytest.mark.parametrize("round_", range(20))
def test_revoke_racing_re_deliveries(stack: Stack, round_: int) -> None:
    """Issue 20's race, revoke x re-delivery (20 rounds): once the revoke has answered, no
    re-delivery succeeds; neither spends a use; every success is counted on the redemption."""
    minted = mint(stack, SMALL_SAMPLE)
    session = post(stack, minted).headers["X-Download-Session"]
    revoked_at: list[float] = []
    tries: list[list[tuple[float, int]]] = [[] for _ in range(6)]

    def act(index: int, client: requests.Session) -> int:
        if index == 0:
            answer = client.delete(
                f"{stack.base_url}/links/{minted['id']}",
                headers={"Authorization": f"Bearer {stack.api_key}"},
                timeout=TIMEOUT,
            )
            revoked_at.append(time.monotonic())
            return int(answer.status_code)
        for _ in range(3):
            sent = time.monotonic()
            again = post(stack, minted, session=client, extra={"X-Download-Session": session})
            tries[index - 1].append((sent, int(again.status_code)))
        return 0

    assert race(stack, 7, act)[0] == 200
    attempts = [attempt for worker in tries for attempt in worker]
    assert {status for _, status in attempts} <= {302, 410}
    assert all(status == 410 for sent, status in attempts if sent > revoked_at[0])
    final = item(stack, minted["id"])
    assert int(final["uses"]["N"]) == 1 and "revoked_at" in final
    (record,) = final["redemptions"]["M"].values()
    counted = int(record["M"].get("again", {"N": "0"})["N"])
    assert counted == sum(status == 302 for _, status in attempts)
