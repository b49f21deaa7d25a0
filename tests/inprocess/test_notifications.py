"""Notifications from the links table's stream, fed records built from real items.

dynalite has no streams, so each test makes the change through the app (in-process, on
moto), reads the item before and after, and hands the handler a record shaped as AWS's
DynamoDB Streams documentation shows one (``NEW_AND_OLD_IMAGES``; a TTL deletion carries
the DynamoDB service principal as ``userIdentity``).  Webhooks go to a receiver on
127.0.0.1 that checks each signature with the ``standardwebhooks`` package's verifier.
"""

from __future__ import annotations

import base64
import email.message
import os
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

import app as app_module
from chalicelib.domain.errors import ConfigurationError
from chalicelib.events import notifications
from chalicelib.events.stream import (
    EXPIRED_UNUSED,
    REDEEMED,
    REDEMPTION_RETURNED,
    REFUNDED,
    VISITED,
    events,
)
from chalicelib.settings import NotificationSettings
from tests.helpers import (
    BROWSER_ACCEPT,
    CLAIM_ON_MOTO,
    InProcess,
    JsonLines,
    app_log,
    aws_error,
    call,
    download,
    python,
    redeem,
    reset_app_caches,
    sent,
    token_of,
)
from tests.inprocess.notifying import (
    NOTIFY,
    SECRET,
    TTL_DELETER,
    Receiver,
    Stream,
    mint,
    modified,
    notifier,
    redeemed,
    ttl_deleted,
    turn_on,
)
from tools.stack import MAIL_FROM

# The stream handler as Lambda calls it: (event dict, context).  tests/conftest.py sets
# ONETIME_NOTIFY_HANDLER, as the notify function's environment does, so it is registered.
lambda_notify: Any = app_module.notify


# ------------------------------------------------------------------ records, as AWS sends them


def batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


# ------------------------------------------------------------------ the receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def notifying(mailing: InProcess, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> InProcess:
    turn_on(mailing, receiver, monkeypatch)
    return mailing


@pytest.fixture
def warnings_() -> Iterator[JsonLines]:
    with app_log() as capture:
        yield capture


def receipts_to(address: str) -> list[email.message.EmailMessage]:
    return [message for message in sent() if message["To"] == address]


# ------------------------------------------------------------------ redeemed


def test_a_redemption_is_told_to_the_webhook_signed_and_to_the_notify_address(
    notifying: InProcess, receiver: Receiver
) -> None:
    stream = Stream()
    minted = mint(notifying, notify=NOTIFY)
    record = modified(
        notifying,
        stream,
        minted["id"],
        lambda: redeem(notifying, token_of(minted), "application/pdf"),
    )

    # Through the handler Chalice registered, as Lambda would call it.
    answer = lambda_notify(batch(record), None)

    assert answer == {"batchItemFailures": []}
    [delivered] = receiver.verified()
    [(headers, _)] = receiver.received
    redemption_id = next(iter(notifying.item(minted["id"])["redemptions"]["M"]))
    # Names the redemption and the stream record: the same on every retry of this record.
    sequence = record["dynamodb"]["SequenceNumber"]
    assert headers["webhook-id"] == f"redeemed_{minted['id']}_{redemption_id}_{sequence}"
    assert headers["webhook-signature"].startswith("v1,")
    assert delivered["type"] == REDEEMED
    data = delivered["data"]
    assert data["link_id"] == minted["id"]
    assert data["redemption_id"] == redemption_id
    assert (data["filename"], data["file"]) == ("Q3 résumé.pdf", "reports/Q3 résumé.pdf")
    assert (data["uses"], data["remaining"], data["max_uses"]) == (1, 0, 1)
    assert data["delivery"] == "stream"
    assert data["note"] == "ticket 4711"
    assert "client_ip" not in data and "user_agent" not in data  # not opted in
    [receipt] = receipts_to(NOTIFY)
    assert receipt["Subject"] == "Download started: Q3 résumé.pdf"
    text = receipt.get_body(preferencelist=("plain",))
    assert text is not None
    assert minted["id"] in text.get_content()
    assert "/download" not in receipt.as_string()


def test_a_tampered_payload_or_another_secret_fails_the_verifier(
    notifying: InProcess, receiver: Receiver
) -> None:
    stream = Stream()
    _, record = redeemed(notifying, stream)
    lambda_notify(batch(record), None)
    [(headers, body)] = receiver.received
    with pytest.raises(WebhookVerificationError):
        receiver.verifier.verify(body.replace(b'"uses":1', b'"uses":0'), headers)
    other = Webhook("whsec_" + base64.b64encode(b"another secret of 32 bytes......").decode())
    with pytest.raises(WebhookVerificationError):
        other.verify(body, headers)


def test_the_receiver_failing_twice_gets_it_on_the_third_attempt(
    notifying: InProcess, receiver: Receiver
) -> None:
    stream = Stream()
    _, record = redeemed(notifying, stream)
    receiver.answers = [500, 500]
    sleeps: list[float] = []
    handler, _ = notifier(receiver, sleeps)

    assert handler.handle([record]) == []

    assert len(receiver.verified()) == 3  # each attempt signed, and each signature good
    assert len({headers["webhook-id"] for headers, _ in receiver.received}) == 1
    assert sleeps == [1.0, 4.0]  # backoff, bounded


def test_what_never_arrives_is_handed_back_logged_and_set_aside(
    notifying: InProcess, receiver: Receiver, warnings_: JsonLines
) -> None:
    stream = Stream()
    first, second = mint(notifying), mint(notifying)
    records = [
        modified(notifying, stream, link["id"], lambda link=link: redeem(notifying, token_of(link)))
        for link in (first, second)
    ]
    receiver.answers = [503] * 10
    sleeps: list[float] = []
    handler, _ = notifier(receiver, sleeps)

    failed = handler.handle(records)

    # The first record failed: it and everything after it go back to Lambda, which retries
    # them and finally sends them to the dead-letter queue (infra/resources.yaml).
    assert failed == [r["dynamodb"]["SequenceNumber"] for r in records]
    assert len(receiver.received) == 3 and sleeps == [1.0, 4.0]  # bounded: then it gives up
    [line] = [m for m in warnings_.messages() if m.startswith("NOTIFICATION FAILED")]
    assert first["id"] in line and "127.0.0.1" in line and "answered 503" in line
    assert "/hooks/onetime" not in line  # the host only: a path may hold a credential


def test_a_refusal_that_will_not_change_is_not_asked_again(
    notifying: InProcess, receiver: Receiver
) -> None:
    stream = Stream()
    _, record = redeemed(notifying, stream)
    receiver.answers = [401]
    sleeps: list[float] = []
    handler, _ = notifier(receiver, sleeps)
    assert handler.handle([record]) == [record["dynamodb"]["SequenceNumber"]]
    assert len(receiver.received) == 1 and sleeps == []


def test_an_unreachable_endpoint_is_retried_then_given_up(notifying: InProcess) -> None:
    stream = Stream()
    _, record = redeemed(notifying, stream)
    closed = Receiver()
    closed.close()  # nothing listens on its port any more
    sleeps: list[float] = []
    handler, _ = notifier(closed, sleeps)
    assert handler.handle([record]) == [record["dynamodb"]["SequenceNumber"]]
    assert sleeps == [1.0, 4.0]


def test_a_batch_stops_before_the_time_runs_out(notifying: InProcess, receiver: Receiver) -> None:
    stream = Stream()
    links = [mint(notifying) for _ in range(3)]
    records = [
        modified(notifying, stream, link["id"], lambda link=link: redeem(notifying, token_of(link)))
        for link in links
    ]
    handler, _ = notifier(receiver, [])
    remaining = iter([300_000, 1_000])  # plenty for the second record, not for the third
    failed = handler.handle(records, lambda: next(remaining))
    assert failed == [records[2]["dynamodb"]["SequenceNumber"]]
    assert len(receiver.received) == 2


def test_client_details_only_when_the_deployment_opts_in(
    notifying: InProcess, receiver: Receiver
) -> None:
    stream = Stream()
    minted = mint(notifying, notify=NOTIFY)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "curl/8.5.0"}
    record = modified(
        notifying,
        stream,
        minted["id"],
        lambda: notifying.client.http.post(
            "/download", headers=headers, body=f"token={token_of(minted)}"
        ),
    )
    plain, _ = notifier(receiver, [])
    detailed, _ = notifier(receiver, [], client_details=True)
    assert plain.handle([record]) == detailed.handle([record]) == []
    without, with_ = (payload["data"] for payload in receiver.verified())
    assert "client_ip" not in without and "user_agent" not in without
    assert with_["user_agent"] == "curl/8.5.0" and "client_ip" in with_
    first, second = receipts_to(NOTIFY)
    assert "curl/8.5.0" not in first.as_string()
    assert "curl/8.5.0" in second.as_string()


# ------------------------------------------------------------------ a use given back


def failed_delivery(
    service: InProcess, stream: Stream, minted: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A redemption whose S3 read fails, so the service gives the use back: the two MODIFY
    records it writes (the claim, then the release), each built from the real items."""
    link_id = minted["id"]
    before = service.item(link_id)
    claimed: list[dict[str, Any]] = []

    def s3_fails() -> Any:
        claimed.append(service.item(link_id))  # between the claim and the release
        return aws_error("InternalError", 500)()

    service.hooks.fail("s3:GetObject", s3_fails)
    response = redeem(service, token_of(minted), "application/pdf")
    del service.hooks.faults["s3:GetObject"]
    assert response.status_code == 503, response.body
    after = service.item(link_id)
    [middle] = claimed
    assert (middle["uses"]["N"], after["uses"]["N"]) == ("1", "0")  # claimed, then given back
    at = service.clock()
    return stream.record("MODIFY", before, middle, at=at), stream.record(
        "MODIFY", middle, after, at=at
    )


def test_a_delivery_that_failed_is_told_as_started_then_returned(
    notifying: InProcess, receiver: Receiver
) -> None:
    """Issue 20, break 7: the claim's record used to send a "Downloaded" receipt and a
    ``link.redeemed`` webhook, and the release's record nothing at all."""
    stream = Stream()
    minted = mint(notifying, notify=NOTIFY)
    claim, release = failed_delivery(notifying, stream, minted)

    assert lambda_notify(batch(claim, release), None) == {"batchItemFailures": []}

    redeemed, returned = receiver.verified()
    assert (redeemed["type"], returned["type"]) == (REDEEMED, REDEMPTION_RETURNED)
    redemption_id = redeemed["data"]["redemption_id"]
    assert returned["data"]["redemption_id"] == redemption_id
    assert returned["data"]["link_id"] == minted["id"]
    assert (returned["data"]["uses"], returned["data"]["remaining"]) == (0, 1)
    assert returned["timestamp"].endswith("Z")
    ids = [headers["webhook-id"] for headers, _ in receiver.received]
    assert len(set(ids)) == 2 and all(redemption_id in i for i in ids)
    started, not_completed = receipts_to(NOTIFY)
    assert started["Subject"] == "Download started: Q3 résumé.pdf"
    assert not_completed["Subject"] == "Download did not complete: Q3 résumé.pdf"
    for message in (started, not_completed):
        part = message.get_body(preferencelist=("plain",))
        assert part is not None
        assert "downloaded" not in part.get_content().lower()  # only that it started
    back = not_completed.get_body(preferencelist=("plain",))
    assert back is not None and "given back" in back.get_content()
    corpus = [body.decode() for _, body in receiver.received]
    corpus += [message.as_string() for message in (started, not_completed)]
    token = token_of(minted)
    for sent_text in corpus:
        assert token not in sent_text and "/download" not in sent_text
        assert "X-Amz" not in sent_text


def test_the_same_press_claimed_again_after_a_give_back_gets_new_webhook_ids(
    notifying: InProcess,
) -> None:
    """A page's press is claimed under an id derived from its stamp, so after a give-back
    the same press can be claimed again with the same redemption id (and, on a frozen
    clock, the very same item).  Its events must not share a webhook id with the first
    claim's, or a receiver dropping repeats would miss the second claim."""
    stream = Stream()
    minted = mint(notifying, notify=NOTIFY)
    claim, release = failed_delivery(notifying, stream, minted)
    again = stream.record(
        "MODIFY",
        release["dynamodb"]["NewImage"],
        claim["dynamodb"]["NewImage"],
        at=notifying.clock(),
    )
    told = [event for record in (claim, release, again) for event in events(record)]
    assert [event.kind for event in told] == [REDEEMED, REDEMPTION_RETURNED, REDEEMED]
    assert len({event.use.claim_id for event in told if event.use is not None}) == 1
    assert len({event.event_id for event in told}) == 3
    # The same record handed over again (Lambda's retry) is the same event.
    assert [e.event_id for e in events(again)] == [told[2].event_id]


def test_a_retried_record_skips_what_this_container_already_delivered(
    notifying: InProcess, receiver: Receiver
) -> None:
    """One endpoint fails, the other endpoint and the receipt succeed: the record goes
    back to Lambda.  Retried on the same container, only the failed endpoint gets it
    again; on another container, everything does (at least once), under the same id."""
    stream = Stream()
    _, record = redeemed(notifying, stream, notify=NOTIFY)
    flaky = Receiver()
    flaky.answers = [503] * 3
    settings = NotificationSettings(
        webhook_urls=(receiver.url, flaky.url), webhook_secret=SECRET, mail_from=MAIL_FROM
    )
    try:
        warm = notifications.build(settings, sleep=lambda _: None)
        assert warm.handle([record]) == [record["dynamodb"]["SequenceNumber"]]
        assert (len(receiver.received), len(flaky.received), len(receipts_to(NOTIFY))) == (1, 3, 1)

        assert warm.handle([record]) == []  # Lambda's retry, on the same container
        assert (len(receiver.received), len(flaky.received), len(receipts_to(NOTIFY))) == (1, 4, 1)

        cold = notifications.build(settings, sleep=lambda _: None)
        assert cold.handle([record]) == []  # the same record on another container
        assert (len(receiver.received), len(flaky.received), len(receipts_to(NOTIFY))) == (2, 5, 2)
        ids = {headers["webhook-id"] for headers, _ in receiver.received + flaky.received}
        assert len(ids) == 1  # so a receiver drops the repeats
    finally:
        flaky.close()


def test_a_refund_is_told_as_refunded_named_or_not(
    notifying: InProcess, receiver: Receiver
) -> None:
    """A refund is not a returned redemption: an operator's decision, after a download
    that may have completed, so its event and receipt say only that a use was given back."""
    stream = Stream()
    minted = mint(notifying, notify=NOTIFY, uses=2)
    link_id = minted["id"]
    records = [
        modified(notifying, stream, link_id, lambda: redeem(notifying, token_of(minted)))
        for _ in range(2)
    ]
    first = min(
        notifying.item(link_id)["redemptions"]["M"].items(),
        key=lambda pair: float(pair[1]["M"]["at"]["N"]),
    )[0]
    refund = "/links/" + link_id + "/refund"
    records.append(
        modified(notifying, stream, link_id, lambda: call(notifying, "POST", refund, {}))
    )
    named = {"redemption": first}
    records.append(
        modified(notifying, stream, link_id, lambda: call(notifying, "POST", refund, named))
    )

    assert lambda_notify(batch(*records), None) == {"batchItemFailures": []}

    told = receiver.verified()
    assert [p["type"] for p in told] == [REDEEMED, REDEEMED, REFUNDED, REFUNDED]
    unnamed, of_first = told[2]["data"], told[3]["data"]
    assert "redemption_id" not in unnamed and unnamed["uses"] == 1
    assert of_first["redemption_id"] == first and of_first["uses"] == 0
    ids = [headers["webhook-id"] for headers, _ in receiver.received]
    assert len(set(ids)) == 4
    subjects = [message["Subject"] for message in receipts_to(NOTIFY)]
    assert subjects[2:] == ["Use given back: Q3 résumé.pdf"] * 2


# ------------------------------------------------------------------ expired unused, visits


def test_a_link_deleted_by_ttl_unused_is_told_as_expired_unused(
    notifying: InProcess, receiver: Receiver
) -> None:
    stream = Stream()
    minted = mint(notifying, notify=NOTIFY)
    notifying.clock.advance(86_400 * 31)  # expired, and past its retention
    record = ttl_deleted(notifying, stream, minted["id"])

    assert lambda_notify(batch(record), None) == {"batchItemFailures": []}

    [delivered] = receiver.verified()
    assert delivered["type"] == EXPIRED_UNUSED
    assert delivered["data"]["link_id"] == minted["id"]
    assert delivered["data"]["uses"] == 0
    assert receiver.received[0][0]["webhook-id"] == f"expired_{minted['id']}"
    [receipt] = receipts_to(NOTIFY)
    assert receipt["Subject"] == "Not downloaded: Q3 résumé.pdf"


def test_only_ttl_deleting_an_unused_live_link_counts(
    notifying: InProcess, receiver: Receiver
) -> None:
    stream = Stream()
    used, revoked, deleted = mint(notifying), mint(notifying), mint(notifying)
    redeem(notifying, token_of(used))
    assert call(notifying, "DELETE", f"/links/{revoked['id']}").status_code == 200
    records = [
        ttl_deleted(notifying, stream, used["id"]),
        ttl_deleted(notifying, stream, revoked["id"]),
    ]
    # Deleted by someone, not by TTL: no userIdentity.
    before = notifying.item(deleted["id"])
    records.append(stream.record("REMOVE", before, None, at=notifying.clock()))
    # A new link (INSERT) tells nothing; its redemption does, and so does a refund.
    fresh = mint(notifying)
    records.append(stream.record("INSERT", None, notifying.item(fresh["id"]), at=notifying.clock()))
    records.append(
        modified(notifying, stream, fresh["id"], lambda: redeem(notifying, token_of(fresh)))
    )
    records.append(
        modified(
            notifying,
            stream,
            fresh["id"],
            lambda: call(notifying, "POST", f"/links/{fresh['id']}/refund", {}),
        )
    )
    assert lambda_notify(batch(*records), None) == {"batchItemFailures": []}
    assert [p["type"] for p in receiver.verified()] == [REDEEMED, REFUNDED]  # only fresh's


def test_other_items_in_the_table_tell_nothing(notifying: InProcess, receiver: Receiver) -> None:
    stream = Stream()
    call(notifying, "POST", "/grants", {"subject": "buyer-1", "file": "reports/Q3 résumé.pdf"})
    [grant] = [i for i in notifying.table_items() if i["pk"]["S"].startswith("grant#")]
    record = stream.record("REMOVE", grant, None, at=notifying.clock(), identity=TTL_DELETER)
    assert lambda_notify(batch(record), None) == {"batchItemFailures": []}
    assert receiver.received == []


def test_visits_that_spent_nothing_only_when_opted_in(
    notifying: InProcess, receiver: Receiver
) -> None:
    stream = Stream()
    minted = mint(notifying, confirm=True, notify=NOTIFY)
    record = modified(
        notifying,
        stream,
        minted["id"],
        lambda: download(notifying, token_of(minted), BROWSER_ACCEPT),  # the landing page
    )
    quiet, _ = notifier(receiver, [])
    assert quiet.handle([record]) == []
    assert receiver.received == []

    told, _ = notifier(receiver, [], visits=True)
    assert told.handle([record]) == []
    [delivered] = receiver.verified()
    assert delivered["type"] == VISITED
    assert (delivered["data"]["visit"], delivered["data"]["visits_of_this_kind"]) == ("page", 1)
    assert receiver.received[0][0]["webhook-id"] == f"visited_{minted['id']}_page_1"
    assert receipts_to(NOTIFY) == []  # visits go to webhooks only


# ------------------------------------------------------------------ the request path


def test_a_redemption_makes_the_same_aws_calls_with_notifications_on(
    notifying: InProcess, receiver: Receiver
) -> None:
    minted = mint(notifying, notify=NOTIFY)
    notifying.hooks.calls.clear()
    assert redeem(notifying, token_of(minted), "application/pdf").status_code == 200
    assert notifying.hooks.calls == [*CLAIM_ON_MOTO, "s3:GetObject"]
    assert receiver.received == []  # nothing is sent from the request path
    assert receipts_to(NOTIFY) == []


# ------------------------------------------------------------------ settings


def test_webhook_settings_are_checked_once_at_start() -> None:
    read = NotificationSettings.from_environ
    ok = read(
        {
            "ONETIME_WEBHOOK_URLS": "https://hooks.example.com/a, http://127.0.0.1:9/b",
            "ONETIME_WEBHOOK_SECRET_PARAMETER": "/onetime/prod/webhook-secret",
            "ONETIME_NOTIFY_VISITS": "true",
        }
    )
    assert ok.webhook_urls == ("https://hooks.example.com/a", "http://127.0.0.1:9/b")
    assert ok.visits and not ok.client_details
    assert read({}) == NotificationSettings()
    for environ, problem in [
        ({"ONETIME_WEBHOOK_URLS": "http://hooks.example.com/a"}, "not an https URL"),
        ({"ONETIME_WEBHOOK_URLS": "https://hooks.example.com/a"}, "needs a signing secret"),
        ({"ONETIME_WEBHOOK_SECRET": "hunter2"}, "whsec_"),
        (
            {"ONETIME_WEBHOOK_SECRET": SECRET, "ONETIME_WEBHOOK_SECRET_PARAMETER": "/x"},
            "not both",
        ),
        ({"ONETIME_NOTIFY_CLIENT_DETAILS": "maybe"}, "true or false"),
        (
            {
                "ONETIME_WEBHOOK_URLS": ",".join(["https://h.example"] * 6),
                "ONETIME_WEBHOOK_SECRET": SECRET,
            },
            "at most 5",
        ),
    ]:
        with pytest.raises(ConfigurationError, match=problem):
            read(environ)


def test_the_secret_is_read_from_ssm_once_per_container(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not through ``service``: the API's function never reads SSM, and its policy test
    (tests/test_policy.py) must not see this function's calls."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        boto3.setup_default_session()
        calls: list[str] = []
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register(
            "before-call.ssm.GetParameter", lambda **_: calls.append("GetParameter")
        )
        boto3.session.Session().client("ssm").put_parameter(
            Name="/onetime/test/webhook-secret", Value=SECRET, Type="SecureString"
        )
        monkeypatch.setenv("ONETIME_WEBHOOK_URLS", "https://hooks.example.com/onetime")
        monkeypatch.setenv("ONETIME_WEBHOOK_SECRET_PARAMETER", "/onetime/test/webhook-secret")
        reset_app_caches()
        try:
            first, again = app_module.get_notifier(), app_module.get_notifier()
        finally:
            reset_app_caches()
    assert first is again and calls == ["GetParameter"]
    webhooks = first.webhooks
    assert webhooks is not None
    headers = webhooks.headers("msg_1", b"{}")
    Webhook(SECRET).verify(b"{}", headers)  # signed with the secret SSM held


@pytest.mark.parametrize(("variable", "sources"), [("", 0), ("1", 1)])
def test_the_stream_handler_exists_only_where_the_stream_does(variable: str, sources: int) -> None:
    """`chalice deploy` (way 1) has no stream to attach to: without the variable the app
    has no event source, so it deploys the API alone; `make package` and the notify
    function set it."""
    env = {**os.environ, "ONETIME_NOTIFY_HANDLER": variable}
    done = python("-c", "import app; print(len(app.app.event_sources))", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(sources)
