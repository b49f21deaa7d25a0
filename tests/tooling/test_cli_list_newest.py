"""Issue 22, item 9: ``onetime list`` with neither ``--file`` nor ``--email`` shows the
newest links, against the real stack (dynalite, moto server, chalice local)."""

from __future__ import annotations

import json
from typing import Any

import requests
from click.testing import CliRunner, Result

from onetime_cli.main import cli
from tools.samples import LARGE_SAMPLE, SMALL_SAMPLE
from tools.stack import Stack


def run(stack: Stack, *args: str) -> Result:
    env = {
        "ONETIME_URL": stack.base_url,
        "ONETIME_API_KEY": stack.api_key,
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def mint(stack: Stack, key: str) -> dict[str, Any]:
    response = requests.post(
        f"{stack.base_url}/links",
        json={"file": key},
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    minted: dict[str, Any] = response.json()
    return minted


def test_list_alone_shows_the_newest_links(stack: Stack) -> None:
    older = mint(stack, SMALL_SAMPLE)["id"]
    newer = mint(stack, LARGE_SAMPLE)["id"]
    result = run(stack, "list", "--json")
    assert result.exit_code == 0, result.output
    listed = [link["id"] for link in json.loads(result.stdout)["links"]]
    assert listed.index(newer) < listed.index(older)
    table = run(stack, "list", "--limit", "2")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert newer in lines[2] and older in lines[3], table.stdout
    # More links may follow: the way on is printed, without --file or --email.
    assert "More links: onetime list --limit 2 --cursor " in table.stderr


def test_list_refuses_both_file_and_email(stack: Stack) -> None:
    result = run(stack, "list", "--file", SMALL_SAMPLE, "--email", "a@example.com")
    assert result.exit_code == 2
    assert "give at most one of --file and --email" in result.output
