"""A link pasted into a sentence ("see <URL>.") still opens: in the page and in the API."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import BROWSER_ACCEPT, InProcess


@pytest.mark.parametrize("tail", [".", ",", ")", ">", "]", "'", '"'])
def test_a_token_followed_by_punctuation_opens_and_downloads(service: InProcess, tail: str) -> None:
    service.put("docs/report.pdf", b"%PDF-1.7 pasted" * 10)
    minted = service.mint("docs/report.pdf")
    token = parse_qs(urlsplit(minted["url"]).query)["token"][0]
    page = service.client.http.get(
        f"/download?token={token}{tail}", headers={"Accept": BROWSER_ACCEPT}
    )
    assert page.status_code == 200 and b"Download" in page.body
    assert service.uses(minted["id"]) == 0
    answer = service.client.http.post(
        "/download",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "*/*"},
        body=f"token={token}{tail}",
    )
    assert answer.status_code in (200, 302)
    assert service.uses(minted["id"]) == 1


def test_a_truncated_token_still_says_incomplete(service: InProcess) -> None:
    service.put("docs/report.pdf", b"%PDF-1.7 pasted" * 10)
    token = parse_qs(urlsplit(service.mint("docs/report.pdf")["url"]).query)["token"][0]
    answer = service.client.http.get(f"/download?token={token[:-3]}.")
    assert answer.status_code == 400
    assert answer.json_body["error"] == "malformed_token"
