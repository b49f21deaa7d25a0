"""The recipient check in a real browser (Debian's chromium, driven by Playwright) against
the local stack: a link minted with ``verify`` asks the person on its landing page for the
address it was emailed to (or the code they were given) before a press of Download counts.

A wrong answer spends nothing and is counted; the fifth locks the link, and then even the
right answer gets nothing.  A scanner that presses the button without typing gets nothing
either, whether the browser's own check of the ``required`` field stops the form (no POST
at all) or a script submits the form past it (the server's check: nothing spent, and not
counted as a guess, so a scanner cannot lock a person out).

As in tests/test_browser.py the person's browser presents desktop Chrome's User-Agent, and
no test waits a fixed time: a person's reading time is a wait on the page's own clock.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from tests.browser.chromium import (
    READY,
    desktop_agent,
    download_by_pressing,
    person,
    press_download,
    read_like_a_person,
    screenshot,
    watched,
)
from tests.helpers import create, link_state
from tools.outbox import outbox
from tools.samples import SMALL_SAMPLE, sample_pdf
from tools.stack import Stack

RECIPIENT = "Jo.Client@Example.com"
LOCKED = "This link is locked"
ASKED = "type the email address"  # the note on a press without an answer


def mint(stack: Stack, **fields: Any) -> dict[str, Any]:
    """``POST /links`` with a recipient check (the JSON API: ``verify`` is not a
    ``/get-link`` parameter)."""
    return create(stack, SMALL_SAMPLE, **fields)


def emailed_url(stack: Stack, to: str) -> str:
    """The download link in the last message moto's SES sent to ``to``: what the person
    clicks."""
    [last] = [m for m in outbox(stack.s3_port, last=20) if to in str(m["destinations"])][-1:]
    message = email.message_from_string(last["raw_data"], policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    [url] = re.findall(rf"{re.escape(stack.base_url)}/download\?token=\S+", body.get_content())
    return str(url)


def answer(page: Page, text: str) -> None:
    """Type into the check's field, after reading the page as a person would."""
    page.locator("input#answer").fill(text)
    read_like_a_person(page)


def posts(page: Page) -> list[Request]:
    """Every POST the page sends from now on."""
    sent: list[Request] = []

    def record(request: Request) -> None:
        if request.method == "POST":
            sent.append(request)

    page.on("request", record)
    return sent


def other_than(code: str, wrong: str = "123456") -> str:
    return wrong if code != wrong else "654321"


def test_a_wrong_address_spends_nothing_then_the_right_one_downloads(
    stack: Stack, browser: Browser, tmp_path: Path
) -> None:
    minted = mint(stack, email=RECIPIENT, verify="email")
    url = emailed_url(stack, RECIPIENT)
    assert url == minted["url"]
    context = person(browser)
    page, dialogs = watched(context)
    loaded = page.goto(url)
    assert loaded is not None and loaded.status == 200
    expect(page.get_by_role("heading")).to_have_text(READY)
    field = page.locator("input#answer")
    expect(field).to_have_attribute("type", "email")
    expect(field).to_have_attribute("required", "")
    expect(page.get_by_label("The email address this link was sent to")).to_be_visible()
    screenshot(page, "recipient-check.png")  # docs/recipient-check.png is a copy

    answer(page, "someone.else@example.com")
    wrong = press_download(page)
    assert wrong.status == 200
    expect(page.get_by_role("heading")).to_have_text(READY)
    expect(page.locator(".notice")).to_contain_text("That answer is not right")
    expect(page.locator(".notice")).to_contain_text("4 tries left before the link locks")
    state = link_state(stack, minted["id"])
    assert (state["uses"], state["wrong_answers"], len(state["guesses"])) == (0, 1, 1)
    assert state["guesses"][0]["user_agent"] == desktop_agent(browser)

    # As people type it: other case, stray spaces.
    page.locator("input#answer").fill(f"  {RECIPIENT.lower()} ")
    received = download_by_pressing(page, tmp_path, minted["filename"])
    assert received == sample_pdf()
    context.close()
    assert dialogs == []
    state = link_state(stack, minted["id"])
    assert (state["uses"], state["remaining"], state["wrong_answers"]) == (1, 0, 1)
    assert (state["recipient"], state["verify"]) == (RECIPIENT, "email")
    assert state["message_id"] == minted["message_id"] and state["locked_at"] is None


@pytest.mark.slow  # six answers typed as a person types them: about 7 s (the count is the
# store contract's, on three backends, in make test)
def test_five_wrong_answers_lock_the_link_and_then_the_right_one_gets_nothing(
    stack: Stack, browser: Browser
) -> None:
    minted = mint(stack, verify="code")
    code = minted["code"]
    context = person(browser)
    page, dialogs = watched(context)
    downloads: list[str] = []
    page.on("download", lambda download: downloads.append(download.url))
    page.goto(minted["url"])
    # A second tab, opened before the lock, where the person will type the right code.
    late = context.new_page()
    late.on("download", lambda download: downloads.append(download.url))
    late.goto(minted["url"])
    expect(late.locator("input#answer")).to_be_visible()

    # Back to the first tab (a hidden tab's page runs no animation frames, which the
    # reading-time wait polls on).
    page.bring_to_front()
    for left in (4, 3, 2, 1):
        answer(page, other_than(code))
        assert press_download(page).status == 200
        expect(page.locator(".notice")).to_contain_text(
            f"{left} {'try' if left == 1 else 'tries'} left before the link locks"
        )
    answer(page, other_than(code))
    fifth = press_download(page)
    assert fifth.status == 423
    expect(page.get_by_role("heading")).to_have_text(LOCKED)
    expect(page.get_by_role("button")).to_have_count(0)
    state = link_state(stack, minted["id"])
    assert state["locked_at"] is not None
    assert (state["uses"], state["wrong_answers"], len(state["guesses"])) == (0, 5, 5)
    assert {guess["user_agent"] for guess in state["guesses"]} == {desktop_agent(browser)}

    # The right code, from the page loaded before the lock: nothing, and nothing counted.
    late.bring_to_front()
    answer(late, code)
    refused = press_download(late)
    assert refused.status == 423
    expect(late.get_by_role("heading")).to_have_text(LOCKED)
    # Opening the link again shows the lock too, with no form to try on.
    page.bring_to_front()
    again = page.goto(minted["url"])
    assert again is not None and again.status == 423
    expect(page.locator("input#answer")).to_have_count(0)
    context.close()
    assert (dialogs, downloads) == ([], [])
    after = link_state(stack, minted["id"])
    assert (after["uses"], after["wrong_answers"], len(after["guesses"])) == (0, 5, 5)
    assert after["redemptions"] == []


@pytest.mark.parametrize("disguised", [False, True], ids=["as-headless", "as-chrome"])
def test_a_scanner_pressing_download_without_an_answer_gets_nothing(
    stack: Stack, browser: Browser, disguised: bool
) -> None:
    minted = mint(stack, verify="code")
    agent = desktop_agent(browser) if disguised else None  # None: HeadlessChrome's own
    context = browser.new_context(accept_downloads=True, user_agent=agent)
    scan, dialogs = watched(context)
    downloads: list[str] = []
    scan.on("download", lambda download: downloads.append(download.url))
    scan.goto(minted["url"])
    if not disguised:
        # HeadlessChrome names itself a previewer: its page has nothing to press.
        expect(scan.get_by_role("heading")).to_have_text("Open this link in your browser")
        assert scan.locator("form").count() == 0 and scan.get_by_role("button").count() == 0
        context.close()
        state = link_state(stack, minted["id"])
        assert (state["uses"], state["redemptions"], state["wrong_answers"]) == (0, [], 0)
        return
    expect(scan.get_by_role("heading")).to_have_text(READY)
    sent = posts(scan)
    # A scanner that waits like a person, so what stops it is the check, not the timing.
    read_like_a_person(scan)

    # Clicking: the browser's own check of the required field keeps the form from going.
    scan.get_by_role("button", name="Download", exact=True).click()
    scan.wait_for_load_state("networkidle")
    assert scan.evaluate("document.querySelector('#answer').validity.valueMissing") is True
    assert sent == []
    assert scan.url == minted["url"]

    # Submitting past that check, as a script can: the server's check refuses.
    for submit in (
        "document.querySelector('form').submit()",
        "(f => { f.noValidate = true; f.requestSubmit(); })(document.querySelector('form'))",
    ):
        read_like_a_person(scan)  # each answer is a new page: read it first
        with scan.expect_navigation() as navigated:
            scan.evaluate(submit)
        response = navigated.value
        assert response is not None and response.request.method == "POST"
        assert response.status == 200
        fields = parse_qs(response.request.post_data or "", keep_blank_values=True)
        assert fields["answer"] == [""]  # the field went, empty
        expect(scan.get_by_role("heading")).to_have_text(READY)
        expect(scan.locator("input#answer")).to_be_visible()
        expect(scan.locator(".notice")).to_contain_text(ASKED)
    assert len(sent) == 2
    context.close()
    assert (dialogs, downloads) == ([], [])
    state = link_state(stack, minted["id"])
    assert (state["uses"], state["remaining"], state["redemptions"]) == (0, 1, [])
    assert (state["wrong_answers"], state["guesses"], state["locked_at"]) == (0, [], None)
