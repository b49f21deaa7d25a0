"""Issue 25: ``onetime share`` sends a file above the multipart threshold in parts, is
stopped by a real Ctrl-C (SIGINT) midway, and ``--resume`` sends the rest: the object in
S3 is the file, byte for byte, and one link is minted, to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.helpers import API_KEY, TIMEOUT
from tools import ROOT
from tools.stack import Stack

MiB = 1024 * 1024
SIZE = 40 * MiB + 12_345  # 9 parts of 5 MiB (the stack's part size), the last one short
PARTS = 9
POLL = 0.005


def onetime(stack: Stack, cache: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("ONETIME_") and "proxy" not in name.lower()
    }
    env.update(ONETIME_URL=stack.base_url, ONETIME_API_KEY=API_KEY, XDG_CACHE_HOME=str(cache))
    return subprocess.Popen(
        [sys.executable, "-m", "onetime_cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def held(stack: Stack, ticket: str) -> list[dict[str, Any]]:
    answer = requests.get(
        f"{stack.base_url}/uploads/parts",
        params={"upload": ticket},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["held"]
    return found


def test_share_resumes_after_a_real_ctrl_c_and_the_bytes_are_identical(
    stack: Stack, tmp_path: Path
) -> None:
    data = os.urandom(SIZE)
    big = tmp_path / "Größe 40 MiB.bin"
    big.write_bytes(data)
    cache = tmp_path / "cache"
    first = onetime(stack, cache, "share", str(big))
    try:
        deadline = time.monotonic() + TIMEOUT
        states: list[Path] = []
        while not states and first.poll() is None and time.monotonic() < deadline:
            states = list((cache / "onetime" / "uploads").glob("*.json"))
            time.sleep(POLL)
        assert states, first.communicate()
        ticket = json.loads(states[0].read_text())["upload"]
        while not held(stack, ticket) and time.monotonic() < deadline:
            time.sleep(POLL)
        first.send_signal(signal.SIGINT)  # midway: some parts are in S3, not all
        out, err = first.communicate(timeout=TIMEOUT)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 130, err
    assert out == ""
    assert "--resume" in err and "kept for a day" in err
    before = {p["number"]: p["etag"] for p in held(stack, ticket)}
    assert 0 < len(before) < PARTS, "the Ctrl-C came after every part was sent"

    second = onetime(stack, cache, "share", str(big), "--resume")
    out, err = second.communicate(timeout=TIMEOUT * 4)
    assert second.returncode == 0, err
    assert out.startswith(stack.base_url + "/download?token=")
    assert not list((cache / "onetime" / "uploads").glob("*.json"))  # forgotten when done
    token = out.strip().split("token=", 1)[1]
    link = requests.get(
        f"{stack.base_url}/links/{token[:16]}",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=TIMEOUT,
    ).json()
    s3 = stack.client("s3")
    stored = s3.get_object(Bucket=stack.bucket, Key=link["file"])["Body"].read()
    assert stored == data
    assert link["file"].endswith("/Größe 40 MiB.bin") and link["size"] == SIZE


def test_resume_with_nothing_to_resume_starts_anew(stack: Stack, tmp_path: Path) -> None:
    small = tmp_path / "small.pdf"
    small.write_bytes(b"%PDF-1.7 " * 100)
    process = onetime(stack, tmp_path / "cache", "share", str(small), "--resume")
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
    assert "No interrupted upload" in err and out.startswith(stack.base_url)
