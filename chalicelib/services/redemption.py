"""Redemption: what a customer's request for a link gets.

The outcome is a value, one small type per answer: ``Landing`` (a page asking a
person to press Download; nothing spent), ``Stream`` (the file in the response)
or ``Redirect`` (a short-lived presigned S3 URL).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from chalicelib import delivery
from chalicelib.clock import Clock
from chalicelib.errors import OnetimeError, UnavailableError
from chalicelib.filenames import content_disposition
from chalicelib.link import Claim, Link
from chalicelib.logs import annotate, get_logger, metric
from chalicelib.stores import LinkStore, ObjectStore
from chalicelib.tokens import parse_token

log = get_logger("redemption")


@dataclass(frozen=True)
class Requester:
    """Who is redeeming: what the audit record keeps, and what decides the delivery."""

    accept: str | None = None
    client_ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class Landing:
    """The link waits for a person to press Download; nothing was spent."""

    link: Link


@dataclass(frozen=True)
class Stream:
    link: Link
    disposition: str
    body_base64: str  # the file, already encoded (see ObjectStore.fetch_base64)


@dataclass(frozen=True)
class Redirect:
    link: Link
    disposition: str
    location: str


Redemption = Landing | Stream | Redirect


class Redeeming:
    def __init__(
        self,
        *,
        links: LinkStore,
        objects: ObjectStore,
        clock: Clock,
        stream_max_bytes: int,
        redirect_ttl: int,
    ) -> None:
        self._links = links
        self._objects = objects
        self._clock = clock
        self._stream_max_bytes = stream_max_bytes
        self._redirect_ttl = redirect_ttl

    def redeem(self, token_value: str | None, requester: Requester) -> Stream | Redirect:
        """Spend a use and hand over the file (a POST, or a client that is not a browser)."""
        outcome = self._redeem(token_value, requester, unless_confirm=False)
        assert not isinstance(outcome, Landing)
        return outcome

    def open(self, token_value: str | None, requester: Requester) -> Redemption:
        """A browser's GET: redeem, unless the link asks a person to confirm first.

        Then the outcome is ``Landing``, having spent nothing -- mail scanners and
        chat previews fetch links with full browsers before the customer does.
        """
        return self._redeem(token_value, requester, unless_confirm=True)

    def inspect(self, token_value: str | None) -> Link:
        """The link if a redemption would succeed now, else the refusal; spends nothing."""
        token = parse_token(token_value)
        annotate(link_id=token.link_id, outcome="inspected")
        return self._links.peek(token.link_id, token.digest, self._clock())

    def _redeem(
        self, token_value: str | None, requester: Requester, *, unless_confirm: bool
    ) -> Redemption:
        token = parse_token(token_value)
        annotate(link_id=token.link_id)
        # Decided before the claim: a response this client cannot receive intact
        # must never be the one a use was spent on.
        accept_stream = delivery.accepts_stream(requester.accept)
        claim = Claim(
            claim_id=secrets.token_hex(8),
            at=self._clock(),
            client_ip=requester.client_ip,
            user_agent=requester.user_agent,
            binary=accept_stream,
            stream_max_bytes=self._stream_max_bytes,  # recorded: later settings change nothing
        )
        outcome = self._links.claim(
            token.link_id, token.digest, claim, unless_confirm=unless_confirm
        )
        link = outcome.link
        if not outcome.claimed:
            annotate(outcome="landing")
            return Landing(link)
        obj = link.object
        disposition = content_disposition(link.filename)
        how = delivery.choose(accept_stream, obj.size, obj.content_type, self._stream_max_bytes)
        annotate(outcome=f"redeemed_{how.value}", remaining=link.remaining)
        redemption: Stream | Redirect
        try:
            if how is delivery.Delivery.STREAM:
                redemption = Stream(link, disposition, self._objects.fetch_base64(obj))
            else:
                url = self._objects.presign(obj, disposition, self._redirect_ttl)
                redemption = Redirect(link, disposition, url)
        except OnetimeError:
            self._give_back(link, claim)
            raise
        except Exception as exc:
            self._give_back(link, claim)
            raise UnavailableError("The file could not be delivered; try again shortly.") from exc
        metric("Redeemed", Path=how.value)
        return redemption

    def _give_back(self, link: Link, claim: Claim) -> None:
        try:
            released = self._links.release(link.link_id, claim.claim_id)
            annotate(released=released)
            if released:
                metric("UsesReleased")
            log.warning("gave a use back after a failed delivery", extra={"released": released})
        except UnavailableError as exc:
            # The customer lost a use they never got the file for; an operator
            # must restore it by hand.
            log.error(
                "USE LOST: could not give back a use after a failed delivery",
                extra={
                    "link_id": link.link_id,
                    "claim_id": claim.claim_id,
                    "error": repr(exc.__cause__),
                },
            )
