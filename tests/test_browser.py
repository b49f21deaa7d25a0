"""A real browser (Debian's chromium, driven by Playwright) against the local stack.

A scanner's visit is simulated the way Safe Links and chat unfurlers make it: a
headless browser that loads the link and runs whatever scripts the page has,
plus a HEAD request.  Neither may spend a use; a person's click must.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

from tests.conftest import ARTIFACTS
from tests.test_stack import item, mint, s3_bytes
from tools.stack import LARGE_SAMPLE, SMALL_SAMPLE, Stack, sample_pdf

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
HOSTILE = "<script>alert(1)</script>.pdf"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 900, "height": 700})
    opened = context.new_page()
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    opened.on("dialog", record)
    yield opened
    context.close()
    assert dialogs == [], f"a page ran script: {dialogs}"


def uses(stack: Stack, minted: dict[str, Any]) -> int:
    return int(item(stack, minted["id"])["uses"]["N"])


def scanner_visit(browser: Browser, url: str) -> None:
    """What a mail scanner does: open the link in a headless browser, scripts on, then HEAD it.

    The visit lasts until the page has loaded and the network has been quiet (what
    Playwright calls idle), so anything a script on the page started, a submitted
    form included, has been sent by then; every request is recorded to show it.
    """
    context = browser.new_context(java_script_enabled=True)
    scan = context.new_page()
    sent: list[str] = []
    scan.on("request", lambda request: sent.append(f"{request.method} {request.url}"))
    scan.goto(url, wait_until="load")
    scan.wait_for_load_state("networkidle")
    # Still the landing page, loaded once, and nothing was posted: no script
    # navigated away or submitted the form.
    expect(scan.get_by_role("heading")).to_have_text("Your download is ready")
    expect(scan.get_by_role("button", name="Download")).to_be_visible()
    assert scan.url == url
    context.close()
    assert sent.count(f"GET {url}") == 1
    assert [request for request in sent if not request.startswith("GET ")] == []
    assert requests.head(url, timeout=10).status_code == 200


def called_name(call: ast.Call) -> str:
    """``sleep`` for both ``time.sleep(...)`` and ``sleep(...)``."""
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return call.func.id if isinstance(call.func, ast.Name) else ""


def fixed_waits(path: Path) -> list[str]:
    """Calls of ``sleep`` or ``wait_for_timeout`` in a test file, as ``name:line``."""
    calls = [
        node for node in ast.walk(ast.parse(path.read_text("utf-8"))) if isinstance(node, ast.Call)
    ]
    return [
        f"{path.name}:{call.lineno}"
        for call in calls
        if called_name(call) in ("sleep", "wait_for_timeout")
    ]


def test_no_fixed_waits_in_the_cli_and_browser_tests() -> None:
    # A fixed wait is either too short on a busy machine or wasted time on an idle
    # one: these tests poll with a deadline or wait on Playwright's own events.
    here = Path(__file__).parent
    assert fixed_waits(here / "test_browser.py") + fixed_waits(here / "test_cli.py") == []


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


@pytest.mark.parametrize(("key", "how"), [(SMALL_SAMPLE, "stream"), (LARGE_SAMPLE, "redirect")])
def test_scanner_spends_nothing_then_a_click_downloads(
    stack: Stack, browser: Browser, page: Page, tmp_path: Path, key: str, how: str
) -> None:
    minted = mint(stack, key, filename="Résumé café 2026" + Path(key).suffix)
    scanner_visit(browser, minted["url"])
    assert uses(stack, minted) == 0

    page.goto(minted["url"])
    assert page.get_by_role("heading").inner_text() == "Your download is ready"
    assert page.locator(".file").inner_text() == minted["filename"]
    if how == "stream":
        screenshot(page, "landing.png")
        page.set_viewport_size({"width": 360, "height": 640})  # a phone
        screenshot(page, "landing-phone.png")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scroll
        page.keyboard.press("Tab")  # the button is reachable from the keyboard
        assert page.evaluate("document.activeElement.textContent") == "Download"
    with page.expect_download() as caught:
        page.get_by_role("button", name="Download").click()
    download = caught.value
    assert download.suggested_filename == minted["filename"]
    saved = tmp_path / "saved"
    download.save_as(saved)
    expected = sample_pdf() if key == SMALL_SAMPLE else s3_bytes(stack, LARGE_SAMPLE)
    assert saved.read_bytes() == expected
    assert uses(stack, minted) == 1

    page.goto(minted["url"])
    assert page.get_by_role("heading").inner_text() == "This link has already been used"
    assert "It was used once, most recently on" in page.inner_text("main")
    if how == "stream":
        screenshot(page, "already-used.png")


def set_attribute(stack: Stack, link_id: str, name: str, value: int) -> None:
    stack.client("dynamodb").update_item(
        TableName=stack.table,
        Key={"pk": {"S": f"link#{link_id}"}},
        UpdateExpression="SET #n = :v",
        ExpressionAttributeNames={"#n": name},
        ExpressionAttributeValues={":v": {"N": str(value)}},
    )


@pytest.mark.parametrize(
    ("change", "heading"),
    [
        ("expires_at", "This link has expired"),
        ("revoked_at", "This link was withdrawn"),
        ("unknown", "We can't find this link"),
    ],
)
def test_dead_links_show_their_page(stack: Stack, page: Page, change: str, heading: str) -> None:
    minted = mint(stack, SMALL_SAMPLE)
    url = minted["url"]
    if change == "unknown":
        url = url[:-43] + "A" * 43  # same id, wrong secret
    else:
        set_attribute(stack, minted["id"], change, int(time.time()) - 60)
    response = page.goto(url)
    assert response is not None and response.status in (404, 410)
    assert page.get_by_role("heading").inner_text() == heading
    assert "ask the person or shop that sent you this link for a new one" in page.inner_text("main")
    assert uses(stack, minted) == 0


def test_hostile_file_name_is_text(stack: Stack, page: Page) -> None:
    minted = mint(stack, SMALL_SAMPLE, filename=HOSTILE)
    page.goto(minted["url"])
    assert page.locator(".file").inner_text() == HOSTILE
    assert page.locator("main script").count() == 0
