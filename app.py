"""onetime: single-use download links for private S3 objects.

The app object, its blueprints, and the factories that build each dependency
once per container.  Routes live in ``chalicelib/routes`` (one blueprint per
audience), the logic in ``chalicelib/services``.
"""

from __future__ import annotations

import functools
import os
import time
from typing import TYPE_CHECKING, Any

from chalice.app import Chalice, DynamoDBEvent

from chalicelib import logs
from chalicelib.clock import Clock
from chalicelib.domain.delivery import BINARY_TYPES
from chalicelib.services import Services
from chalicelib.settings import get_notification_settings, get_settings
from chalicelib.web.apikeys import ApiKeys
from chalicelib.web.buyers import BuyerTokens
from chalicelib.web.routes import buyers, customers, health, operators, request, uploaders

if TYPE_CHECKING:  # the module imports boto3: only the notifications function pays for it
    from chalicelib.events.notifications import Notifier

app = Chalice(app_name="onetime", configure_logs=False)
app.api.binary_types = list(BINARY_TYPES)  # why these: chalicelib/domain/delivery.py
log = logs.configure()
app.register_middleware(request.log_request, "http")
for blueprint in (customers.bp, uploaders.bp, operators.bp, buyers.bp, health.bp):
    app.register_blueprint(blueprint)


@functools.cache
def get_services() -> Services:
    # Imported here, not at module level: only a container's first request
    # pays for boto3, and ``import app`` stays cheap.
    from chalicelib.mail.mailer import Mailer
    from chalicelib.storage.clients import (
        dynamodb_client,
        s3_client,
        s3_completion_client,
        ses_client,
    )
    from chalicelib.storage.grantstore import DynamoGrantStore
    from chalicelib.storage.linkstore import DynamoLinkStore
    from chalicelib.storage.objectstore import HEALTH_PROBE, S3ObjectStore
    from chalicelib.storage.requeststore import DynamoRequestStore

    settings = get_settings()
    clock = request.deps().clock
    mailer = None
    if settings.mail_from:
        sender = settings.mail_from

        @functools.cache
        def mailer() -> Mailer:
            return Mailer(
                ses_client(), sender, name=settings.mail_from_name, reply_to=settings.reply_to
            )

    answer_key = None
    if settings.secret_parameter:
        name = settings.secret_parameter

        @functools.cache
        def answer_key() -> bytes:
            # Read once per container, and only by the first recipient check.
            from chalicelib.storage.secrets import read_secret

            return read_secret(name)

    dynamodb = dynamodb_client()
    return Services(
        settings=settings,
        clock=clock,
        links=DynamoLinkStore(dynamodb, settings.table, settings.retention_days * 86_400),
        objects=S3ObjectStore(
            s3_client(),
            settings.bucket,
            probe_key=settings.upload_prefix + HEALTH_PROBE,
            completer=functools.cache(s3_completion_client),
        ),
        requests=DynamoRequestStore(dynamodb, settings.table, settings.retention_days * 86_400),
        grants=DynamoGrantStore(dynamodb, settings.table),
        mailer=mailer,
        answer_key=answer_key,
    )


@functools.cache
def get_api_keys() -> ApiKeys:
    return ApiKeys(get_settings().api_key_hashes)


@functools.cache
def get_buyer_tokens() -> BuyerTokens | None:
    settings = get_settings()
    if not (settings.jwt_issuer and settings.jwt_audience and settings.jwt_jwks_url):
        return None
    return BuyerTokens(settings.jwt_issuer, settings.jwt_audience, settings.jwt_jwks_url)


@functools.cache
def get_notifier() -> Notifier:
    from chalicelib.events.notifications import build

    return build(get_notification_settings())


# Notifications, from the links table's stream: a function of their own, off the request
# path.  The ARN is a stand-in that the template replaces with the table's own stream
# (infra/resources.yaml); the handler's retries and dead-letter queue are set there too.
NOTIFY_HANDLER_VARIABLE = "ONETIME_NOTIFY_HANDLER"
STREAM_ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/onetime/stream/set-by-the-template"


def notify(event: DynamoDBEvent) -> dict[str, Any]:
    context: Any = event.context
    remaining = context.get_remaining_time_in_millis if context is not None else None
    failed = get_notifier().handle(event.to_dict()["Records"], remaining)
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}


# Registered only where the stream exists: `make package` (tools/package.py) and the
# notify function itself (the template sets the variable), so that `chalice deploy`
# (way 1, docs/DEPLOY.md) deploys the API alone rather than a handler for a stream that
# does not exist.  Read at import: it decides which functions the app has.
if os.environ.get(NOTIFY_HANDLER_VARIABLE) == "1":
    notify = app.on_dynamodb_record(stream_arn=STREAM_ARN, batch_size=10, name="notify")(notify)


def reset() -> None:
    """Forget every cached dependency, so the next request reads the settings again and
    builds new clients.  The one reset, for tests and benchmarks that change settings."""
    for factory in (get_settings, get_services, get_api_keys, get_buyer_tokens):
        factory.cache_clear()
    get_notification_settings.cache_clear()
    get_notifier.cache_clear()


def configure(*, clock: Clock = time.time) -> None:
    """Wire the routes to the factories, with ``clock`` for every "now" (tests pass one
    they freeze and advance), and start from fresh dependencies."""
    reset()
    request.wire(
        request.Dependencies(
            app=app,
            services=get_services,
            api_keys=get_api_keys,
            buyer_tokens=get_buyer_tokens,
            settings=get_settings,
            clock=clock,
        )
    )


configure()
