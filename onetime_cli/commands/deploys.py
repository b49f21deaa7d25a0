"""The deploy check: ``smoke`` runs a deployed stack end to end (onetime_cli/smoke.py)."""

from __future__ import annotations

import click

from onetime_cli import downloads, render, smoke
from onetime_cli.failures import Failure
from onetime_cli.group import Config, pass_config


@click.command("smoke")
@click.option(
    "--file",
    "file",
    required=True,
    metavar="KEY",
    help="The S3 key of a file in the bucket to mint the test link to.",
)
@pass_config
def smoke_command(config: Config, file: str) -> None:
    """Check a deployed stack end to end, one line per step: health (GET /health
    answers 200), mint (a 2-use, 10-minute link to FILE), head (a HEAD of the link
    spends nothing), redeem (the token POSTed as `onetime get` does; the bytes'
    count must match the size the mint reported, and their SHA-256 is printed; an
    MD5 ETag is compared), revoke, and gone (the link answers 410).  Then: email (a
    link with a recipient check mailed to SES's mailbox simulator; SES must accept it,
    and the check reads the SSM secret), landing (its page in a browser spends
    nothing), press (its button, the check answered, starts the download of the same
    bytes), stream (a link without a landing page streams the file to a browser), and
    request (a file request's page, a presigned POST of a small text file to S3, the
    confirmation, and the link it makes).  Everything the run makes is revoked.

    The first failure ends the run with exit 1, naming its step; a link minted by
    a failed run is revoked.  Neither the API key nor the link's token is printed.
    Also `make smoke URL=... KEY=... FILE=...`.

    \b
    Examples:
      ONETIME_URL=https://onetime.example.com ONETIME_API_KEY=... \\
        onetime smoke --file "reports/q3.pdf"
    """
    client = config.client()
    assert config.url is not None and config.api_key is not None  # client() checked them
    failed = smoke.run(
        client, config.url, config.api_key, file, timeout=config.timeout, say=render.echo
    )
    if failed is not None:
        raise Failure(f"the smoke test failed at step {failed}.")
    render.echo(f"passed {len(smoke.STEPS)} steps against {downloads.origin_of(config.url)}")
