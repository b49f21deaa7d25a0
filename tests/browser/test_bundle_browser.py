"""A bundle in a real browser (Debian's chromium) against the local stack: the landing
page lists the files; one press spends the link's one use and lists them again, each
with its own button; each button saves its file byte-identical, within the session."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.browser.chromium import AGAIN, READY, press_download, read_like_a_person
from tests.helpers import TIMEOUT, link_state, s3_bytes
from tools.samples import LARGE_SAMPLE, SMALL_SAMPLE
from tools.stack import Stack

FILES = [SMALL_SAMPLE, LARGE_SAMPLE]
NAMES = ["Résumé café 2026.pdf", "dataset-5MiB.zip"]
LISTED = "Your files are ready"


# The tier's chromium and the 5 MiB file: in the slow tier, to keep make test in its budget
# (the page's list is also checked in-process, tests/inprocess/test_bundles.py).
@pytest.mark.slow
def test_one_press_then_each_files_button_saves_it(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    minted = requests.post(
        f"{stack.base_url}/links",
        json={"files": FILES},
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=TIMEOUT,
    ).json()
    page.goto(minted["url"])
    expect(page.get_by_role("heading")).to_have_text(READY)
    expect(page.locator("main")).to_contain_text("2 files")
    for name in NAMES:
        expect(page.locator("ol.bundle")).to_contain_text(name)
    read_like_a_person(page)
    press_download(page)
    expect(page.get_by_role("heading")).to_have_text(LISTED)
    for number, (key, name) in enumerate(zip(FILES, NAMES, strict=True)):
        if number:
            # The link again, in the same browser: "Download again" lists the files again.
            page.goto(minted["url"])
            expect(page.get_by_role("heading")).to_have_text(AGAIN)
            press_download(page, AGAIN)
            expect(page.get_by_role("heading")).to_have_text(LISTED)
        with page.expect_download() as caught:
            page.get_by_role("button", name="Download", exact=True).nth(number).click()
        download = caught.value
        assert download.failure() is None
        assert download.suggested_filename == name
        saved = tmp_path / name
        download.save_as(saved)
        assert saved.read_bytes() == s3_bytes(stack, key)
    state = link_state(stack, minted["id"])
    assert state["uses"] == 1
    assert state["redemptions"][0]["fetches"] == {"1": 1, "2": 1}
