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

from chalicelib.errors import ConfigurationError

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


DEFAULT_STREAM_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_REDIRECT_TTL = 30
DEFAULT_RETENTION_DAYS = 30
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Settings:
    table: str
    bucket: str
    api_key_hashes: tuple[str, ...]
    key_prefix: str = ""
    stream_max_bytes: int = DEFAULT_STREAM_MAX_BYTES
    redirect_ttl: int = DEFAULT_REDIRECT_TTL
    retention_days: int = DEFAULT_RETENTION_DAYS
    public_url: str | None = None

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
        return cls(
            table=_required(environ, "ONETIME_TABLE"),
            bucket=_required(environ, "ONETIME_BUCKET"),
            api_key_hashes=_key_hashes(environ),
            key_prefix=environ.get("ONETIME_KEY_PREFIX", ""),
            stream_max_bytes=stream_max,
            redirect_ttl=_int(environ, "ONETIME_REDIRECT_TTL", DEFAULT_REDIRECT_TTL, 1, 300),
            retention_days=_int(environ, "ONETIME_RETENTION_DAYS", DEFAULT_RETENTION_DAYS, 0, 3650),
            public_url=public_url,
        )


@functools.cache
def get_settings() -> Settings:
    return Settings.from_environ(os.environ)


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
