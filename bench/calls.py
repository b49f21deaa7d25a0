"""1. AWS API calls per request, counted by botocore's ``before-call`` hooks.

Counted twice: against dynalite + moto server (the local stack), and against
moto in-process (``mock_aws``), which, like DynamoDB, returns the old item with
a refused conditional write (``ReturnValuesOnConditionCheckFailure``).
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from chalice.test import Client

from bench.common import (
    BROWSER_ACCEPT,
    ENDPOINT_VARIABLES,
    Goal,
    Section,
    environment,
    fresh_default_session,
    reset_app_caches,
)
from tools import ROOT
from tools.resources import create_table
from tools.samples import LARGE_SAMPLE, SMALL_SAMPLE, sample_pdf
from tools.stack import Stack, api_key_digest

REPEATS = 3
KEY = SMALL_SAMPLE  # a small PDF: streamed to a client that accepts it
BUNDLED = LARGE_SAMPLE  # the second file of a bundle (in the stack's bucket)
GOALS = {
    "mint": 2,
    "redeem, stream": 2,
    "redeem, redirect (POST)": 1,
    "re-delivery in a download session": 1,
    "redeem, redirect (GET, confirm=false)": 1,
    "landing page": 1,
    "GET that must confirm (409)": 1,
    "HEAD": 1,
    "refund": 1,
    "file request: mint": 1,
    "file request: upload page": 1,
    "file request: confirmation": 5,
}
# Counted on the local stack only (moto in-process is not asked to take parts over HTTP).
STACK_ONLY = {
    "multipart: start": 1,
    "multipart: sign a batch of parts": 0,
    "multipart: list the parts held": 1,
    "multipart: complete": 2,
    "bundle of 2 files: mint": 3,
    "bundle: press": 1,
    "bundle: fetch one file in the session": 1,
}


class Hooks:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def before_call(self, model: Any, **_: Any) -> None:
        self.calls.append(f"{model.service_model.service_name}:{model.name}")


def count_requests(
    app: ModuleType, api_key: str, bucket: str, *, stack: bool = False
) -> dict[str, list[list[str]]]:
    """Each kind of request ``REPEATS`` times; the AWS operations each one made."""
    hooks = Hooks()
    fresh_default_session(hooks.before_call)
    reset_app_caches(app)
    client = Client(app.app, stage_name="local", project_dir=str(ROOT)).http
    auth = {"Authorization": f"Bearer {api_key}"}
    seen: dict[str, list[list[str]]] = {name: [] for name in (*GOALS, *STACK_ONLY)}

    def measure(name: str, request: Callable[[], Any], status: int) -> Any:
        hooks.calls.clear()
        response = request()
        assert response.status_code == status, (name, response.status_code, response.body)
        seen[name].append(list(hooks.calls))
        return response

    def mint(confirm: bool) -> str:
        query = urlencode({"file": KEY, "confirm": str(confirm).lower()})
        response = measure("mint", lambda: client.get(f"/get-link?{query}", headers=auth), 200)
        token: str = response.json_body["url"].split("token=", 1)[1]
        return token

    def download(token: str, accept: str | None, method: str = "GET") -> Callable[[], Any]:
        headers = {"Accept": accept} if accept is not None else {}
        return functools.partial(
            client.request, method, f"/download?token={token}", headers=headers
        )

    def press(token: str, accept: str, session: str = "") -> Callable[[], Any]:
        headers = {"Accept": accept, "Content-Type": "application/x-www-form-urlencoded"}
        if session:
            headers["X-Download-Session"] = session
        return functools.partial(client.post, "/download", headers=headers, body=f"token={token}")

    def refund(token: str) -> Callable[[], Any]:
        path = f"/links/{token[:16]}/refund"
        return functools.partial(client.post, path, headers=auth, body=b"")

    def file_request() -> None:
        """Mint an upload link, show its page, put a file where the form would, confirm."""
        import boto3

        made = measure(
            "file request: mint",
            lambda: client.post(
                "/requests", headers={**auth, "Content-Type": "application/json"}, body=b"{}"
            ),
            201,
        )
        page_query = made.json_body["url"].split("?", 1)[1]
        page = measure(
            "file request: upload page",
            lambda: client.get(f"/upload?{page_query}", headers={"Accept": BROWSER_ACCEPT}),
            200,
        )
        key = re.search(r'name="key" value="([^"]+)"', page.body.decode())
        assert key is not None
        stored = html.unescape(key.group(1)).replace("${filename}", "bench.pdf")
        # Not through the app's (hooked) session: this is the browser's part.
        s3 = boto3.session.Session().client("s3")
        s3.put_object(
            Bucket=bucket, Key=stored, Body=b"%PDF-1.7 bench", ContentType="application/pdf"
        )
        token = page_query.split("token=", 1)[1].split("&", 1)[0]
        done = urlencode({"token": token, "key": stored})
        measure(
            "file request: confirmation",
            lambda: client.get(f"/upload/done?{done}", headers={"Accept": BROWSER_ACCEPT}),
            201,
        )

    def multipart() -> None:
        """An operator's large upload: start, sign, list, the parts put as a client would
        (not counted), complete."""
        import requests

        part = 5 * 1024 * 1024
        json_auth = {**auth, "Content-Type": "application/json"}
        size = 4 * part + 1  # over the stack's 20 MiB threshold: five parts
        body = json.dumps({"filename": "big.bin", "size": size}).encode()
        started = measure(
            "multipart: start", lambda: client.post("/uploads", headers=json_auth, body=body), 201
        ).json_body
        ticket = started["upload"]
        numbers = list(range(1, started["parts"] + 1))
        batch = json.dumps({"upload": ticket, "parts": numbers}).encode()
        signed = measure(
            "multipart: sign a batch of parts",
            lambda: client.post("/uploads/parts", headers=json_auth, body=batch),
            200,
        ).json_body
        for each in signed["parts"]:
            assert requests.put(each["url"], data=b"b" * each["size"], timeout=30).ok
        measure(
            "multipart: list the parts held",
            lambda: client.get(f"/uploads/parts?{urlencode({'upload': ticket})}", headers=auth),
            200,
        )
        done = json.dumps({"upload": ticket}).encode()
        measure(
            "multipart: complete",
            lambda: client.post("/uploads/complete", headers=json_auth, body=done),
            200,
        )

    def bundle() -> None:
        json_auth = {**auth, "Content-Type": "application/json"}
        body = json.dumps({"files": [KEY, BUNDLED], "confirm": True}).encode()
        made = measure(
            "bundle of 2 files: mint",
            lambda: client.post("/links", headers=json_auth, body=body),
            201,
        ).json_body
        token = made["url"].split("token=", 1)[1]
        pressed = measure("bundle: press", press(token, "application/json"), 200)
        session = pressed.headers["X-Download-Session"]
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Download-Session": session,
        }
        measure(
            "bundle: fetch one file in the session",
            lambda: client.post("/download", headers=headers, body=f"token={token}&file=2"),
            302,
        )

    # A first request creates the clients (credentials, endpoints): not counted.
    client.get("/download?token=x")
    for _ in range(REPEATS):
        for_stream, for_get, for_landing = mint(True), mint(False), mint(True)
        measure("landing page", download(for_landing, BROWSER_ACCEPT), 200)
        measure("GET that must confirm (409)", download(for_landing, "*/*"), 409)
        measure("HEAD", download(for_landing, None, "HEAD"), 200)
        pressed = measure("redeem, redirect (POST)", press(for_landing, "application/json"), 302)
        session = pressed.headers["X-Download-Session"]
        again = press(for_landing, "application/json", session)
        measure("re-delivery in a download session", again, 302)
        measure("refund", refund(for_landing), 200)
        measure("redeem, stream", press(for_stream, "application/pdf"), 200)
        measure("redeem, redirect (GET, confirm=false)", download(for_get, "*/*"), 302)
        file_request()
        if stack:
            multipart()
            bundle()
    reset_app_caches(app)
    fresh_default_session()
    return seen


def on_stack(app: ModuleType, stack: Stack) -> dict[str, list[list[str]]]:
    with environment(stack.app_env()):
        return count_requests(app, stack.api_key, stack.bucket, stack=True)


def on_moto(app: ModuleType) -> dict[str, list[list[str]]]:
    from moto import mock_aws

    table, bucket, key = "bench-moto", "bench-moto", "bench-moto-key"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ONETIME_TABLE": table,
        "ONETIME_BUCKET": bucket,
        "ONETIME_API_KEY_SHA256": api_key_digest(key),
    }
    with environment(env, drop=ENDPOINT_VARIABLES), mock_aws():
        import boto3

        own = boto3.session.Session()
        create_table(own.client("dynamodb"), table)
        s3 = own.client("s3")
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=bucket, Key=KEY, Body=sample_pdf(), ContentType="application/pdf")
        return count_requests(app, key, bucket)


def summary(runs: list[list[str]]) -> tuple[int, str]:
    """The call count (the largest seen) and the operations, or each variant if they differ."""
    variants = sorted({" + ".join(op.split(":")[1] for op in calls) or "none" for calls in runs})
    return max(len(calls) for calls in runs), " / ".join(variants)


def measure(app: ModuleType, stack: Stack) -> Section:
    local = on_stack(app, stack)
    moto = on_moto(app)
    section = Section(
        "1. AWS API calls per request",
        ["request", "goal", "dynalite + moto server", "operations", "moto in-process"],
    )
    for name, goal in GOALS.items():
        count, operations = summary(local[name])
        moto_count, moto_operations = summary(moto[name])
        section.rows.append(
            [
                name,
                str(goal),
                str(count),
                operations,
                f"{moto_count} ({moto_operations})",
            ]
        )
        key = "calls_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        section.goals.append(Goal(f"calls: {name}", float(count), float(goal), unit="", key=key))
    for name, goal in STACK_ONLY.items():
        count, operations = summary(local[name])
        section.rows.append([name, str(goal), str(count), operations, "—"])
    section.notes.append(
        f"Each request made {REPEATS} times through `chalice.test.Client` in this process; "
        "operations counted by a `before-call.*.*` hook on boto3's default session, from "
        "which the app creates its clients. Presigning makes no call."
    )
    section.notes.append(
        "Landing page, a GET that must confirm, and HEAD: one `UpdateItem` that records the "
        "visit and returns the link (docs/COUNTING.md); it succeeds, so dynalite and DynamoDB "
        "answer alike. A POST redeems with the one claim; a re-delivery in a download session (the "
        "session's credential sent back) and a refund are one conditional `UpdateItem` each. "
        "A GET on a `confirm=false` link claims at once: its token says which "
        "write to try."
    )
    section.notes.append(
        "File requests: making one is one `PutItem`. Its page is one consistent `GetItem`, so "
        "that a withdrawn or filled request offers no form; the S3 form is presigned locally. "
        "A confirmation is one `HeadObject` (the file is there, its size and type), one "
        "`GetItem` (a refusal changes nothing), one `PutItem` (the download link, minted before "
        "any receipt names it), one `PutObjectTagging` (so the lifecycle rule for unconfirmed "
        "uploads spares the file) and one conditional `UpdateItem` that takes one of the "
        "request's files (docs/CONSISTENCY.md)."
    )
    section.notes.append(
        "Multipart (issue 25): an operator's upload of five 5 MiB parts on the stack (its "
        "threshold is 20 MiB); the parts themselves go to S3 directly, uncounted. Signing is "
        "local; completing lists the parts (against the declared size) and joins them. A "
        "bundle of two files: the mint describes each file and writes once; one press spends "
        "the one use; each file is then one conditional `UpdateItem` (its own count in the "
        "session), redirected here. COSTS.md prices both."
    )
    section.notes.append(
        "Notifications (webhooks, receipts) add no call and no latency to a redemption: "
        "DynamoDB writes the table's stream itself, and a separate function reads it "
        "(chalicelib/events/notifications.py). The redemption rows are the same with them on "
        "(tests/inprocess/test_notifications.py checks the calls)."
    )
    return section
