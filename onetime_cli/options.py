"""What several commands share: the options of a new link, the ``--json`` switch, a
link's ID argument, and how an answer is printed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeVar, cast

import click

from onetime_cli import render
from onetime_cli.durations import DURATION
from onetime_cli.links import LINK

F = TypeVar("F", bound=Callable[..., Any])

WHOLE_ANSWER = "Print the server's whole JSON answer."
JSON_ANSWER = "Print the server's JSON answer."
STATE_ANSWER = "Print the link's state as JSON."

# A link's ID; its URL or token works too (only the id is sent).
link_argument = click.argument("link_id", metavar="ID", type=LINK)


def json_option(help_text: str = WHOLE_ANSWER) -> Callable[[F], F]:
    return click.option("--json", "as_json", is_flag=True, help=help_text)


def count_option(name: str, help_text: str, minimum: int = 1) -> Callable[[F], F]:
    """A whole number of uses or files, at least ``minimum``."""
    return click.option(name, type=click.IntRange(min=minimum), metavar="N", help=help_text)


def duration_option(name: str, help_text: str) -> Callable[[F], F]:
    """A lifetime, as onetime_cli/durations.py reads it: 30s, 30m, 2h, 7d, 1w or seconds."""
    return click.option(name, type=DURATION, help=help_text)


def stacked(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    """One decorator for several options, listed as --help shows them."""

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def mail_options(what: str, subject_help: str) -> Callable[[F], F]:
    """--email, --subject and --message: send ``what`` to one address (``check_mail_options``)."""
    return stacked(
        [
            click.option(
                "--email",
                metavar="ADDR",
                help=f"Email {what} to this one address (the URL is still printed).",
            ),
            click.option("--subject", metavar="TEXT", help=subject_help),
            click.option(
                "--message", metavar="TEXT", help="A message to the recipient in the email."
            ),
        ]
    )


def print_answer(answer: render.JsonObject, as_json: bool, show: Callable[[Any], object]) -> None:
    """The server's answer as JSON with ``--json``; else what ``show`` makes of it."""
    if as_json:
        render.print_json(answer)
    else:
        show(answer)


@dataclass(frozen=True)
class NewLink:
    """What the options of a new link ask for; None leaves it to the server."""

    uses: int | None
    ttl: int | None
    filename: str | None
    no_confirm: bool
    note: str | None
    email: str | None
    subject: str | None
    message: str | None

    def arguments(self) -> dict[str, Any]:
        """As ``ApiClient.create_link`` takes them."""
        chosen = {field.name: getattr(self, field.name) for field in fields(self)}
        del chosen["no_confirm"]
        return {**chosen, "confirm": False if self.no_confirm else None}


def mint_options(filename_help: str) -> Callable[[F], F]:
    """The options of a new link, shared by ``link`` and ``share``: the command gets them
    as one ``new_link`` (a NewLink), with its mail options checked."""
    options = [
        count_option("--uses", "Downloads the link allows.  [default: 1]"),
        duration_option(
            "--ttl", "How long the link lives: 30s, 30m, 2h, 7d, 1w or seconds.  [default: 1d]"
        ),
        click.option("--filename", metavar="NAME", help=filename_help),
        click.option(
            "--no-confirm",
            is_flag=True,
            help="Let a browser's first visit download at once.  Without it a person presses "
            "Download first, so mail scanners and chat previews spend nothing.",
        ),
        click.option("--note", metavar="TEXT", help="A note for operators (show, list)."),
        mail_options("the link", "The email's subject.  [default: Your download: <filename>]"),
        json_option(),
    ]
    names = [field.name for field in fields(NewLink)]

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def gathered(*args: Any, **kwargs: Any) -> Any:
            new_link = NewLink(**{name: kwargs.pop(name) for name in names})
            check_mail_options(new_link.email, new_link.subject, new_link.message)
            return command(*args, new_link=new_link, **kwargs)

        return cast(F, stacked(options)(gathered))

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
