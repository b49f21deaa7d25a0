"""Naming a link (or a file request) on the command line: its id, or the token or URL an
operator has at hand."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import click

# A token is the 16-character link id followed by a 43-character secret
# (chalicelib/domain/tokens.py); a file request's token is of the same kind.  Only the id ever
# leaves this machine.
_TOKEN = re.compile(r"([a-z2-7]{16})[A-Za-z0-9_-]{43}")


def link_id_from(text: str) -> str:
    """The id in ``text``: an id, a token, or a URL carrying the token (a download
    link's ``/download?token=...``, an upload link's ``/upload?token=...&terms=...``)."""
    value = text.strip()
    if "?" in value or "://" in value:
        tokens = parse_qs(urlsplit(value).query).get("token")
        if tokens:
            value = tokens[0]
    found = _TOKEN.fullmatch(value)
    return found.group(1) if found else value


class LinkRef(click.ParamType[str]):
    """A link id; a pasted token or URL is reduced to its id, never sent whole."""

    name = "id"

    def __init__(self, missing: str = "give a link id (or the link's URL).") -> None:
        self.missing = missing

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> str:
        link_id = link_id_from(str(value))
        if not link_id:
            self.fail(self.missing, param, ctx)
        return link_id

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "ID"


LINK = LinkRef()
REQUEST = LinkRef("give a file request's id (or its upload URL).")
