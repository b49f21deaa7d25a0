"""The operators' commands: mint a link (``link``), and inspect, change, refund, revoke,
unlock, list and resend the links there are."""

from __future__ import annotations

import shlex
from collections.abc import Callable

import click

from onetime_cli import render
from onetime_cli.client import ApiClient
from onetime_cli.failures import Failure
from onetime_cli.group import Config, pass_config
from onetime_cli.options import (
    JSON_ANSWER,
    STATE_ANSWER,
    F,
    NewLink,
    count_option,
    duration_option,
    json_option,
    link_argument,
    mint_options,
    print_answer,
    print_minted,
)


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


@click.command("link")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@mint_options(filename_help="Save the download under this name (one FILE only).")
@check_options
@pass_config
def link_command(
    config: Config,
    files: tuple[str, ...],
    new_link: NewLink,
    as_json: bool,
    verify: str | None,
    notify: str | None,
) -> None:
    """Mint a download link for FILE (an S3 key) and print its URL.

    Several FILEs (up to 50) make one link to all of them, a bundle: one
    press of Download (or one `onetime get`) spends one use for every file,
    and each file is then fetched in the download session that opened.  The
    list cannot change once minted; each file keeps its own name.

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
      onetime link "reports/q3.pdf" "reports/q3-data.csv" "reports/q3-notes.txt"
    """
    check_verify_options(verify, new_link.email, new_link.no_confirm)
    if len(files) > 1 and new_link.filename is not None:
        raise click.BadParameter(
            "a bundle's files keep their own names: give --filename with one FILE only.",
            param_hint="'--filename'",
        )
    named: str | list[str] = files[0] if len(files) == 1 else list(files)
    minted = config.client().create_link(
        named, **new_link.arguments(), verify=verify, notify=notify
    )
    print_minted(minted, new_link.email, as_json)
    print_code(minted)


@click.command("show")
@link_argument
@json_option()
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
    print_answer(state, as_json, lambda shown: render.show_state(render.console(), shown))


Change = Callable[[ApiClient, str], render.JsonObject]


def change_command(
    name: str, line: Callable[[render.JsonObject], str]
) -> Callable[[Change], click.Command]:
    """A command that changes one link and nothing more: ``line`` says the link's state
    after it (``--json`` prints the state); the change's docstring is the command's help."""

    def build(change: Change) -> click.Command:
        @click.command(name, help=change.__doc__)
        @link_argument
        @json_option(STATE_ANSWER)
        @pass_config
        def command(config: Config, link_id: str, as_json: bool) -> None:
            state = change(config.client(), link_id)
            print_answer(state, as_json, lambda shown: render.echo(line(shown)))

        return command

    return build


@change_command("revoke", render.revoked_line)
def revoke_command(client: ApiClient, link_id: str) -> render.JsonObject:
    """Revoke a link now: it will not deliver again.  Revoking twice is harmless.

    \b
    Examples:
      onetime revoke abcdefghijklmnop
      onetime revoke "https://onetime.example.com/download?token=..."
    """
    return client.revoke_link(link_id)


@change_command("unlock", render.unlocked_line)
def unlock_command(client: ApiClient, link_id: str) -> render.JsonObject:
    """Unlock a link that wrong answers to its recipient check locked.

    It takes answers again (five more before it locks); the wrong answers so
    far stay listed in `onetime show`, with the unlock.  A link without a
    check cannot be unlocked (exit 1).

    \b
    Examples:
      onetime unlock abcdefghijklmnop
      onetime unlock "https://onetime.example.com/download?token=..."
    """
    return client.unlock_link(link_id)


@click.command("refund")
@link_argument
@click.option(
    "--redemption",
    metavar="RID",
    help="Give back the use of this redemption (its id from `onetime show`), and mark it "
    "refunded.  [default: one use, none named]",
)
@json_option(STATE_ANSWER)
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
    print_answer(state, as_json, lambda shown: render.echo(render.refunded_line(shown, redemption)))


# What would make a link that is still not active after an extend deliver again.
STILL_DEAD_HINTS = {
    "revoked": "a revoked link stays revoked; mint a new one",
    "used": "give --uses above the uses made",
    "expired": "give --ttl to move the expiry",
}


@click.command("extend")
@link_argument
@duration_option(
    "--ttl", "New lifetime, counted from now (not from the old expiry): 30m, 2h, 7d, 1w."
)
@count_option("--uses", "New total of downloads allowed (not added to the old one).", minimum=0)
@click.option("--note", metavar="TEXT", help="Replace the note.")
@json_option(STATE_ANSWER)
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
    print_answer(state, as_json, lambda shown: render.echo(render.updated_line(shown)))


@click.command("list")
@click.option("--file", "file", metavar="KEY", help="The S3 key of the file.")
@click.option("--email", metavar="ADDR", help="The address the links were emailed to (any case).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Links per page.")
@click.option("--cursor", metavar="C", help="Continue from a previous page.")
@click.option("--all", "fetch_all", is_flag=True, help="Follow every page.")
@json_option(JSON_ANSWER)
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
    """List the newest links, or those minted for a file, or emailed to an address.

    Newest first.  Give at most one of --file and --email; without either, every
    link the table still holds is listed, page by page.

    \b
    Examples:
      onetime list
      onetime list --file "reports/q3.pdf"
      onetime list --file "reports/q3.pdf" --all
      onetime list --file "reports/q3.pdf" --json | jq -r '.links[].id'
      onetime list --email customer@example.com
    """
    if file is not None and email is not None:
        raise click.UsageError("give at most one of --file and --email.")
    client = config.client()
    if fetch_all:
        found = client.iter_links(file=file, email=email, limit=limit, cursor=cursor)
        page: render.JsonObject = {"links": list(found), "next_cursor": None}
    else:
        page = client.list_links(file=file, email=email, limit=limit, cursor=cursor)
    links: list[render.JsonObject] = page.get("links") or []
    next_cursor = page.get("next_cursor")
    if as_json:
        render.print_json(page)
        return
    if links:
        render.emit(render.console(), render.links_table(links))
    else:
        which = f" for {file or email}" if file or email else ""
        render.echo(f"No links{which}." if cursor is None else "No more links.")
    if next_cursor:
        more = ["onetime", "list"]
        if file is not None:
            more += ["--file", file]
        elif email is not None:
            more += ["--email", email]
        more += ["--limit", str(limit)] if limit is not None else []
        more += ["--cursor", next_cursor]
        render.echo(f"More links: {shlex.join(more)}  (or --all)", err=True)


@click.command("resend")
@link_argument
@count_option("--uses", "Downloads the new link allows.  [default: what the old one has left]")
@duration_option(
    "--ttl",
    "How long the new link lives, from now: 30m, 2h, 7d.  [default: the old one's remaining time]",
)
@json_option(JSON_ANSWER)
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
