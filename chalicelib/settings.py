"""Deployment settings: read from the environment once, on first use, and validated.

Nothing here runs at import time: ``chalice.test.Client`` and ``chalice local``
set a stage's variables only after ``app`` is imported (aws/chalice#1893).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.domain.errors import ConfigurationError
from chalicelib.domain.link import DEFAULT_STREAM_MAX_BYTES
from chalicelib.domain.multipart import LARGEST_OBJECT, MAX_PART, MIN_PART
from chalicelib.domain.text import has_control_characters, has_format_characters, is_email_address

# A buffered Lambda response is capped at 6 MB (6,291,456 bytes) *after* the
# body has been base64-encoded into the JSON envelope.  Keep room for the
# envelope and headers, so a streamed body can never push a response over.
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
RESPONSE_ENVELOPE_ALLOWANCE = 64 * 1024


def base64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


def largest_streamable_size() -> int:
    budget = LAMBDA_RESPONSE_LIMIT - RESPONSE_ENVELOPE_ALLOWANCE
    return (budget // 4) * 3


# The buyers' JWKS fetch (chalicelib/web/buyers.py) is plain HTTP, one attempt, this many
# seconds bounding the connect and each read.  Here, the layer below both the web and the
# storage budgets (chalicelib/storage/budgets.py): from storage/clients.py it would pull
# boto3 into ``import app``.
JWKS_TIMEOUT = 3
DEFAULT_REDIRECT_TTL = 10  # a re-delivery in a session costs no use: see docs/COUNTING.md
# How long the browser (or cookie jar) that redeemed a link may get the file again without
# spending another use: a broken, cancelled or repeated download (docs/COUNTING.md).
DEFAULT_SESSION_SECONDS = 3600
MAX_SESSION_SECONDS = 86_400
DEFAULT_RETENTION_DAYS = 30
DEFAULT_UPLOAD_PREFIX = "uploads/"
DEFAULT_REQUEST_PREFIX = "requests/"  # files sent through file requests (upload links)
# S3 takes at most 5 GiB in one POST; beyond that only multipart uploads work.  Files
# above the multipart threshold go by multipart upload (the upload page's script, the
# CLI), so the largest upload is S3's largest object; the default stays at 5 GiB, the
# most a page without JavaScript can send.
SINGLE_POST_LIMIT = 5 * 1024**3
DEFAULT_MAX_UPLOAD_BYTES = SINGLE_POST_LIMIT
MAX_UPLOAD_BYTES = LARGEST_OBJECT
# Above this size a file goes in parts (fewer S3 requests below it, and a plain form
# without JavaScript keeps working); parts of this size unless a file needs larger ones.
DEFAULT_MULTIPART_THRESHOLD = 64 * 1024**2
DEFAULT_MULTIPART_PART_BYTES = 16 * 1024**2
# Multipart uploads one file request may have open at once (each its own file; a
# resumed upload is the same one): the page sends one file at a time, and a few tabs.
MAX_OPEN_UPLOADS = 4
DEFAULT_GRANT_DAILY_LINKS = 5
MAX_MAIL_FROM_NAME = 100
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Settings:
    table: str
    bucket: str
    api_key_hashes: tuple[str, ...]
    key_prefix: str = ""
    stream_max_bytes: int = DEFAULT_STREAM_MAX_BYTES
    redirect_ttl: int = DEFAULT_REDIRECT_TTL
    session_seconds: int = DEFAULT_SESSION_SECONDS
    retention_days: int = DEFAULT_RETENTION_DAYS
    public_url: str | None = None
    mail_from: str | None = None
    mail_from_name: str | None = None  # the sender's display name: "Example Shop"
    reply_to: str | None = None  # where a customer's reply goes; none: nobody reads replies
    upload_prefix: str = DEFAULT_UPLOAD_PREFIX
    request_prefix: str = DEFAULT_REQUEST_PREFIX
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    multipart_part_bytes: int = DEFAULT_MULTIPART_PART_BYTES
    cors_origins: tuple[str, ...] = ()
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_jwks_url: str | None = None
    grant_daily_links: int = DEFAULT_GRANT_DAILY_LINKS
    # The SSM Parameter Store SecureString that keys recipient checks
    # (chalicelib/domain/answers.py).
    secret_parameter: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        stream_max = _int(environ, "ONETIME_STREAM_MAX_BYTES", DEFAULT_STREAM_MAX_BYTES, 0, None)
        limit = largest_streamable_size()
        if stream_max > limit:
            raise ConfigurationError(
                f"ONETIME_STREAM_MAX_BYTES={stream_max} cannot work: base64-encoded it takes "
                f"{base64_length(stream_max)} bytes, over Lambda's 6 MB response limit. "
                f"Use at most {limit}; larger files are redirected to S3."
            )
        public_url = environ.get("ONETIME_PUBLIC_URL", "").strip().rstrip("/") or None
        if public_url and not re.match(r"^https?://[^/\s]+(/\S*)?$", public_url):
            raise ConfigurationError(
                f"ONETIME_PUBLIC_URL={public_url!r} is not an absolute http(s) URL."
            )
        key_prefix = environ.get("ONETIME_KEY_PREFIX", "")
        if key_prefix and not key_prefix.endswith("/"):
            # "samples" would also admit "samples-private/...": a prefix is a folder.
            raise ConfigurationError(
                f"ONETIME_KEY_PREFIX={key_prefix!r} must end with '/' (a folder, such as "
                f"{key_prefix + '/'!r}), or it would also admit its sibling folders."
            )
        upload_prefix = _upload_prefix(environ, "ONETIME_UPLOAD_PREFIX", DEFAULT_UPLOAD_PREFIX)
        request_prefix = _upload_prefix(environ, "ONETIME_REQUEST_PREFIX", DEFAULT_REQUEST_PREFIX)
        if upload_prefix.startswith(request_prefix) or request_prefix.startswith(upload_prefix):
            raise ConfigurationError(
                f"ONETIME_REQUEST_PREFIX={request_prefix!r} and ONETIME_UPLOAD_PREFIX="
                f"{upload_prefix!r} must not contain one another: each has its own IAM grant "
                "and lifecycle rule."
            )
        issuer = environ.get("ONETIME_JWT_ISSUER", "").strip().rstrip("/") or None
        audience = environ.get("ONETIME_JWT_AUDIENCE", "").strip() or None
        if issuer and not audience:
            raise ConfigurationError(
                "ONETIME_JWT_AUDIENCE must be set with ONETIME_JWT_ISSUER (the app client id)."
            )
        jwks_url = environ.get("ONETIME_JWT_JWKS_URL", "").strip() or (
            f"{issuer}/.well-known/jwks.json" if issuer else None
        )
        origins = tuple(
            o.strip().rstrip("/") for o in environ.get("ONETIME_CORS_ORIGINS", "").split(",")
        )
        origins = tuple(o for o in origins if o)
        for origin in origins:
            if origin == "*" or not re.match(r"^https?://[^/\s]+$", origin):
                raise ConfigurationError(
                    f"ONETIME_CORS_ORIGINS: {origin!r} is not an origin like https://shop.example "
                    "(no '*': buyers send credentials)."
                )
        mail_from = environ.get("ONETIME_MAIL_FROM", "").strip() or None
        mail_from_name = _mail_from_name(environ, mail_from)
        reply_to = environ.get("ONETIME_REPLY_TO", "").strip() or None
        if reply_to and not is_email_address(reply_to):
            raise ConfigurationError(
                f"ONETIME_REPLY_TO={reply_to!r} must be one address like help@shop.example "
                '(no "Name <addr>", no list).'
            )
        return cls(
            table=_required(environ, "ONETIME_TABLE"),
            bucket=_required(environ, "ONETIME_BUCKET"),
            api_key_hashes=_key_hashes(environ),
            key_prefix=key_prefix,
            stream_max_bytes=stream_max,
            redirect_ttl=_int(environ, "ONETIME_REDIRECT_TTL", DEFAULT_REDIRECT_TTL, 1, 300),
            session_seconds=_int(
                environ, "ONETIME_SESSION_SECONDS", DEFAULT_SESSION_SECONDS, 0, MAX_SESSION_SECONDS
            ),
            retention_days=_int(environ, "ONETIME_RETENTION_DAYS", DEFAULT_RETENTION_DAYS, 0, 3650),
            public_url=public_url,
            mail_from=mail_from,
            mail_from_name=mail_from_name,
            reply_to=reply_to,
            secret_parameter=_parameter_name(environ),
            upload_prefix=upload_prefix,
            request_prefix=request_prefix,
            max_upload_bytes=_int(
                environ, "ONETIME_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES, 1, MAX_UPLOAD_BYTES
            ),
            # At least a part's minimum, so that every multipart file has a full first
            # part; at most one POST's limit, so that every smaller file can be POSTed.
            multipart_threshold=_int(
                environ,
                "ONETIME_MULTIPART_THRESHOLD",
                DEFAULT_MULTIPART_THRESHOLD,
                MIN_PART,
                SINGLE_POST_LIMIT,
            ),
            multipart_part_bytes=_int(
                environ,
                "ONETIME_MULTIPART_PART_BYTES",
                DEFAULT_MULTIPART_PART_BYTES,
                MIN_PART,
                MAX_PART,
            ),
            cors_origins=origins,
            jwt_issuer=issuer,
            jwt_audience=audience,
            jwt_jwks_url=jwks_url,
            grant_daily_links=_int(
                environ, "ONETIME_GRANT_DAILY_LINKS", DEFAULT_GRANT_DAILY_LINKS, 1, 1000
            ),
        )


@functools.cache
def get_settings() -> Settings:
    return Settings.from_environ(os.environ)


# Webhook endpoints a deployment may have: each delivery is sequential, retried, and
# bounded in time, so a handful at most (chalicelib/events/webhooks.py).
MAX_WEBHOOK_URLS = 5
_WEBHOOK_SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{32,}={0,2}$")
# Plain http only to this machine: the local stack and the tests' receivers.
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class NotificationSettings:
    """What the stream handler needs, apart from the API's settings: the notifications
    function has no API keys, bucket or table name to give (it reads the stream)."""

    webhook_urls: tuple[str, ...] = ()
    # The Standard Webhooks secret (``whsec_<base64>``), given directly (local use), or the
    # name of the SSM SecureString that holds it (read once per container).
    webhook_secret: str | None = None
    webhook_secret_parameter: str | None = None
    mail_from: str | None = None  # receipts to a link's ``notify`` address; off without it
    visits: bool = False  # also every visit that spent nothing
    client_details: bool = False  # client IP and user agent in payloads and receipts

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> NotificationSettings:
        urls = tuple(u.strip() for u in environ.get("ONETIME_WEBHOOK_URLS", "").split(","))
        urls = tuple(u for u in urls if u)
        if len(urls) > MAX_WEBHOOK_URLS:
            raise ConfigurationError(
                f"ONETIME_WEBHOOK_URLS names {len(urls)} endpoints; at most {MAX_WEBHOOK_URLS}."
            )
        for url in urls:
            if not _webhook_url(url):
                raise ConfigurationError(
                    f"ONETIME_WEBHOOK_URLS: {url!r} is not an https URL (plain http only to "
                    "127.0.0.1 or localhost)."
                )
        secret = environ.get("ONETIME_WEBHOOK_SECRET", "").strip() or None
        parameter = environ.get("ONETIME_WEBHOOK_SECRET_PARAMETER", "").strip() or None
        if secret and parameter:
            raise ConfigurationError(
                "Set ONETIME_WEBHOOK_SECRET or ONETIME_WEBHOOK_SECRET_PARAMETER, not both."
            )
        if secret and not _WEBHOOK_SECRET.match(secret):
            raise ConfigurationError(
                "ONETIME_WEBHOOK_SECRET must be whsec_ followed by the base64 of at least "
                "24 random bytes (Standard Webhooks)."
            )
        if urls and not (secret or parameter):
            raise ConfigurationError(
                "ONETIME_WEBHOOK_URLS needs a signing secret: ONETIME_WEBHOOK_SECRET_PARAMETER "
                "(an SSM SecureString) or ONETIME_WEBHOOK_SECRET."
            )
        return cls(
            webhook_urls=urls,
            webhook_secret=secret,
            webhook_secret_parameter=parameter,
            mail_from=environ.get("ONETIME_MAIL_FROM", "").strip() or None,
            visits=_flag(environ, "ONETIME_NOTIFY_VISITS"),
            client_details=_flag(environ, "ONETIME_NOTIFY_CLIENT_DETAILS"),
        )


@functools.cache
def get_notification_settings() -> NotificationSettings:
    return NotificationSettings.from_environ(os.environ)


def _webhook_url(url: str) -> bool:
    match = re.match(r"^(https?)://([^/\s?#@]+)(/\S*)?$", url)
    if match is None:
        return False
    host = match[2].rsplit(":", 1)[0] if not match[2].endswith("]") else match[2]
    return match[1] == "https" or host in _LOCAL_HOSTS


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no", "off"):
        return False
    if raw in ("true", "1", "yes", "on"):
        return True
    raise ConfigurationError(f"{name}={raw!r} must be true or false.")


def _upload_prefix(environ: Mapping[str, str], name: str, default: str) -> str:
    # Uploaded files must be linkable, so by default they go under the key prefix.
    key_prefix = environ.get("ONETIME_KEY_PREFIX", "")
    prefix = environ.get(name) or key_prefix + default
    if not prefix.endswith("/") or not prefix.startswith(key_prefix):
        raise ConfigurationError(
            f"{name}={prefix!r} must end with '/' and lie under "
            f"ONETIME_KEY_PREFIX={key_prefix!r}, or uploaded files could not be linked."
        )
    return prefix


def _parameter_name(environ: Mapping[str, str]) -> str | None:
    name = environ.get("ONETIME_SECRET_PARAMETER", "").strip()
    # SSM's own rule for a parameter name: a path of letters, digits and ._-/ only.
    if name and not re.fullmatch(r"/?[A-Za-z0-9_.\-/]{1,1011}", name):
        raise ConfigurationError(
            f"ONETIME_SECRET_PARAMETER={name!r} is not an SSM parameter name "
            "(letters, digits and ._-/ only, e.g. /onetime/prod/secret)."
        )
    return name or None


def _mail_from_name(environ: Mapping[str, str], mail_from: str | None) -> str | None:
    name = environ.get("ONETIME_MAIL_FROM_NAME", "").strip()
    if not name:
        return None
    # It goes into the From header, and is what the customer sees as the sender: one
    # line, nothing that could split the header, nothing invisible that makes it read as
    # another name (a bidi override), short enough for a mail client's list.
    if (
        len(name) > MAX_MAIL_FROM_NAME
        or has_control_characters(name)
        or has_format_characters(name)
    ):
        raise ConfigurationError(
            f"ONETIME_MAIL_FROM_NAME={name!r} must be one line of at most "
            f"{MAX_MAIL_FROM_NAME} characters, without control or invisible characters."
        )
    if mail_from and not is_email_address(mail_from):
        # "Shop <a@b>" in ONETIME_MAIL_FROM already names the sender: two names, one header.
        raise ConfigurationError(
            f"ONETIME_MAIL_FROM={mail_from!r} must be a bare address such as "
            "downloads@shop.example when ONETIME_MAIL_FROM_NAME gives the name."
        )
    return name


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set.")
    return value


def _int(environ: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ConfigurationError(f"{name}={raw!r} is not a whole number.")
    value = int(raw)
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ConfigurationError(f"{name}={value} must be {bounds}.")
    return value


def _key_hashes(environ: Mapping[str, str]) -> tuple[str, ...]:
    # Only SHA-256 digests of API keys are configured, never the keys themselves.
    raw = environ.get("ONETIME_API_KEY_SHA256", "")
    hashes = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    if not hashes:
        raise ConfigurationError(
            "ONETIME_API_KEY_SHA256 is not set: give the SHA-256 hex digest of each API key, "
            "comma-separated."
        )
    for digest in hashes:
        if not _SHA256_HEX.match(digest):
            raise ConfigurationError(
                "ONETIME_API_KEY_SHA256 must hold 64-character hex SHA-256 digests."
            )
    return hashes
