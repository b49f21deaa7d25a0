"""S3's, SES's and SSM's failures in the service's words: one place that catches botocore's
exceptions, as ``dynamo.translated`` does for DynamoDB.

A caller names what to say when the dependency is simply unavailable, and may pass a
function that picks a more exact error from the ``Failure`` (a missing object, a refused
email); anything it does not pick becomes ``UnavailableError``.  Every error is raised
from botocore's, so the logs keep the cause.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from chalicelib.domain.errors import MailError, MailUncertainError, UnavailableError
from chalicelib.logs import get_logger

# Logged under the mailer's name: where an operator looks for why an email did not go.
_mail_log = get_logger("mailer")


@dataclass(frozen=True)
class Failure:
    """One failed AWS call, as much of it as the service decides by."""

    code: str  # AWS's error code ("NoSuchKey", "Throttling"), "" when AWS did not answer
    status: int | None  # the error answer's HTTP status, None when there was none
    answered: bool  # AWS answered with an error: it did nothing
    # False only when no connection was ever made, so the request certainly never arrived;
    # True also when it was sent and its answer was lost (AWS may have acted on it).
    sent: bool
    name: str  # botocore's exception class, for logs
    answer: Mapping[str, Any]  # the error answer itself, empty when there was none


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def failure_of(exc: ClientError | BotoCoreError) -> Failure:
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return Failure(error_code(exc), status, True, True, type(exc).__name__, exc.response)
    never_sent = isinstance(exc, EndpointConnectionError | ConnectTimeoutError)
    return Failure("", None, False, not never_sent, type(exc).__name__, {})


Explain = Callable[[Failure], Exception | None]


def _unexplained(failure: Failure) -> None:
    return None


@contextmanager
def translated(unavailable: str, explain: Explain = _unexplained) -> Iterator[None]:
    """Run AWS calls: a failure becomes what ``explain`` makes of it, or else
    ``UnavailableError(unavailable)``."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise (explain(failure_of(exc)) or UnavailableError(unavailable)) from exc


def mail_failure(failure: Failure) -> MailError:
    """Why SES did not take an email.  ``MailUncertainError`` only when it may have: the
    request went out and its answer was lost (SES may have accepted the message, so the
    caller keeps what may have been emailed)."""
    if failure.answered:
        _mail_log.warning("SES refused a message", extra={"ses_error": failure.code})
        reason = _SES_REASONS.get(failure.code, "the mail service failed")
        return MailError(f"The email could not be sent: {reason}.")
    if not failure.sent:
        _mail_log.warning("SES unreachable", extra={"ses_error": failure.name})
        return MailError("The email could not be sent: the mail service could not be reached.")
    _mail_log.warning("SES did not answer", extra={"ses_error": failure.name})
    return MailUncertainError(
        "The email may not have been sent: the mail service stopped answering."
    )


def sending_mail() -> AbstractContextManager[None]:
    """SES's ``SendEmail``: every failure becomes a ``MailError`` (``mail_failure``)."""
    return translated("The email could not be sent.", mail_failure)


_SES_REASONS = {
    # SES gives this when an identity is not verified: the sender's always, and while the
    # account is in the SES sandbox (every new account) the recipient's too.
    "MessageRejected": (
        "SES refused the message: the sender must be a verified SES identity, and while the "
        "account is in the SES sandbox the recipient's address must be verified too "
        '(docs/DEPLOY.md, "Prerequisites", SES)'
    ),
    "NotFoundException": "the sender address is not a verified identity",
    "MailFromDomainNotVerifiedException": "the sender's domain is not verified",
    "AccountSendingPausedException": "sending is paused for this account",
    "ConfigurationSetDoesNotExist": "the mail configuration is missing",
    "Throttling": "the mail service is busy; try again shortly",
    "ThrottlingException": "the mail service is busy; try again shortly",
}
