"""File requests in a real browser (Debian's chromium, driven by Playwright) against the
local stack: a person opens an upload link, sends a file, and gets a download link to it.

The upload page's form posts straight to S3 (moto server here) with presigned POST fields.
Without JavaScript S3 answers 303 and the browser follows it to ``/upload/done``; with it,
the page's script posts the same fields with XMLHttpRequest, shows progress, and then
goes to ``/upload/done`` itself.  Either way ``/upload/done`` takes one of the request's
files and shows the download link, which must then download the very bytes sent, under
the file's own (non-ASCII) name.

Opening the upload page spends nothing: scanners open upload links too.

As in tests/test_browser.py, the person's browser presents desktop Chrome's User-Agent
(headless chromium's own names ``HeadlessChrome``, which the download page treats as a
link previewer), and no test waits a fixed time: each waits on Playwright's events.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    FilePayload,
    Locator,
    Page,
    Request,
    Route,
    ViewportSize,
    expect,
)
from playwright.sync_api import Error as PlaywrightError

from tests.browser import chromium
from tests.browser.chromium import (
    READY,
    desktop_agent,
    download_by_pressing,
    fixed_waits,
    throttled,
)
from tests.helpers import ARTIFACTS, TIMEOUT, link_state, operator, s3_bytes
from tools.stack import Stack

# Accents, an apostrophe and an en dash: none of them ASCII, or safe in a header unquoted.
FILENAME = "Reçu d'été \u2013 2026.pdf"
# A PDF's header, then bytes that no encoding step could pass through unchanged by luck
# (every byte value, high ones included); seeded, so a failure reproduces.
CONTENT = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + random.Random(14).randbytes(200_000)
RECEIVED = "File received"
UPLOAD_USED = "This upload link has already been used"
DESKTOP: ViewportSize = {"width": 800, "height": 900}
# Slow enough that the page shows its progress for a second or so, whatever the machine.
UPLOAD_BYTES_PER_SECOND = 150_000


def make_request(stack: Stack, **fields: Any) -> dict[str, Any]:
    """A new file request (``POST /requests``), as an operator makes it."""
    made: dict[str, Any] = operator(
        stack, "POST", "/requests", 201, json={"files": 1, "note": "The receipt, please", **fields}
    )
    assert made["url"].startswith(f"{stack.base_url}/upload?token=")
    return made


def request_state(stack: Stack, made: dict[str, Any]) -> dict[str, Any]:
    """What an operator sees of the request (``GET /requests/{id}``)."""
    state: dict[str, Any] = operator(stack, "GET", f"/requests/{made['id']}")
    return state


@dataclass
class Watched:
    """A tab, and what it reported: console messages, uncaught errors, every request."""

    page: Page
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sent: list[Request] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        # Chromium reports each refusal by the page's Content-Security-Policy on the
        # console ("Executing inline script violates the following Content Security Policy
        # directive ...", "Connecting to ... violates ..."): each names the policy.
        return [m for m in self.console + self.errors if "Content Security Policy" in m]

    def posts(self) -> list[Request]:
        return [request for request in self.sent if request.method == "POST"]


def watch(context: BrowserContext) -> Watched:
    tab = Watched(context.new_page())

    def dialog(_: Any) -> None:
        raise AssertionError("a page opened a dialog")

    def console(message: ConsoleMessage) -> None:
        tab.console.append(f"{message.type}: {message.text}")

    tab.page.on("console", console)
    tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.page.on("request", lambda request: tab.sent.append(request))
    tab.page.on("dialog", dialog)
    return tab


def person(browser: Browser, *, javascript: bool) -> BrowserContext:
    """A person's browser (chromium.person's), on a light desktop page."""
    context = chromium.person(
        browser, DESKTOP, java_script_enabled=javascript, color_scheme="light"
    )
    # Every step here takes well under a second; a stuck one fails within the test's budget.
    context.set_default_timeout(10_000)
    return context


def opened(browser: Browser, javascript: bool) -> Iterator[Watched]:
    tab = watch(person(browser, javascript=javascript))
    yield tab
    tab.page.context.close()  # if the test has not: closing twice is harmless


@pytest.fixture
def tab(browser: Browser) -> Iterator[Watched]:
    """A person's browser, scripts on, and its one watched tab."""
    yield from opened(browser, javascript=True)


@pytest.fixture
def plain_tab(browser: Browser) -> Iterator[Watched]:
    """A person's browser with scripts off, and its one watched tab."""
    yield from opened(browser, javascript=False)


def choose_file(page: Page) -> None:
    page.locator("#file").set_input_files(
        FilePayload(name=FILENAME, mimeType="application/pdf", buffer=CONTENT)
    )


def upload_button(page: Page) -> Locator:
    return page.get_by_role("button", name="Upload", exact=True)


def done_params(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def is_done(url: str) -> bool:
    return urlsplit(url).path == "/upload/done"


def wait_for_confirmation(tab: Watched) -> int:
    """Wait until the script has sent the browser to ``/upload/done``; that page's status.
    If it never does, fail with what the page's status line said instead."""
    page = tab.page
    try:
        page.wait_for_url(is_done)
    except PlaywrightError as exc:
        said = page.locator("#status").text_content()
        raise AssertionError(f"no confirmation; the page said {said!r}") from exc
    [confirmation] = [request for request in tab.sent if is_done(request.url)]
    response = confirmation.response()
    assert response is not None
    return response.status


@dataclass
class CrossOrigin:
    """How S3 answered the browser's preflights: each one's Access-Control-Allow-Origin."""

    preflights: list[str | None] = field(default_factory=list)


def header(headers: list[dict[str, str]], name: str) -> str | None:
    return next((h["value"] for h in headers if h["name"].lower() == name.lower()), None)


@contextmanager
def s3_cors_as_aws(page: Page, stack: Stack) -> Iterator[CrossOrigin]:
    """Within the block, S3's answers to the page's uploads carry the CORS headers that
    the bucket's own CORS rules give them, as AWS S3 does.

    moto server adds them to every answer when its global CORS is on (its default), but
    with ``MOTO_DISABLE_GLOBAL_CORS=true`` it applies a bucket's CORS rules to preflights
    only: its answer to a browser's POST upload (moto 5.2.5, ``_bucket_response_post``)
    has no ``Access-Control-Allow-Origin``, so the browser would refuse the script a
    201 that AWS would have let it read.  This fills in that header, and only when moto's
    own preflight answer for the same origin allows a POST: a bucket rule that does not
    allow the page's origin still fails the upload.  Done at the answer's arrival
    (DevTools' Fetch domain), so the upload itself, its throttling and its progress
    events are the browser's own."""
    seen = CrossOrigin()
    session = page.context.new_cdp_session(page)

    def allowed(url: str, origin: str) -> bool:
        preflight = requests.options(
            url,
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            timeout=TIMEOUT,
        )
        return preflight.ok and preflight.headers.get("Access-Control-Allow-Origin") == origin

    def paused(event: dict[str, Any]) -> None:
        request_id = event["requestId"]
        if "responseStatusCode" not in event:  # the exchange failed: nothing to answer
            session.send("Fetch.continueRequest", {"requestId": request_id})
            return
        headers: list[dict[str, str]] = event.get("responseHeaders", [])
        method = event["request"]["method"]
        origin = header(
            [{"name": k, "value": v} for k, v in event["request"]["headers"].items()], "Origin"
        )
        if method == "OPTIONS":
            seen.preflights.append(header(headers, "Access-Control-Allow-Origin"))
        elif (
            method == "POST"
            and origin is not None
            and header(headers, "Access-Control-Allow-Origin") is None
            and allowed(event["request"]["url"], origin)
        ):
            session.send(
                "Fetch.continueResponse",
                {
                    "requestId": request_id,
                    "responseCode": event["responseStatusCode"],
                    "responseHeaders": [
                        *headers,
                        {"name": "Access-Control-Allow-Origin", "value": origin},
                    ],
                },
            )
            return
        session.send("Fetch.continueResponse", {"requestId": request_id})

    session.on("Fetch.requestPaused", paused)
    pattern = f"http://127.0.0.1:{stack.s3_port}/*"
    session.send(
        "Fetch.enable", {"patterns": [{"urlPattern": pattern, "requestStage": "Response"}]}
    )
    try:
        yield seen
    finally:
        session.send("Fetch.disable")
        session.detach()


def expect_received(tab: Watched, stack: Stack, made: dict[str, Any]) -> str:
    """The "File received" page: the file's name and size, the request now used up, and
    a download link (what the page's ``input#link`` holds) to the file."""
    page = tab.page
    expect(page.get_by_role("heading")).to_have_text(RECEIVED)
    expect(page.locator(".file")).to_have_text(FILENAME)
    expect(page.locator("main")).to_contain_text("195.3 KiB")
    expect(page.locator("main")).to_contain_text("This upload link is now used up.")
    expect(page.locator("#copy")).to_be_visible()
    link = page.locator("#link").input_value()
    assert link.startswith(f"{stack.base_url}/download?token=")
    assert done_params(page)["token"] == parse_qs(urlsplit(made["url"]).query)["token"]
    return link


def expect_spent(stack: Stack, made: dict[str, Any], link: str, content_type: str) -> str:
    """The request took one file, the one sent, and named the link shown; its key."""
    state = request_state(stack, made)
    assert (state["status"], state["files"], state["max_files"]) == ("used", 1, 1)
    [receipt] = state["received"]
    assert receipt["filename"] == FILENAME
    assert receipt["size"] == len(CONTENT)
    assert receipt["content_type"] == content_type
    assert receipt["file"].startswith(f"requests/{made['id']}/")
    assert receipt["file"].endswith(f"/{FILENAME}")
    token = parse_qs(urlsplit(link).query)["token"][0]
    assert token.startswith(receipt["link_id"])  # a link's id is its token's first part
    assert s3_bytes(stack, receipt["file"]) == CONTENT
    key: str = receipt["file"]
    return key


def download_as_a_person(browser: Browser, link: str, tmp_path: Path) -> bytes:
    """Open the download link in a person's browser (scripts on: the modelled person's
    reading time is a wait on the page's clock) and press Download: the saved file."""
    context = person(browser, javascript=True)
    tab = watch(context)
    tab.page.goto(link)
    expect(tab.page.get_by_role("heading")).to_have_text(READY)
    expect(tab.page.locator(".file")).to_have_text(FILENAME)
    saved = download_by_pressing(tab.page, tmp_path, FILENAME)
    context.close()
    assert tab.csp_violations() == [] and tab.errors == []
    return saved


def screenshot(page: Page, name: str) -> None:
    """Into test-artifacts/, as tests/test_browser.py does; docs/ keeps copies of them
    (the pages show dates, so each run's differ)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_no_fixed_waits() -> None:
    assert fixed_waits(Path(__file__)) == []


def test_without_javascript_the_form_posts_to_s3_and_the_link_downloads_the_file(
    stack: Stack, browser: Browser, plain_tab: Watched, tmp_path: Path
) -> None:
    made = make_request(stack)
    tab = plain_tab
    page, context = tab.page, tab.page.context
    loaded = page.goto(made["url"])
    assert loaded is not None and loaded.status == 200
    expect(page.get_by_role("heading")).to_have_text("Send a file")
    choose_file(page)
    action = page.locator("#upload").get_attribute("action")
    assert action == f"http://127.0.0.1:{stack.s3_port}/{stack.bucket}"
    with page.expect_response(lambda response: is_done(response.url)) as confirmed:
        upload_button(page).click()
    assert confirmed.value.status == 201
    # The form itself went to S3, which sent the browser on (no script could have).
    [posted] = tab.posts()
    assert posted.resource_type == "document"
    assert posted.url == action
    redirect = posted.response()
    assert redirect is not None and redirect.status == 303
    assert done_params(page)["bucket"] == [stack.bucket]
    link = expect_received(tab, stack, made)
    # Without JavaScript no page script runs, so the form's Content-Type field (any type
    # accepted: application/octet-stream) is what S3 stored.
    key = expect_spent(stack, made, link, "application/octet-stream")
    assert done_params(page)["key"] == [key]

    # The link goes to whoever asked for the file, who opens it in their own browser.
    received = download_as_a_person(browser, link, tmp_path)
    assert received == CONTENT
    [receipt] = request_state(stack, made)["received"]
    assert link_state(stack, receipt["link_id"])["uses"] == 1

    # The upload link is spent: its page reads the request and offers no form.
    again = page.goto(made["url"])
    assert again is not None and again.status == 410
    expect(page.get_by_role("heading")).to_have_text(UPLOAD_USED)
    expect(page.locator("#upload")).to_have_count(0)
    state = request_state(stack, made)
    assert (state["status"], state["files"], len(state["received"])) == ("used", 1, 1)
    context.close()
    assert tab.csp_violations() == [] and tab.errors == []


def test_with_javascript_the_page_shows_progress_and_the_link_downloads_the_file(
    stack: Stack, browser: Browser, tab: Watched, tmp_path: Path
) -> None:
    made = make_request(stack)
    page, context = tab.page, tab.page.context
    page.goto(made["url"])
    choose_file(page)
    expect(page.locator("#progress")).to_be_hidden()
    screenshot(page, "upload.png")
    with s3_cors_as_aws(page, stack) as cors, throttled(page, upload=UPLOAD_BYTES_PER_SECOND):
        upload_button(page).click()
        # The script took the form over: the bar shows, the button waits, and the status
        # says how far the upload has got ("12.0 KiB of 195.3 KiB · ...").
        expect(page.locator("#bar")).to_be_visible()
        expect(upload_button(page)).to_be_disabled()
        expect(page.locator("#status")).to_contain_text(f" of {len(CONTENT) / 1024:.1f} KiB")
        expect(page.locator("#status")).to_contain_text("left")
        assert wait_for_confirmation(tab) == 201
    # The script's upload needed a preflight (it listens to upload progress), which
    # S3 allowed for the page's origin, the API's.
    assert cors.preflights == [stack.base_url]
    [posted] = tab.posts()
    assert posted.resource_type == "xhr"  # the script's, not the form's
    answer = posted.response()
    assert answer is not None and answer.status == 201
    assert "bucket" not in done_params(page)  # the script's own way to the confirmation
    link = expect_received(tab, stack, made)
    # The script sends the file's own type (any type is accepted here).
    key = expect_spent(stack, made, link, "application/pdf")
    assert done_params(page)["key"] == [key]
    screenshot(page, "received.png")
    context.close()
    assert tab.csp_violations() == [] and tab.errors == []

    assert download_as_a_person(browser, link, tmp_path) == CONTENT


def test_when_the_scripts_upload_fails_the_plain_form_sends_the_file(
    stack: Stack, tab: Watched
) -> None:
    """A bucket without a CORS rule for the page's origin (a deployment without PublicUrl)
    refuses the script's request; so does a broken connection.  The script then submits the
    plain form, which needs no CORS, and the file still arrives, once."""
    made = make_request(stack)
    page, context = tab.page, tab.page.context
    refused: list[str] = []

    def refuse_the_script(route: Route) -> None:
        if route.request.resource_type == "xhr":
            refused.append(route.request.method)
            route.abort("accessdenied")
        else:
            route.continue_()

    page.route(f"http://127.0.0.1:{stack.s3_port}/**", refuse_the_script)
    page.goto(made["url"])
    choose_file(page)
    with page.expect_response(lambda response: is_done(response.url)) as confirmed:
        upload_button(page).click()
    assert confirmed.value.status == 201
    assert refused == ["POST"]
    [posted] = [p for p in tab.posts() if p.resource_type == "document"]
    answer = posted.response()
    assert answer is not None and answer.status == 303  # S3 sent the browser on
    link = expect_received(tab, stack, made)
    expect_spent(stack, made, link, "application/octet-stream")
    context.close()
    assert tab.csp_violations() == [] and tab.errors == []


def test_with_javascript_a_request_withdrawn_after_the_page_was_shown_sends_nothing(
    stack: Stack, tab: Watched
) -> None:
    """Break 6: pressing Upload first asks the service for a fresh form, which a request
    withdrawn meanwhile refuses: the page says why, and no byte goes to S3."""
    made = make_request(stack)
    page, context = tab.page, tab.page.context
    page.goto(made["url"])
    choose_file(page)
    operator(stack, "DELETE", f"/requests/{made['id']}")
    upload_button(page).click()
    expect(page.locator("#status")).to_contain_text("withdrew it")
    expect(page.locator("#status")).to_contain_text("Nothing was sent.")
    expect(upload_button(page)).to_be_disabled()
    assert tab.posts() == []
    context.close()
    assert tab.csp_violations() == [] and tab.errors == []


def active(page: Page) -> str:
    """The id of the element that has the keyboard's focus."""
    focused: str = page.evaluate("document.activeElement.id")
    return focused


def test_the_keyboard_alone_sends_the_file_and_copies_the_link(stack: Stack, tab: Watched) -> None:
    made = make_request(stack)
    page, context = tab.page, tab.page.context
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.base_url)
    # Listening for file choosers turns their interception on; the browser learns of it
    # asynchronously, so it is turned on now, well before the key press that opens one
    # (else the chooser may open uncaught, and the wait for it times out).
    page.on("filechooser", lambda _: None)
    page.goto(made["url"])
    page.keyboard.press("Tab")
    assert active(page) == "file"
    # Space on the file input opens the file chooser, as a click does.
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(FilePayload(name=FILENAME, mimeType="application/pdf", buffer=CONTENT))
    page.keyboard.press("Tab")
    assert active(page) == "send"
    with s3_cors_as_aws(page, stack):
        page.keyboard.press("Enter")
        assert wait_for_confirmation(tab) == 201
    link = expect_received(tab, stack, made)
    page.keyboard.press("Tab")
    assert active(page) == "link"
    page.keyboard.press("Tab")
    assert active(page) == "copy"
    page.keyboard.press("Enter")
    expect(page.locator("#copied")).to_have_text(
        "Copied. Send it to whoever should download the file."
    )
    assert page.evaluate("navigator.clipboard.readText()") == link
    context.close()
    assert tab.csp_violations() == [] and tab.errors == []
    assert request_state(stack, made)["files"] == 1


@pytest.mark.parametrize("disguised", [False, True], ids=["as-headless", "as-chrome"])
def test_a_scanner_opening_the_upload_link_spends_nothing(
    stack: Stack, browser: Browser, disguised: bool
) -> None:
    """What a mail scanner does with a link: load it in a headless browser that runs the
    page's scripts, until the network is quiet, then a HEAD request."""
    made = make_request(stack)
    agent = desktop_agent(browser) if disguised else None
    context = browser.new_context(java_script_enabled=True, user_agent=agent)
    tab = watch(context)
    loaded = tab.page.goto(made["url"], wait_until="load")
    assert loaded is not None and loaded.status == 200
    tab.page.wait_for_load_state("networkidle")
    expect(tab.page.get_by_role("heading")).to_have_text("Send a file")
    expect(upload_button(tab.page)).to_be_enabled()
    assert tab.page.url == made["url"]
    context.close()
    # Loaded once; nothing posted, nothing sent to S3.
    sent = [f"{request.method} {request.url}" for request in tab.sent]
    assert sent.count(f"GET {made['url']}") == 1
    assert [request for request in sent if not request.startswith("GET ")] == []
    assert [request for request in sent if f":{stack.s3_port}/" in request] == []
    assert tab.csp_violations() == [] and tab.errors == []
    head = requests.head(made["url"], timeout=TIMEOUT)
    assert head.status_code == 200 and head.content == b""

    state = request_state(stack, made)
    assert (state["status"], state["files"], state["received"]) == ("active", 0, [])
    listed = stack.client("s3").list_objects_v2(
        Bucket=stack.bucket, Prefix=f"requests/{made['id']}/"
    )
    assert listed["KeyCount"] == 0
