"""A signed value whose signature holds characters beyond ASCII is refused, not an error
(schemathesis found GET /uploads/parts?upload=£e.\x8d>… answering 500: hmac's
compare_digest raises on non-ASCII text).  Every signer compares through one function."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import InvalidRequestError
from chalicelib.domain.multipart import TicketSigner
from chalicelib.domain.stamps import Stamps
from chalicelib.domain.terms import TermsSigner

HASHES = ("0" * 64,)
FORGED = ["£e.\x8d>\x02\n8o@:Õ\x86", "e30.ü" + "0" * 31, "e30.\udcff"]


@pytest.mark.parametrize("signed", FORGED)
def test_a_multipart_ticket_with_a_foreign_signature_is_a_bad_request(signed: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        TicketSigner(HASHES).verify(signed)
    assert refused.value.code == "invalid_upload"


@pytest.mark.parametrize("signed", FORGED)
def test_upload_terms_with_a_foreign_signature_are_refused(signed: str) -> None:
    assert TermsSigner(HASHES).verify("d" * 64, signed) is None


@pytest.mark.parametrize("signature", ["é" * 32, "\udcff"])
def test_a_stamp_with_a_foreign_signature_is_refused(signature: str) -> None:
    stamps = Stamps(HASHES)
    made = stamps.make("l" * 16, 1_800_000_000.0, "k" * 43)
    forged = made.rsplit(".", 1)[0] + "." + signature
    assert stamps.shown_at("l" * 16, forged, "k" * 43) is None
    assert stamps.shown_at("l" * 16, made, "k" * 43) == 1_800_000_000.0
