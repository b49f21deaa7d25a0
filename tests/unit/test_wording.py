"""Issue 22, item 5: the words and units a person reads, composed without AWS."""

from __future__ import annotations

import pytest

from chalicelib.domain import refusals
from chalicelib.domain.filekinds import file_kind
from chalicelib.domain.link import Link, StoredObject
from chalicelib.domain.text import human_size
from chalicelib.mail.mailer import Letter, compose
from onetime_cli import render


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (1, "1 byte"),
        (1000, "1000 bytes"),
        (1024, "1.0 KiB"),
        (10_240, "10.0 KiB"),
        (5 * 1024 * 1024, "5.0 MiB"),
        (3 * 1024**3, "3.0 GiB"),
    ],
)
def test_sizes_are_1024_based_as_in_the_cli(size: int, shown: str) -> None:
    assert human_size(size) == shown
    if size >= 1024:  # the CLI shows the same file the same way, the exact count after it
        assert render.size(size).split(" (")[0] == shown


@pytest.mark.parametrize(
    ("media_type", "name"),
    [
        ("application/pdf", "PDF document"),
        ("Application/PDF; charset=binary", "PDF document"),
        ("image/png", "PNG image"),
        ("application/zip", "ZIP archive"),
        ("application/x-unheard-of", "application/x-unheard-of"),
    ],
)
def test_file_types_have_names_a_person_knows(media_type: str, name: str) -> None:
    assert file_kind(media_type) == name


def test_a_wrong_type_is_refused_in_names() -> None:
    refused = refusals.wrong_type("application/zip", ("application/pdf", "image/png"))
    assert "PDF document, PNG image" in refused.message
    assert "ZIP archive" in refused.message
    assert "application/" not in refused.message


def link(max_uses: int) -> Link:
    return Link(
        link_id="a" * 16,
        token_digest="d" * 64,
        object=StoredObject("k", 10_240, "application/pdf", '"e"'),
        filename="Guide.pdf",
        max_uses=max_uses,
        uses=0,
        created_at=0.0,
        expires_at=7200,
        confirm=True,
    )


@pytest.mark.parametrize(
    ("max_uses", "says"),
    [
        (1, "The link can be used once, until it expires."),
        (2, "The link can be used for 2 downloads, until it expires."),
    ],
)
def test_the_email_says_how_often_the_link_works(max_uses: int, says: str) -> None:
    text, page = compose(Letter("c@example.com"), link(max_uses), "https://x/d", "S", 0.0)
    assert says in text and says in page
    assert "a limited time and" not in text
    assert "10.0 KiB" in text
