"""The error vocabulary of the service.

Every error carries a stable machine-readable ``code`` and a sentence a person
can read.  None of them knows about HTTP: ``responses`` maps them to status
codes in one table.
"""

from __future__ import annotations


class OnetimeError(Exception):
    """Base of every error the service raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(OnetimeError):
    """The deployment's settings are unusable; raised once, at first use."""

    code = "misconfigured"


class InvalidRequestError(OnetimeError):
    """The caller sent something malformed; nothing was changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class UnsupportedMediaTypeError(OnetimeError):
    code = "unsupported_media_type"


class UnauthorizedError(OnetimeError):
    code = "unauthorized"


class ForbiddenError(OnetimeError):
    """The caller is who they say, but may not have this."""

    code = "forbidden"


class RateLimitedError(OnetimeError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ObjectNotFoundError(OnetimeError):
    """The S3 object a mint asked for does not exist."""

    code = "file_not_found"


class LinkNotFoundError(OnetimeError):
    """No link matches the token (unknown id or wrong secret: we don't say which)."""

    code = "link_not_found"


class ConflictError(OnetimeError):
    """The change asked for contradicts the link's state (e.g. fewer uses than made)."""

    code = "conflict"


class LinkGoneError(OnetimeError):
    """The link existed but will never deliver again."""


class LinkUsedUpError(LinkGoneError):
    code = "link_used"

    def __init__(self, message: str, uses: int, last_used_at: float | None) -> None:
        super().__init__(message)
        self.uses = uses
        self.last_used_at = last_used_at


class PressRepeatedError(LinkUsedUpError):
    """A landing page's press sent again (a reload) after it used the link up."""


class LinkExpiredError(LinkGoneError):
    code = "link_expired"

    def __init__(self, message: str, expired_at: float) -> None:
        super().__init__(message)
        self.expired_at = expired_at


class LinkRevokedError(LinkGoneError):
    code = "link_revoked"

    def __init__(self, message: str, revoked_at: float, *, replaced: bool = False) -> None:
        super().__init__(message)
        self.revoked_at = revoked_at
        self.replaced = replaced  # withdrawn by a resend: a newer link was emailed


class LinkLockedError(OnetimeError):
    """Too many wrong answers to the link's recipient check; an operator can unlock it."""

    code = "link_locked"

    def __init__(self, message: str, locked_at: float) -> None:
        super().__init__(message)
        self.locked_at = locked_at


class RecipientCheckError(OnetimeError):
    """A press without the right answer to the link's recipient check: nothing was spent.
    ``reason`` is ``answer_required`` (none given: not counted) or ``wrong_answer``
    (counted); ``link`` is the link as that write left it."""

    def __init__(self, reason: str, link: object) -> None:
        super().__init__(reason)
        self.code = reason
        self.reason = reason
        self.link = link


class SessionRefundedError(OnetimeError):
    """A download session whose redemption was refunded: it allows no free download, and
    the use it took is back on the link.  ``link`` is the link as it is."""

    code = "session_ended"

    def __init__(self, link: object) -> None:
        super().__init__("session refunded")
        self.link = link


class FileChangedError(LinkGoneError):
    """The object behind a link was deleted or replaced after minting."""

    code = "file_changed"


class ChangedMeanwhileError(ConflictError):
    """A write that relied on what a read saw found the item changed since (a use spent
    by a racing redemption, say): nothing was written, and trying again sees the change."""


class MailError(OnetimeError):
    """SES refused the message (an error answer), or it could never have been sent: the
    link minted for the email was withdrawn."""

    code = "mail_failed"


class MailUncertainError(MailError):
    """The message may have gone out: SES stopped answering after the request was sent
    (a read timeout, a dropped connection).  What may have been emailed is kept."""

    code = "mail_uncertain"


class UnavailableError(OnetimeError):
    """A dependency failed; no use was spent and the caller may retry."""

    code = "unavailable"

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# File requests (upload links).  Each refusal carries the heading and the next step its
# page shows (worded in ``chalicelib.domain.refusals``), since an uploader's next step differs
# from a customer's.


class UploadRefusal(OnetimeError):
    """Why an upload link, or a file sent through it, was refused; nothing was spent."""

    def __init__(self, code: str, heading: str, message: str, next_step: str) -> None:
        super().__init__(message)
        self.code = code
        self.heading = heading
        self.next_step = next_step


class RequestNotFoundError(UploadRefusal):
    pass


class RequestGoneError(UploadRefusal):
    """Revoked, filled or expired: the link takes no more files."""


class UploadMissingError(UploadRefusal):
    """The confirmation names no file that arrived under the request's form."""


class UploadTooLargeError(UploadRefusal):
    pass


class UploadEmptyError(UploadRefusal):
    """The file that arrived has no bytes (the form's policy allows 1 byte or more)."""


class UploadTypeError(UploadRefusal):
    pass


class AlreadyReceivedError(UploadRefusal):
    """This upload was confirmed before: a reload, or a replay.  ``link_id`` is the
    download link that confirmation recorded."""

    def __init__(
        self, code: str, heading: str, message: str, next_step: str, link_id: str | None = None
    ) -> None:
        super().__init__(code, heading, message, next_step)
        self.link_id = link_id
