"""Races over HTTP: chalice local on dynalite, whose conditional writes are atomic (moto's
are not, so these never run in-process).

* 64 concurrent redemptions, 50 rounds, for 1, 3 and 10 uses: exactly ``max_uses``
  succeed every round, with exactly one audit record each.
* Revoke racing redemptions: every success has its record, none was sent after the
  revoke's answer arrived.
* Extend (PATCH max_uses) racing redemptions: never more successes than the limit the
  table ends with; a limit below the uses made is refused (409) and changes nothing.

chalice local listens with a backlog of 5, so every contender's keep-alive connection is
opened before the barrier and the same sessions are reused for every round.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tools.stack import LARGE_SAMPLE, SMALL_SAMPLE, Stack

CONTENDERS = 64
ROUNDS = 50
TIMEOUT = 30
MAX_ATTEMPTS = 100  # per contender per round, in the looping races


@dataclass(frozen=True)
class Attempt:
    sent: float  # time.monotonic() just before the request went out
    received: float
    status: int
    error: str | None  # the JSON error code, if any


def auth(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.api_key}"}


_TABLES: dict[int, Any] = {}


def item(stack: Stack, link_id: str) -> dict[str, Any]:
    # One client per stack: creating a boto3 client costs more than the read.
    dynamodb = _TABLES.setdefault(id(stack), stack.client("dynamodb"))
    found: dict[str, Any] = dynamodb.get_item(
        TableName=stack.table, Key={"pk": {"S": f"link#{link_id}"}}, ConsistentRead=True
    )["Item"]
    return found


def uses_and_records(stack: Stack, link_id: str) -> tuple[int, int, int]:
    """uses, audit records and max_uses, as the table holds them."""
    found = item(stack, link_id)
    return int(found["uses"]["N"]), len(found["redemptions"]["M"]), int(found["max_uses"]["N"])


class Racers:
    """Contenders with keep-alive connections opened in advance, plus one operator."""

    def __init__(self, stack: Stack, count: int) -> None:
        self.stack = stack
        self.count = count
        self.pool = ThreadPoolExecutor(max_workers=count + 1)
        self.sessions = [requests.Session() for _ in range(count)]
        self.operator = requests.Session()
        self.operator.headers.update(auth(stack))
        # One at a time: each opens its connection with a 400 that touches no AWS.
        for session in [*self.sessions, self.operator]:
            response = session.get(f"{stack.base_url}/download", timeout=TIMEOUT)
            assert response.status_code == 400

    def mint(self, uses: int, count: int, key: str = LARGE_SAMPLE) -> list[dict[str, Any]]:
        """Links for the coming rounds, minted four at a time on warm sessions."""

        def one(session: requests.Session) -> dict[str, Any]:
            response = session.post(
                f"{self.stack.base_url}/links",
                json={"file": key, "uses": uses, "confirm": False},
                headers=auth(self.stack),
                timeout=TIMEOUT,
            )
            assert response.status_code == 201, response.text
            minted: dict[str, Any] = response.json()
            return minted

        with ThreadPoolExecutor(max_workers=4) as minters:
            return list(minters.map(one, [self.sessions[i % 4] for i in range(count)]))

    def redeem(self, session: requests.Session, url: str) -> Attempt:
        sent = time.monotonic()
        response = session.get(
            url, headers={"Accept": "application/json"}, allow_redirects=False, timeout=TIMEOUT
        )
        received = time.monotonic()
        error = None
        if response.status_code != 302:
            error = response.json().get("error")
        return Attempt(sent, received, response.status_code, error)

    def race(self, url: str) -> list[Attempt]:
        """Every contender redeems once, all released at the same instant."""
        barrier = threading.Barrier(self.count)

        def attempt(session: requests.Session) -> Attempt:
            barrier.wait(timeout=TIMEOUT)
            return self.redeem(session, url)

        return list(self.pool.map(attempt, self.sessions))

    def race_with(
        self, url: str, operator: Callable[[requests.Session], requests.Response], delay: float
    ) -> tuple[list[Attempt], requests.Response, float]:
        """Contenders redeem again and again while the operator acts ``delay`` seconds in.

        Each contender stops at its first refusal *sent after* the operator's answer
        arrived, so every link is driven to its final state.  Returns every attempt,
        the operator's response and when it arrived.
        """
        barrier = threading.Barrier(self.count + 1)
        done: list[float] = []

        def contender(session: requests.Session) -> list[Attempt]:
            barrier.wait(timeout=TIMEOUT)
            attempts: list[Attempt] = []
            while len(attempts) < MAX_ATTEMPTS:
                attempt = self.redeem(session, url)
                attempts.append(attempt)
                if attempt.status == 410 and done and attempt.sent > done[0]:
                    break
            return attempts

        def act() -> requests.Response:
            barrier.wait(timeout=TIMEOUT)
            time.sleep(delay)
            try:
                return operator(self.operator)
            finally:
                done.append(time.monotonic())  # even if it failed: the contenders stop

        acting = self.pool.submit(act)
        per_contender = list(self.pool.map(contender, self.sessions))
        response = acting.result()
        assert all(len(a) < MAX_ATTEMPTS for a in per_contender), "a contender never finished"
        return [a for attempts in per_contender for a in attempts], response, done[0]

    def close(self) -> None:
        self.pool.shutdown()
        for session in [*self.sessions, self.operator]:
            session.close()


@pytest.fixture(scope="module")
def racers(stack: Stack) -> Iterator[Racers]:
    racers = Racers(stack, CONTENDERS)
    yield racers
    racers.close()


def assert_only_expected(attempts: list[Attempt], allowed: set[tuple[int, str | None]]) -> None:
    seen = {(a.status, a.error) for a in attempts}
    assert seen <= allowed, seen - allowed


@pytest.mark.parametrize("max_uses", [1, 3, 10])
def test_concurrent_redemptions_take_exactly_max_uses(
    stack: Stack, racers: Racers, max_uses: int
) -> None:
    links = racers.mint(max_uses, ROUNDS)
    for number, minted in enumerate(links):
        attempts = racers.race(minted["url"])
        outcome = Counter((a.status, a.error) for a in attempts)
        expected = Counter({(302, None): max_uses, (410, "link_used"): CONTENDERS - max_uses})
        assert outcome == expected, (number, outcome)
        # One audit record per success, written by the claim itself.
        assert uses_and_records(stack, minted["id"]) == (max_uses, max_uses, max_uses), number


def delete(link_id: str, base_url: str) -> Callable[[requests.Session], requests.Response]:
    return lambda session: session.delete(f"{base_url}/links/{link_id}", timeout=TIMEOUT)


def patch(
    link_id: str, base_url: str, body: dict[str, Any]
) -> Callable[[requests.Session], requests.Response]:
    return lambda session: session.patch(f"{base_url}/links/{link_id}", json=body, timeout=TIMEOUT)


# When the operator acts, in seconds after the contenders are released: from "before
# most of the first wave" to "after the limit is long reached".
DELAYS = [0.0, 0.02, 0.06, 0.2]


def test_revoke_racing_redemptions(stack: Stack, racers: Racers) -> None:
    links = racers.mint(100, len(DELAYS))  # more uses than will be taken: revoke decides
    before_total = after_total = 0
    for delay, minted in zip(DELAYS, links, strict=True):
        attempts, response, revoked = racers.race_with(
            minted["url"], delete(minted["id"], stack.base_url), delay
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "revoked"
        assert_only_expected(attempts, {(302, None), (410, "link_revoked")})
        successes = [a for a in attempts if a.status == 302]
        # No success was even sent after the revoke's answer arrived.
        assert all(a.sent < revoked for a in successes), delay
        late = [a for a in attempts if a.sent > revoked]
        assert late and all(a.error == "link_revoked" for a in late)
        uses, records, max_uses = uses_and_records(stack, minted["id"])
        assert uses == records == len(successes) <= max_uses == 100
        assert "revoked_at" in item(stack, minted["id"])
        before_total += len(successes)
        after_total += len(late)
    assert before_total > 0 and after_total > 0  # the revokes did land mid-race


def test_raising_the_limit_while_redeeming(stack: Stack, racers: Racers) -> None:
    links = racers.mint(3, len(DELAYS))
    for delay, minted in zip(DELAYS, links, strict=True):
        attempts, response, _ = racers.race_with(
            minted["url"], patch(minted["id"], stack.base_url, {"max_uses": 20}), delay
        )
        assert response.status_code == 200, response.text  # 20 is above any use made
        assert response.json()["max_uses"] == 20
        # 503 "the link changed while we looked": a refusal read a raised limit; nothing spent.
        assert_only_expected(attempts, {(302, None), (410, "link_used"), (503, "unavailable")})
        successes = sum(a.status == 302 for a in attempts)
        uses, records, max_uses = uses_and_records(stack, minted["id"])
        assert max_uses == 20
        # Contenders kept going until refused after the change: the new limit is reached,
        # never passed.
        assert uses == records == successes == 20, delay


def test_lowering_the_limit_while_redeeming(stack: Stack, racers: Racers) -> None:
    links = racers.mint(10, len(DELAYS))
    outcomes = Counter[int]()
    for delay, minted in zip(DELAYS, links, strict=True):
        attempts, response, _ = racers.race_with(
            minted["url"], patch(minted["id"], stack.base_url, {"max_uses": 2}), delay
        )
        outcomes[response.status_code] += 1
        uses, records, max_uses = uses_and_records(stack, minted["id"])
        successes = sum(a.status == 302 for a in attempts)
        if response.status_code == 200:
            assert response.json()["max_uses"] == 2
            assert max_uses == 2
        else:
            # Refused in the write itself: the limit stays, and so does every use.
            assert response.status_code == 409, response.text
            assert response.json()["error"] == "conflict"
            assert max_uses == 10
        assert_only_expected(attempts, {(302, None), (410, "link_used"), (503, "unavailable")})
        assert uses == records == successes == max_uses, (delay, response.status_code)
    assert set(outcomes) <= {200, 409}


def test_limit_below_uses_made_is_409_and_changes_nothing(stack: Stack, racers: Racers) -> None:
    (minted,) = racers.mint(5, 1, key=SMALL_SAMPLE)
    for session in racers.sessions[:3]:
        assert racers.redeem(session, minted["url"]).status == 302
    before = item(stack, minted["id"])
    for limit in (1, 2):
        response = patch(minted["id"], stack.base_url, {"max_uses": limit})(racers.operator)
        assert response.status_code == 409, response.text
        assert response.json()["error"] == "conflict"
        assert item(stack, minted["id"]) == before
    response = patch(minted["id"], stack.base_url, {"max_uses": 3})(racers.operator)
    assert response.status_code == 200  # equal to the uses made is allowed: now used up
    assert response.json()["remaining"] == 0
    refused = racers.redeem(racers.sessions[0], minted["url"])
    assert (refused.status, refused.error) == (410, "link_used")
    assert uses_and_records(stack, minted["id"]) == (3, 3, 3)
