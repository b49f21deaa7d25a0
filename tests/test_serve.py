"""``make serve`` and ``make outbox`` as a user runs them, and the local stack's log redaction.

``python -m tools.serve`` runs as a subprocess on free ports, with its state and logs in a
temporary directory (SERVE_LOG_DIR), and is stopped with SIGTERM as a background job would be.
"""

from __future__ import annotations

import pytest

from chalicelib.tokens import new_token
from tools.stack import redact

TOKEN = new_token().value


@pytest.mark.parametrize(
    "name",
    [
        "token",
        "tok%65n",
        "%74oken",
        "%74%6F%6B%65%6E",
        "%74%6f%6b%65%6e",
        "TOKEN",
        "tok%2565n",  # encoded twice
        "+token",
        "token%2B",
        "to+ken",
    ],
)
def test_a_token_parameter_is_redacted_however_its_name_is_spelled(name: str) -> None:
    line = f'127.0.0.1 - - [x] "GET /download?file=a.pdf&{name}={TOKEN} HTTP/1.1" 302 -\n'
    redacted = redact(line.encode()).decode()
    assert TOKEN not in redacted and TOKEN[16:] not in redacted
    assert f"&{name}=<redacted> HTTP/1.1" in redacted
    assert "file=a.pdf" in redacted  # other parameters stay readable


def test_anything_shaped_like_a_token_is_redacted_wherever_it_stands() -> None:
    line = f"GET /files/{TOKEN}/x?t={TOKEN};id=abc\n".encode()
    assert redact(line) == b"GET /files/<redacted>/x?t=<redacted>;id=abc\n"
    digest = "a" * 64  # a SHA-256 digest is not a token
    assert redact(f"key={digest}\n".encode()) == f"key={digest}\n".encode()


def test_redaction_is_linear_on_a_long_line() -> None:
    line = b"GET /" + b"a" * 200_000 + b" HTTP/1.1\n"
    assert redact(line) == line  # quadratic backtracking would take minutes here
