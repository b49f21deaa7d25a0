"""A bundle's token says so, exactly (chalicelib/domain/tokens.py): its claim then asks for
the file list in the same single write, and no other token ever asks."""

from __future__ import annotations

from chalicelib.domain.tokens import new_token, parse_token


def test_a_bundles_token_says_it_is_one_and_parses_as_any_token() -> None:
    for confirm in (True, False):
        token = new_token(confirm=confirm, bundle=True)
        assert token.hints_bundle
        assert token.hints_confirm is confirm
        assert parse_token(token.value) == token


def test_no_other_token_says_it_is_a_bundle() -> None:
    # A 256-bit secret leaves its last character's two low bits zero: exact, not likely.
    assert not any(new_token(confirm=n % 2 == 0).hints_bundle for n in range(2000))
