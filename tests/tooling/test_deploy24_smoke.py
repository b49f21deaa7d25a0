"""Issue 24, item 7: `make smoke` checks more than the redirect: an emailed mint (SES
accepts it), a checked link (the SSM secret), the landing page and its button, a streamed
download, and a file request end to end, against the local stack; nothing it made stays
live, and it prints no secret."""

from __future__ import annotations

import re

import requests
from click.testing import CliRunner, Result

from onetime_cli import smoke as smoke_module
from onetime_cli.main import cli
from tools.samples import SMALL_SAMPLE, sample_pdf
from tools.stack import Stack

TIMEOUT = 30
STEP_LINE = re.compile(r"^(ok|failed)\s+(\w+)\s+(.+)$")


def run_smoke(stack: Stack) -> Result:
    env = {"ONETIME_URL": stack.base_url, "ONETIME_API_KEY": stack.api_key, "NO_COLOR": "1"}
    return CliRunner().invoke(cli, ["smoke", "--file", SMALL_SAMPLE], env=env)


def details(output: str) -> dict[str, str]:
    found = (STEP_LINE.match(line) for line in output.splitlines())
    return {m.group(2): m.group(3) for m in found if m is not None and m.group(1) == "ok"}


def api(stack: Stack, path: str) -> dict[str, object]:
    response = requests.get(
        stack.base_url + path,
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=TIMEOUT,
    )
    response.raise_for_status()
    found: dict[str, object] = response.json()
    return found


def test_the_smoke_covers_email_checks_pages_streams_and_file_requests(stack: Stack) -> None:
    result = run_smoke(stack)
    assert result.exit_code == 0, result.output
    seen = details(result.stdout)
    assert list(seen) == list(smoke_module.STEPS)
    assert (
        f"emailed to {smoke_module.SIMULATOR} with a recipient check; SES message"
        in (seen["email"])
    )
    assert "the landing page (200," in seen["landing"] and "nothing spent" in seen["landing"]
    body = sample_pdf()
    assert f"{len(body)} bytes" in seen["press"] and "the check answered" in seen["press"]
    assert f"{len(body)} bytes" in seen["stream"] and "streamed (application/pdf" in seen["stream"]
    assert f"delivered the {len(smoke_module.UPLOAD_BODY)} bytes uploaded" in seen["request"]

    # What it made is revoked: the emailed link spent its use, the request is withdrawn.
    emailed = seen["email"].split()[1]
    assert api(stack, f"/links/{emailed}")["status"] == "revoked"
    assert api(stack, f"/links/{emailed}")["uses"] == 1
    request_id = seen["request"].split()[1].rstrip(":")
    assert api(stack, f"/requests/{request_id}")["status"] == "revoked"
    # No secret: no key, no token, no presigned URL (the press step fetched one).
    assert stack.api_key not in result.output and "token=" not in result.output
    assert "X-Amz-Signature" not in result.output and "Signature=" not in result.output
