"""``onetime get`` of a bundle: every file of the link into one folder, each fetched in the
download session its one press opened (``file=N``, no further use spent), and each resumed
as a single file's download is.

What survives an interruption: the bundle's own record (its session, beside an empty
temporary file, as for any link) and, for the file under way, its bytes and session.  The
same ``onetime get`` again shows the list again through the session (no use spent), skips
the files already saved whole, and finishes the one that broke off."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from onetime_cli import downloads, render
from onetime_cli.failures import Occupied


def folder_for(target: downloads.Target) -> Path:
    """Where a bundle's files go: ``--output`` (a folder, made if it does not exist yet),
    else the current folder."""
    if target.name is None:
        return target.directory
    folder = target.path(target.name)
    if downloads.exists(folder) and not folder.is_dir():
        raise Occupied(f"{folder} is not a folder: a link with several files saves them in one.")
    folder.mkdir(exist_ok=True)
    return folder


def get_all(
    link: downloads.Link,
    files: list[downloads.BundledFile],
    session: str | None,
    folder: Path,
    *,
    timeout: float,
    force: bool,
    quiet: bool,
) -> list[Path]:
    """Fetch each file of the bundle into ``folder``; the paths saved, in the list's order.
    A file already there with its listed size is taken as saved (a get run again)."""
    saved: list[Path] = []
    for listed in files:
        final = folder / downloads.safe_filename(listed.name)
        if downloads.exists(final) and not force:
            if final.is_file() and final.stat().st_size == listed.size:
                saved.append(final)
                continue
            raise Occupied(f"{final} already exists; give --force to replace it.")
        one = dataclasses.replace(link, file=listed.number)
        found = downloads.interrupted(folder, one)
        if found is not None:
            temp, resumable = found
            file = downloads.reopen(temp)
        else:
            file, temp = downloads.temporary_file(folder, one)
            resumable = downloads.Resumable()
        resumable.session = resumable.session or session

        def keep(state: downloads.Resumable, temp: Path = temp) -> None:
            downloads.save_session(temp, state)

        keep(resumable)
        with file:
            downloads.fetch(
                one, file, resumable, timeout=timeout, watch=_progress(listed, quiet), keep=keep
            )
        downloads.session_path(temp).unlink(missing_ok=True)
        if not downloads.place(temp, final, force=force):
            raise Occupied(f"{final} already exists; the file is kept in {temp}.")
        saved.append(final)
    return saved


def _progress(listed: downloads.BundledFile, quiet: bool) -> downloads.Watch:
    @contextmanager
    def watch(delivery: downloads.Delivery) -> Iterator[downloads.Progress | None]:
        with render.download_progress(
            listed.name, delivery.start, delivery.total, enabled=not quiet
        ) as advance:
            yield advance

    return watch
