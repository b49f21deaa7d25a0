"""Races over HTTP: chalice local on dynalite, whose conditional writes are atomic (moto's
are not, so these never run in-process).

* 64 concurrent redemptions, 50 rounds, for 1, 3 and 10 uses: exactly ``max_uses``
  succeed every round, with exactly one audit record each.
* Revoke racing redemptions: every success has its record, none was sent after the
  revoke's answer arrived.
* Extend (PATCH max_uses) racing redemptions: never more successes than the limit the
  table ends with; a limit below the uses made is refused (409) and changes nothing.

Nothing here waits on the clock: the operator's races run in three phases ordered by
barriers and answers, never by sleeps.  First ``after`` contenders redeem and are all
answered; then the operator and all 64 contenders are released by one barrier (the
race); then, once the operator's answer is in, all 64 redeem once more, so every link
reaches its final state and every attempt of that last wave was sent after the change.

chalice local listens with a backlog of 5, so every contender's keep-alive connection is
opened before the barrier and the same sessions are reused for every round.
"""

from __future__ import annotations

import http.cookiejar
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tools.samples import LARGE_SAMPLE, SMALL_SAMPLE
from tools.stack import Stack

CONTENDERS = 64
ROUNDS = 50
TIMEOUT = 30  # per request and per barrier; every wait is bounded


def cookieless() -> requests.Session:
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


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
        # Contenders keep no cookies: each attempt is a first redemption, never a download
        # session's free re-delivery (tests/test_counting.py races those).
        self.sessions = [cookieless() for _ in range(count)]
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

    def race(self, url: str, sessions: Sequence[requests.Session] | None = None) -> list[Attempt]:
        """Every contender (or each of ``sessions``) redeems once, all released by one barrier.

        Returns when every attempt has been answered."""
        chosen = list(self.sessions if sessions is None else sessions)
        if not chosen:
            return []
        barrier = threading.Barrier(len(chosen))

        def attempt(session: requests.Session) -> Attempt:
            barrier.wait(timeout=TIMEOUT)
            return self.redeem(session, url)

        return list(self.pool.map(attempt, chosen, timeout=3 * TIMEOUT))

    def race_with(
        self, url: str, operator: Callable[[requests.Session], requests.Response], after: int
    ) -> OperatorRace:
        """The operator acts once ``after`` redemptions have been answered, released together
        with a wave of every contender; then every contender redeems once more."""
        before = self.race(url, self.sessions[:after])
        barrier = threading.Barrier(self.count + 1)

        def act() -> tuple[requests.Response, float]:
            barrier.wait(timeout=TIMEOUT)
            response = operator(self.operator)
            return response, time.monotonic()

        acting = self.pool.submit(act)
        try:
            during = self.race_released_by(url, barrier)
        finally:
            barrier.abort()  # harmless once passed; frees the operator if the wave failed
        response, answered = acting.result(timeout=3 * TIMEOUT)
        # Ordered after the answer, not after a guess at how long the change takes.
        final = self.race(url)
        return OperatorRace(before, during, final, response, answered)

    def race_released_by(self, url: str, barrier: threading.Barrier) -> list[Attempt]:
        def attempt(session: requests.Session) -> Attempt:
            barrier.wait(timeout=TIMEOUT)
            return self.redeem(session, url)

        return list(self.pool.map(attempt, self.sessions, timeout=3 * TIMEOUT))

    def close(self) -> None:
        self.pool.shutdown()
        for session in [*self.sessions, self.operator]:
            session.close()


@pytest.fixture(scope="module")
def racers(stack: Stack) -> Iterator[Racers]:
    racers = Racers(stack, CONTENDERS)
    yield racers
    racers.close()


@dataclass(frozen=True)
class OperatorRace:
    before: list[Attempt]  # all answered before the operator's request was sent
    during: list[Attempt]  # released with the operator's request
    after: list[Attempt]  # all sent after the operator's answer arrived
    response: requests.Response
    answered: float  # time.monotonic() when the operator's answer arrived

    @property
    def attempts(self) -> list[Attempt]:
        return [*self.before, *self.during, *self.after]


def assert_only_expected(attempts: list[Attempt], allowed: set[tuple[int, str | None]]) -> None:
    seen = {(a.status, a.error) for a in attempts}
    assert seen <= allowed, seen - allowed


@pytest.mark.slow  # 64 contenders x 50 rounds x 3 limits: about a minute on two cores
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


# When the operator acts: after this many redemptions have been answered, released together
# with a wave of all 64 contenders.  36 + 64 = 100 uses at most before the revoke lands.
REVOKE_AFTER = [0, 1, 16, 36]
RAISE_AFTER = [0, 1, 3, 8]  # of 3 uses: before, mid-way, exactly used up, long used up
LOWER_AFTER = [0, 1, 2, 3, 10]  # of 10 uses, lowered to 2: from 3 on, 2 is below the uses made


def test_revoke_racing_redemptions(stack: Stack, racers: Racers) -> None:
    links = racers.mint(100, len(REVOKE_AFTER))  # more uses than will be taken: revoke decides
    for after, minted in zip(REVOKE_AFTER, links, strict=True):
        race = racers.race_with(minted["url"], delete(minted["id"], stack.base_url), after)
        assert race.response.status_code == 200, race.response.text
        assert race.response.json()["status"] == "revoked"
        assert_only_expected(race.attempts, {(302, None), (410, "link_revoked")})
        # Answered before the revoke was sent: each took a use.
        assert [a.status for a in race.before] == [302] * after
        # Sent after the revoke's answer arrived: each refused as revoked.
        assert len(race.after) == CONTENDERS
        assert all((a.status, a.error) == (410, "link_revoked") for a in race.after), after
        successes = [a for a in race.attempts if a.status == 302]
        # No success was even sent after the revoke's answer arrived (in the race wave too).
        assert all(a.sent < race.answered for a in successes), after
        late = [a for a in race.attempts if a.sent > race.answered]
        assert all(a.error == "link_revoked" for a in late)
        uses, records, max_uses = uses_and_records(stack, minted["id"])
        assert after <= uses == records == len(successes) <= after + CONTENDERS <= max_uses == 100
        assert "revoked_at" in item(stack, minted["id"])


def test_raising_the_limit_while_redeeming(stack: Stack, racers: Racers) -> None:
    links = racers.mint(3, len(RAISE_AFTER))
    for after, minted in zip(RAISE_AFTER, links, strict=True):
        race = racers.race_with(
            minted["url"], patch(minted["id"], stack.base_url, {"max_uses": 20}), after
        )
        assert race.response.status_code == 200, race.response.text  # 20 is above any use made
        assert race.response.json()["max_uses"] == 20
        # Before the change: the first 3 take the 3 uses, the rest are refused as used up.
        assert Counter((a.status, a.error) for a in race.before) == Counter(
            {(302, None): min(after, 3), (410, "link_used"): max(after - 3, 0)}
        )
        # 503 "the link changed while we looked": a refusal read a raised limit; nothing spent.
        assert_only_expected(race.during, {(302, None), (410, "link_used"), (503, "unavailable")})
        # After the change's answer the limit is 20 for good: granted or used up, no doubt.
        assert_only_expected(race.after, {(302, None), (410, "link_used")})
        successes = sum(a.status == 302 for a in race.attempts)
        uses, records, max_uses = uses_and_records(stack, minted["id"])
        assert max_uses == 20
        # A last wave of 64 after the change drives the link to the new limit: reached,
        # never passed.
        assert uses == records == successes == 20, after


def test_lowering_the_limit_while_redeeming(stack: Stack, racers: Racers) -> None:
    links = racers.mint(10, len(LOWER_AFTER))
    outcomes = Counter[int]()
    for after, minted in zip(LOWER_AFTER, links, strict=True):
        race = racers.race_with(
            minted["url"], patch(minted["id"], stack.base_url, {"max_uses": 2}), after
        )
        response = race.response
        outcomes[response.status_code] += 1
        uses, records, max_uses = uses_and_records(stack, minted["id"])
        successes = sum(a.status == 302 for a in race.attempts)
        assert [a.status for a in race.before] == [302] * after
        if after > 2:
            # 3 uses or more were made before the change was sent: it can only be refused.
            assert response.status_code == 409, (after, response.text)
        if response.status_code == 200:
            assert response.json()["max_uses"] == 2
            assert max_uses == 2
        else:
            # Refused in the write itself: the limit stays, and so does every use.
            assert response.status_code == 409, response.text
            assert response.json()["error"] == "conflict"
            assert max_uses == 10
        assert_only_expected(race.during, {(302, None), (410, "link_used"), (503, "unavailable")})
        assert_only_expected(race.after, {(302, None), (410, "link_used")})
        assert uses == records == successes == max_uses, (after, response.status_code)
    assert set(outcomes) <= {200, 409}
    assert outcomes[409] >= sum(after > 2 for after in LOWER_AFTER)


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
