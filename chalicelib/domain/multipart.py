"""Multipart uploads: how a large file is cut into parts, and the ticket that names one
upload to the service between its steps.  Its values are named tuples: a frozen
dataclass costs about 1 ms of a cold start to define, a named tuple a tenth of that.

S3's limits (docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html, read December
2026): parts of 5 MiB to 5 GiB (the last one may be smaller), part numbers 1 to 10,000,
at most 1,000 parts in one ``ListParts`` answer.  The largest object is given there as
48.8 TiB (10,000 parts of 5 GiB); older and translated copies still say 5 TiB.  The
service cuts a file into at most 1,000 parts, so that completion reads them in one
``ListParts`` and fits the Lambda's time budget (chalicelib/storage/budgets.py): the
largest upload is 1,000 parts of 5 GiB, 4.88 TiB.

The ticket carries the upload's key, S3's upload id, the declared size and the part size,
signed with a key derived from the deployment's API key digests
(``chalicelib.domain.signing``).  With it the service needs no record of an upload to
sign its parts, to list them or to complete it: every step checks the signature, and the
size and part size the ticket carries bound what it signs.  Rotating the API keys
invalidates the tickets of uploads under way (their clients start again).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import NamedTuple

from chalicelib.domain.errors import ConflictError, InvalidRequestError
from chalicelib.domain.signing import derive_key, mac, mac_matches

MiB = 1024 * 1024
MIN_PART = 5 * MiB
MAX_PART = 5 * 1024 * MiB
MAX_PARTS = 1_000  # S3 takes 10,000; one ListParts answer holds 1,000 (see above)
LARGEST_OBJECT = MAX_PARTS * MAX_PART  # 4.88 TiB
# Part URLs asked for in one request.  A client signs a few parts ahead of those it
# sends, so a batch is small; the cap keeps one answer far under API Gateway's limits
# (an URL is about 1.4 kB with a session token: 100 make 140 kB).
MAX_PARTS_PER_BATCH = 100
# How long one signed part URL may start an upload.  S3 checks the expiry when a request
# starts, so a part already under way finishes.  The function's credentials are its role's
# temporary ones, and an URL signed with them dies with them whatever its own expiry; AWS
# does not say how long Lambda's last ("services that assume a role, such as the AWS
# Lambda execution role, don't necessarily comply with the role's session duration",
# knowledge-center/presigned-url-s3-bucket-expiration).  So parts are signed in small
# batches as they are needed, live 15 minutes, and a client signs again on a 403.
PART_URL_LIFETIME = 900

_LABEL = "onetime multipart ticket"


class Plan(NamedTuple):
    """A file of ``size`` bytes cut into ``parts`` parts of ``part_size`` (the last one
    holds the rest)."""

    size: int
    part_size: int

    @property
    def parts(self) -> int:
        return -(-self.size // self.part_size)

    def length(self, number: int) -> int:
        """The exact size of part ``number`` (1-based)."""
        if not 1 <= number <= self.parts:
            raise InvalidRequestError(
                "invalid_part", f"part numbers go from 1 to {self.parts} for this upload."
            )
        if number < self.parts:
            return self.part_size
        return self.size - (self.parts - 1) * self.part_size


def plan(size: int, preferred_part: int) -> Plan:
    """Parts of ``preferred_part`` bytes, or larger (whole MiB) when the file would
    otherwise need more than ``MAX_PARTS``."""
    if not 1 <= size <= LARGEST_OBJECT:
        raise InvalidRequestError(
            "invalid_size", f"size must be between 1 and {LARGEST_OBJECT} bytes."
        )
    needed = -(-size // MAX_PARTS)
    part = max(preferred_part, -(-needed // MiB) * MiB, MIN_PART)
    return Plan(size, min(part, MAX_PART))


class Ticket(NamedTuple):
    key: str
    upload_id: str
    size: int
    part_size: int

    @property
    def plan(self) -> Plan:
        return Plan(self.size, self.part_size)


class TicketSigner:
    def __init__(self, secret_material: tuple[str, ...]) -> None:
        self._key = derive_key(_LABEL, secret_material)

    def sign(self, ticket: Ticket) -> str:
        body = json.dumps(
            [ticket.key, ticket.upload_id, ticket.size, ticket.part_size],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        encoded = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
        return f"{encoded}.{mac(self._key, encoded)}"

    def verify(self, signed: object) -> Ticket:
        """The ticket ``sign`` made, or ``InvalidRequestError``."""
        encoded, _, signature = (signed if isinstance(signed, str) else "").partition(".")
        if not encoded or len(encoded) > 4096 or not mac_matches(self._key, encoded, signature):
            raise _bad_ticket()
        try:
            key, upload_id, size, part_size = json.loads(
                base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            )
        except (ValueError, TypeError, binascii.Error):
            raise _bad_ticket() from None  # signed by us: only if the format changes
        return Ticket(str(key), str(upload_id), int(size), int(part_size))


def _bad_ticket() -> InvalidRequestError:
    return InvalidRequestError(
        "invalid_upload",
        "upload must be the value this service gave when the upload started.",
    )


def part_numbers(value: object, plan: Plan) -> tuple[int, ...]:
    """The part numbers a client asks URLs for: a list of 1 to ``MAX_PARTS_PER_BATCH``
    numbers of this upload, without repeats."""
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_PARTS_PER_BATCH
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in value)
        or len(set(value)) != len(value)
    ):
        raise InvalidRequestError(
            "invalid_parts",
            f"parts must be a list of 1 to {MAX_PARTS_PER_BATCH} different part numbers.",
        )
    for number in value:
        plan.length(number)  # refuses numbers outside the upload
    return tuple(value)


class HeldPart(NamedTuple):
    """A part S3 holds for an upload (``ListParts``)."""

    number: int
    size: int
    etag: str


class UploadGoneError(ConflictError):
    """S3 holds no such multipart upload: it was completed, aborted, or removed by the
    bucket's lifecycle rule a day after it started."""

    code = "upload_gone"


class TooManyUploadsError(ConflictError):
    """A file request has as many multipart uploads open as it may (``MAX_OPEN_UPLOADS``)."""

    code = "too_many_uploads"
