"""Minting and redeeming links: the service layer, free of HTTP and of Chalice."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import delivery
from chalicelib.errors import InvalidRequestError, OnetimeError, UnavailableError
from chalicelib.filenames import content_disposition, default_filename, validate_filename
from chalicelib.link import Link
from chalicelib.linkstore import Claim, LinkStore
from chalicelib.objectkeys import validate_key
from chalicelib.objectstore import ObjectStore
from chalicelib.settings import Settings
from chalicelib.tokens import Token, new_token, parse_token

log = logging.getLogger(__name__)

DEFAULT_USES = 1
MAX_USES = 100
DEFAULT_TTL = 86_400
MAX_TTL = 30 * 86_400


@dataclass(frozen=True)
class MintRequest:
    file: str
    uses: int = DEFAULT_USES
    ttl: int = DEFAULT_TTL
    filename: str | None = None
    confirm: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.uses <= MAX_USES:
            raise InvalidRequestError("invalid_uses", f"uses must be between 1 and {MAX_USES}.")
        if not 1 <= self.ttl <= MAX_TTL:
            raise InvalidRequestError(
                "invalid_ttl", f"ttl must be between 1 and {MAX_TTL} seconds (30 days)."
            )


@dataclass(frozen=True)
class MintedLink:
    token: Token
    link: Link


@dataclass(frozen=True)
class Requester:
    """Who is redeeming: what the audit record keeps, and what decides the delivery."""

    accept: str | None = None
    client_ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class Redemption:
    link: Link
    delivery: delivery.Delivery
    disposition: str
    body: bytes = b""
    location: str = ""


class LinkService:
    def __init__(
        self,
        links: LinkStore,
        objects: ObjectStore,
        settings: Settings,
        clock: Callable[[], float],
    ) -> None:
        self._links = links
        self._objects = objects
        self._settings = settings
        self._clock = clock

    def mint(self, request: MintRequest) -> MintedLink:
        key = validate_key(request.file, self._settings.key_prefix)
        filename = validate_filename(
            request.filename if request.filename is not None else default_filename(key)
        )
        obj = self._objects.describe(key)
        now = self._clock()
        token = new_token()
        expires_at = int(now) + request.ttl
        link = Link(
            link_id=token.link_id,
            token_digest=token.digest,
            object=obj,
            filename=filename,
            max_uses=request.uses,
            uses=0,
            created_at=now,
            expires_at=expires_at,
            confirm=request.confirm,
        )
        self._links.create(link, purge_at=expires_at + self._settings.retention_days * 86_400)
        return MintedLink(token=token, link=link)

    def redeem(self, token_value: str | None, requester: Requester) -> Redemption:
        """Spend a use and hand over the file (a POST, or a client that is not a browser)."""
        return self._redeem(token_value, requester, unless_confirm=False)

    def open(self, token_value: str | None, requester: Requester) -> Redemption:
        """A browser's GET: redeem, unless the link asks a person to confirm first.

        Raises ``ConfirmationRequiredError`` with the link (for the landing page)
        in that case, having spent nothing -- mail scanners and chat previews
        fetch links with full browsers before the customer does.
        """
        return self._redeem(token_value, requester, unless_confirm=True)

    def inspect(self, token_value: str | None) -> Link:
        """The link if a redemption would succeed now, else the refusal; spends nothing."""
        token = parse_token(token_value)
        return self._links.peek(token.link_id, token.digest, self._clock())

    def _redeem(
        self, token_value: str | None, requester: Requester, *, unless_confirm: bool
    ) -> Redemption:
        token = parse_token(token_value)
        # Decided before the claim: a response this client cannot receive intact
        # must never be the one a use was spent on.
        accept_stream = delivery.accepts_stream(requester.accept)
        claim = Claim(
            claim_id=secrets.token_hex(8),
            at=self._clock(),
            client_ip=requester.client_ip,
            user_agent=requester.user_agent,
        )
        link = self._links.claim(token.link_id, token.digest, claim, unless_confirm=unless_confirm)
        obj = link.object
        disposition = content_disposition(link.filename)
        how = delivery.choose(
            accept_stream, obj.size, obj.content_type, self._settings.stream_max_bytes
        )
        try:
            if how is delivery.Delivery.STREAM:
                body = self._objects.fetch(obj)
                return Redemption(link, how, disposition, body=body)
            url = self._objects.presign(obj, disposition, self._settings.redirect_ttl)
            return Redemption(link, how, disposition, location=url)
        except OnetimeError:
            self._give_back(link, claim)
            raise
        except Exception as exc:
            self._give_back(link, claim)
            raise UnavailableError("The file could not be delivered; try again shortly.") from exc

    def ping(self) -> None:
        self._links.ping()
        self._objects.ping()

    def _give_back(self, link: Link, claim: Claim) -> None:
        try:
            self._links.release(link.link_id, claim.claim_id)
        except (BotoCoreError, ClientError) as exc:
            # The customer lost a use they never got the file for; an operator
            # must restore it by hand.
            log.error(
                "USE LOST: could not give back a use after a failed delivery",
                extra={"link_id": link.link_id, "claim_id": claim.claim_id, "error": str(exc)},
            )
