"""The link record: what was minted, and what has happened to it since."""

from __future__ import annotations

import dataclasses
import hmac
from dataclasses import dataclass
from typing import NamedTuple

from chalicelib.domain.bots import previewer
from chalicelib.domain.delivery import Delivery, choose
from chalicelib.domain.errors import InvalidRequestError

# Files up to this size go out in the response body, unless the deployment sets
# ONETIME_STREAM_MAX_BYTES (chalicelib/settings.py).  Here, not in settings: a use recorded
# before uses carried their limit is judged by it, and the domain imports nothing above it.
DEFAULT_STREAM_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    """The S3 object a link delivers, as it was when the link was minted."""

    key: str
    size: int
    content_type: str
    etag: str
    version_id: str | None = None
    # x-amz-meta-owner: the buyer (JWT subject) who may always link their own file.
    # Read at mint time only; not stored with the link.
    owner: str | None = None


# A bundle names at most this many files: its item (about 200 bytes a file) then stays
# well under DynamoDB's 400 KB, and its claim under 16 WCU (docs/COUNTING.md, "Bundles").
MAX_BUNDLE_FILES = 50


@dataclass(frozen=True)
class BundledFile:
    """One file of a bundle: the object as it was minted, and the name it is saved under."""

    object: StoredObject
    filename: str


@dataclass(frozen=True)
class Use:
    """One redemption, recorded by the same write that claimed it."""

    at: float
    client_ip: str
    user_agent: str
    # Whether the client could take a streamed body, and the stream limit in force
    # then: with the link's size and type they say how the file went out.
    binary: bool
    stream_max_bytes: int | None = None  # not recorded by claims made before it was
    claim_id: str = ""  # names the redemption, e.g. for a refund
    refunded_at: float | None = None
    # The download session this redemption opened: the SHA-256 of its secret (the secret
    # itself is only in the client's cookie), and the re-deliveries it has had.
    session_digest: str = ""
    redeliveries: int = 0
    redelivered_at: float | None = None
    # A bundle's session counts fetches per file: (file number, fetches), by number.
    fetches: tuple[tuple[int, int], ...] = ()

    def fetched(self, file: int | None) -> int:
        """The re-deliveries counted against ``file``'s cap (None: a single file's)."""
        if file is None:
            return self.redeliveries
        return dict(self.fetches).get(file, 0)


# What a visit that spent nothing was: a page view, a HEAD, a preview fetch (a GET that
# does not want HTML), a known previewer's request, or a press faster than a person's.
VISIT_KINDS = ("page", "head", "preview", "bot", "too_fast")
# A person reads an email or a chat before clicking; a redemption this soon after minting
# (or emailing, which follows at once) is more likely a scanner's.
AUTOMATION_WINDOW = 10
# Re-deliveries one download session allows (a resumed or repeated download each): enough
# for a flaky connection and a download manager's retries, not a way to share the file.
REDELIVERY_CAP = 20


@dataclass(frozen=True)
class Visit:
    at: float
    client_ip: str
    user_agent: str
    kind: str


@dataclass(frozen=True)
class Refund:
    """A use given back by an operator: of one named redemption, or just one use."""

    at: float
    claim_id: str | None = None


# Recipient checks (``Link.check``): what the person must type before a press counts.
CHECKS = ("email", "code")
# Wrong answers a link takes before it locks; an operator can unlock it (or refund).
MAX_WRONG_ANSWERS = 5
# The records an item keeps of each history (wrong answers, unlocks, refunds): the newest
# ones, with exact totals.  An unbounded list would grow the item to DynamoDB's 400 KB,
# past which every write to it fails.
HISTORY_KEPT = 20
# A wrong answer's user agent is kept to this many bytes of UTF-8 (a whole record stays
# under about 300 bytes).
GUESS_UA_BYTES = 200


def one_file_only() -> InvalidRequestError:
    return InvalidRequestError("invalid_file", "This link names one file: leave file out.")


def no_such_file(count: int) -> InvalidRequestError:
    return InvalidRequestError(
        "invalid_file", f"file must be a number from 1 to {count}, the files of this link."
    )


def recipient_key(address: str) -> str:
    """How the ``by-recipient`` index files an address: lower case, so that support finds
    ``Client@Example.com``'s links by whatever case they type (the address itself is kept
    as given, for display and for the email)."""
    return address.strip().lower()


def clipped(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, never inside a character (DynamoDB
    sizes an item in bytes, and one character may take four)."""
    return text.encode()[:limit].decode(errors="ignore")


@dataclass(frozen=True)
class Guess:
    """One wrong answer to a link's recipient check, recorded by the write that counted it."""

    at: float
    client_ip: str
    user_agent: str


class Changes(NamedTuple):
    """What an operator changes of a link: its expiry, its use limit, its note (None: kept)."""

    expires_at: int | None = None
    max_uses: int | None = None
    note: str | None = None


class Redelivery(NamedTuple):
    """A re-delivery asked for in a download session: the session's claim, the digest of
    the secret that proves it (None: a landing page's press sent again, whose stamp names
    the claim), when, the session's length, the attempt that marks this count (so that its
    undo undoes only it), the new secret's digest when the session is re-keyed, and which
    file of a bundle."""

    claim_id: str
    session_digest: str | None
    at: float
    seconds: int
    attempt: str
    new_session_digest: str | None = None
    file: int | None = None


@dataclass(frozen=True)
class Claim:
    """One redemption attempt.  Its id makes the claim's write recognisable and undoable;
    the store records it as a ``Use`` in the same write."""

    claim_id: str
    at: float
    client_ip: str = ""
    user_agent: str = ""
    binary: bool = False
    stream_max_bytes: int | None = None
    session_digest: str = ""  # the download session this claim opens (see Use)
    # The keyed digest of the person's answer to the link's recipient check ("" for none);
    # compared with the stored one inside the claim's own conditional write.
    answer_digest: str = ""
    # The token says the link is a bundle: the claim's answer then carries its file list.
    bundle: bool = False


def guess_of(claim: Claim) -> Guess:
    """The record a wrong answer leaves: its time, IP and user agent, each cut short so a
    record stays under about 300 bytes (64 + GUESS_UA_BYTES, plus names and time)."""
    return Guess(claim.at, clipped(claim.client_ip, 64), clipped(claim.user_agent, GUESS_UA_BYTES))


@dataclass(frozen=True)
class Link:
    link_id: str
    token_digest: str
    object: StoredObject
    filename: str
    max_uses: int
    uses: int
    created_at: float
    expires_at: int
    confirm: bool
    revoked_at: float | None = None
    note: str = ""
    uses_log: tuple[Use, ...] = ()
    visits: tuple[Visit, ...] = ()  # the last visit of each kind, oldest first
    visit_counts: tuple[tuple[str, int], ...] = ()  # (kind, count) for every visit
    refunds: tuple[Refund, ...] = ()  # the newest HISTORY_KEPT, oldest first
    refund_total: int = 0  # every refund ever made, kept or not
    # Who the link was emailed to, and SES's id for that message (personal data: deleted
    # with the item, by the same TTL).  ``notify`` gets a receipt when it is redeemed.
    recipient: str | None = None
    message_id: str | None = None
    notify: str | None = None
    # The recipient check, if any: ``email`` or ``code`` (CHECKS), the keyed digest of the
    # expected answer, and the wrong answers counted since the last unlock.
    check: str | None = None
    answer_digest: str | None = None
    wrong_answers: int = 0  # since the last unlock: at MAX_WRONG_ANSWERS the link locks
    # The audit trail, kept through unlocks: the newest HISTORY_KEPT wrong answers and
    # unlocks, oldest first, and how many there ever were.
    guesses: tuple[Guess, ...] = ()
    guess_total: int = 0
    unlocked: tuple[float, ...] = ()  # when an operator unlocked it
    unlock_total: int = 0
    # A resend: the link this one replaced, and the one that replaced it.
    replaces: str | None = None
    replaced_by: str | None = None
    # Counts resends prepared against this link that were given up (``close_resends``):
    # a resend's write checks it, so one given up can never land late.
    fence: int = 0
    # A bundle's files, fixed at mint, numbered from 1 (``object`` and ``filename`` are
    # then the first's); empty for a link to one file.
    files: tuple[BundledFile, ...] = ()

    @property
    def bundle(self) -> bool:
        return bool(self.files)

    def part(self, number: int | None) -> BundledFile:
        """The file a delivery sends: file ``number`` of a bundle, or the link's one file.
        ``InvalidRequestError`` when the number names no file of this link."""
        if not self.files:
            if number is not None:
                raise one_file_only()
            return BundledFile(self.object, self.filename)
        if number is None or not 1 <= number <= len(self.files):
            raise no_such_file(len(self.files))
        return self.files[number - 1]

    def as_file(self, number: int | None) -> Link:
        """The link as its answer for file ``number`` describes it: that file's object
        and name (the link itself, for a single file)."""
        if not self.files:
            return self
        part = self.part(number)
        return dataclasses.replace(self, object=part.object, filename=part.filename)

    @property
    def label(self) -> str:
        """What a person is told the link delivers: its file's name, or a bundle's count."""
        return f"{len(self.files)} files" if self.files else self.filename

    @property
    def total_size(self) -> int:
        return sum(f.object.size for f in self.files) if self.files else self.object.size

    @property
    def locked(self) -> bool:
        return self.wrong_answers >= MAX_WRONG_ANSWERS

    @property
    def locked_at(self) -> float | None:
        return self.guesses[-1].at if self.locked else None

    @property
    def answers_left(self) -> int:
        return max(MAX_WRONG_ANSWERS - self.wrong_answers, 0)

    @property
    def last_used_at(self) -> float | None:
        """Derived from the audit records, so a use given back is forgotten with them."""
        return max((use.at for use in self.uses_log), default=None)

    def delivery_of(self, use: Use) -> Delivery:
        """How a recorded use went out, by the rule and the limit in force at the time."""
        limit = use.stream_max_bytes
        return choose(
            use.binary,
            self.object.size,
            self.object.content_type,
            DEFAULT_STREAM_MAX_BYTES if limit is None else limit,
        )

    def session(
        self, claim_id: str, digest: str, now: float, seconds: int, file: int | None = None
    ) -> Use | None:
        """The redemption whose download session this is, if it still allows a re-delivery
        (of ``file``, in a bundle, whose cap is per file): the secret matches, the window is
        open, the cap is not reached, and neither the use was refunded nor the link
        withdrawn.  The same rule the store's write checks."""
        use = next((u for u in self.uses_log if u.claim_id == claim_id), None)
        if (
            use is None
            or not use.session_digest
            or not hmac.compare_digest(use.session_digest, digest)
            or use.refunded_at is not None
            or self.revoked_at is not None
            or use.at + seconds <= now
            or self.expires_at + seconds <= now
            or use.fetched(file) >= REDELIVERY_CAP
        ):
            return None
        return use

    def refunded_session(self, claim_id: str, digest: str) -> bool:
        """Whether this is the download session of a redemption that was refunded: such a
        session allows nothing, and its client is told so rather than spend silently."""
        use = next((u for u in self.uses_log if u.claim_id == claim_id), None)
        return (
            use is not None
            and use.refunded_at is not None
            and bool(use.session_digest)
            and hmac.compare_digest(use.session_digest, digest)
        )

    def suspicion(self, use: Use) -> str | None:
        """Why a redemption looks automated, if it does: a previewer's or headless
        browser's user agent, or a redemption too soon after the link was made."""
        who = previewer(use.user_agent)
        if who is not None:
            return f"user agent of {who}"
        if use.at - self.created_at < AUTOMATION_WINDOW:
            return f"within {AUTOMATION_WINDOW} s of the link being made"
        return None

    @property
    def remaining(self) -> int:
        return max(self.max_uses - self.uses, 0)

    def status(self, now: float) -> str:
        """``revoked``, ``locked``, ``used``, ``expired`` or ``active``: the first that
        applies (the order in which ``refusals.check`` refuses)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.locked:
            return "locked"
        if self.uses >= self.max_uses:
            return "used"
        if self.expires_at <= now:
            return "expired"
        return "active"
