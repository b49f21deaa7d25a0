"""A person's chromium for the browser tier: how it is launched, what it presents, and
the moves a person makes on a page (read it, press Download, save the file).

Debian's chromium, driven by Playwright (never ``playwright install``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import (
    Browser,
    BrowserContext,
    Dialog,
    Page,
    Response,
    ViewportSize,
    expect,
)

from chalicelib.services.redemption import MIN_PRESS_SECONDS
from tests.helpers import ARTIFACTS

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


# How long the modelled person looks at the page before pressing Download: more than
# the rule's minimum, with room for the POST's trip to the server.
READING_SECONDS = MIN_PRESS_SECONDS + 0.4


STARTED = "Your download has started"


READY = "Your download is ready"


AGAIN = "Download again"


def desktop_agent(browser: Browser) -> str:
    """Chrome's desktop User-Agent for this chromium's version (what a person's browser
    sends), instead of headless chromium's own, which names ``HeadlessChrome``."""
    major = browser.version.split(".")[0]
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{major}.0.0.0 Safari/537.36"
    )


def watched(context: BrowserContext) -> tuple[Page, list[str]]:
    """A page of ``context`` and the messages of any dialog a script on it opened."""
    opened = context.new_page()
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    opened.on("dialog", record)
    return opened, dialogs


def person(
    browser: Browser, viewport: ViewportSize | None = None, **options: Any
) -> BrowserContext:
    """A person's browser (its own cookie jar): desktop Chrome's User-Agent, downloads on;
    ``options``, more of Playwright's context options."""
    return browser.new_context(
        accept_downloads=True,
        viewport=viewport or {"width": 900, "height": 700},
        user_agent=desktop_agent(browser),
        **options,
    )


def read_like_a_person(page: Page) -> None:
    """Wait, as a person reading the page would, until READING_SECONDS have passed
    since the page finished loading (by the browser's clock, which is this machine's)."""
    page.wait_for_function(
        """(seconds) => {
            const [loaded] = performance.getEntriesByType("navigation");
            if (!loaded || loaded.loadEventEnd === 0) return false;
            return Date.now() >= performance.timeOrigin + loaded.loadEventEnd + seconds * 1000;
        }""",
        arg=READING_SECONDS,
    )


def press_download(page: Page, button: str = "Download") -> Response:
    """Press the page's button named exactly ``button``; the answer to its POST, once it
    is shown."""
    with page.expect_navigation() as navigated:
        page.get_by_role("button", name=button, exact=True).click()
    response = navigated.value
    assert response is not None
    assert response.request.method == "POST"
    return response


def expect_again_form(page: Page) -> None:
    """The page's one button is "Download again" (never a plain "Download"), in a form
    that posts the link's token with ``again=1``."""
    expect(page.get_by_role("button")).to_have_count(1)
    expect(page.get_by_role("button", name="Download", exact=True)).to_have_count(0)
    button = page.get_by_role("button", name=AGAIN, exact=True)
    expect(button).to_be_visible()
    form = page.locator("form", has=button)
    expect(form).to_have_attribute("method", "post")
    expect(form.locator('input[type="hidden"][name="again"]')).to_have_value("1")
    expect(form.locator('input[type="hidden"][name="token"]')).to_have_count(1)


def expect_started(page: Page, response: Response, filename: str) -> None:
    """The page after a real press: says the download started, offers only "Download
    again" (no plain Download button), and its fallback link is the address the meta
    refresh fetches."""
    assert response.status == 200
    expect(page.get_by_role("heading")).to_have_text(STARTED)
    expect(page.locator(".file")).to_have_text(filename)
    expect_again_form(page)
    fallback = page.get_by_role("link", name="start it here").get_attribute("href")
    refresh = page.locator('meta[http-equiv="refresh"]').get_attribute("content")
    assert fallback is not None and refresh == f"0;url={fallback}"


def download_by_pressing(page: Page, tmp_path: Path, filename: str) -> bytes:
    """Press Download after reading the page; the file the started page's refresh
    fetched, as saved under the name the browser offered."""
    read_like_a_person(page)
    with page.expect_download() as caught:
        response = press_download(page)
    expect_started(page, response, filename)
    download = caught.value
    assert download.failure() is None
    assert download.suggested_filename == filename
    assert download.url == page.get_by_role("link", name="start it here").get_attribute("href")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert [path.name for path in tmp_path.iterdir()] == [filename]
    return saved.read_bytes()


@contextmanager
def throttled(page: Page, download: int = -1, upload: int = -1) -> Iterator[None]:
    """Within the block, the page's network receives at most ``download`` and sends at
    most ``upload`` bytes a second (-1: unlimited), downloads it starts included
    (Chromium's network emulation, through the DevTools protocol; it lasts as long as the
    DevTools session, so the block holds that open)."""
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")

    def limit(down: int, up: int) -> None:
        conditions = {"offline": False, "latency": 0}
        session.send(
            "Network.emulateNetworkConditions",
            {**conditions, "downloadThroughput": down, "uploadThroughput": up},
        )

    limit(download, upload)
    try:
        yield
    finally:
        limit(-1, -1)
        session.detach()


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


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
