"""``onetime smoke`` and ``make smoke``: the post-deploy check, against the local stack."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Mapping

import pytest
import requests
from click.testing import CliRunner, Result

from onetime_cli import smoke as smoke_module
from onetime_cli.main import cli
from tests.helpers import ROOT
from tools.samples import SMALL_SAMPLE, sample_pdf
from tools.stack import Stack

STEP_LINE = re.compile(r"^(ok|failed)\s+(\w+)\s+(.+)$")
TIMEOUT = 30


def smoke(stack: Stack, file: str, key: str | None = None) -> Result:
    env: Mapping[str, str | None] = {
        "ONETIME_URL": stack.base_url,
        "ONETIME_API_KEY": key if key is not None else stack.api_key,
        "NO_COLOR": "1",
    }
    return CliRunner().invoke(cli, ["smoke", "--file", file], env=env)


def steps(output: str) -> list[tuple[str, str, str]]:
    """(outcome, step, detail) of each step line."""
    found = (STEP_LINE.match(line) for line in output.splitlines())
    return [(m.group(1), m.group(2), m.group(3)) for m in found if m is not None]


def tokens_of(stack: Stack, file: str) -> list[str]:
    """The ids of every link to ``file`` (a token starts with its link's id)."""
    response = requests.get(
        f"{stack.base_url}/links",
        params={"file": file},
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=TIMEOUT,
    )
    response.raise_for_status()
    return [link["id"] for link in response.json()["links"]]


def test_a_working_stack_passes_every_step(stack: Stack) -> None:
    result = smoke(stack, SMALL_SAMPLE)
    assert result.exit_code == 0, result.output
    found = steps(result.stdout)
    assert [(outcome, step) for outcome, step, _ in found] == [
        ("ok", step) for step in smoke_module.STEPS
    ]
    detail = {step: text for _, step, text in found}
    body = sample_pdf()
    assert f"({len(body)} bytes," in detail["mint"]
    assert "X-Remaining-Uses 2" in detail["head"] and "0 uses" in detail["head"]
    assert f"{len(body)} bytes, SHA-256 {hashlib.sha256(body).hexdigest()}" in detail["redeem"]
    assert "MD5 matches the ETag" in detail["redeem"]
    assert "410" in detail["gone"]
    assert result.stdout.splitlines()[-1].startswith(
        f"passed {len(smoke_module.STEPS)} steps against {stack.base_url}"
    )


def test_the_run_leaves_its_link_revoked_with_one_use_spent(stack: Stack) -> None:
    result = smoke(stack, SMALL_SAMPLE)
    assert result.exit_code == 0, result.output
    link_id = next(text for _, step, text in steps(result.stdout) if step == "mint").split()[1]
    state = requests.get(
        f"{stack.base_url}/links/{link_id}",
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=TIMEOUT,
    ).json()
    assert (state["status"], state["uses"], state["note"]) == ("revoked", 1, "onetime smoke test")


def test_a_wrong_key_fails_at_mint_with_exit_1(stack: Stack) -> None:
    result = smoke(stack, SMALL_SAMPLE, key="not-the-key")
    assert result.exit_code == 1
    found = steps(result.stdout)
    assert [(outcome, step) for outcome, step, _ in found] == [("ok", "health"), ("failed", "mint")]
    assert "401" in found[-1][2]
    assert "failed at step mint" in result.stderr
    assert "not-the-key" not in result.output


def test_a_missing_file_fails_at_mint_and_mints_nothing(stack: Stack) -> None:
    missing = "samples/no-such-file.pdf"
    result = smoke(stack, missing)
    assert result.exit_code == 1
    found = steps(result.stdout)
    assert [(outcome, step) for outcome, step, _ in found] == [("ok", "health"), ("failed", "mint")]
    assert "404" in found[-1][2]
    assert "failed at step mint" in result.stderr
    assert tokens_of(stack, missing) == []


def test_the_output_holds_neither_the_key_nor_a_token(stack: Stack) -> None:
    before = set(tokens_of(stack, SMALL_SAMPLE))
    result = smoke(stack, SMALL_SAMPLE)
    assert result.exit_code == 0, result.output
    made = set(tokens_of(stack, SMALL_SAMPLE)) - before
    assert len(made) == 3  # the redirect's link, the emailed one, the streamed one
    assert stack.api_key not in result.output
    # A token is the link's id and then its secret: the id alone may be shown, and
    # nothing after it may look like a token's secret part.
    assert "token=" not in result.output
    for link_id in made:
        assert not re.search(re.escape(link_id) + r"[A-Za-z0-9_-]", result.output)


def test_no_file_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["smoke"], env={"ONETIME_URL": None, "ONETIME_API_KEY": None})
    assert result.exit_code == 2
    assert "--file" in result.stderr


def make_smoke(
    variables: list[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # -o: the tests run with the environment already installed; never reinstall it here.
    return subprocess.run(
        ["make", "-s", "-o", ".venv/.installed", "smoke", *variables],
        cwd=ROOT,
        env={**os.environ, "ONETIME_URL": "", "ONETIME_API_KEY": "", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_smoke_runs_the_check_and_never_echoes_the_key(stack: Stack) -> None:
    done = make_smoke([f"URL={stack.base_url}", f"KEY={stack.api_key}", f"FILE={SMALL_SAMPLE}"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert [step for _, step, _ in steps(done.stdout)] == list(smoke_module.STEPS)
    assert stack.api_key not in done.stdout + done.stderr


def test_make_smoke_needs_a_file(stack: Stack) -> None:
    done = make_smoke([f"URL={stack.base_url}", f"KEY={stack.api_key}"])
    assert done.returncode != 0
    assert "FILE=" in done.stderr
    assert steps(done.stdout) == []


def test_make_smoke_fails_with_the_step(stack: Stack) -> None:
    key = "not-the-key"
    done = make_smoke([f"URL={stack.base_url}", f"KEY={key}", f"FILE={SMALL_SAMPLE}"])
    assert done.returncode != 0
    assert steps(done.stdout)[-1][:2] == ("failed", "mint")
    assert key not in done.stdout + done.stderr


def test_a_failure_after_the_mint_revokes_the_link(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_head(run: smoke_module.Run) -> str:
        raise smoke_module.StepFailed("HEAD /download answered 500, not 200")

    monkeypatch.setattr(smoke_module, "head", broken_head)
    before = set(tokens_of(stack, SMALL_SAMPLE))
    result = smoke(stack, SMALL_SAMPLE)
    assert result.exit_code == 1
    assert [(outcome, step) for outcome, step, _ in steps(result.stdout)] == [
        ("ok", "health"),
        ("ok", "mint"),
        ("failed", "head"),
        ("ok", "cleanup"),
    ]
    assert "failed at step head" in result.stderr
    (link_id,) = set(tokens_of(stack, SMALL_SAMPLE)) - before
    state = requests.get(
        f"{stack.base_url}/links/{link_id}",
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=TIMEOUT,
    ).json()
    assert (state["status"], state["uses"]) == ("revoked", 0)
