"""The service layer, one module per audience, free of HTTP and of Chalice.

* ``minting``: make a link (operators and buyers), optionally email it;
* ``redemption``: what a customer's request gets (landing page, stream, redirect);
* ``links``: operators inspect, change, revoke and list links;
* ``grants``: operators say which buyer may mint which file; buyers mint their own;
* ``uploads``: presigned uploads for files that are not in the bucket yet;
* ``filerequests``: upload links a person fills in with a file, from a web page.

Each class takes its stores and the clock by keyword; ``Services`` bundles them for
the routes, builds each on first use, and ``app.py`` builds it once per container.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib.clock import Clock
from chalicelib.logs import get_logger
from chalicelib.settings import Settings
from chalicelib.storage.stores import GrantStore, LinkStore, ObjectStore, RequestStore

if TYPE_CHECKING:
    from chalicelib.domain.answers import Answers
    from chalicelib.mail.mailer import Mailer
    from chalicelib.services.filerequests import Bundling, Receiving, Requesting
    from chalicelib.services.grants import BuyerMinting, Granting
    from chalicelib.services.links import LinkAdmin
    from chalicelib.services.minting import Minting
    from chalicelib.services.redemption import Redeeming
    from chalicelib.services.uploads import Multipart, Uploading


log = get_logger("services")


class Services:
    """Every service, on these stores, configured from ``settings``; each one is built,
    and its module imported, by the first request that uses it, so a container whose
    first request is a redemption never loads minting, mail or file requests (its cold
    start is that much shorter).  ``answer_key`` keys the recipient checks' digests
    (chalicelib/domain/answers.py); by default it is derived from the API key digests."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        links: LinkStore,
        objects: ObjectStore,
        requests: RequestStore,
        grants: GrantStore | None = None,
        mailer: Callable[[], Mailer] | None = None,
        answer_key: Callable[[], bytes] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.link_store = links
        self.object_store = objects
        self.request_store = requests
        self.grant_store = grants
        self.mailer = mailer
        self._answer_key = answer_key

    @functools.cached_property
    def answers(self) -> Answers:
        from chalicelib.domain.answers import ANSWER_LABEL, Answers
        from chalicelib.domain.signing import derive_key

        hashes = self.settings.api_key_hashes
        return Answers(self._answer_key or (lambda: derive_key(ANSWER_LABEL, hashes)))

    @functools.cached_property
    def minting(self) -> Minting:
        from chalicelib.services.minting import Minting

        return Minting(
            links=self.link_store,
            objects=self.object_store,
            clock=self.clock,
            key_prefix=self.settings.key_prefix,
            mailer=self.mailer,
            answers=self.answers,
        )

    @functools.cached_property
    def redeeming(self) -> Redeeming:
        from chalicelib.domain.stamps import Stamps
        from chalicelib.services.redemption import Redeeming

        settings = self.settings
        return Redeeming(
            links=self.link_store,
            objects=self.object_store,
            clock=self.clock,
            stamps=Stamps(settings.api_key_hashes),
            stream_max_bytes=settings.stream_max_bytes,
            redirect_ttl=settings.redirect_ttl,
            session_seconds=settings.session_seconds,
            answers=self.answers,
        )

    @functools.cached_property
    def links(self) -> LinkAdmin:
        from chalicelib.services.links import LinkAdmin

        retention = self.settings.retention_days * 86_400
        return LinkAdmin(links=self.link_store, clock=self.clock, retention_seconds=retention)

    @functools.cached_property
    def granting(self) -> Granting:
        from chalicelib.services.grants import Granting

        return Granting(grants=self.grant_store, clock=self.clock)

    @functools.cached_property
    def buyers(self) -> BuyerMinting:
        from chalicelib.services.grants import BuyerMinting

        return BuyerMinting(
            minting=self.minting,
            grants=self.grant_store,
            objects=self.object_store,
            clock=self.clock,
            key_prefix=self.settings.key_prefix,
            daily_links=self.settings.grant_daily_links,
        )

    @functools.cached_property
    def multipart(self) -> Multipart:
        from chalicelib.domain.multipart import TicketSigner
        from chalicelib.services.uploads import Multipart

        return Multipart(
            objects=self.object_store,
            clock=self.clock,
            signer=TicketSigner(self.settings.api_key_hashes),
            part_bytes=self.settings.multipart_part_bytes,
        )

    @functools.cached_property
    def uploading(self) -> Uploading:
        from chalicelib.services.uploads import Uploading

        return Uploading(
            objects=self.object_store,
            clock=self.clock,
            upload_prefix=self.settings.upload_prefix,
            max_upload_bytes=self.settings.max_upload_bytes,
            multipart=self.multipart,
            multipart_threshold=self.settings.multipart_threshold,
        )

    @functools.cached_property
    def requesting(self) -> Requesting:
        from chalicelib.domain.terms import TermsSigner
        from chalicelib.services.filerequests import Requesting

        return Requesting(
            requests=self.request_store,
            clock=self.clock,
            signer=TermsSigner(self.settings.api_key_hashes),
            max_upload_bytes=self.settings.max_upload_bytes,
            mailer=self.mailer,
            multipart=self.multipart,
            bundling=self.bundling,
        )

    @functools.cached_property
    def bundling(self) -> Bundling:
        from chalicelib.services.filerequests import Bundling

        return Bundling(
            requests=self.request_store, minting=self.minting, clock=self.clock, mailer=self.mailer
        )

    @functools.cached_property
    def receiving(self) -> Receiving:
        from chalicelib.services.filerequests import Receiving

        return Receiving(
            requests=self.request_store,
            objects=self.object_store,
            links=self.link_store,
            minting=self.minting,
            clock=self.clock,
            request_prefix=self.settings.request_prefix,
            mailer=self.mailer,
            multipart=self.multipart,
            multipart_threshold=self.settings.multipart_threshold,
            bundling=self.bundling,
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
