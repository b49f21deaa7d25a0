"""``onetime link A B`` and ``onetime get`` of a bundle, against the stack (dynalite, moto
server, chalice local): one use for every file, each saved byte-identical into a folder,
and a get stopped midway finished by the same get again without spending another use."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import requests

from tests.helpers import BROWSER_ACCEPT, TIMEOUT, s3_bytes
from tests.tooling.cli import ok, run, state_of
from tools.samples import LARGE_SAMPLE, SMALL_SAMPLE
from tools.stack import Stack

FILES = [SMALL_SAMPLE, LARGE_SAMPLE]
NAMES = ["Résumé café 2026.pdf", "dataset-5MiB.zip"]


def test_get_saves_every_file_of_a_bundle_for_one_use(stack: Stack, tmp_path: Path) -> None:
    minted = json.loads(ok(stack, "link", *FILES, "--json"))
    folder = tmp_path / "bundle"  # made by get
    result = run(stack, "get", minted["url"], "-o", str(folder), "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [str(folder / name) for name in NAMES]
    for key, name in zip(FILES, NAMES, strict=True):
        assert (folder / name).read_bytes() == s3_bytes(stack, key)
    assert sorted(p.name for p in folder.iterdir()) == sorted(NAMES)  # no temporary file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    state = state_of(stack, minted["id"])
    assert state["uses"] == 1
    assert state["redemptions"][0]["fetches"] == {"1": 1, "2": 1}
    shown = ok(stack, "show", minted["id"])
    assert "Files (2, one use for all)" in shown
    for name in NAMES:
        assert name in shown


def test_a_get_stopped_midway_is_finished_by_the_same_get(stack: Stack, tmp_path: Path) -> None:
    minted = json.loads(ok(stack, "link", *FILES, "--json"))
    blocked = tmp_path / NAMES[1]
    blocked.mkdir()  # the second file cannot be saved: get stops after the first
    stopped = run(stack, "get", minted["url"], "-o", str(tmp_path), "--quiet")
    assert stopped.exit_code != 0
    assert (tmp_path / NAMES[0]).read_bytes() == s3_bytes(stack, SMALL_SAMPLE)
    blocked.rmdir()
    again = run(stack, "get", minted["url"], "-o", str(tmp_path), "--quiet")
    assert again.exit_code == 0, again.output
    assert (tmp_path / NAMES[1]).read_bytes() == s3_bytes(stack, LARGE_SAMPLE)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(NAMES)
    assert state_of(stack, minted["id"])["uses"] == 1  # the second get spent nothing


def test_link_refuses_a_filename_for_several_files(stack: Stack) -> None:
    result = run(stack, "link", *FILES, "--filename", "x.pdf")
    assert result.exit_code == 2
    assert "own names" in result.output


def send_through(url: str, name: str, body: bytes) -> None:
    """What a browser does with the upload page: its form to S3, then the confirmation."""
    page = requests.get(url, headers={"Accept": BROWSER_ACCEPT}, timeout=TIMEOUT)
    action = re.search(r'<form id="upload" method="post" action="([^"]+)"', page.text)
    assert action is not None, page.text
    hidden = r'<input type="hidden" name="([^"]+)" value="([^"]*)">'
    fields = {html.unescape(k): html.unescape(v) for k, v in re.findall(hidden, page.text)}
    posted = requests.post(
        html.unescape(action.group(1)),
        data=fields,
        files={"file": (name, body, "application/pdf")},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert posted.status_code == 303, posted.text
    done = requests.get(posted.headers["Location"], headers={"Accept": "*/*"}, timeout=TIMEOUT)
    assert done.status_code == 201, done.text


def test_a_bundling_request_revoked_prints_one_link_that_get_saves(
    stack: Stack, tmp_path: Path
) -> None:
    made = json.loads(ok(stack, "request", "--files", "3", "--bundle", "--json"))
    bodies = {"one.pdf": b"%PDF one " * 40, "two.pdf": b"%PDF two " * 60}
    for name, body in bodies.items():
        send_through(made["url"], name, body)
    revoked = ok(stack, "requests", "revoke", made["id"])
    found = re.search(r"Link to every file received: (\S+)", revoked)
    assert found is not None, revoked
    saved = run(stack, "get", found.group(1), "-o", str(tmp_path), "--quiet")
    assert saved.exit_code == 0, saved.output
    for name, body in bodies.items():
        assert (tmp_path / name).read_bytes() == body
