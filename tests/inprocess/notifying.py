"""Notifications' test parts shared by the in-process tests: stream records built from real
items, the webhook receiver on 127.0.0.1, and a service with webhooks turned on."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook

from chalicelib.events import notifications
from chalicelib.events.notifications import Notifier
from chalicelib.settings import NotificationSettings
from tests.helpers import POLL_SECONDS, SMALL, InProcess, call, redeem, reset_app_caches, token_of
from tools.stack import MAIL_FROM

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


NOTIFY = "ops@example.com"


STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/links-test/stream/2026-11-30T00:00:00.000"


TTL_DELETER = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


class Stream:
    """Turns an item before and after a change into a DynamoDB Streams record."""

    def __init__(self) -> None:
        self.sequence = 100_000_000_000_000_000_000

    def record(
        self,
        name: str,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
        *,
        at: float,
        identity: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        self.sequence += 1
        image = new or old
        assert image is not None
        change: dict[str, Any] = {
            "ApproximateCreationDateTime": int(at),
            "Keys": {"pk": image["pk"]},
            "SequenceNumber": str(self.sequence),
            "SizeBytes": len(json.dumps(image)),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if new is not None:
            change["NewImage"] = new
        if old is not None:
            change["OldImage"] = old
        record: dict[str, Any] = {
            "eventID": uuid.uuid4().hex,
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": change,
            "eventSourceARN": STREAM,
        }
        if identity is not None:
            record["userIdentity"] = identity
        return record


def modified(service: InProcess, stream: Stream, link_id: str, change: Any) -> dict[str, Any]:
    """Make a change through the app; the MODIFY record it wrote to the stream."""
    before = service.item(link_id)
    change()
    after = service.item(link_id)
    assert after != before
    return stream.record("MODIFY", before, after, at=service.clock())


def ttl_deleted(service: InProcess, stream: Stream, link_id: str) -> dict[str, Any]:
    """The record of DynamoDB's TTL deleting the item (the item is deleted too)."""
    before = service.item(link_id)
    service.dynamodb.delete_item(TableName=service.table, Key={"pk": before["pk"]})
    return stream.record("REMOVE", before, None, at=service.clock(), identity=TTL_DELETER)


class Receiver:
    """Webhook endpoint on 127.0.0.1: answers the statuses it is given (then 200),
    records each request, and checks its signature with the Standard Webhooks verifier."""

    def __init__(self, secret: str = SECRET) -> None:
        self.answers: list[int] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.verifier = Webhook(secret)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/onetime"
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(POLL_SECONDS,), daemon=True
        )
        self.thread.start()

    def verified(self) -> list[dict[str, Any]]:
        """Every payload received, each through the verifier (which raises on a bad one)."""
        return [self.verifier.verify(body, headers) for headers, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def turn_on(service: InProcess, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """Webhooks to the receiver, on a service with email on (``mailing``)."""
    monkeypatch.setenv("ONETIME_WEBHOOK_URLS", receiver.url)
    monkeypatch.setenv("ONETIME_WEBHOOK_SECRET", SECRET)
    reset_app_caches()
    service.put("reports/Q3 résumé.pdf", SMALL)


def mint(service: InProcess, **fields: Any) -> dict[str, Any]:
    body = {"file": "reports/Q3 résumé.pdf", "confirm": False, "note": "ticket 4711", **fields}
    response = call(service, "POST", "/links", body)
    assert response.status_code == 201, response.body
    minted: dict[str, Any] = response.json_body
    return minted


def redeemed(
    service: InProcess, stream: Stream, **fields: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fresh link (``mint``'s, with ``fields``) redeemed once by a POST of its token;
    the MODIFY record that wrote to the stream."""
    minted = mint(service, **fields)
    record = modified(service, stream, minted["id"], lambda: redeem(service, token_of(minted)))
    return minted, record


def notifier(
    receiver: Receiver, sleeps: list[float], **options: Any
) -> tuple[Notifier, NotificationSettings]:
    settings = NotificationSettings(
        webhook_urls=(receiver.url,), webhook_secret=SECRET, mail_from=MAIL_FROM, **options
    )
    return notifications.build(settings, sleep=sleeps.append), settings
