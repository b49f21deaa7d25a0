"""Bundles (issue 25, part 2): one link names several files.  Pressing Download spends one
use and opens the download session; each file is then fetched by number, one AWS call per
fetch, under a cap of its own.  In-process, on moto, with the app's frozen clock."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from chalicelib.domain.link import MAX_BUNDLE_FILES, REDELIVERY_CAP
from chalicelib.domain.text import human_size
from tests.helpers import (
    BROWSER_ACCEPT,
    InProcess,
    aws_error,
    call,
    parts,
    reset_app_caches,
    sent,
    text_of,
    token_of,
)

FORM = "application/x-www-form-urlencoded"
FILES = {
    "bundle/report.pdf": b"%PDF report " + bytes(range(256)) * 20,
    "bundle/photo é.jpg": bytes(reversed(range(256))) * 30,
    "bundle/notes.txt": b"plain notes\n" * 100,
}


def press(
    service: InProcess, token: str, extra: str = "", session: str | None = None, **headers: str
) -> Any:
    sent = {"Content-Type": FORM, "Accept": "*/*", **headers}
    if session is not None:
        sent["X-Download-Session"] = session
    return service.client.http.post("/download", headers=sent, body=f"token={token}{extra}")


def file_bytes(response: Any) -> bytes:
    """A streamed file's bytes (the app hands API Gateway base64)."""
    body = response.body
    return base64.b64decode(body) if isinstance(body, str) else bytes(body)


@pytest.fixture
def bundle(service: InProcess) -> dict[str, Any]:
    for key, body in FILES.items():
        service.put(key, body, "application/pdf")
    response = call(service, "POST", "/links", {"files": list(FILES), "uses": 1})
    assert response.status_code == 201, response.body
    minted: dict[str, Any] = response.json_body
    return minted


def test_one_press_spends_one_use_and_each_file_comes_byte_identical(
    service: InProcess, bundle: dict[str, Any]
) -> None:
    token = token_of(bundle)
    opened = press(service, token)
    assert opened.status_code == 200, opened.body
    listed = opened.json_body["files"]
    assert [(f["file"], f["name"], f["size"]) for f in listed] == [
        (1, "report.pdf", len(FILES["bundle/report.pdf"])),
        (2, "photo é.jpg", len(FILES["bundle/photo é.jpg"])),
        (3, "notes.txt", len(FILES["bundle/notes.txt"])),
    ]
    session = opened.headers["X-Download-Session"]
    assert service.uses(bundle["id"]) == 1
    for number, body in enumerate(FILES.values(), start=1):
        service.hooks.calls.clear()
        fetched = press(service, token, f"&file={number}", session, Accept="application/pdf")
        assert fetched.status_code == 200, fetched.body
        assert file_bytes(fetched) == body
        # One conditional write (the count), then the file: the re-delivery path.
        assert service.hooks.calls == ["dynamodb:UpdateItem", "s3:GetObject"]
    assert service.uses(bundle["id"]) == 1  # one use for all three files
    # A resumed file: a Range inside the session is answered with that part.
    body = FILES["bundle/photo é.jpg"]
    part = press(
        service, token, "&file=2", session, Accept="application/pdf", Range="bytes=100-199"
    )
    assert part.status_code == 206
    assert file_bytes(part) == body[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(body)}"
    # Without the session the link is used up.
    assert press(service, token, "&file=1").status_code == 410


def test_each_file_has_its_own_cap_and_the_operator_sees_what_was_fetched(
    service: InProcess, bundle: dict[str, Any]
) -> None:
    token = token_of(bundle)
    session = press(service, token).headers["X-Download-Session"]
    for _ in range(REDELIVERY_CAP):
        assert press(service, token, "&file=1", session).status_code == 302
    # File 1's cap is reached: the session no longer covers it, and the one use is spent.
    assert press(service, token, "&file=1", session).status_code == 410
    # The others' caps are their own.
    assert press(service, token, "&file=3", session).status_code == 302
    state = call(service, "GET", f"/links/{bundle['id']}").json_body
    assert [f["key"] for f in state["files"]] == list(FILES)
    (use,) = state["redemptions"]
    assert use["path"] == "bundle"
    assert use["fetches"] == {"1": REDELIVERY_CAP, "3": 1}


def test_the_landing_page_lists_the_files_and_the_press_opens_their_list(
    service: InProcess, bundle: dict[str, Any]
) -> None:
    token = token_of(bundle)
    page = service.client.http.get(f"/download?token={token}", headers={"Accept": BROWSER_ACCEPT})
    assert page.status_code == 200
    text = text_of(page)
    assert "3 files" in text
    for name in ("report.pdf", "photo é.jpg", "notes.txt"):
        assert name in text
    assert service.uses(bundle["id"]) == 0


def test_file_numbers_are_checked_before_anything_is_spent(
    service: InProcess, bundle: dict[str, Any]
) -> None:
    token = token_of(bundle)
    for bad in ("0", "4", "x", str(MAX_BUNDLE_FILES + 1)):
        answer = press(service, token, f"&file={bad}")
        assert answer.status_code == 400, bad
        assert answer.json_body["error"].startswith("invalid_file")
    assert service.uses(bundle["id"]) == 0
    # file 4 of 3, in the session: refused, and counted nowhere.
    session = press(service, token).headers["X-Download-Session"]
    assert press(service, token, "&file=4", session).status_code == 410
    item = service.item(bundle["id"])
    (record,) = item["redemptions"]["M"].values()
    assert not [name for name in record["M"] if name.startswith("again")]


def test_a_single_file_link_keeps_its_item_and_refuses_a_file_number(
    service: InProcess,
) -> None:
    service.put("one.pdf", b"one file")
    minted = service.mint("one.pdf")
    assert "files" not in service.item(minted["id"])
    assert press(service, token_of(minted), "&file=1").status_code == 400
    assert service.uses(minted["id"]) == 0


BAD_BUNDLES: list[tuple[dict[str, Any], str]] = [
    ({"files": []}, "invalid_files"),
    ({"files": [f"k{n}" for n in range(MAX_BUNDLE_FILES + 1)]}, "invalid_files"),
    ({"files": ["a.pdf", "a.pdf"]}, "invalid_files"),
    ({"files": ["a.pdf"], "file": "a.pdf"}, "invalid_files"),
    ({"files": ["a.pdf"], "filename": "x.pdf"}, "invalid_filename"),
    ({"files": "a.pdf"}, "invalid_files"),
    ({}, "invalid_file"),
]


def test_a_bad_bundle_is_refused_and_nothing_is_minted(service: InProcess) -> None:
    # One app for every case: each in-process app costs a third of a second to set up.
    service.put("a.pdf", b"a")
    for body, code in BAD_BUNDLES:
        answer = call(service, "POST", "/links", body)
        assert answer.status_code == 400, (body, answer.body)
        assert answer.json_body["error"] == code, body
    assert service.table_items() == []


def test_a_missing_file_mints_nothing(service: InProcess) -> None:
    service.put("a.pdf", b"a")
    answer = call(service, "POST", "/links", {"files": ["a.pdf", "gone.pdf"]})
    assert answer.status_code == 404
    assert service.table_items() == []


def test_a_browser_press_lists_the_files_each_with_its_button(
    service: InProcess, bundle: dict[str, Any]
) -> None:
    token = token_of(bundle)
    opened = press(service, token, Accept=BROWSER_ACCEPT)
    assert opened.status_code == 200
    page = text_of(opened)
    assert "Your files are ready" in page
    for number in (1, 2, 3):
        assert f'name="file" value="{number}"' in page
    cookie = str(opened.headers["Set-Cookie"]).split(";", 1)[0]
    second = press(service, token, "&again=1&file=2", Accept=BROWSER_ACCEPT, Cookie=cookie)
    assert second.status_code == 200
    assert "photo é.jpg" in text_of(second)  # the page that says this file's download started
    assert service.uses(bundle["id"]) == 1


def test_a_failed_fetch_gives_its_count_back_for_that_file(
    service: InProcess, bundle: dict[str, Any]
) -> None:
    token = token_of(bundle)
    session = press(service, token).headers["X-Download-Session"]
    service.hooks.fail("s3:GetObject", aws_error("InternalError", 500))
    failed = press(service, token, "&file=1", session, Accept="application/pdf")
    assert failed.status_code == 503
    service.hooks.faults.clear()
    state = call(service, "GET", f"/links/{bundle['id']}").json_body
    assert state["redemptions"][0]["fetches"] == {"1": 0}
    again = press(service, token, "&file=1", session, Accept="application/pdf")
    assert file_bytes(again) == FILES["bundle/report.pdf"]


def test_an_emailed_bundle_says_how_many_files_and_their_total_size(mailing: InProcess) -> None:
    for key, body in FILES.items():
        mailing.put(key, body)
    answer = call(
        mailing, "POST", "/links", {"files": list(FILES), "email": "customer@example.com"}
    )
    assert answer.status_code == 201, answer.body
    (message,) = sent()
    assert message["Subject"] == "Your download: 3 files"
    text, _page = parts(message)
    total = sum(len(body) for body in FILES.values())
    assert "3 files" in text and human_size(total) in text


def test_without_sessions_each_file_spends_a_use_and_the_list_says_so(
    service: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONETIME_SESSION_SECONDS", "0")
    reset_app_caches()
    for key, body in FILES.items():
        service.put(key, body, "application/pdf")
    minted = call(service, "POST", "/links", {"files": list(FILES), "uses": 2}).json_body
    token = token_of(minted)
    listed = press(service, token)
    assert listed.status_code == 200 and "X-Download-Session" not in listed.headers
    assert "spends a use" in listed.json_body["message"]
    fetched = press(service, token, "&file=2", Accept="application/pdf")
    assert file_bytes(fetched) == FILES["bundle/photo é.jpg"]
    assert service.uses(minted["id"]) == 2  # the list's press, then the file's
