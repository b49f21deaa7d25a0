"""Tokens kept out of the local stack's log files."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

# A query parameter, anywhere in a line: a name that starts after a delimiter (so
# matching stays linear on long lines), "=", and a value up to the next delimiter.
_PARAMETER = re.compile(rb'(?<![^\s&?";])([^\s&?=";]+)=([^\s&";]*)')
# One of our tokens (chalicelib/domain/tokens.py): 16 base32 id characters, 43 base64url
# secret characters, not part of a longer run (a 64-hex SHA-256 digest is not one).
_TOKEN_SHAPE = re.compile(rb"(?<![A-Za-z0-9_-])[a-z2-7]{16}[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
_NOT_A_LETTER = re.compile(rb"[^a-z]")
REDACTED = b"<redacted>"


def _plain_name(raw: bytes) -> bytes:
    """A parameter name as the app could come to see it: percent-decoded (a few times,
    as a proxy might decode it again), lower case, letters only."""
    name = raw
    for _ in range(3):
        decoded = urllib.parse.unquote_to_bytes(name.replace(b"+", b" "))
        if decoded == name:
            break
        name = decoded
    return _NOT_A_LETTER.sub(b"", name.lower())


def _redact_parameter(match: re.Match[bytes]) -> bytes:
    if b"token" in _plain_name(match[1]):
        return match[1] + b"=" + REDACTED
    return match[0]


def redact(line: bytes) -> bytes:
    """``line`` without tokens.  chalice local logs the raw request line and decodes a
    parameter's name before the app reads it, so ``tok%65n=`` redeems a link as surely
    as ``token=``: every parameter whose decoded name holds "token" loses its value,
    and anything shaped like a token, wherever it stands, goes too."""
    return _TOKEN_SHAPE.sub(REDACTED, _PARAMETER.sub(_redact_parameter, line))


def copy_redacted(source: Any, sink: Any) -> None:
    """Every line of ``source`` to ``sink``, redacted, until ``source`` ends."""
    for line in iter(source.readline, b""):
        sink.write(redact(line))
        sink.flush()
    sink.close()
