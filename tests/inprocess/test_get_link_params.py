"""Issue 22, items 3 and 5: ``GET /get-link`` with an API key refuses what it does not
know, and a number out of range is told the range, before anything is minted."""

from __future__ import annotations

import pytest

from tests.helpers import InProcess

PDF = b"%PDF-1.4 tiny test file\n"
ALLOWED = "file, uses, ttl, filename, confirm"


@pytest.mark.parametrize("typo", ["ttls=60", "use=2", "expires=3600", "file2=x"])
def test_an_unknown_parameter_is_refused_naming_the_allowed_ones(
    service: InProcess, typo: str
) -> None:
    service.put("docs/report.pdf", PDF)
    response = service.client.http.get(
        f"/get-link?file=docs/report.pdf&{typo}", headers=service.auth()
    )
    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_parameter"
    message = response.json_body["message"]
    assert repr(typo.split("=")[0]) in message
    assert ALLOWED in message
    assert service.table_items() == []  # nothing minted


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("ttl=99999999999", "ttl must be between 1 and 2592000 seconds (30 days)."),
        ("ttl=0", "ttl must be between 1 and 2592000 seconds (30 days)."),
        ("uses=99999999999", "uses must be between 1 and 100."),
    ],
)
def test_a_number_out_of_range_is_told_the_range(service: InProcess, query: str, says: str) -> None:
    service.put("docs/report.pdf", PDF)
    response = service.client.http.get(
        f"/get-link?file=docs/report.pdf&{query}", headers=service.auth()
    )
    assert response.status_code == 400
    assert response.json_body["message"] == says
    assert service.table_items() == []


def test_the_allowed_parameters_still_mint(service: InProcess) -> None:
    service.put("docs/report.pdf", PDF)
    response = service.client.http.get(
        "/get-link?file=docs/report.pdf&uses=2&ttl=60&filename=r.pdf&confirm=false",
        headers=service.auth(),
    )
    assert response.status_code == 200, response.json_body
    assert response.json_body["max_uses"] == 2
    assert response.json_body["filename"] == "r.pdf"
