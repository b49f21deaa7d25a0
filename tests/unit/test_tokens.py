"""Tokens as people paste them: punctuation that a sentence adds after a link is not part
of the token, and a token cut short is still refused."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import InvalidRequestError
from chalicelib.domain.tokens import new_token, parse_token


@pytest.mark.parametrize("tail", [".", ",", ")", ">", "]", "'", '"', ").", '">', "!", "?"])
def test_punctuation_after_a_pasted_link_is_dropped(tail: str) -> None:
    token = new_token()
    assert parse_token(token.value + tail) == token


def test_a_truncated_token_is_still_incomplete() -> None:
    token = new_token().value
    with pytest.raises(InvalidRequestError) as refused:
        parse_token(token[:-1] + ".")
    assert refused.value.code == "malformed_token"
    with pytest.raises(InvalidRequestError) as missing:
        parse_token(").")
    assert missing.value.code == "missing_token"


def test_nothing_inside_the_token_is_changed() -> None:
    token = new_token().value
    with pytest.raises(InvalidRequestError):
        parse_token(token[:20] + "." + token[21:])
