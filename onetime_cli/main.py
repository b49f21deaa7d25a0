"""``onetime``: the operators' command-line tool for single-use download links.

Exit codes: 0 done; 1 the API answered with an error; 2 bad usage; 3 the URL
or API key is not configured; 4 the server could not be reached.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

import click

from onetime_cli import render
from onetime_cli.client import DEFAULT_TIMEOUT, ApiClient, ApiError, Unreachable, version
from onetime_cli.durations import DURATION
from onetime_cli.links import LINK

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Failure(click.ClickException):
    """The API answered with an error: exit 1, ``error: <message>`` on stderr."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", file=file, err=file is None)


class NotConfigured(Failure):
    """ONETIME_URL or ONETIME_API_KEY is missing or unusable."""

    exit_code = 3


class ServerUnreachable(Failure):
    """No answer: refused, timed out, or the host name is unknown."""

    exit_code = 4


def api_error_message(error: ApiError) -> str:
    message = error.message
    if error.status == 401:
        message += " Check ONETIME_API_KEY (or --api-key)."
    if error.status == 503 and error.retry_after:
        message += f" Try again in {error.retry_after} s."
    return message


class OnetimeGroup(click.Group):
    """Turns the client's failures into exit codes, without a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as error:
            raise Failure(api_error_message(error)) from error
        except Unreachable as error:
            raise ServerUnreachable(
                f"cannot reach the onetime server at {error.url}: {error.reason}."
            ) from error


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
    """Mint, inspect, extend, revoke and list onetime download links.

    \b
    Examples:
      export ONETIME_URL=https://onetime.example.com ONETIME_API_KEY=...
      url=$(onetime link "reports/q3.pdf" --ttl 2h)
      onetime show abcdefghijklmnop
      onetime list --file "reports/q3.pdf"

    Exit codes: 0 done, 1 the API refused (its message on stderr), 2 bad usage,
    3 ONETIME_URL or ONETIME_API_KEY not set, 4 the server could not be reached.
    """
    ctx.obj = Config(url, api_key, timeout)


@cli.command("link")
@click.argument("file")
@click.option(
    "--uses",
    type=click.IntRange(min=1),
    metavar="N",
    help="Downloads the link allows.  [default: 1]",
)
@click.option(
    "--ttl",
    type=DURATION,
    help="How long the link lives: 30s, 30m, 2h, 7d, 1w or seconds.  [default: 1d]",
)
@click.option("--filename", metavar="NAME", help="Save the download under this name.")
@click.option(
    "--no-confirm",
    is_flag=True,
    help="Let a browser's first visit download at once.  Without it a person presses "
    "Download first, so mail scanners and chat previews spend nothing.",
)
@click.option("--note", metavar="TEXT", help="A note for operators (show, list).")
@click.option("--json", "as_json", is_flag=True, help="Print the server's whole JSON answer.")
@pass_config
def link_command(
    config: Config,
    file: str,
    uses: int | None,
    ttl: int | None,
    filename: str | None,
    no_confirm: bool,
    note: str | None,
    as_json: bool,
) -> None:
    """Mint a download link for FILE (an S3 key) and print its URL.

    \b
    Examples:
      onetime link "reports/q3.pdf"
      onetime link "reports/q3.pdf" --uses 3 --ttl 7d --note "ticket 4711"
      onetime link "exports/data.zip" --filename data-2026.zip --no-confirm
      url=$(onetime link "reports/q3.pdf" --ttl 2h)
    """
    minted = config.client().create_link(
        file,
        uses=uses,
        ttl=ttl,
        filename=filename,
        confirm=False if no_confirm else None,
        note=note,
    )
    if as_json:
        render.print_json(minted)
    else:
        click.echo(minted.get("url"))


@cli.command("show")
@click.argument("link_id", metavar="ID", type=LINK)
@click.option("--json", "as_json", is_flag=True, help="Print the server's whole JSON answer.")
@pass_config
def show_command(config: Config, link_id: str, as_json: bool) -> None:
    """Show a link's state and who downloaded it, when and how.

    ID is the link's id; its URL or token works too (only the id is sent).

    \b
    Examples:
      onetime show abcdefghijklmnop
      onetime show "https://onetime.example.com/download?token=..."
      onetime show abcdefghijklmnop --json | jq .remaining
    """
    state = config.client().get_link(link_id)
    if as_json:
        render.print_json(state)
    else:
        render.show_state(render.console(), state)


@cli.command("revoke")
@click.argument("link_id", metavar="ID", type=LINK)
@click.option("--json", "as_json", is_flag=True, help="Print the link's state as JSON.")
@pass_config
def revoke_command(config: Config, link_id: str, as_json: bool) -> None:
    """Revoke a link now: it will not deliver again.  Revoking twice is harmless.

    \b
    Examples:
      onetime revoke abcdefghijklmnop
      onetime revoke "https://onetime.example.com/download?token=..."
    """
    state = config.client().revoke_link(link_id)
    if as_json:
        render.print_json(state)
    else:
        click.echo(render.revoked_line(state))


@cli.command("extend")
@click.argument("link_id", metavar="ID", type=LINK)
@click.option(
    "--ttl",
    type=DURATION,
    help="New lifetime, counted from now (not from the old expiry): 30m, 2h, 7d, 1w.",
)
@click.option(
    "--uses",
    type=click.IntRange(min=0),
    metavar="N",
    help="New total of downloads allowed (not added to the old one).",
)
@click.option("--note", metavar="TEXT", help="Replace the note.")
@click.option("--json", "as_json", is_flag=True, help="Print the link's state as JSON.")
@pass_config
def extend_command(
    config: Config,
    link_id: str,
    ttl: int | None,
    uses: int | None,
    note: str | None,
    as_json: bool,
) -> None:
    """Change a link's expiry, its number of uses or its note.

    Give at least one of --ttl, --uses and --note.

    \b
    Examples:
      onetime extend abcdefghijklmnop --ttl 1d         # expires a day from now
      onetime extend abcdefghijklmnop --uses 3         # 3 downloads in all
      onetime extend abcdefghijklmnop --ttl 7d --note "resent to ACME"
    """
    if ttl is None and uses is None and note is None:
        raise click.UsageError("give at least one of --ttl, --uses and --note.")
    state = config.client().update_link(link_id, ttl=ttl, max_uses=uses, note=note)
    if as_json:
        render.print_json(state)
    else:
        click.echo(render.updated_line(state))


@cli.command("list")
@click.option("--file", "file", required=True, metavar="KEY", help="The S3 key of the file.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Links per page.")
@click.option("--cursor", metavar="C", help="Continue from a previous page.")
@click.option("--all", "fetch_all", is_flag=True, help="Follow every page.")
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON answer.")
@pass_config
def list_command(
    config: Config,
    file: str,
    limit: int | None,
    cursor: str | None,
    fetch_all: bool,
    as_json: bool,
) -> None:
    """List the links minted for a file, newest first.

    \b
    Examples:
      onetime list --file "reports/q3.pdf"
      onetime list --file "reports/q3.pdf" --all
      onetime list --file "reports/q3.pdf" --json | jq -r '.links[].id'
    """
    client = config.client()
    if fetch_all:
        page: render.JsonObject = {
            "links": list(client.iter_links(file, limit=limit, cursor=cursor)),
            "next_cursor": None,
        }
    else:
        page = client.list_links(file, limit=limit, cursor=cursor)
    links: list[render.JsonObject] = page.get("links") or []
    next_cursor = page.get("next_cursor")
    if as_json:
        render.print_json(page)
        return
    if links:
        render.emit(render.console(), render.links_table(links))
    else:
        click.echo(f"No links for {file}." if cursor is None else "No more links.")
    if next_cursor:
        more = ["onetime", "list", "--file", file]
        more += ["--limit", str(limit)] if limit is not None else []
        more += ["--cursor", next_cursor]
        click.echo(f"More links: {shlex.join(more)}  (or --all)", err=True)
