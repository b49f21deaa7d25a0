"""Issue 25, over HTTP on dynalite (atomic conditional writes): two tabs complete the same
multipart upload and go on to its confirmation at once.  S3 joins the parts once; the
request takes one file, and exactly one download link works."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import requests

from tests.helpers import TIMEOUT
from tools.stack import Stack

MiB = 1024 * 1024
PART = 5 * MiB  # the stack's ONETIME_MULTIPART_PART_BYTES
ROUNDS = 3


def operator(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.api_key}"}


def uploaded(stack: Stack, data: bytes) -> tuple[dict[str, Any], str, str]:
    """A request, and a multipart upload through it whose parts are all in S3: the request,
    its token, the upload's ticket."""
    made = requests.post(
        f"{stack.base_url}/requests", json={"files": 1}, headers=operator(stack), timeout=TIMEOUT
    ).json()
    token = made["url"].split("token=", 1)[1].split("&", 1)[0]
    started = requests.post(
        f"{stack.base_url}/upload/multipart?token={token}",
        json={"filename": "Été.bin", "size": len(data)},
        timeout=TIMEOUT,
    )
    assert started.status_code == 201, started.text
    ticket = started.json()["upload"]
    signed = requests.post(
        f"{stack.base_url}/upload/parts?token={token}",
        json={"upload": ticket, "parts": [1, 2]},
        timeout=TIMEOUT,
    )
    assert signed.status_code == 200, signed.text
    for part in signed.json()["parts"]:
        start = (part["number"] - 1) * PART
        sent = requests.put(part["url"], data=data[start : start + part["size"]], timeout=TIMEOUT)
        assert sent.status_code == 200, sent.text
    return made, token, ticket


def two_tabs(stack: Stack, token: str, ticket: str) -> list[tuple[int, int]]:
    """Each tab completes the upload, then goes where the answer says: the statuses."""
    barrier = threading.Barrier(2)
    answers: list[tuple[int, int]] = []
    errors: list[str] = []

    def tab() -> None:
        barrier.wait()
        # As the page does, a 503 is tried again: moto 5.2.5 is not thread-safe here (two
        # completions at once: one fails inside moto, "I/O operation on closed file").
        for _ in range(3):
            completed = requests.post(
                f"{stack.base_url}/upload/complete?token={token}",
                json={"upload": ticket},
                timeout=TIMEOUT,
            )
            if completed.status_code != 503:
                break
        if completed.status_code != 200:
            answers.append((completed.status_code, 0))
            errors.append(completed.text)
            return
        done = requests.get(
            completed.json()["done"], headers={"Accept": "application/json"}, timeout=TIMEOUT
        )
        answers.append((completed.status_code, done.status_code))

    tabs = [threading.Thread(target=tab) for _ in range(2)]
    for thread in tabs:
        thread.start()
    for thread in tabs:
        thread.join()
    assert errors == [], errors
    return answers


def test_two_tabs_completing_one_upload_get_one_link(stack: Stack) -> None:
    data = bytes(range(256)) * (PART // 256) + b"tail" * 1000
    for _ in range(ROUNDS):
        made, token, ticket = uploaded(stack, data)
        answers = two_tabs(stack, token, ticket)
        assert sorted(answers) == [(200, 201), (200, 409)], answers
        state = requests.get(
            f"{stack.base_url}/requests/{made['id']}", headers=operator(stack), timeout=TIMEOUT
        ).json()
        [receipt] = state["received"]
        assert (state["files"], receipt["size"]) == (1, len(data))
        links = requests.get(
            f"{stack.base_url}/links?file={quote(receipt['file'], safe='')}",
            headers=operator(stack),
            timeout=TIMEOUT,
        ).json()["links"]
        working = [link["id"] for link in links if link["status"] == "active"]
        assert working == [receipt["link_id"]]
        body = stack.client("s3").get_object(Bucket=stack.bucket, Key=receipt["file"])["Body"]
        assert body.read() == data
