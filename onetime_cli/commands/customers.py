"""The customer's command: ``get`` downloads what a link delivers, as its Download
button does, taking a broken transfer up again through the download session.

Ctrl-C and SIGTERM stop it without losing the use: the session is on disk before the
first byte, so the bytes and the session are kept, and ``get`` again finishes the file."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import BinaryIO

import click

from onetime_cli import bundles, downloads, render
from onetime_cli.client import ApiError
from onetime_cli.failures import (
    MAY_BE_SPENT,
    NOTHING_SENT,
    Failure,
    Interrupted,
    Occupied,
    ServerUnreachable,
    Terminated,
    retry_hint,
)
from onetime_cli.group import Config, pass_config

# How a kept download is finished: said after giving up and after an interruption alike.
FINISH = (
    "To finish it without spending another use, run the same `onetime get` again (the same "
    "link and --output), while the session lasts (an hour, unless the sender's service says "
    "otherwise)."
)
SESSION_NOTE = "(readable only by you: it lets whoever holds it get the file again)"


class TermSignal(BaseException):
    """SIGTERM, raised wherever the process is, as Python raises KeyboardInterrupt for
    SIGINT, so that both stop a download the same way (a BaseException, so that no
    ``except Exception`` on the way swallows it)."""


@contextmanager
def terminations_raised() -> Iterator[None]:
    """SIGTERM raises ``TermSignal`` while the block runs (its default would end the
    process at once, before the kept file is closed and the person told)."""

    def raise_terminated(signum: int, frame: FrameType | None) -> None:
        raise TermSignal

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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


def of_length(length: int | None) -> str:
    return "" if length is None else f" of {length:,}"


def gave_up_message(error: downloads.GaveUp, temp: Path, kept: Path) -> str:
    return (
        f"the download broke off after {error.written:,}{of_length(error.length)} bytes, and "
        f"{error.tries} tries to resume it failed (the last: {error.last}). The bytes are "
        f"kept in {temp}, and the download session in {kept} {SESSION_NOTE}. {FINISH}"
    )


def interrupted_message(written: int, length: int | None, temp: Path, kept: Path | None) -> str:
    """What a Ctrl-C or SIGTERM left: the bytes and the session when the server had opened
    one (the use is spent, and they get the rest), else nothing."""
    stopped = f"interrupted after {written:,}{of_length(length)} bytes"
    if written == 0 and length is None:
        stopped = "interrupted before the file began to arrive"
    if kept is None:
        return f"{stopped}, with no download session to finish it: nothing was kept. {MAY_BE_SPENT}"
    return (
        f"{stopped}. The link's use is spent, but the bytes are kept in {temp}, and the "
        f"download session in {kept} {SESSION_NOTE}. {FINISH}"
    )


def open_download(
    link: downloads.Link, target: downloads.Target, resume: bool
) -> tuple[BinaryIO, Path, downloads.Resumable, bool]:
    """The temporary file to write to, what is known of the download, and whether it
    takes one up: the download of this link a previous ``get`` left in the folder
    (given up, interrupted or killed) with its session, else a new empty file (with
    --resume, nothing else will do)."""
    found = downloads.interrupted(target.directory, link)
    if found is None:
        if resume:
            raise Occupied(
                f"no interrupted download of this link in {target.directory} to resume (give "
                f"the --output it had). {NOTHING_SENT}"
            )
        try:
            file, temp = downloads.temporary_file(target.directory, link)
        except OSError as error:
            raise Occupied(
                f"cannot write in {target.directory}: {error.strerror}. {NOTHING_SENT}"
            ) from error
        return file, temp, downloads.Resumable(), False
    temp, resumable = found
    try:
        return downloads.reopen(temp), temp, resumable, True
    except downloads.Busy as error:
        raise Occupied(
            f"another `onetime get` is downloading this link into {target.directory} right now "
            f"({temp}): let it finish, or give another --output. {NOTHING_SENT}"
        ) from error
    except OSError as error:
        raise Occupied(f"cannot write {temp}: {error.strerror}. {NOTHING_SENT}") from error


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
    help="Only finish a download of this link that a previous get gave up or was "
    "interrupted in (in the folder of --output), through the session it kept: spends no "
    "use.  A plain get does the same when it finds one.",
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
    for.  The session is kept beside the temporary file, in <temporary
    file>.session (readable only by you), from before the first byte: if the
    transfer cannot be taken up (exit 4), or get is interrupted (Ctrl-C: exit
    130; SIGTERM: exit 143) or killed, both stay, and get again with the same
    link and --output finishes the download while the session lasts (--resume
    does only that).  Without a session (an older server), nothing is kept.

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
            raise Occupied(f"{chosen} already exists; give --force to replace it. {NOTHING_SENT}")
    file, temp, resumable, resuming = open_download(link, target, resume)
    kept: list[Path] = [downloads.session_path(temp)] if resuming else []
    names: list[str] = []

    def keep(state: downloads.Resumable) -> None:
        """Write the session down before the bytes come (a disk that refuses costs only
        the chance to finish after an interruption: the download goes on)."""
        try:
            kept[:] = [downloads.save_session(temp, state)]
        except OSError:
            kept.clear()

    @contextmanager
    def watch(delivery: downloads.Delivery) -> Iterator[downloads.Progress | None]:
        name = target.name or downloads.safe_filename(
            downloads.disposition_filename(delivery.disposition)
        )
        names.append(name)
        with render.download_progress(
            name, delivery.start, delivery.total, enabled=not quiet
        ) as advance:
            yield advance

    listed: list[downloads.BundledFile] | None = None
    try:
        with terminations_raised(), file:
            fetched = downloads.fetch(
                link,
                file,
                resumable,
                timeout=config.timeout,
                watch=watch,
                answer=answer,
                keep=keep,
            )
    except downloads.BundleOpened as opened:
        listed = opened.files  # a bundle: its files go into a folder, below
    except downloads.GaveUp as error:
        try:
            saved = downloads.save_session(temp, resumable)
        except OSError as failure:
            temp.unlink(missing_ok=True)
            raise ServerUnreachable(
                f"the download broke off and could not be resumed ({error.last}); nothing was "
                f"saved, and the session could not be kept: {failure.strerror}. {MAY_BE_SPENT}"
            ) from error
        raise ServerUnreachable(gave_up_message(error, temp, saved)) from error
    except (KeyboardInterrupt, TermSignal) as error:
        stopped = Interrupted if isinstance(error, KeyboardInterrupt) else Terminated
        session = kept[0] if kept and resumable.session is not None else None
        written = temp.stat().st_size if temp.exists() else 0
        if session is None:  # nothing can finish these bytes: leave nothing behind
            temp.unlink(missing_ok=True)
            downloads.session_path(temp).unlink(missing_ok=True)
        message = interrupted_message(written, resumable.length, temp, session)
        raise stopped(message) from None
    except BaseException as error:
        keeping = resuming and keeps_resumable(error)
        if not keeping:
            temp.unlink(missing_ok=True)
            downloads.session_path(temp).unlink(missing_ok=True)
        if isinstance(error, ApiError):
            after = ""
            if resuming:
                after = " The kept bytes and session are still there: try again later."
                if not keeping:
                    after = " The kept bytes and session are removed."
            raise Failure(error.message + retry_hint(error) + check_hint(error) + after) from error
        if isinstance(error, OSError):  # writing the file: network errors are wrapped
            raise Failure(f"cannot write {temp}: {error.strerror}. {MAY_BE_SPENT}") from error
        raise
    if listed is not None:
        get_bundle(link, listed, resumable, temp, target, config, force=force, quiet=quiet)
        return
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


def get_bundle(
    link: downloads.Link,
    listed: list[downloads.BundledFile],
    resumable: downloads.Resumable,
    temp: Path,
    target: downloads.Target,
    config: Config,
    *,
    force: bool,
    quiet: bool,
) -> None:
    """A bundle's press answered with its files: fetch each into the folder, in the
    session it opened.  The bundle's own record (``temp`` and its session) stays until
    every file is saved, so that an interruption is finished by the same get again."""
    try:
        with terminations_raised():
            saved = bundles.get_all(
                link,
                listed,
                resumable.session,
                bundles.folder_for(target),
                timeout=config.timeout,
                force=force,
                quiet=quiet,
            )
    except (KeyboardInterrupt, TermSignal) as error:
        stopped = Interrupted if isinstance(error, KeyboardInterrupt) else Terminated
        raise stopped(f"stopped before every file of the link was saved. {FINISH}") from None
    except downloads.GaveUp as error:
        raise ServerUnreachable(f"a file of the link broke off: {error.last}. {FINISH}") from error
    except ApiError as error:
        raise Failure(error.message + retry_hint(error)) from error
    temp.unlink(missing_ok=True)
    downloads.session_path(temp).unlink(missing_ok=True)  # every file is in: done
    if not quiet:
        render.echo(f"Saved {len(saved)} files.", err=True)
    for path in saved:
        render.echo(str(path))


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
