"""The ``onetime`` command group: its options (URL, API key, timeout), the configuration
every command gets from them, and the exit codes the client's failures end it with.
onetime_cli/main.py adds the commands, one module per audience in onetime_cli/commands/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import click

from onetime_cli.client import DEFAULT_TIMEOUT, ApiClient, version
from onetime_cli.failures import FAILURES, NotConfigured, failure_for

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class OnetimeGroup(click.Group):
    """Turns the client's failures into exit codes, without a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FAILURES as error:
            raise failure_for(error) from error


@dataclass(frozen=True)
class Config:
    url: str | None
    api_key: str | None
    timeout: float

    def client(self) -> ApiClient:
        missing = [
            f"{name} (or {option})"
            for name, option, value in (
                ("ONETIME_URL", "--url", self.url),
                ("ONETIME_API_KEY", "--api-key", self.api_key),
            )
            if not value
        ]
        if missing:
            raise NotConfigured(
                f"{' and '.join(missing)} not set. Export ONETIME_URL (the API's base URL, "
                "e.g. https://onetime.example.com) and ONETIME_API_KEY."
            )
        assert self.url is not None and self.api_key is not None
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise NotConfigured(
                f"ONETIME_URL (or --url) must be an http:// or https:// URL, not {self.url!r}."
            )
        return ApiClient(self.url, self.api_key, timeout=self.timeout)


pass_config = click.make_pass_decorator(Config)


@click.group("onetime", cls=OnetimeGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--url",
    envvar="ONETIME_URL",
    show_envvar=True,
    metavar="URL",
    help="Base URL of the onetime API, e.g. https://onetime.example.com.",
)
@click.option(
    "--api-key",
    envvar="ONETIME_API_KEY",
    show_envvar=True,
    metavar="KEY",
    help="API key, sent as a bearer token. Prefer the variable: options show in ps.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for the server.",
)
@click.version_option(version(), prog_name="onetime")
@click.pass_context
def cli(ctx: click.Context, url: str | None, api_key: str | None, timeout: float) -> None:
    """Share files, and mint, inspect, extend, revoke, refund and list onetime download
    links; ask someone for files with an upload link; download one as a customer would.

    \b
    Examples:
      export ONETIME_URL=https://onetime.example.com ONETIME_API_KEY=...
      url=$(onetime link "reports/q3.pdf" --ttl 2h)
      onetime share ./report.pdf --email customer@example.com
      onetime show abcdefghijklmnop
      onetime refund abcdefghijklmnop
      onetime resend abcdefghijklmnop
      onetime list --file "reports/q3.pdf"
      onetime get "$url" -o ~/Downloads
      onetime request --files 3 --type application/pdf --email customer@example.com
      onetime requests show abcdefghijklmnop

    Exit codes: 0 done, 1 the API refused (its message on stderr), 2 bad usage
    (for get: a file already there), 3 ONETIME_URL or ONETIME_API_KEY not set
    (get needs neither), 4 the server could not be reached (for get: or the
    download broke off).

    Control and format characters in what the server sends (a user agent, a
    note) are shown as escapes such as \\x1b or \\u202e, never sent to the
    terminal; --json writes them as JSON escapes.
    """
    ctx.obj = Config(url, api_key, timeout)
