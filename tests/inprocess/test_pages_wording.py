"""Issue 22, item 5: what a person reads on the pages.  A page judged to be a link
preview offers no Download button that cannot work, and says how to open the link in a
browser; sizes are in KiB/MiB (as the CLI shows them); file types have names a person
knows; the upload page's sentences agree with the number of files."""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.helpers import BROWSER_ACCEPT, InProcess

HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36"
)
PDF = b"%PDF-1.4 " + b"x" * (10_240 - 9)  # 10,240 bytes: 10.0 KiB


def mint(service: InProcess) -> dict[str, Any]:
    service.put("docs/guide.pdf", PDF)
    return service.mint("docs/guide.pdf", uses=2)


def token_of(minted: dict[str, Any]) -> str:
    return str(parse_qs(urlsplit(minted["url"]).query)["token"][0])


def test_a_preview_page_has_no_button_and_says_how_to_open_the_link(service: InProcess) -> None:
    minted = mint(service)
    headers = {"Accept": BROWSER_ACCEPT, "User-Agent": HEADLESS}
    shown = service.client.http.get(f"/download?token={token_of(minted)}", headers=headers)
    pressed = service.client.http.post(
        "/download",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        body=f"token={token_of(minted)}&shown=1.x",
    )
    for answer in (shown, pressed):
        assert answer.status_code == 200
        page = answer.body.decode()
        assert "<form" not in page and "<button" not in page  # nothing to press in vain
        assert "<h1>Open this link in your browser</h1>" in page
        assert "This looks like a link preview" in page
        # The address to open, to copy from the page.
        assert f'value="{html.escape(minted["url"])}"' in page
        assert "10.0 KiB" in page
    assert service.uses(minted["id"]) == 0


def test_a_person_still_gets_the_button(service: InProcess) -> None:
    minted = mint(service)
    page = service.client.http.get(
        f"/download?token={token_of(minted)}", headers={"Accept": BROWSER_ACCEPT}
    ).body.decode()
    assert '<button type="submit">Download</button>' in page
    assert "<dt>Size</dt><dd>10.0 KiB</dd>" in page


def make_request(service: InProcess, **fields: Any) -> dict[str, Any]:
    response = service.client.http.post(
        "/requests",
        headers={**service.auth(), "Content-Type": "application/json"},
        body=json.dumps(fields),
    )
    assert response.status_code == 201, response.body
    made: dict[str, Any] = response.json_body
    return made


def upload_page(service: InProcess, url: str) -> str:
    query = urlsplit(url).query
    answer = service.client.http.get(f"/upload?{query}", headers={"Accept": BROWSER_ACCEPT})
    assert answer.status_code == 200
    return str(answer.body.decode())


def test_the_upload_page_names_types_and_counts_files_as_a_person_would(
    service: InProcess,
) -> None:
    made = make_request(
        service, files=2, max_size=5 * 1024 * 1024, content_types=["application/pdf", "image/png"]
    )
    page = upload_page(service, made["url"])
    assert "You have been asked for up to 2 files. Each file goes straight" in page
    assert "<dt>Accepted types</dt><dd>PDF document, PNG image</dd>" in page
    assert "<dt>Largest file</dt><dd>5.0 MiB</dd>" in page
    assert '<option value="application/pdf">PDF document</option>' in page
    # The script's words use the same names.
    assert '"application/pdf": "PDF document"' in page


def test_one_file_is_it(service: InProcess) -> None:
    made = make_request(service, files=1)
    page = upload_page(service, made["url"])
    assert "You have been asked for one file. It goes straight" in page
    assert "<dt>Accepted types</dt><dd>Any</dd>" in page
