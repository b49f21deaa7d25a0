"""Resends racing, over HTTP on chalice local and dynalite (whose conditional writes are
atomic): a resend never lets a link chain deliver more than it allowed, and a chain
never has two live links.  Each round releases both requests with one barrier."""

from __future__ import annotations

import functools
import http.cookiejar
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from tests.helpers import API_KEY
from tools.samples import LARGE_SAMPLE
from tools.stack import Stack

ROUNDS = 20
TIMEOUT = 30


def session(*, operator: bool = False) -> requests.Session:
    made = requests.Session()
    made.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    if operator:
        made.headers["Authorization"] = f"Bearer {API_KEY}"
    return made


def emailed_link(stack: Stack, operator: requests.Session, uses: int) -> dict[str, Any]:
    response = operator.post(
        f"{stack.base_url}/links",
        json={
            "file": LARGE_SAMPLE,
            "uses": uses,
            "confirm": False,
            "email": f"race-{uuid.uuid4().hex[:8]}@example.com",
        },
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    minted: dict[str, Any] = response.json()
    return minted


def together(*requests_: Callable[[], requests.Response]) -> list[requests.Response]:
    barrier = threading.Barrier(len(requests_))

    def go(send: Callable[[], requests.Response]) -> requests.Response:
        barrier.wait(timeout=TIMEOUT)
        return send()

    with ThreadPoolExecutor(max_workers=len(requests_)) as pool:
        return list(pool.map(go, requests_, timeout=3 * TIMEOUT))


def redeem(customer: requests.Session, url: str) -> requests.Response:
    return customer.get(
        url, headers={"Accept": "application/json"}, allow_redirects=False, timeout=TIMEOUT
    )


def link_status(stack: Stack, operator: requests.Session, link_id: str) -> str:
    response = operator.get(f"{stack.base_url}/links/{link_id}", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def test_a_resend_racing_a_redemption_delivers_exactly_once(stack: Stack) -> None:
    operator, customer = session(operator=True), session()
    for _ in range(ROUNDS):
        minted = emailed_link(stack, operator, uses=1)
        redeemed, resent = together(
            functools.partial(redeem, customer, minted["url"]),
            functools.partial(
                operator.post, f"{stack.base_url}/links/{minted['id']}/resend", timeout=TIMEOUT
            ),
        )
        assert redeemed.status_code in (302, 410), redeemed.text
        assert resent.status_code in (201, 409), resent.text
        delivered = int(redeemed.status_code == 302)
        if resent.status_code == 201:
            replacement = resent.json()
            delivered += redeem(customer, replacement["url"]).status_code == 302
            assert redeem(customer, replacement["url"]).status_code == 410
        assert delivered == 1, (redeemed.text, resent.text)
        assert redeem(customer, minted["url"]).status_code == 410
    # On this machine the redemption usually wins (the resend reads and writes first);
    # tests/stack/test_fault_stack.py puts a redemption exactly between the resend's read
    # and its write, the window this race can only sometimes hit.


def test_two_resends_racing_leave_one_live_link(stack: Stack) -> None:
    first, second, customer = session(operator=True), session(operator=True), session()
    for _ in range(ROUNDS):
        minted = emailed_link(stack, first, uses=2)
        resend = f"{stack.base_url}/links/{minted['id']}/resend"
        answers = together(
            functools.partial(first.post, resend, timeout=TIMEOUT),
            functools.partial(second.post, resend, timeout=TIMEOUT),
        )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201, 409], [answer.text for answer in answers]
        (winner,) = [answer.json() for answer in answers if answer.status_code == 201]
        assert link_status(stack, first, minted["id"]) == "revoked"
        # The winner's link is the chain's one live link, with both uses.
        assert [redeem(customer, winner["url"]).status_code for _ in range(3)] == [302, 302, 410]
        assert redeem(customer, minted["url"]).status_code == 410
