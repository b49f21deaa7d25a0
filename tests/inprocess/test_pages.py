"""What a person's browser sees: the landing page, HEAD, and the problem pages."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import (
    BROWSER_ACCEPT,
    SMALL,
    InProcess,
    Jar,
    aws_error,
    browse,
    landing,
    set_attribute,
    submit,
    text_of,
    token_of,
)

HOSTILE = "<script>alert(1)</script>.pdf"


def press_download(service: InProcess, page: str, jar: Jar | None = None) -> Any:
    """Submit the landing page's form as a browser would, with the cookies in ``jar``."""
    form = re.search(r'<form method="post" action="([^"]+)">(.*?)</form>', page, re.S)
    assert form, page
    assert form.group(1) == "download"
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form.group(2)))
    return submit(service, fields, jar)


@pytest.fixture
def minted(service: InProcess) -> dict[str, Any]:
    service.put("docs/guide.pdf", SMALL)
    return service.mint("docs/guide.pdf", filename="Guide — été.pdf", uses=2, ttl=7200)


@dataclass
class Shown:
    """A landing page as a person's browser got it, and the cookies it keeps."""

    service: InProcess
    page: str
    jar: Jar

    def press(self, after: float, page: str | None = None) -> Any:
        """Press Download ``after`` seconds (on ``page``, if given: an earlier or an edited one)."""
        self.service.clock.advance(after)
        return press_download(self.service, self.page if page is None else page, self.jar)


@pytest.fixture
def shown(service: InProcess, minted: dict[str, Any]) -> Shown:
    return Shown(service, *landing(service, token_of(minted)))


def test_browser_get_shows_landing_page_and_spends_nothing(
    service: InProcess, minted: dict[str, Any]
) -> None:
    response = browse(service, token_of(minted))
    assert response.status_code == 200
    page = text_of(response)
    assert "Guide — été.pdf" in page
    assert "10.0 KiB" in page  # 10,240 bytes
    assert "<dt>Downloads left</dt><dd>2</dd>" in page
    assert "in 1 hour" in page or "in 2 hours" in page
    assert re.search(r"\d{4}, \d\d:\d\d UTC", page)
    assert '<button type="submit">Download</button>' in page
    assert "<script" not in page
    headers = response.headers
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert service.uses(minted["id"]) == 0
    # A second scanner visit: still nothing spent.
    assert browse(service, token_of(minted)).status_code == 200
    assert service.uses(minted["id"]) == 0


def test_pressing_download_starts_the_download_and_says_so(
    service: InProcess, minted: dict[str, Any], shown: Shown
) -> None:
    response = shown.press(after=2)  # a person reads the page, then presses
    assert response.status_code == 200
    started = text_of(response)
    assert "Your download has started" in started
    assert "Downloads left on this link: 1." in started
    # No button that would spend again: only "Download again", within the session.
    assert ">Download</button>" not in started
    assert "press Download again (until " in started
    assert 'name="again"' in started and 'name="shown"' not in started
    refresh = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', started)
    assert refresh, started
    location = html.unescape(refresh.group(1))
    assert "X-Amz-Signature=" in location and "response-content-disposition=" in location
    assert service.uses(minted["id"]) == 1


def test_a_press_faster_than_a_person_spends_nothing(
    service: InProcess, minted: dict[str, Any], shown: Shown
) -> None:
    response = shown.press(after=0.2)
    assert response.status_code == 200
    again = text_of(response)
    assert "Press Download again" in again
    assert "<button" in again
    assert service.uses(minted["id"]) == 0
    assert "Your download has started" in text_of(shown.press(after=2, page=again))
    assert service.uses(minted["id"]) == 1


def test_an_edited_render_time_counts_as_too_fast(
    service: InProcess, minted: dict[str, Any], shown: Shown
) -> None:
    forged = re.sub(r'name="shown" value="(\d+)\.', 'name="shown" value="1000.', shown.page)
    assert "Press Download again" in text_of(shown.press(after=5, page=forged))
    assert service.uses(minted["id"]) == 0


def test_clients_that_do_not_ask_for_html_are_told_how_to_download(
    service: InProcess, minted: dict[str, Any]
) -> None:
    response = service.client.http.get(
        f"/download?token={token_of(minted)}", headers={"Accept": "*/*"}
    )
    assert response.status_code == 409
    assert response.json_body["error"] == "confirmation_required"
    assert "curl -fOJL -d ''" in response.json_body["message"]
    assert service.uses(minted["id"]) == 0


def test_head_never_spends(service: InProcess, minted: dict[str, Any]) -> None:
    token = token_of(minted)
    for accept in (BROWSER_ACCEPT, "*/*"):
        response = service.client.http.head(f"/download?token={token}", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.body == b""
        assert response.headers["X-Remaining-Uses"] == "2"
    assert service.uses(minted["id"]) == 0
    set_attribute(service, minted["id"], "uses", 2)
    assert browse(service, token, "HEAD").status_code == 410
    assert browse(service, token, "HEAD").body == b""
    assert browse(service, minted["id"] + "A" * 43, "HEAD").status_code == 404
    assert browse(service, "garbage", "HEAD").status_code == 400


def test_used_link_page_says_how_often_and_when(service: InProcess) -> None:
    service.put("a.pdf", SMALL)
    minted = service.mint("a.pdf", confirm="false")
    assert browse(service, token_of(minted)).status_code == 200  # redeemed
    response = browse(service, token_of(minted))
    assert response.status_code == 410
    page = text_of(response)
    assert "This link has already been used" in page
    assert "It was used once, most recently on" in page
    assert "less than a minute ago" in page
    assert "ask the person or shop that sent you this link for a new one" in page


@pytest.mark.parametrize(
    ("change", "heading"),
    [("expire", "This link has expired"), ("revoke", "This link was withdrawn")],
)
def test_expired_and_revoked_pages(
    service: InProcess, minted: dict[str, Any], change: str, heading: str
) -> None:
    if change == "expire":
        service.clock.advance(86_400 + 60)
    else:
        revoked = service.client.http.delete(f"/links/{minted['id']}", headers=service.auth())
        assert revoked.status_code == 200
    response = browse(service, token_of(minted))
    assert response.status_code == 410
    page = text_of(response)
    assert heading in page
    assert "UTC" in page
    assert service.uses(minted["id"]) == 0


@pytest.mark.parametrize(
    ("token", "status", "heading"),
    [
        ("", 400, "This link is incomplete"),
        ("abc", 400, "This link is incomplete"),
        ("aaaaaaaaaaaaaaaa" + "A" * 43, 404, "We can&#x27;t find this link"),
    ],
)
def test_bad_link_pages(service: InProcess, token: str, status: int, heading: str) -> None:
    response = browse(service, token)
    assert response.status_code == status
    page = text_of(response)
    assert heading in page
    assert "Traceback" not in page


def test_unavailable_page(service: InProcess, minted: dict[str, Any]) -> None:
    service.hooks.fail("dynamodb:UpdateItem", aws_error("ThrottlingException", 400))
    service.hooks.fail("dynamodb:GetItem", aws_error("ThrottlingException", 400))
    response = browse(service, token_of(minted))
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    page = text_of(response)
    assert "Temporarily unavailable" in page
    assert "try again in a minute" in page
    assert "Throttling" not in page


def test_hostile_file_name_is_shown_as_text(service: InProcess) -> None:
    service.put("x.pdf", SMALL)
    minted = service.mint("x.pdf", filename=HOSTILE)
    page = text_of(browse(service, token_of(minted)))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.pdf" in page


def test_landing_and_head_make_one_aws_call(service: InProcess, minted: dict[str, Any]) -> None:
    browse(service, token_of(minted))  # builds the clients
    service.hooks.calls.clear()
    assert browse(service, token_of(minted)).status_code == 200
    assert service.hooks.calls == ["dynamodb:UpdateItem"]  # the view, recorded
    service.hooks.calls.clear()
    assert browse(service, token_of(minted), "HEAD").status_code == 200
    assert service.hooks.calls == ["dynamodb:UpdateItem"]


def test_a_reloaded_started_page_spends_nothing_more(
    service: InProcess, minted: dict[str, Any], shown: Shown
) -> None:
    first = shown.press(after=2)
    assert "Your download has started" in text_of(first)
    again = shown.press(after=0.2)  # a double click: the browser drops the first answer
    assert again.status_code == 200
    assert "Your download has started" in text_of(again)
    assert again.headers["Set-Cookie"] != first.headers["Set-Cookie"]  # re-keyed
    assert service.uses(minted["id"]) == 1
