"""The service layer, one module per audience, free of HTTP and of Chalice.

* ``minting``: make a link (operators and buyers), optionally email it;
* ``redemption``: what a customer's request gets (landing page, stream, redirect);
* ``links``: operators inspect, change, revoke and list links;
* ``grants``: operators say which buyer may mint which file; buyers mint their own;
* ``uploads``: presigned uploads for files that are not in the bucket yet;
* ``filerequests``: upload links a person fills in with a file, from a web page.

Each class takes its stores and the clock by keyword; ``Services`` bundles them for
the routes, and ``app.py`` builds it once per container.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.clock import Clock
from chalicelib.domain.answers import ANSWER_LABEL, Answers
from chalicelib.domain.multipart import TicketSigner
from chalicelib.domain.signing import derive_key
from chalicelib.domain.stamps import Stamps
from chalicelib.domain.terms import TermsSigner
from chalicelib.logs import get_logger
from chalicelib.services.filerequests import Receiving, Requesting
from chalicelib.services.grants import BuyerMinting, Granting
from chalicelib.services.links import LinkAdmin
from chalicelib.services.minting import Minting
from chalicelib.services.redemption import Redeeming
from chalicelib.services.uploads import Multipart, Uploading
from chalicelib.settings import Settings
from chalicelib.storage.stores import GrantStore, LinkStore, ObjectStore, RequestStore

if TYPE_CHECKING:
    from chalicelib.mail.mailer import Mailer


log = get_logger("services")


@dataclass(frozen=True)
class Services:
    minting: Minting
    redeeming: Redeeming
    links: LinkAdmin
    granting: Granting
    buyers: BuyerMinting
    uploading: Uploading
    requesting: Requesting
    receiving: Receiving
    link_store: LinkStore
    object_store: ObjectStore

    @classmethod
    def build(
        cls,
        *,
        settings: Settings,
        clock: Clock,
        links: LinkStore,
        objects: ObjectStore,
        requests: RequestStore,
        grants: GrantStore | None = None,
        mailer: Callable[[], Mailer] | None = None,
        answer_key: Callable[[], bytes] | None = None,
    ) -> Services:
        """Every service, on these stores, configured from ``settings``.  ``answer_key``
        keys the recipient checks' digests (chalicelib/domain/answers.py); by default it is
        derived from the API key digests."""
        answers = Answers(answer_key or (lambda: derive_key(ANSWER_LABEL, settings.api_key_hashes)))
        minting = Minting(
            links=links,
            objects=objects,
            clock=clock,
            key_prefix=settings.key_prefix,
            mailer=mailer,
            answers=answers,
        )
        signer = TermsSigner(settings.api_key_hashes)
        multipart = Multipart(
            objects=objects,
            clock=clock,
            signer=TicketSigner(settings.api_key_hashes),
            part_bytes=settings.multipart_part_bytes,
        )
        return cls(
            minting=minting,
            redeeming=Redeeming(
                links=links,
                objects=objects,
                clock=clock,
                stamps=Stamps(settings.api_key_hashes),
                stream_max_bytes=settings.stream_max_bytes,
                redirect_ttl=settings.redirect_ttl,
                session_seconds=settings.session_seconds,
                answers=answers,
            ),
            links=LinkAdmin(
                links=links, clock=clock, retention_seconds=settings.retention_days * 86_400
            ),
            granting=Granting(grants=grants, clock=clock),
            buyers=BuyerMinting(
                minting=minting,
                grants=grants,
                objects=objects,
                clock=clock,
                key_prefix=settings.key_prefix,
                daily_links=settings.grant_daily_links,
            ),
            uploading=Uploading(
                objects=objects,
                clock=clock,
                upload_prefix=settings.upload_prefix,
                max_upload_bytes=settings.max_upload_bytes,
                multipart=multipart,
                multipart_threshold=settings.multipart_threshold,
            ),
            requesting=Requesting(
                requests=requests,
                clock=clock,
                signer=signer,
                max_upload_bytes=settings.max_upload_bytes,
                mailer=mailer,
                multipart=multipart,
            ),
            receiving=Receiving(
                requests=requests,
                objects=objects,
                links=links,
                minting=minting,
                clock=clock,
                request_prefix=settings.request_prefix,
                mailer=mailer,
                multipart=multipart,
                multipart_threshold=settings.multipart_threshold,
            ),
            link_store=links,
            object_store=objects,
        )

    def health(self) -> dict[str, bool]:
        """Whether each dependency answers as the service needs: the table, and the bucket
        (its objects readable by this role).  Never raises."""
        checks: dict[str, bool] = {}
        for name, ping in (("table", self.link_store.ping), ("bucket", self.object_store.ping)):
            try:
                ping()
                checks[name] = True
            except Exception:
                log.warning("health check failed", extra={"dependency": name}, exc_info=True)
                checks[name] = False
        return checks
