"""The commands that bring files in: ``share`` uploads one and links it, ``request`` asks
someone for files with an upload link, and ``requests`` lists, shows and revokes those."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import BinaryIO

import click

from onetime_cli import multipart, render, uploads
from onetime_cli.client import ApiClient, ApiError, Unreachable, next_cursor
from onetime_cli.failures import Failure, Interrupted, failure_for
from onetime_cli.group import Config, pass_config
from onetime_cli.links import REQUEST
from onetime_cli.options import (
    JSON_ANSWER,
    NewLink,
    check_mail_options,
    count_option,
    duration_option,
    json_option,
    mail_options,
    mint_options,
    print_answer,
    print_minted,
)
from onetime_cli.sizes import SIZE

# A file request's ID; its upload URL or token works too (only the id is sent).
request_argument = click.argument("request_id", metavar="ID", type=REQUEST)


@click.command("share")
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
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an upload of FILE that was interrupted (Ctrl-C, a lost connection): "
    "only the parts not yet in storage are sent.",
)
@pass_config
def share_command(
    config: Config,
    path: Path,
    new_link: NewLink,
    as_json: bool,
    quiet: bool,
    resume: bool,
) -> None:
    """Upload a local FILE and print a download link to it.

    The file goes straight to S3, streamed with a progress bar on stderr;
    then a link is minted as with `onetime link`.  A file up to the server's
    multipart threshold (64 MiB by default) goes in one form the server signs
    for exactly its size and type (valid 10 minutes; the type is guessed from
    the name).  A larger one goes in parts, 4 at a time, each retried when it
    fails; if the upload is interrupted (Ctrl-C, a lost connection), run the
    same command with --resume within a day to send only the missing parts.

    \b
    Examples:
      onetime share "Prüfbericht 2026.pdf"
      onetime share scan.pdf --filename "Contract (signed).pdf" --ttl 7d
      onetime share data.zip --email customer@example.com --message "Here you go."
      onetime share backup.tar --resume
      url=$(onetime share report.pdf --quiet)
    """
    client = config.client()
    name = new_link.filename if new_link.filename is not None else path.name
    content_type = uploads.guess_content_type(name)
    try:
        file = path.open("rb")
    except OSError as error:
        raise click.BadParameter(
            f"cannot read {click.format_filename(path)}: {error.strerror}.", param_hint="FILE"
        ) from error
    with file:
        size = os.fstat(file.fileno()).st_size
        where = multipart.state_path(client.base_url, path, name)
        state = multipart.recall(where) if resume else None
        if resume and state is None and not quiet:
            render.echo(
                f"No interrupted upload of {click.format_filename(path)} to resume "
                "(or the file changed since): starting it anew.",
                err=True,
            )
        if state is None:
            try:
                form = client.create_upload(name, content_type, size)
            except ApiError as error:
                if error.code == "invalid_size":
                    error.message += f" {click.format_filename(path)} is {render.size(size)}."
                raise
            state = multipart.started_state(client.base_url, path, name, content_type, form)
            if state is None:
                key = _post_form(config, form, file, name, content_type, size, quiet)
            else:
                multipart.remember(where, state)
                resume = False
        if state is not None:
            key = _send_parts(config, client, state, where, path, resumed=resume, quiet=quiet)
    try:
        # The object already has the name; the link takes it from there.
        minted = client.create_link(key, **{**new_link.arguments(), "filename": None})
    except (ApiError, Unreachable) as error:
        then = f"The file is uploaded as {key}; mint a link to it with: "
        then += f"onetime link {shlex.quote(key)}"
        raise failure_for(error, then) from error
    print_minted(minted, new_link.email, as_json, quiet=quiet, extra={"key": key})


def _post_form(
    config: Config,
    form: dict[str, object],
    file: BinaryIO,
    name: str,
    content_type: str,
    size: int,
    quiet: bool,
) -> str:
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
    return key


def _send_parts(
    config: Config,
    client: ApiClient,
    state: multipart.Remembered,
    where: Path,
    path: Path,
    *,
    resumed: bool,
    quiet: bool,
) -> str:
    """Send the parts S3 lacks and complete the upload; its key.  Ctrl-C keeps what was
    sent (for a day: the bucket's lifecycle rule then drops it) and says how to go on."""
    again = f"onetime share {shlex.quote(str(path))} --resume"
    if state.name != path.name:
        again += f" --filename {shlex.quote(state.name)}"
    try:
        with render.upload_progress(
            f"Uploading {state.name}", state.size, enabled=not quiet
        ) as advance:
            sender = multipart.Sender(client, state, timeout=config.timeout, on_progress=advance)
            try:
                held = sender.held() if resumed else {}
            except ApiError as error:
                if error.code != "upload_gone":
                    raise
                # Completed by the run that was interrupted, its answer lost? Then
                # completing answers as if this did it; if not, it says the upload is over.
                client.complete_upload(state.upload)
            else:
                sender.send(held)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted. The parts sent so far are kept for a day; continue with: {again}"
        ) from None
    except ApiError as error:
        if error.code == "upload_gone":
            multipart.forget(where)
            raise Failure(
                f"{error.message} (The interrupted upload is more than a day old, or was "
                "given up.) Run the command again without --resume."
            ) from error
        raise failure_for(error, f"The parts sent so far are kept for a day: {again}") from error
    except multipart.FAILURES as error:
        raise failure_for(error, f"The parts sent so far are kept for a day: {again}") from error
    multipart.forget(where)
    return state.key


@click.command("request")
@count_option("--files", "How many files the link takes.  [default: 1]")
@duration_option(
    "--ttl", "How long the upload link lives: 2h, 7d, 1w or seconds.  [default: 7d; at most 30d]"
)
@click.option(
    "--max-size",
    type=SIZE,
    help="The largest file it takes: 20MiB, 500KiB, 1.5GiB, 10MB (1000-based) or bytes.  "
    "[default: the deployment's limit]",
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
@count_option("--link-uses", "Downloads each received file's link allows.  [default: 1]")
@duration_option("--link-ttl", "How long each received file's download link lives.  [default: 1d]")
@click.option(
    "--bundle",
    is_flag=True,
    help="Also make one link to every file received (one use for all), when the link is "
    "filled or revoked (needs --files 2 to 50).",
)
@mail_options("the upload link", "The email's subject.")
@json_option()
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
    bundle: bool,
    email: str | None,
    subject: str | None,
    message: str | None,
    as_json: bool,
) -> None:
    """Ask someone for files: make an upload link and print its URL.

    Whoever opens the link can upload up to --files files (each at most
    --max-size, of the --type types) straight to S3 until it expires.  Each
    file received gets its own download link, shown to the uploader on the
    confirmation page and, with --notify, emailed to that address.  With
    --bundle, the upload that fills the link also gets one link to every file
    received (shown and emailed the same way), and `onetime requests revoke`
    makes it from what was received so far and prints it.

    The URL goes alone to stdout, so url=$(onetime request ...) captures it;
    a summary (and "Emailed to ...") goes to stderr.

    \b
    Examples:
      onetime request
      onetime request --files 3 --max-size 20MiB --type application/pdf --note "ticket 4711"
      onetime request --email customer@example.com --message "Please send the signed contract."
      onetime request --notify ops@example.com --no-show-link --link-uses 3 --link-ttl 7d
      url=$(onetime request --ttl 2d)
      onetime request --files 5 --bundle --notify ops@example.com
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
        bundle=True if bundle else None,
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


@click.group("requests", cls=RequestsGroup, invoke_without_command=True)
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Requests per page.")
@click.option("--cursor", metavar="C", help="Continue from a previous page.")
@click.option("--all", "fetch_all", is_flag=True, help="Follow every page.")
@json_option(JSON_ANSWER)
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
@request_argument
@json_option()
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
    print_answer(state, as_json, lambda shown: render.show_request(render.console(), shown))


@requests_group.command("revoke")
@request_argument
@json_option("Print the request's state as JSON.")
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
    print_answer(state, as_json, lambda shown: render.echo(render.revoked_request_line(shown)))
    if not as_json and state.get("bundle_url"):
        # A bundling request's one link to every file received, made by this revoke.
        render.echo(f"Link to every file received: {state['bundle_url']}")
