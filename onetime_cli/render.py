"""Showing link and file request states to a person: rich tables and one-line summaries.

Every value that came from the server is wrapped in ``Text``, so a note or a
file name containing ``[brackets]`` or ``:emoji:`` codes prints as written.

Nothing the server (or S3) sent reaches the terminal as it was sent: a user
agent is whatever a link's holder chose, and escape sequences, carriage returns
or bidi overrides in it could repaint the screen or forge audit rows.  Every
string is shown through ``printable`` (tables, lines, errors) or ``print_json``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click
from rich import box
from rich.console import Console, Group, OverflowMethod, RenderableType
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from onetime_cli.durations import format_duration

JsonObject = dict[str, Any]
STATUS_STYLES = {"active": "green", "used": "yellow", "expired": "yellow", "revoked": "red"}
NONE = "—"


# What a terminal may obey rather than show: controls (C0, DEL, C1 such as the
# one-byte CSI), format characters (bidi overrides and isolates, zero-width
# characters), the line and paragraph separators, and lone surrogates (which
# could not even be encoded for output).
_UNSHOWN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _unshown(character: str) -> bool:
    return unicodedata.category(character) in _UNSHOWN


def _escape(character: str) -> str:
    """The character as a Python string literal writes it: ``\\x1b``, ``\\u202e``."""
    code = ord(character)
    if character in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[character]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(value: object) -> str:
    """``str(value)`` with every character a terminal would obey written as its escape.

    The one rule for showing server data as text.  A backslash is left alone: a
    look-alike escape typed by a sender is only text, and file names keep theirs.
    """
    shown = str(value)
    if not any(_unshown(character) for character in shown):
        return shown
    return "".join(_escape(ch) if _unshown(ch) else ch for ch in shown)


def _json_escape(character: str) -> str:
    """JSON's own escape (UTF-16 code units), so a parser still reads the raw value."""
    units = character.encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{int.from_bytes(units[i : i + 2]):04x}" for i in range(0, len(units), 2))


def echo(line: str, err: bool = False) -> None:
    """One line of text on stdout (or stderr), through ``printable``."""
    click.echo(printable(line), err=err)


def console() -> Console:
    """A console on stdout.  Piped output is never wrapped at 80 columns:
    scripts and ``grep`` see each row whole (unless COLUMNS says otherwise)."""
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, emoji=False, width=1000 if piped else None)


def emit(out: Console, renderable: RenderableType) -> None:
    """Print; in a pipe, without the spaces rich pads table rows with."""
    if out.is_terminal:
        out.print(renderable)
        return
    with out.capture() as captured:
        out.print(renderable)
    out.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def print_json(data: Any) -> None:
    """Indented JSON with non-ASCII text as is, except what ``printable`` would escape:
    that is written with JSON's own escapes (json.dumps leaves DEL, C1 controls,
    format characters and U+2028/2029 raw), so the output stays valid and exact."""
    encoded = json.dumps(data, indent=2, ensure_ascii=False)
    # A raw newline here is the indentation's: json.dumps escapes those in strings.
    escaped = (_json_escape(ch) if ch != "\n" and _unshown(ch) else ch for ch in encoded)
    sys.stdout.write("".join(escaped) + "\n")


def parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def relative(moment: dt.datetime, now: float) -> str:
    delta = moment.timestamp() - now
    if abs(delta) < 1:
        return "now"
    return f"in {format_duration(delta)}" if delta > 0 else f"{format_duration(delta)} ago"


def when(value: object, now: float | None = None) -> str:
    """``'2026-11-23T05:51:26Z (in 1d 2h)'``; the raw value if it is not a time."""
    moment = parse_time(value)
    if moment is None:
        return str(value) if value else NONE
    return f"{value} ({relative(moment, time.time() if now is None else now)})"


def short_time(value: object) -> str:
    """``'2026-11-23 05:51'`` (UTC) for table cells."""
    moment = parse_time(value)
    if moment is None:
        return str(value) if value else NONE
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def binary(count: float) -> str:
    """``5242880`` -> ``'5.0 MiB'``: 1024-based, as the pages show sizes."""
    if count < 1024:
        return f"{int(count)} bytes"
    amount = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        amount /= 1024
        if amount < 1024 or unit == "TiB":
            break
    return f"{amount:.1f} {unit}"


def size(value: object) -> str:
    """``'5.0 MiB (5,242,880 bytes)'``; plain bytes under 1 KiB."""
    if not isinstance(value, int) or isinstance(value, bool):
        return NONE if value is None else str(value)
    if value < 1024:
        return binary(value)
    return f"{binary(value)} ({value:,} bytes)"


def rate(per_second: float) -> str:
    return f"{binary(per_second)}/s"


class BinaryRateColumn(ProgressColumn):
    """The transfer's speed in the units of its sizes (rich's own column is 1000-based:
    ``MB/s`` beside ``MiB``)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("?" if speed is None else rate(speed), style="progress.data.speed")


def status_text(value: object) -> Text:
    status = str(value or "unknown")
    return Text(printable(status), style=STATUS_STYLES.get(status, ""))


def uses_summary(state: JsonObject) -> str:
    uses, max_uses = state.get("uses"), state.get("max_uses")
    summary = f"{uses} of {max_uses} used"
    remaining = state.get("remaining")
    return summary if remaining is None else f"{summary}, {remaining} remaining"


def text(value: object) -> Text:
    return Text(NONE if value is None or value == "" else printable(value))


def state_table(state: JsonObject) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    confirm = state.get("confirm")
    rows: list[tuple[str, Text]] = [
        ("id", text(state.get("id"))),
        ("status", status_text(state.get("status"))),
        ("file", text(state.get("file"))),
        ("filename", text(state.get("filename"))),
        ("size", text(size(state.get("size")))),
        ("content type", text(state.get("content_type"))),
        ("uses", text(uses_summary(state))),
        *lifetime_rows(state),
        ("confirm", text(NONE if confirm is None else "yes" if confirm else "no")),
        ("note", text(state.get("note"))),
    ]
    rows += recipient_rows(state)
    for name, value in rows:
        table.add_row(name, value)
    return table


# Recipients: who a link was emailed to, and its recipient check (``verify``).


def lifetime_rows(state: JsonObject) -> list[tuple[str, Text]]:
    """When a link or a file request was made and expires, and when it was revoked if it was."""
    rows = [
        ("created", text(when(state.get("created_at")))),
        ("expires", text(when(state.get("expires_at")))),
    ]
    if state.get("revoked_at"):
        rows.append(("revoked", text(when(state.get("revoked_at")))))
    return rows


def recipient_rows(state: JsonObject) -> list[tuple[str, Text]]:
    """Who the link went to and its check; nothing for a link that has neither (and for
    servers before recipients, which send none of these)."""
    rows: list[tuple[str, Text]] = []
    for name, field in (
        ("recipient", "recipient"),
        ("message id", "message_id"),
        ("notify", "notify"),
    ):
        if state.get(field):
            rows.append((name, text(state.get(field))))
    verify = state.get("verify")
    if verify:
        rows.append(("verify", text(verify)))
        rows.append(("wrong answers", text(wrong_answers(state))))
    return rows


def wrong_answers(state: JsonObject) -> str:
    """``'2 of 5 (3 left before it locks)'``, or ``'5 of 5: locked since <time>'``."""
    count, locked_at = state.get("wrong_answers"), state.get("locked_at")
    if locked_at:
        locked = f"locked since {when(locked_at)}; onetime unlock undoes it"
        return f"{count} of {MAX_WRONG_ANSWERS}: {locked}"
    if isinstance(count, int) and not isinstance(count, bool):
        left = max(MAX_WRONG_ANSWERS - count, 0)
        return f"{count} of {MAX_WRONG_ANSWERS} ({left} left before it locks)"
    return NONE if count is None else str(count)


MAX_WRONG_ANSWERS = 5  # the server's (chalicelib/domain/link.py): shown, never enforced here


def kept_title(title: str, shown: int, total: object) -> str:
    """``'Wrong answers'``, or ``'Wrong answers (the newest 20 of 200)'`` when the server
    kept only the newest records (it sends the total since bounded histories)."""
    if isinstance(total, int) and not isinstance(total, bool) and total > shown:
        return f"{title} (the newest {shown} of {total})"
    return title


def guesses_section(state: JsonObject) -> RenderableType:
    """The wrong answers the server keeps (through unlocks), and the unlocks."""
    guesses = [guess for guess in state.get("guesses") or [] if isinstance(guess, dict)]
    unlocks: list[Any] = state.get("unlocked_at") or []
    parts: list[RenderableType] = []
    if guesses:
        title = kept_title("Wrong answers", len(guesses), state.get("guesses_total"))
        parts.append(records_table(guesses, VISITOR, title))
    else:
        parts.append(Text("No wrong answers."))
    if unlocks:
        times = ", ".join(short_time(at) for at in unlocks)
        title = kept_title("Unlocked", len(unlocks), state.get("unlocks_total"))
        parts.append(Text(printable(f"{title} (UTC): {times}")))
    return Group(*parts)


def unlocked_line(state: JsonObject) -> str:
    guesses, total = state.get("guesses"), state.get("guesses_total")
    count = len(guesses) if isinstance(guesses, list) else 0
    if isinstance(total, int) and not isinstance(total, bool):
        count = total
    line = (
        f"Unlocked link {state.get('id')}: it takes answers again "
        f"({plural(count, 'wrong answer')} so far, listed by onetime show)."
    )
    status = state.get("status")
    return line if status == "active" else f"{line} It is {status}: it will not deliver."


def redemption_notes(redemption: JsonObject) -> str:
    """``suspected automation: <reason>`` and ``refunded at <time>``, as they apply."""
    notes: list[str] = []
    suspected = redemption.get("suspected_automation")
    if suspected:
        reason = suspected.get("reason") if isinstance(suspected, dict) else suspected
        notes.append(f"suspected automation: {reason}" if reason else "suspected automation")
    if redemption.get("refunded_at"):
        notes.append(f"refunded at {short_time(redemption.get('refunded_at'))}")
    return "; ".join(notes)


def section_table(title: str | None = None) -> Table:
    return Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        title=title,
        title_justify="left",
        title_style="bold",
    )


@dataclass(frozen=True)
class Column:
    """A column of a table with a row per record: its heading, how it lays out (rich's
    defaults unless said), and what it shows of a record."""

    heading: str
    cell: Callable[[JsonObject], Text]
    no_wrap: bool = False
    overflow: OverflowMethod = "ellipsis"
    min_width: int | None = None
    right: bool = False


def records_table(
    records: Sequence[JsonObject], columns: Sequence[Column], title: str | None = None
) -> Table:
    table = section_table(title)
    for column in columns:
        table.add_column(
            column.heading,
            no_wrap=column.no_wrap,
            overflow=column.overflow,
            min_width=column.min_width,
            justify="right" if column.right else "left",
        )
    for record in records:
        table.add_row(*(column.cell(record) for column in columns))
    return table


def cell_of(name: str) -> Callable[[JsonObject], Text]:
    return lambda record: text(record.get(name))


def time_of(name: str) -> Callable[[JsonObject], Text]:
    return lambda record: text(short_time(record.get(name)))


def long_column(heading: str, cell: Callable[[JsonObject], Text]) -> Column:
    """Free text (a user agent, a file name): folded, and given some room in a narrow terminal."""
    return Column(heading, cell, overflow="fold", min_width=12)


ID = Column("ID", cell_of("id"), no_wrap=True)
WHEN = Column("Time (UTC)", time_of("at"))
# Who came and when: a redemption, a visit that spent nothing, a wrong answer.
VISITOR = (
    WHEN,
    Column("IP", cell_of("ip"), no_wrap=True),
    long_column("User agent", cell_of("user_agent")),
)


def redeliveries(redemption: JsonObject) -> str:
    """``'2, last 2026-11-30 10:20'``: how often the redemption's download session got
    the file again without spending a use, and when last; ``'0'`` when never."""
    count = redemption.get("redeliveries")
    if count is None:
        return NONE
    if count == 0:
        return "0"
    last = redemption.get("redelivered_at")
    return f"{count}, last {short_time(last)}" if last else str(count)


def redemptions_table(redemptions: Sequence[JsonObject]) -> Table:
    # Servers before download sessions send no re-deliveries: no column for them.
    sessions = any("redeliveries" in redemption for redemption in redemptions)
    again = Column("Re-deliveries", lambda redemption: text(redeliveries(redemption)), no_wrap=True)
    columns = [
        ID,
        *VISITOR,
        Column("Path", cell_of("path"), no_wrap=True),
        *([again] if sessions else []),
        Column(
            "Notes",
            lambda redemption: Text(printable(redemption_notes(redemption))),
            overflow="fold",
        ),
    ]
    return records_table(redemptions, columns, "Redemptions")


# The kinds of visit that spend nothing, in the order shown (docs/COUNTING.md): the
# landing page, a HEAD, a GET not from a browser, a known previewer, a press too fast.
VISIT_KINDS = ("page", "head", "preview", "bot", "too_fast")


def visit_counts(counts: JsonObject) -> str:
    """``'page 2, preview 1'``: the known kinds in their order, then any others."""
    kinds = [kind for kind in VISIT_KINDS if kind in counts]
    kinds += sorted(kind for kind in counts if kind not in VISIT_KINDS)
    return ", ".join(f"{kind} {counts[kind]}" for kind in kinds)


def visits_section(visits: JsonObject) -> RenderableType:
    counts = visits.get("counts")
    counts = counts if isinstance(counts, dict) else {}
    recent: list[Any] = visits.get("recent") or []
    recent = [visit for visit in recent if isinstance(visit, dict)]
    if not counts and not recent:
        return Text("No visits that spent nothing.")
    numbers = [n for n in counts.values() if isinstance(n, int) and not isinstance(n, bool)]
    total = sum(numbers) if len(numbers) == len(counts) else None
    summary = visit_counts(counts) or NONE
    if total is not None:
        summary = f"{total} in all: {summary}"
        if recent and total > len(recent):
            last = "one" if len(recent) == 1 else str(len(recent))
            summary += f" (the last {last} below)"
    parts: list[RenderableType] = [
        Text("Visits that spent nothing", style="bold"),
        Text(printable(summary)),
    ]
    if recent:
        parts.append(
            records_table(recent, [*VISITOR, Column("Kind", cell_of("kind"), no_wrap=True)])
        )
    return Group(*parts)


def refunds_section(refunds: Sequence[Any], total: object = None) -> RenderableType:
    entries = [refund for refund in refunds if isinstance(refund, dict)]
    if not entries:
        return Text("No refunds.")
    columns = [WHEN, Column("Redemption", refunded_redemption, no_wrap=True)]
    return records_table(entries, columns, kept_title("Refunds", len(entries), total))


def refunded_redemption(refund: JsonObject) -> Text:
    redemption = refund.get("redemption")
    return text(redemption) if redemption else Text(f"{NONE} (one use, none named)")


def files_section(files: Sequence[Any], redemptions: Sequence[Any]) -> RenderableType:
    """A bundle's files, and how often each was fetched in its redemptions' sessions
    (``0``: never, so an operator sees at once which files a customer did not take)."""
    fetched: dict[str, int] = {}
    for redemption in redemptions:
        counts = redemption.get("fetches") if isinstance(redemption, dict) else None
        for number, count in (counts or {}).items():
            if isinstance(count, int):
                fetched[number] = fetched.get(number, 0) + count
    entries = [
        {**entry, "fetched": str(fetched.get(str(entry.get("file")), 0))}
        for entry in files
        if isinstance(entry, dict)
    ]
    columns = [
        Column("#", cell_of("file"), no_wrap=True),
        long_column("Name", cell_of("name")),
        Column("Size", cell_of("size"), no_wrap=True),
        Column("Fetched", cell_of("fetched"), no_wrap=True),
    ]
    return records_table(entries, columns, f"Files ({len(entries)}, one use for all)")


def show_state(out: Console, state: JsonObject) -> None:
    redemptions = state.get("redemptions") or []
    below = redemptions_table(redemptions) if redemptions else Text("No redemptions yet.")
    parts: list[RenderableType] = [state_table(state), Text(""), below]
    files = state.get("files")
    if isinstance(files, list) and files:
        parts += [Text(""), files_section(files, redemptions)]
    # Servers before the counting rule send neither: nothing is shown for them.
    visits = state.get("visits")
    if isinstance(visits, dict):
        parts += [Text(""), visits_section(visits)]
    refunds = state.get("refunds")
    if isinstance(refunds, list):
        parts += [Text(""), refunds_section(refunds, state.get("refunds_total"))]
    if state.get("verify"):
        parts += [Text(""), guesses_section(state)]
    emit(out, Group(*parts))


def links_table(links: Sequence[JsonObject]) -> Table:
    return listing_table(links, ("Uses", "uses", "max_uses"), ("Filename", "filename"))


def listing_table(
    items: Sequence[JsonObject], counted: tuple[str, str, str], last: tuple[str, str]
) -> Table:
    """A row per link or file request: its id, status, ``counted`` (a heading, the count
    made and the most allowed), expiry, creation and ``last`` (a heading and a field)."""
    heading, made, most = counted
    last_heading, last_field = last
    columns = [
        ID,
        Column("Status", lambda item: status_text(item.get("status")), no_wrap=True),
        Column(
            heading,
            lambda item: text(f"{item.get(made)}/{item.get(most)}"),
            no_wrap=True,
            right=True,
        ),
        # In a narrow terminal the times wrap at their space; the last column keeps some room.
        Column("Expires (UTC)", time_of("expires_at")),
        Column("Created (UTC)", time_of("created_at")),
        long_column(last_heading, cell_of(last_field)),
    ]
    return records_table(items, columns)


def updated_line(state: JsonObject) -> str:
    line = (
        f"Updated link {state.get('id')}: expires {when(state.get('expires_at'))}, "
        f"{uses_summary(state)}."
    )
    status = state.get("status")
    return line if status == "active" else f"{line} It is {status}: it will not deliver."


def refunded_line(state: JsonObject, redemption: str | None = None) -> str:
    given = f"the use of redemption {redemption}" if redemption else "one use"
    line = f"Gave back {given} of link {state.get('id')}: {uses_summary(state)}."
    status = state.get("status")
    return line if status == "active" else f"{line} It is {status}: it will not deliver."


def revoked_line(state: JsonObject) -> str:
    return (
        f"Revoked link {state.get('id')} ({state.get('file')}): it will not deliver again "
        f"({uses_summary(state)})."
    )


# File requests: upload links that ask a person for files.


def plural(count: object, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def files_summary(state: JsonObject) -> str:
    """``'1 of 3 received'``."""
    return f"{state.get('files')} of {state.get('max_files')} received"


def content_types(state: JsonObject) -> str:
    types = state.get("content_types")
    if not isinstance(types, list) or not types:
        return "any"
    return ", ".join(str(kind) for kind in types)


def seconds(value: object) -> str:
    """``86400`` -> ``'1d'``; anything else as sent."""
    if isinstance(value, int) and not isinstance(value, bool):
        return format_duration(value)
    return NONE if value is None else str(value)


def link_terms(state: JsonObject) -> str:
    """How each received file's download link is made and who gets it:
    ``'1 download, valid 1d; shown to the uploader, emailed to ops@example.com'``."""
    uses = state.get("link_uses")
    terms = f"{plural(uses, 'download')}, valid {seconds(state.get('link_ttl'))}"
    to: list[str] = []
    if state.get("show_link"):
        to.append("shown to the uploader")
    if state.get("notify"):
        to.append(f"emailed to {state.get('notify')}")
    return f"{terms}; {', '.join(to)}" if to else terms


def request_table(state: JsonObject) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    rows: list[tuple[str, Text]] = [
        ("id", text(state.get("id"))),
        ("status", status_text(state.get("status"))),
        ("files", text(files_summary(state))),
        ("max size", text(size(state.get("max_size")))),
        ("types", text(content_types(state))),
        *lifetime_rows(state),
        ("download links", text(link_terms(state))),
        ("note", text(state.get("note"))),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def received_table(received: Sequence[JsonObject]) -> Table:
    columns = [
        WHEN,
        long_column("Filename", cell_of("filename")),
        Column("Size", lambda entry: text(size(entry.get("size"))), no_wrap=True, right=True),
        Column("Type", cell_of("content_type"), no_wrap=True),
        # The id of the file's download link: for `onetime show`, `revoke`, `extend`.
        Column("Link", cell_of("link_id"), no_wrap=True),
        long_column("Key", cell_of("file")),
    ]
    return records_table(received, columns, "Received")


def show_request(out: Console, state: JsonObject) -> None:
    received = [entry for entry in state.get("received") or [] if isinstance(entry, dict)]
    below = received_table(received) if received else Text("No files received yet.")
    emit(out, Group(request_table(state), Text(""), below))


def requests_table(requests: Sequence[JsonObject]) -> Table:
    return listing_table(requests, ("Files", "files", "max_files"), ("Note", "note"))


def request_summary(state: JsonObject) -> list[str]:
    """What a new file request asks for, in two lines."""
    kinds = content_types(state)
    kinds = "any type" if kinds == "any" else f"types: {kinds}"
    return [
        f"Upload link {state.get('id')}: up to {plural(state.get('max_files'), 'file')} of at "
        f"most {size(state.get('max_size'))} each ({kinds}); expires "
        f"{when(state.get('expires_at'))}.",
        f"Each file received gets a download link for {link_terms(state)}.",
    ]


def revoked_request_line(state: JsonObject) -> str:
    return (
        f"Revoked upload link {state.get('id')}: it takes no more files "
        f"({files_summary(state)}).  The download links of files already received still "
        "work: revoke those with `onetime revoke LINK`."
    )


@contextmanager
def download_progress(
    name: str, start: int, total: int | None, enabled: bool = True
) -> Iterator[Callable[[int], None] | None]:
    """``upload_progress`` for a download of ``name`` that starts at byte ``start``
    (above 0: a resumed one, said so, with the bar starting where it left off)."""
    doing = "Resuming" if start else "Downloading"
    with upload_progress(f"{doing} {name}", total, enabled=enabled) as advance:
        if advance is not None and start:
            advance(start)
        yield advance


@contextmanager
def upload_progress(
    description: str, total: int | None, enabled: bool = True
) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr (bytes, rate, time left) while the block runs, fed
    by the callable it yields; ``None`` and no bar when disabled or stderr is not
    a terminal (TTY_COMPATIBLE=1 or FORCE_COLOR=1 say it is one).  For uploads and
    downloads alike; a ``total`` of ``None`` (a size not announced) shows no end."""
    out = Console(stderr=True, highlight=False, emoji=False)
    if not (enabled and out.is_terminal):
        yield None
        return
    progress = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        DownloadColumn(binary_units=True),
        BinaryRateColumn(),
        TimeRemainingColumn(),
        console=out,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    with progress:
        task = progress.add_task(printable(description), total=total)
        yield lambda amount: progress.update(task, advance=amount)
