"""Issue 22, item 9, against openapi.yaml with schemathesis: ``GET /links`` with neither
``file`` nor ``email`` answers 200 with the newest links, and with both, 400; each answer
conforms to the spec."""

from __future__ import annotations

import schemathesis

from tests.helpers import create
from tests.stack.openapi import CHECKS, SPEC, auth
from tools.samples import SMALL_SAMPLE
from tools.stack import Stack

LIST_LINKS = schemathesis.openapi.from_path(SPEC)["/links"]["GET"]


def test_neither_file_nor_email_lists_the_newest_links(stack: Stack) -> None:
    minted = create(stack, SMALL_SAMPLE)
    case = LIST_LINKS.Case(query={"limit": 5})
    response = case.call(base_url=stack.base_url, headers=auth(stack))
    case.validate_response(response, checks=CHECKS)
    assert response.status_code == 200
    assert response.json()["links"][0]["id"] == minted["id"]


def test_both_file_and_email_are_refused(stack: Stack) -> None:
    case = LIST_LINKS.Case(query={"file": SMALL_SAMPLE, "email": "a@example.com"})
    response = case.call(base_url=stack.base_url, headers=auth(stack))
    case.validate_response(response, checks=CHECKS)
    assert response.status_code == 400 and response.json()["error"] == "invalid_query"
