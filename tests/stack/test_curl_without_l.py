"""Issue 22, item 1: a forgotten ``-L`` loses no link.

A real ``curl`` process against the local stack.  ``curl -OJ -d '' URL`` (and ``curl -OJ
URL`` on a ``confirm=false`` link) spends the use and gets the 302; without ``-L`` curl
saves its body.  That body must not land under the file's real name, and the one command
it prints must fetch the file, byte-identical, within the download session: no second use.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import helpers
from tools.samples import LARGE_SAMPLE
from tools.stack import Stack

TIMEOUT = 30
REAL_NAME = Path(LARGE_SAMPLE).name  # dataset-5MiB.zip
# The command the body prints: curl, the session's header, the token's POST, the link.
COMMAND = re.compile(r"curl -fOJL -H 'X-Download-Session: [0-9a-f]{16}\.[\w-]{43}' -d '' '[^']+'")


def mint(stack: Stack, **params: str) -> dict[str, Any]:
    return helpers.mint(stack, LARGE_SAMPLE, **params)


def uses(stack: Stack, link_id: str) -> int:
    return int(helpers.item(stack, link_id)["uses"]["N"])


def curl(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", str(TIMEOUT), *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=TIMEOUT + 5,
        check=False,
    )


@pytest.mark.parametrize(
    ("confirm", "flags"),
    [("true", ("-OJ", "-d", "")), ("false", ("-OJ",))],
    ids=["post-without-L", "direct-link-get-without-L"],
)
def test_curl_without_L_saves_no_fake_file_and_prints_the_command_that_recovers(
    stack: Stack, tmp_path: Path, confirm: str, flags: tuple[str, ...]
) -> None:
    minted = mint(stack, confirm=confirm)
    first = tmp_path / "first"
    first.mkdir()

    forgot = curl(first, *flags, minted["url"])

    assert forgot.returncode == 0, forgot.stderr
    assert uses(stack, minted["id"]) == 1  # the use is spent: that is what -d '' asks for
    saved = list(first.iterdir())
    assert [path.name for path in saved] != [REAL_NAME]
    assert not (first / REAL_NAME).exists()  # no fake file under the real name
    assert len(saved) == 1
    body = saved[0].read_text()
    assert "\n" not in body.strip()  # one line
    message = json.loads(body)["message"]
    found = COMMAND.search(message)
    assert found is not None, message
    command = shlex.split(found.group(0))
    assert command[-1] == minted["url"]

    # Somewhere else, as a person would paste it: the file, and no second use.
    second = tmp_path / "second"
    second.mkdir()
    recovered = subprocess.run(
        command, cwd=second, capture_output=True, timeout=TIMEOUT + 5, check=False
    )
    assert recovered.returncode == 0, recovered.stderr
    expected = stack.client("s3").get_object(Bucket=stack.bucket, Key=LARGE_SAMPLE)["Body"].read()
    assert (second / REAL_NAME).read_bytes() == expected
    assert uses(stack, minted["id"]) == 1


def test_a_redirect_carries_no_attachment_header(stack: Stack) -> None:
    """Only the file is an attachment: the 302's body is a note, never a download."""
    minted = mint(stack)
    answer = helpers.post_token(stack, minted["url"], "*/*")
    assert answer.status_code == 302
    assert "Content-Disposition" not in answer.headers
    # The session's value is the client's own, and the body repeats only that value.
    assert answer.headers["X-Download-Session"] in answer.json()["message"]
