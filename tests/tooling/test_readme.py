"""The README's quick start, run as a new user would run it: every shell block marked
``<!-- runnable -->`` runs against the local stack (its address and key put in place of
`make serve`'s defaults), so the guide cannot drift from the product."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.helpers import ROOT
from tools.samples import LARGE_SAMPLE
from tools.stack import Stack

README = (ROOT / "README.md").read_text(encoding="utf-8")
RUNNABLE = re.compile(r"<!-- runnable -->\n```sh\n(.*?)```", re.S)


def blocks() -> list[str]:
    return RUNNABLE.findall(README)


def run(block: str, stack: Stack, where: Path) -> subprocess.CompletedProcess[str]:
    script = (
        block.replace("http://127.0.0.1:8000", stack.base_url)
        .replace("onetime-dev-key", stack.api_key)
        .replace('PATH="$PWD/.venv/bin:$PATH"', f'PATH="{ROOT}/.venv/bin:$PATH"')
    )
    # `make outbox` as the reader types it, from the checkout, finding this stack's moto.
    preamble = f'make() {{ command make --no-print-directory -C "{ROOT}" "$@"; }}\n'
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", preamble + script],
        cwd=where,
        env={"PATH": "/usr/bin:/bin", "HOME": str(where), "S3_PORT": str(stack.s3_port)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_readme_has_runnable_blocks() -> None:
    assert len(blocks()) >= 2


def test_the_first_five_minutes_work_as_written(stack: Stack, tmp_path: Path) -> None:
    first, email = blocks()[:2]
    assert LARGE_SAMPLE in first
    minted = run(first, stack, tmp_path)
    assert minted.returncode == 0, minted.stderr
    stored = stack.client("s3").get_object(Bucket=stack.bucket, Key=LARGE_SAMPLE)
    expected = stored["Body"].read()
    (got,) = (tmp_path / "first").iterdir()
    (curled,) = (tmp_path / "second").iterdir()
    assert got.read_bytes() == expected and curled.read_bytes() == expected
    assert got.name == curled.name == Path(LARGE_SAMPLE).name
    assert "2 of 2 used" in minted.stdout  # onetime show: both uses, one per client
    assert "onetime-cli/" in minted.stdout and "curl/" in minted.stdout
    mailed = run(first.split("\n", 1)[0] + "\n" + email, stack, tmp_path)
    assert mailed.returncode == 0, mailed.stderr
    assert "customer@example.com" in mailed.stdout
