"""Bundles over HTTP against the local stack (dynalite, moto server, chalice local): every
answer conforms to openapi.yaml (schemathesis), two presses racing spend the one use once,
and each file arrives byte-identical through the session."""

from __future__ import annotations

import threading
from typing import Any

import requests
import schemathesis

from tests.helpers import ROOT, item, s3_bytes, token_of
from tests.stack.openapi import CHECKS
from tools.samples import LARGE_SAMPLE, SMALL_SAMPLE
from tools.stack import Stack

SPEC = schemathesis.openapi.from_path(ROOT / "openapi.yaml")
FILES: list[Any] = [SMALL_SAMPLE, LARGE_SAMPLE]


def header(response: Any, name: str) -> str:
    """One header of a schemathesis response (its headers are lists, by lower-case name)."""
    value: str = response.headers[name.lower()][0]
    return value


def auth(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.api_key}"}


def mint_bundle(stack: Stack) -> dict[str, Any]:
    case = SPEC["/links"]["POST"].Case(body={"files": FILES})
    response = case.call(base_url=stack.base_url, headers=auth(stack))
    case.validate_response(response, checks=CHECKS)
    assert response.status_code == 201, response.text
    minted: dict[str, Any] = response.json()
    return minted


def test_a_bundle_conforms_from_mint_to_each_file(stack: Stack) -> None:
    minted = mint_bundle(stack)
    token = token_of(minted)
    press = SPEC["/download"]["POST"].Case(
        body={"token": token}, media_type="application/x-www-form-urlencoded"
    )
    opened = press.call(base_url=stack.base_url, headers={"Accept": "*/*"})
    press.validate_response(opened, checks=CHECKS)
    assert opened.status_code == 200, opened.text
    assert header(opened, "X-Bundle-Files") == "2"
    assert [f["size"] for f in opened.json()["files"]] == [
        len(s3_bytes(stack, key)) for key in FILES
    ]
    session = header(opened, "X-Download-Session")
    for number, key in enumerate(FILES, start=1):
        fetch = SPEC["/download"]["POST"].Case(
            body={"token": token, "file": str(number)},
            media_type="application/x-www-form-urlencoded",
        )
        answer = fetch.call(
            base_url=stack.base_url,
            headers={"Accept": "*/*", "X-Download-Session": session},
            allow_redirects=False,
        )
        fetch.validate_response(answer, checks=CHECKS)
        assert answer.status_code == 302
        body = requests.get(header(answer, "Location"), timeout=30).content
        assert body == s3_bytes(stack, key)
    shown = SPEC["/links/{link_id}"]["GET"].Case(path_parameters={"link_id": minted["id"]})
    state = shown.call(base_url=stack.base_url, headers=auth(stack))
    shown.validate_response(state, checks=CHECKS)
    assert state.json()["redemptions"][0]["fetches"] == {"1": 1, "2": 1}


def test_two_presses_racing_spend_the_bundles_one_use_once(stack: Stack) -> None:
    minted = mint_bundle(stack)
    token = token_of(minted)
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def press() -> None:
        barrier.wait(timeout=10)
        answer = requests.post(
            f"{stack.base_url}/download",
            data={"token": token},
            headers={"Accept": "*/*"},
            timeout=30,
        )
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200, 410]
    assert int(item(stack, minted["id"])["uses"]["N"]) == 1
