"""What a failure of the API, of S3 or of a local file tells the person at the terminal,
and the exit code it ends ``onetime`` with.

Exit codes: 0 done; 1 the API answered with an error; 2 bad usage (or, for
``get``, a file already there); 3 the URL or API key is not configured; 4 the
server could not be reached (or, for ``get``, the transfer broke off); 128 + the
signal's number when ``get`` was interrupted (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

from typing import IO, Any

import click

from onetime_cli import downloads, render, uploads
from onetime_cli.client import ApiError, Unreachable


class Failure(click.ClickException):
    """The API answered with an error: exit 1, ``error: <message>`` on stderr."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        # The message carries the server's (or S3's) words: shown through the one rule.
        line = render.printable(f"error: {self.format_message()}")
        click.echo(line, file=file, err=file is None)


class NotConfigured(Failure):
    """ONETIME_URL or ONETIME_API_KEY is missing or unusable."""

    exit_code = 3


class ServerUnreachable(Failure):
    """No answer: refused, timed out, or the host name is unknown."""

    exit_code = 4


class Occupied(Failure):
    """``get`` will not replace what is already at the path it saves to."""

    exit_code = 2


class Interrupted(Failure):
    """Ctrl-C stopped ``get``: exit 130 (128 + SIGINT), as a shell reports it."""

    exit_code = 130


class Terminated(Interrupted):
    """SIGTERM stopped ``get``: exit 143 (128 + SIGTERM)."""

    exit_code = 143


# Said when ``get`` stops before sending anything: true of this command, whatever the
# link's state (only the service can say whether the link was used).
NOTHING_SENT = "Nothing was sent to the server, so this spent no use."

# What a customer can do once the use may be gone.
MAY_BE_SPENT = (
    "The link's use may be spent: try `onetime get` again, or ask the sender for a new link."
)


def retry_hint(error: ApiError) -> str:
    if error.status in (429, 503) and error.retry_after:
        return f" Try again in {error.retry_after} s."
    return ""


def api_error_message(error: ApiError) -> str:
    message = error.message
    if error.status == 401:
        message += " Check ONETIME_API_KEY (or --api-key)."
    return message + retry_hint(error)


def failure_for(error: Exception, then: str = "") -> Failure:
    """What a failure of the API, of S3 or of the local file tells the operator
    (followed by ``then``, a sentence on what to do next)."""
    after = f" {then}" if then else ""
    if isinstance(error, ApiError):
        return Failure(api_error_message(error) + after)
    if isinstance(error, downloads.Lost):
        return ServerUnreachable(f"{error.described}. {MAY_BE_SPENT}{after}")
    if isinstance(error, Unreachable):
        return ServerUnreachable(f"{error.described}.{after}")
    if isinstance(error, uploads.StorageError):
        return Failure(
            f"S3 refused the upload ({error.status} {error.code}): {error.message}{after}"
        )
    if isinstance(error, uploads.FileChanged):
        return Failure(
            f"the file changed while it was being uploaded: it ended after {error.got} of "
            f"{error.expected} bytes.  Nothing was shared; try again.{after}"
        )
    if isinstance(error, downloads.BrokenTransfer):
        of = "" if error.expected is None else f" of {error.expected:,}"
        return ServerUnreachable(
            f"the download from {error.origin} broke off after {error.got:,}{of} bytes "
            f"({error.reason}); nothing was saved. {MAY_BE_SPENT}{after}"
        )
    if isinstance(error, downloads.Unfetched):
        return Failure(
            f"{error.origin} did not send the file ({error.status}): {error.message} "
            f"{MAY_BE_SPENT}{after}"
        )
    raise TypeError(f"not a failure of onetime: {error!r}")


FAILURES = (
    ApiError,
    Unreachable,
    uploads.StorageError,
    uploads.FileChanged,
    downloads.BrokenTransfer,
    downloads.Unfetched,
)
