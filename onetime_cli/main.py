"""``onetime``: the operators' command-line tool for single-use download links
(and ``onetime get``, the customer's download).

Exit codes: 0 done; 1 the API answered with an error; 2 bad usage (or, for
``get``, a file already there); 3 the URL or API key is not configured; 4 the
server could not be reached (or, for ``get``, the transfer broke off).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar
from urllib.parse import urlsplit

import click

from onetime_cli import downloads, render, smoke, uploads
from onetime_cli.client import (
    DEFAULT_TIMEOUT,
    ApiClient,
    ApiError,
    Unreachable,
    next_cursor,
    version,
)
from onetime_cli.durations import DURATION
from onetime_cli.links import LINK, REQUEST
from onetime_cli.sizes import SIZE

F = TypeVar("F", bound=Callable[..., Any])
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Failure(click.ClickException):
    """The API answered with an error: exit 1, ``error: <message>`` on stderr."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        # The message carries the server's (or S3's) words: shown through the one rule.
        line = render.printable(f"error: {self.format_message()}")
        click.echo(line, file=file, err=file is None)


class NotConfigured(Failure):
    """ONETIME_URL or ONETIME_API_KEY is missing or unusable."""

    exit_code = 3


class ServerUnreachable(Failure):
    """No answer: refused, timed out, or the host name is unknown."""

    exit_code = 4


class Occupied(Failure):
    """``get`` will not replace what is already at the path it saves to."""

    exit_code = 2


# What a customer can do once the use may be gone.
MAY_BE_SPENT = (
    "The link's use may be spent: try `onetime get` again, or ask the sender for a new link."
)


def retry_hint(error: ApiError) -> str:
    if error.status in (429, 503) and error.retry_after:
        return f" Try again in {error.retry_after} s."
    return ""


def api_error_message(error: ApiError) -> str:
    message = error.message
    if error.status == 401:
        message += " Check ONETIME_API_KEY (or --api-key)."
    return message + retry_hint(error)


def failure_for(error: Exception, then: str = "") -> Failure:
    """What a failure of the API, of S3 or of the local file tells the operator
    (followed by ``then``, a sentence on what to do next)."""
    after = f" {then}" if then else ""
    if isinstance(error, ApiError):
        return Failure(api_error_message(error) + after)
    if isinstance(error, downloads.Lost):
        return ServerUnreachable(
            f"cannot reach {error.what} at {error.url}: {error.reason}. {MAY_BE_SPENT}{after}"
        )
    if isinstance(error, Unreachable):
        return ServerUnreachable(
            f"cannot reach {error.what} at {error.url}: {error.reason}.{after}"
        )
    if isinstance(error, uploads.StorageError):
        return Failure(
            f"S3 refused the upload ({error.status} {error.code}): {error.message}{after}"
        )
    if isinstance(error, uploads.FileChanged):
        return Failure(
            f"the file changed while it was being uploaded: it ended after {error.got} of "
            f"{error.expected} bytes.  Nothing was shared; try again.{after}"
        )
    if isinstance(error, downloads.BrokenTransfer):
        of = "" if error.expected is None else f" of {error.expected:,}"
        return ServerUnreachable(
            f"the download from {error.origin} broke off after {error.got:,}{of} bytes "
            f"({error.reason}); nothing was saved. {MAY_BE_SPENT}{after}"
        )
    if isinstance(error, downloads.Unfetched):
        return Failure(
            f"{error.origin} did not send the file ({error.status}): {error.message} "
            f"{MAY_BE_SPENT}{after}"
        )
    raise TypeError(f"not a failure of onetime: {error!r}")


FAILURES = (
    ApiError,
    Unreachable,
    uploads.StorageError,
    uploads.FileChanged,
    downloads.BrokenTransfer,
    downloads.Unfetched,
)


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


def mint_options(filename_help: str) -> Callable[[F], F]:
    """The options of a new link, shared by ``link`` and ``share``."""
    options = [
        click.option(
            "--uses",
            type=click.IntRange(min=1),
            metavar="N",
            help="Downloads the link allows.  [default: 1]",
        ),
        click.option(
            "--ttl",
            type=DURATION,
            help="How long the link lives: 30s, 30m, 2h, 7d, 1w or seconds.  [default: 1d]",
        ),
        click.option("--filename", metavar="NAME", help=filename_help),
        click.option(
            "--no-confirm",
            is_flag=True,
            help="Let a browser's first visit download at once.  Without it a person presses "
            "Download first, so mail scanners and chat previews spend nothing.",
        ),
        click.option("--note", metavar="TEXT", help="A note for operators (show, list)."),
        click.option(
            "--email",
            metavar="ADDR",
            help="Email the link to this one address (the URL is still printed).",
        ),
        click.option(
            "--subject",
            metavar="TEXT",
            help="The email's subject.  [default: Your download: <filename>]",
        ),
        click.option("--message", metavar="TEXT", help="A message to the recipient in the email."),
        click.option(
            "--json", "as_json", is_flag=True, help="Print the server's whole JSON answer."
        ),
    ]

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def check_mail_options(email: str | None, subject: str | None, message: str | None) -> None:
    if email is None and (subject is not None or message is not None):
        raise click.UsageError("--subject and --message need --email.")


def print_minted(
    minted: render.JsonObject,
    email: str | None,
    as_json: bool,
    *,
    quiet: bool = False,
    extra: render.JsonObject | None = None,
) -> None:
    """The URL (or the JSON answer) on stdout; that it was emailed on stderr,
    so ``url=$(onetime link ... --email ...)`` still captures just the URL."""
    if as_json:
        render.print_json({**minted, **(extra or {})})
    else:
        render.echo(str(minted.get("url") or ""))
    if email is not None and not quiet:
        if minted.get("email") == "uncertain":
            render.echo(f"Sent to {email}, but uncertain: {minted.get('message')}", err=True)
        else:
            render.echo(f"Emailed to {email} (message id {minted.get('message_id')}).", err=True)


def check_options(command: F) -> F:
    """The recipient check of a new link, and who is told of its download (``link``)."""
    command = click.option(
        "--notify",
        metavar="ADDR",
        help="An address the server keeps with the link, to tell of its download.",
    )(command)
    return click.option(
        "--verify",
        type=click.Choice(["email", "code"]),
        help="Ask the person who opens the link who they are before a download counts: the "
        "address it was emailed to (email, needs --email), or a 6-digit code printed "
        "once here, for you to pass on by another channel (code).  Five wrong answers "
        "lock the link; `onetime unlock` undoes that.",
    )(command)


def check_verify_options(verify: str | None, email: str | None, no_confirm: bool) -> None:
    # The server refuses these too; a usage error says which option, and sends nothing.
    if verify == "email" and email is None:
        raise click.UsageError("--verify email needs --email: the address the person types.")
    if verify is not None and no_confirm:
        raise click.UsageError(
            "--verify needs a person to press Download: it cannot go with --no-confirm."
        )


def print_code(minted: render.JsonObject) -> None:
    """A ``verify: code`` link's code, on stderr (stdout stays the URL alone): the server
    gives it this once and keeps only a digest of it."""
    code = minted.get("code")
    if code:
        render.echo(
            f"Code: {code}  (the person types it to download; pass it on by another "
            "channel than the link. It is shown only this once.)",
            err=True,
        )


@cli.command("link")
@click.argument("file")
@mint_options(filename_help="Save the download under this name.")
@check_options
@pass_config
def link_command(
    config: Config,
    file: str,
    uses: int | None,
    ttl: int | None,
    filename: str | None,
    no_confirm: bool,
    note: str | None,
    email: str | None,
    subject: str | None,
    message: str | None,
    as_json: bool,
    verify: str | None,
    notify: str | None,
) -> None:
    """Mint a download link for FILE (an S3 key) and print its URL.

    With --email the server also emails the link to that address; the URL is
    still printed, and "Emailed to ..." goes to stderr.

    With --verify the link's page asks for the address it was emailed to
    (email) or for a code (code) before Download counts; the code goes to
    stderr ("Code: ...") and is in --json's "code".  A wrong answer spends
    nothing; the fifth locks the link until `onetime unlock ID`.

    \b
    Examples:
      onetime link "reports/q3.pdf"
      onetime link "reports/q3.pdf" --uses 3 --ttl 7d --note "ticket 4711"
      onetime link "exports/data.zip" --filename data-2026.zip --no-confirm
      onetime link "reports/q3.pdf" --email customer@example.com --message "As promised."
      onetime link "reports/q3.pdf" --email customer@example.com --verify email
      url=$(onetime link "reports/q3.pdf" --verify code)   # the code on stderr
      url=$(onetime link "reports/q3.pdf" --ttl 2h)
    """
    check_mail_options(email, subject, message)
    check_verify_options(verify, email, no_confirm)
    minted = config.client().create_link(
        file,
        uses=uses,
        ttl=ttl,
        filename=filename,
        confirm=False if no_confirm else None,
        note=note,
        email=email,
        subject=subject,
        message=message,
        verify=verify,
        notify=notify,
    )
    print_minted(minted, email, as_json)
    print_code(minted)


@cli.command("share")
@click.argument(
    "path",
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
)
@mint_options(filename_help="Upload and save the download under this name.  [default: FILE's name]")
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="No progress bar and no notes on stderr, only errors.  (There is no progress bar "
    "either when stderr is not a terminal.)",
)
@pass_config
def share_command(
    config: Config,
    path: Path,
    uses: int | None,
    ttl: int | None,
    filename: str | None,
    no_confirm: bool,
    note: str | None,
    email: str | None,
    subject: str | None,
    message: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Upload a local FILE and print a download link to it.

    The file goes straight to S3 through a form the server signs for exactly
    its size and type (valid 10 minutes; the type is guessed from the name),
    streamed with a progress bar on stderr; then a link is minted as with
    `onetime link`.  Files above 5 GiB
    are not supported: S3 takes at most 5 GiB in one form upload, and larger
    files would need a multipart upload, which a presigned POST form cannot do.

    \b
    Examples:
      onetime share "Prüfbericht 2026.pdf"
      onetime share scan.pdf --filename "Contract (signed).pdf" --ttl 7d
      onetime share data.zip --email customer@example.com --message "Here you go."
      url=$(onetime share report.pdf --quiet)
    """
    check_mail_options(email, subject, message)
    client = config.client()
    name = filename if filename is not None else path.name
    content_type = uploads.guess_content_type(name)
    try:
        file = path.open("rb")
    except OSError as error:
        raise click.BadParameter(
            f"cannot read {click.format_filename(path)}: {error.strerror}.", param_hint="FILE"
        ) from error
    with file:
        size = os.fstat(file.fileno()).st_size
        try:
            form = client.create_upload(name, content_type, size)
        except ApiError as error:
            if error.code == "invalid_size":
                error.message += f" {click.format_filename(path)} is {render.size(size)}."
            raise
        key, url, fields = form.get("key"), form.get("url"), form.get("fields")
        if not (isinstance(key, str) and isinstance(url, str) and isinstance(fields, dict)):
            raise Failure("The server's upload form lacks its key, url or fields.")
        with render.upload_progress(f"Uploading {name}", size, enabled=not quiet) as advance:
            uploads.post_form(
                url,
                fields,
                file,
                filename=name,
                content_type=content_type,
                size=size,
                timeout=config.timeout,
                on_progress=advance,
            )
    try:
        minted = client.create_link(
            key,
            uses=uses,
            ttl=ttl,
            confirm=False if no_confirm else None,
            note=note,
            email=email,
            subject=subject,
            message=message,
        )
    except (ApiError, Unreachable) as error:
        then = f"The file is uploaded as {key}; mint a link to it with: "
        then += f"onetime link {shlex.quote(key)}"
        raise failure_for(error, then) from error
    print_minted(minted, email, as_json, quiet=quiet, extra={"key": key})


@cli.command("show")
@click.argument("link_id", metavar="ID", type=LINK)
@click.option("--json", "as_json", is_flag=True, help="Print the server's whole JSON answer.")
@pass_config
def show_command(config: Config, link_id: str, as_json: bool) -> None:
    """Show a link's state and who downloaded it, when and how.

    Each redemption has an id (for `onetime refund --redemption`), and is marked
    when it looks automated (a previewer's user agent, or too soon after the
    link was made) or was refunded.  Re-deliveries counts how often the
    client that redeemed got the file again through its download session
    (a resumed or repeated download, no use spent), and says when last.
    Below: the visits that spent nothing
    (counts by kind, and the most recent ones) and the refunds.  The kinds:
    page (the landing page, shown to a browser), head (a HEAD request),
    preview (a GET from anything but a browser), bot (a known previewer or
    scanner), too_fast (Download pressed faster than a person could).

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
        render.echo(render.revoked_line(state))


@cli.command("unlock")
@click.argument("link_id", metavar="ID", type=LINK)
@click.option("--json", "as_json", is_flag=True, help="Print the link's state as JSON.")
@pass_config
def unlock_command(config: Config, link_id: str, as_json: bool) -> None:
    """Unlock a link that wrong answers to its recipient check locked.

    It takes answers again (five more before it locks); the wrong answers so
    far stay listed in `onetime show`, with the unlock.  A link without a
    check cannot be unlocked (exit 1).

    \b
    Examples:
      onetime unlock abcdefghijklmnop
      onetime unlock "https://onetime.example.com/download?token=..."
    """
    state = config.client().unlock_link(link_id)
    if as_json:
        render.print_json(state)
    else:
        render.echo(render.unlocked_line(state))


@cli.command("refund")
@click.argument("link_id", metavar="ID", type=LINK)
@click.option(
    "--redemption",
    metavar="RID",
    help="Give back the use of this redemption (its id from `onetime show`), and mark it "
    "refunded.  [default: one use, none named]",
)
@click.option("--json", "as_json", is_flag=True, help="Print the link's state as JSON.")
@pass_config
def refund_command(config: Config, link_id: str, redemption: str | None, as_json: bool) -> None:
    """Give one use of a link back to its holder.

    For when a mail scanner, a link preview or a broken download spent a use the
    customer never got.  With --redemption, the use of that redemption is given
    back (once), and `onetime show` marks it refunded.  When there is nothing to give back (no
    use made, or that redemption already refunded) the server refuses: exit 1.

    \b
    Examples:
      onetime refund abcdefghijklmnop
      onetime refund abcdefghijklmnop --redemption 9f86d081884c7d65
      onetime refund "https://onetime.example.com/download?token=..."
    """
    if redemption is not None and not redemption.strip():
        raise click.BadParameter("give a redemption's id.", param_hint="'--redemption'")
    state = config.client().refund_link(link_id, redemption=redemption)
    if as_json:
        render.print_json(state)
    else:
        render.echo(render.refunded_line(state, redemption))


# What would make a link that is still not active after an extend deliver again.
STILL_DEAD_HINTS = {
    "revoked": "a revoked link stays revoked; mint a new one",
    "used": "give --uses above the uses made",
    "expired": "give --ttl to move the expiry",
}


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

    Give at least one of --ttl, --uses and --note.  If the link still cannot
    deliver afterwards (revoked, used or expired), that is an error (exit 1).

    \b
    Examples:
      onetime extend abcdefghijklmnop --ttl 1d         # expires a day from now
      onetime extend abcdefghijklmnop --uses 3         # 3 downloads in all
      onetime extend abcdefghijklmnop --ttl 7d --note "resent to ACME"
    """
    if ttl is None and uses is None and note is None:
        raise click.UsageError("give at least one of --ttl, --uses and --note.")
    state = config.client().update_link(link_id, ttl=ttl, max_uses=uses, note=note)
    status = state.get("status")
    if (ttl is not None or uses is not None) and status != "active":
        # Servers before the 409 on revoked links change the expiry or the uses and
        # answer 200, yet the link still will not deliver: that is no success.
        hint = STILL_DEAD_HINTS.get(str(status))
        raise Failure(
            f"link {link_id} is {status}; extending it changes nothing"
            + (f" ({hint})." if hint else ".")
        )
    if as_json:
        render.print_json(state)
    else:
        render.echo(render.updated_line(state))


@cli.command("list")
@click.option("--file", "file", metavar="KEY", help="The S3 key of the file.")
@click.option("--email", metavar="ADDR", help="The address the links were emailed to (any case).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Links per page.")
@click.option("--cursor", metavar="C", help="Continue from a previous page.")
@click.option("--all", "fetch_all", is_flag=True, help="Follow every page.")
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON answer.")
@pass_config
def list_command(
    config: Config,
    file: str | None,
    email: str | None,
    limit: int | None,
    cursor: str | None,
    fetch_all: bool,
    as_json: bool,
) -> None:
    """List the links minted for a file, or emailed to an address, newest first.

    Give exactly one of --file and --email.

    \b
    Examples:
      onetime list --file "reports/q3.pdf"
      onetime list --file "reports/q3.pdf" --all
      onetime list --file "reports/q3.pdf" --json | jq -r '.links[].id'
      onetime list --email customer@example.com
    """
    if (file is None) == (email is None):
        raise click.UsageError("give exactly one of --file and --email.")
    client = config.client()
    if email is not None:
        page = _links_to(client, email, limit, cursor, fetch_all)
    elif fetch_all:
        page = {
            "links": list(client.iter_links(file or "", limit=limit, cursor=cursor)),
            "next_cursor": None,
        }
    else:
        page = client.list_links(file or "", limit=limit, cursor=cursor)
    links: list[render.JsonObject] = page.get("links") or []
    next_cursor = page.get("next_cursor")
    if as_json:
        render.print_json(page)
        return
    if links:
        render.emit(render.console(), render.links_table(links))
    else:
        render.echo(f"No links for {file or email}." if cursor is None else "No more links.")
    if next_cursor:
        more = ["onetime", "list", "--file", file] if file else ["onetime", "list", "--email"]
        more += [email] if email else []
        more += ["--limit", str(limit)] if limit is not None else []
        more += ["--cursor", next_cursor]
        render.echo(f"More links: {shlex.join(more)}  (or --all)", err=True)


def _links_to(
    client: ApiClient, email: str, limit: int | None, cursor: str | None, fetch_all: bool
) -> render.JsonObject:
    if not fetch_all:
        return client.list_links_to(email, limit=limit, cursor=cursor)
    return {
        "links": list(client.iter_links_to(email, limit=limit, cursor=cursor)),
        "next_cursor": None,
    }


@cli.command("resend")
@click.argument("link_id", metavar="ID", type=LINK)
@click.option(
    "--uses",
    type=click.IntRange(min=1),
    metavar="N",
    help="Downloads the new link allows.  [default: what the old one has left]",
)
@click.option(
    "--ttl",
    type=DURATION,
    help="How long the new link lives, from now: 30m, 2h, 7d.  [default: the old one's "
    "remaining time]",
)
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON answer.")
@pass_config
def resend_command(
    config: Config, link_id: str, uses: int | None, ttl: int | None, as_json: bool
) -> None:
    """Email a new link in place of an emailed one, to the same address.

    The new link goes to the same file, with the same name and check (a code
    link gets a new code), and what the old one had left unless --uses or --ttl
    say otherwise; the old link is withdrawn.  If the email fails, the old link
    keeps working (exit 1).  Prints the new URL; the rest goes to stderr.

    \b
    Examples:
      onetime resend abcdefghijklmnop
      onetime resend abcdefghijklmnop --uses 1 --ttl 2d
    """
    minted = config.client().resend_link(link_id, uses=uses, ttl=ttl)
    if as_json:
        render.print_json(minted)
        return
    render.echo(str(minted.get("url") or ""))
    sent = (
        f"uncertain ({minted.get('message')})"
        if minted.get("email") == "uncertain"
        else f"message id {minted.get('message_id')}"
    )
    render.echo(
        f"Emailed link {minted.get('id')} to the recipient of {link_id} ({sent}); "
        f"{link_id} is withdrawn.",
        err=True,
    )
    if minted.get("code"):
        render.echo(f"Its code (also in the email): {minted.get('code')}", err=True)


# File requests: upload links that ask a person for files.


@cli.command("request")
@click.option(
    "--files",
    type=click.IntRange(min=1),
    metavar="N",
    help="How many files the link takes.  [default: 1]",
)
@click.option(
    "--ttl",
    type=DURATION,
    help="How long the upload link lives: 2h, 7d, 1w or seconds.  [default: 7d; at most 30d]",
)
@click.option(
    "--max-size",
    type=SIZE,
    help="The largest file it takes: 10MB, 5MiB, 1.5GB or bytes.  [default: the "
    "deployment's limit]",
)
@click.option(
    "--type",
    "content_types",
    metavar="TYPE",
    multiple=True,
    help="Take only files of this media type, e.g. application/pdf; repeat for more.  "
    "[default: any]",
)
@click.option("--note", metavar="TEXT", help="A note for operators (requests, show).")
@click.option(
    "--notify",
    metavar="ADDR",
    help="Email each received file's download link to this address.",
)
@click.option(
    "--no-show-link",
    is_flag=True,
    help="Do not show the uploader the download link of what they sent (needs --notify).",
)
@click.option(
    "--link-uses",
    type=click.IntRange(min=1),
    metavar="N",
    help="Downloads each received file's link allows.  [default: 1]",
)
@click.option(
    "--link-ttl",
    type=DURATION,
    help="How long each received file's download link lives.  [default: 1d]",
)
@click.option(
    "--email",
    metavar="ADDR",
    help="Email the upload link to this one address (the URL is still printed).",
)
@click.option("--subject", metavar="TEXT", help="The email's subject.")
@click.option("--message", metavar="TEXT", help="A message to the recipient in the email.")
@click.option("--json", "as_json", is_flag=True, help="Print the server's whole JSON answer.")
@pass_config
def request_command(
    config: Config,
    files: int | None,
    ttl: int | None,
    max_size: int | None,
    content_types: tuple[str, ...],
    note: str | None,
    notify: str | None,
    no_show_link: bool,
    link_uses: int | None,
    link_ttl: int | None,
    email: str | None,
    subject: str | None,
    message: str | None,
    as_json: bool,
) -> None:
    """Ask someone for files: make an upload link and print its URL.

    Whoever opens the link can upload up to --files files (each at most
    --max-size, of the --type types) straight to S3 until it expires.  Each
    file received gets its own download link, shown to the uploader on the
    confirmation page and, with --notify, emailed to that address.

    The URL goes alone to stdout, so url=$(onetime request ...) captures it;
    a summary (and "Emailed to ...") goes to stderr.

    \b
    Examples:
      onetime request
      onetime request --files 3 --max-size 20MB --type application/pdf --note "ticket 4711"
      onetime request --email customer@example.com --message "Please send the signed contract."
      onetime request --notify ops@example.com --no-show-link --link-uses 3 --link-ttl 7d
      url=$(onetime request --ttl 2d)
    """
    check_mail_options(email, subject, message)
    if no_show_link and notify is None:
        # Checked here too: the server refuses it, and a usage error says which option.
        raise click.UsageError("--no-show-link needs --notify: otherwise nobody gets the links.")
    minted = config.client().create_request(
        files=files,
        ttl=ttl,
        max_size=max_size,
        content_types=list(content_types) or None,
        note=note,
        show_link=False if no_show_link else None,
        notify=notify,
        link_uses=link_uses,
        link_ttl=link_ttl,
        email=email,
        subject=subject,
        message=message,
    )
    print_minted(minted, email, as_json)
    if not as_json:
        for line in render.request_summary(minted):
            render.echo(line, err=True)


class RequestsGroup(click.Group):
    """``onetime requests`` lists; ``onetime requests show|revoke ID`` acts on one."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[OPTIONS] [show|revoke ID [OPTIONS]]")


@cli.group("requests", cls=RequestsGroup, invoke_without_command=True)
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Requests per page.")
@click.option("--cursor", metavar="C", help="Continue from a previous page.")
@click.option("--all", "fetch_all", is_flag=True, help="Follow every page.")
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON answer.")
@click.pass_context
def requests_group(
    ctx: click.Context,
    limit: int | None,
    cursor: str | None,
    fetch_all: bool,
    as_json: bool,
) -> None:
    """List file requests (upload links), newest first; show or revoke one.

    ID is the request's id; its upload URL or token works too (only the id is
    sent).  `requests show` lists the files received, each with the id of its
    download link (for `onetime show`, `extend`, `revoke`).

    \b
    Examples:
      onetime requests
      onetime requests --all --json | jq -r '.requests[] | select(.status == "active") | .id'
      onetime requests show abcdefghijklmnop
      onetime requests revoke "https://onetime.example.com/upload?token=...&terms=..."
    """
    if ctx.invoked_subcommand is not None:
        if limit is not None or cursor is not None or fetch_all or as_json:
            # They would be silently ignored: say where they go instead.
            raise click.UsageError(
                "--limit, --cursor, --all and --json before a command are the list's; "
                f"for {ctx.invoked_subcommand}, put --json after its ID."
            )
        return
    config = ctx.find_object(Config)
    assert config is not None
    client = config.client()
    if fetch_all:
        page: render.JsonObject = {
            "requests": list(client.iter_requests(limit=limit, cursor=cursor))
        }
    else:
        page = client.list_requests(limit=limit, cursor=cursor)
    if as_json:
        render.print_json(page)
        return
    found: list[render.JsonObject] = page.get("requests") or []
    if found:
        render.emit(render.console(), render.requests_table(found))
    else:
        render.echo("No file requests." if cursor is None else "No more file requests.")
    following = next_cursor(page)
    if following:
        more = ["onetime", "requests"]
        more += ["--limit", str(limit)] if limit is not None else []
        more += ["--cursor", following]
        render.echo(f"More requests: {shlex.join(more)}  (or --all)", err=True)


@requests_group.command("show")
@click.argument("request_id", metavar="ID", type=REQUEST)
@click.option("--json", "as_json", is_flag=True, help="Print the server's whole JSON answer.")
@pass_config
def request_show_command(config: Config, request_id: str, as_json: bool) -> None:
    """Show a file request and the files it received.

    Each received file is listed with its S3 key and the id of its download
    link, for `onetime show`, `extend` and `revoke`.

    \b
    Examples:
      onetime requests show abcdefghijklmnop
      onetime requests show abcdefghijklmnop --json | jq -r '.received[].link_id'
    """
    state = config.client().get_request(request_id)
    if as_json:
        render.print_json(state)
    else:
        render.show_request(render.console(), state)


@requests_group.command("revoke")
@click.argument("request_id", metavar="ID", type=REQUEST)
@click.option("--json", "as_json", is_flag=True, help="Print the request's state as JSON.")
@pass_config
def request_revoke_command(config: Config, request_id: str, as_json: bool) -> None:
    """Revoke an upload link now: it takes no more files.  Revoking twice is harmless.

    The download links of files already received are not touched; revoke
    those with `onetime revoke LINK` (their ids: `onetime requests show ID`).

    \b
    Examples:
      onetime requests revoke abcdefghijklmnop
    """
    state = config.client().revoke_request(request_id)
    if as_json:
        render.print_json(state)
    else:
        render.echo(render.revoked_request_line(state))


@cli.command("smoke")
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
    MD5 ETag is compared), revoke, and gone (the link answers 410).

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


def uses_left(remaining: str | None) -> str:
    if remaining is None or not remaining.isdigit():
        return ""
    count = int(remaining)
    if count == 0:
        return " The link is now used up."
    return f" The link allows {count} more download{'s' if count != 1 else ''}."


def saved_line(fetched: downloads.Fetched) -> str:
    """``Saved <size>.``, how the transfer was taken up again if it was, and the uses left."""
    parts: list[str] = []
    if fetched.breaks:
        parts.append(
            f"the transfer broke {fetched.breaks} time{'s' if fetched.breaks != 1 else ''}"
        )
    if fetched.start:  # the last answer sent only the rest
        parts.append(f"resumed at {fetched.start:,} bytes")
    elif fetched.breaks:
        parts.append("started over")
    how = "; ".join(parts)
    how = f" {how[0].upper()}{how[1:]}." if how else ""
    return f"Saved {render.size(fetched.size)}.{how}{uses_left(fetched.remaining_uses)}"


def gave_up_message(error: downloads.GaveUp, temp: Path, kept: Path) -> str:
    of = "" if error.length is None else f" of {error.length:,}"
    return (
        f"the download broke off after {error.written:,}{of} bytes, and {error.tries} tries "
        f"to resume it failed (the last: {error.last}). The bytes are kept in {temp}, and the "
        f"download session in {kept} (readable only by you: it lets whoever holds it get the "
        "file again). To finish it without spending another use, run `onetime get` with the "
        "same link, the same --output and --resume, while the session lasts (an hour, unless "
        "the sender's service says otherwise)."
    )


def open_download(
    link: downloads.Link, target: downloads.Target, resume: bool
) -> tuple[BinaryIO, Path, downloads.Resumable]:
    """The temporary file to write to and what is known of the download: a new empty
    file, or with --resume the one a previous ``get`` gave up, with its session."""
    if not resume:
        try:
            file, temp = downloads.temporary_file(target.directory, link)
        except OSError as error:
            raise Occupied(
                f"cannot write in {target.directory}: {error.strerror}. "
                "Nothing was downloaded: the link was not used."
            ) from error
        return file, temp, downloads.Resumable()
    found = downloads.interrupted(target.directory, link)
    if found is None:
        raise Occupied(
            f"no interrupted download of this link in {target.directory} to resume (give the "
            "--output it had). Nothing was downloaded: the link was not used."
        )
    temp, resumable = found
    try:
        return downloads.reopen(temp), temp, resumable
    except OSError as error:
        raise Occupied(f"cannot write {temp}: {error.strerror}. Nothing was downloaded.") from error


@cli.command("get")
@click.argument("url", metavar="URL")
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="Save as PATH; if PATH is a folder, save there under the file's own name.  "
    "[default: the file's own name, in the current folder]",
)
@click.option("--force", is_flag=True, help="Replace a file already at that path.")
@click.option(
    "--resume",
    is_flag=True,
    help="Finish a download of this link that a previous get gave up (in the folder of "
    "--output), through the session it kept: spends no use.",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="No progress bar and no notes: only the saved path on stdout.  (There is no "
    "progress bar either when stderr is not a terminal.)",
)
@click.option(
    "--answer",
    metavar="TEXT",
    help="For a link that asks who you are: the email address it was sent to, or the "
    "code you were given.  A wrong one spends nothing; five lock the link.",
)
@pass_config
def get_command(
    config: Config,
    url: str,
    output: str | None,
    force: bool,
    resume: bool,
    quiet: bool,
    answer: str | None,
) -> None:
    """Download the file a link delivers, as the customer it was sent to.

    URL is the whole link, as sent (https://.../download?token=...).  This
    spends one of its uses: the token is POSTed in the request body (never in
    a query string), the way the link's Download button does; a redirect to
    the file's storage is followed without the token.  Needs no ONETIME_URL
    and no API key.

    The file is saved under the name the server gives it (any Unicode; path
    parts, control characters and leading dots removed), or as --output, and
    the path saved to is printed on stdout.  It is written to a temporary file
    beside it first, and takes its name when every byte has arrived.

    When the transfer breaks off, get takes it up again (up to 3 times)
    through the download session the server opened: the token goes again with
    the session, which spends no use, and only the missing bytes are asked
    for.  If that fails too (exit 4), the bytes are kept in the temporary file
    and the session beside it in <temporary file>.session, readable only by
    you; --resume, with the same link and --output, finishes the download
    while the session lasts.  Without a session (an older server), a broken
    transfer leaves nothing behind (exit 4).

    An existing file is never replaced without --force (exit 2).  When --output
    names the file, that is checked before the link is used; when the name
    comes with the download, the bytes are kept in the temporary file, whose
    path is printed.

    \b
    Examples:
      onetime get "https://onetime.example.com/download?token=..."
      onetime get "https://onetime.example.com/download?token=..." -o ~/Downloads
      onetime get "$url" -o report.pdf --force
      onetime get "$url" -o ~/Downloads --resume
      onetime get "$url" --answer 482913
      saved=$(onetime get "$url" --quiet)
    """
    if answer is not None and not answer.strip():
        raise click.BadParameter("give the address or the code.", param_hint="'--answer'")
    try:
        link = downloads.parse_link(url)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="URL") from None
    try:
        target = downloads.target_for(output)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'-o' / '--output'") from None
    if target.name is not None:
        chosen = target.path(target.name)
        if downloads.exists(chosen) and not force:
            raise Occupied(
                f"{chosen} already exists; give --force to replace it. "
                "Nothing was downloaded: the link was not used."
            )
    file, temp, resumable = open_download(link, target, resume)
    names: list[str] = []

    @contextmanager
    def watch(delivery: downloads.Delivery) -> Iterator[downloads.Progress | None]:
        name = target.name or downloads.safe_filename(
            downloads.disposition_filename(delivery.disposition)
        )
        names.append(name)
        doing = "Resuming" if delivery.start else "Downloading"
        with render.upload_progress(
            f"{doing} {name}", delivery.total, enabled=not quiet
        ) as advance:
            if advance is not None and delivery.start:
                advance(delivery.start)
            yield advance

    try:
        with file:
            fetched = downloads.fetch(
                link, file, resumable, timeout=config.timeout, watch=watch, answer=answer
            )
    except downloads.GaveUp as error:
        try:
            kept = downloads.save_session(temp, resumable)
        except OSError as failure:
            temp.unlink(missing_ok=True)
            raise ServerUnreachable(
                f"the download broke off and could not be resumed ({error.last}); nothing was "
                f"saved, and the session could not be kept: {failure.strerror}. {MAY_BE_SPENT}"
            ) from error
        raise ServerUnreachable(gave_up_message(error, temp, kept)) from error
    except BaseException as error:
        keep = resume and keeps_resumable(error)
        if not keep:
            temp.unlink(missing_ok=True)
            downloads.session_path(temp).unlink(missing_ok=True)
        if isinstance(error, ApiError):
            after = ""
            if resume:
                after = " The kept bytes and session are still there: try --resume again later."
                if not keep:
                    after = " The kept bytes and session are removed."
            raise Failure(error.message + retry_hint(error) + check_hint(error) + after) from error
        if isinstance(error, OSError):  # writing the file: network errors are wrapped
            raise Failure(f"cannot write {temp}: {error.strerror}. {MAY_BE_SPENT}") from error
        raise
    downloads.session_path(temp).unlink(missing_ok=True)  # finished: the session is spent
    name = names[-1]
    final = target.path(name)
    try:
        placed = downloads.place(temp, final, force=force)
    except OSError as error:
        raise Failure(
            f"cannot save as {final}: {error.strerror}. The download is kept in {temp}."
        ) from error
    if not placed:
        there = "is a folder" if final.is_dir() else "already exists; give --force to replace it"
        raise Occupied(
            f"{final} {there}. The link's use is spent, so the download is kept "
            f"in {temp}: rename it to keep it."
        )
    if not quiet:
        render.echo(saved_line(fetched), err=True)
    render.echo(str(final))


def check_hint(error: ApiError) -> str:
    """What to do about the link's recipient check, after the server's own words."""
    if error.code == "answer_required":
        return " Give it with --answer."
    if error.code == "wrong_answer" and error.answers_left is not None:
        left = error.answers_left
        return f" {left} {'try' if left == 1 else 'tries'} left before the link locks."
    if error.code == "link_locked" and "locked" not in error.message:
        return " The link is locked: ask the sender to unlock it."
    return ""


def keeps_resumable(error: BaseException) -> bool:
    """Whether a failed --resume leaves the kept bytes and session for another try: all
    but a refusal that will not change (the session is over, the link revoked)."""
    if isinstance(error, ApiError):
        return error.status in (408, 429) or error.status >= 500
    return True
