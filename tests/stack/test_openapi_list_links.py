"""Issue 22, item 9, against openapi.yaml with schemathesis: ``GET /links`` with neither
``file`` nor ``email`` answers 200 with the newest links, and with both, 400; each answer
conforms to the spec."""

from __future__ import annotations

import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import ROOT
from tools.samples import SMALL_SAMPLE
from tools.stack import Stack

SPEC = ROOT / "openapi.yaml"
LIST_LINKS = schemathesis.openapi.from_path(SPEC)["/links"]["GET"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def auth(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.api_key}"}


def test_neither_file_nor_email_lists_the_newest_links(stack: Stack) -> None:
    minted = requests.post(
        f"{stack.base_url}/links", json={"file": SMALL_SAMPLE}, headers=auth(stack), timeout=30
    )
    assert minted.status_code == 201, minted.text
    case = LIST_LINKS.Case(query={"limit": 5})
    response = case.call(base_url=stack.base_url, headers=auth(stack))
    case.validate_response(response, checks=CHECKS)
    assert response.status_code == 200
    assert response.json()["links"][0]["id"] == minted.json()["id"]


def test_both_file_and_email_are_refused(stack: Stack) -> None:
    case = LIST_LINKS.Case(query={"file": SMALL_SAMPLE, "email": "a@example.com"})
    response = case.call(base_url=stack.base_url, headers=auth(stack))
    case.validate_response(response, checks=CHECKS)
    assert response.status_code == 400 and response.json()["error"] == "invalid_query"
