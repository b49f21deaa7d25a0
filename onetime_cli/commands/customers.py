"""The customer's command: ``get`` downloads what a link delivers, as its Download
button does, taking a broken transfer up again through the download session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import click

from onetime_cli import downloads, render
from onetime_cli.client import ApiError
from onetime_cli.failures import MAY_BE_SPENT, Failure, Occupied, ServerUnreachable, retry_hint
from onetime_cli.group import Config, pass_config


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


@click.command("get")
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
