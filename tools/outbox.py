"""``make outbox``: the last emails the local SES stand-in (moto) accepted.

It finds the stand-in through the state file the running `make serve` keeps in
SERVE_LOG_DIR (.serve-logs/stack.json); S3_PORT, when given, wins.  LAST says how many.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from tools.ports import HOST
from tools.s3standin import OUTBOX_PATH
from tools.servestate import STATE_FILE, StateError, read_state, serve_dir


def outbox(stack_s3_port: int, last: int = 5) -> list[dict[str, Any]]:
    """The last messages moto's SES accepted: sender, recipients and the raw MIME text."""
    url = f"http://{HOST}:{stack_s3_port}{OUTBOX_PATH}"  # tools/s3standin.py's, not moto's
    with urllib.request.urlopen(url, timeout=10) as response:
        messages: list[dict[str, Any]] = json.load(response)["messages"]
    return messages[-last:]


class NoStack(Exception):
    """No running stack to read from, and why, in one line."""


def s3_port(env: Mapping[str, str]) -> int:
    """The S3/SES stand-in's port: S3_PORT if given, else the running `make serve`'s."""
    raw = env.get("S3_PORT", "").strip()
    if raw:
        if not raw.isdigit():
            raise NoStack(f"S3_PORT={raw!r} is not a port number.")
        return int(raw)
    path = serve_dir(env) / STATE_FILE
    try:
        state = read_state(path.parent)
    except StateError as error:
        raise NoStack(str(error)) from error
    if state is None:
        raise NoStack(
            f"no `make serve` is running (no {path}). Start one with `make serve`, "
            "or give S3_PORT=<its S3 port>."
        )
    if not state.alive():
        raise NoStack(
            f"no `make serve` is running: {path} was left by process {state.pid}, which has "
            "exited. Start one with `make serve`, or give S3_PORT=<its S3 port>."
        )
    return state.s3_port


def main() -> int:
    try:
        port = s3_port(os.environ)
        last = int(os.environ.get("LAST", "5"))
    except NoStack as error:
        print(f"outbox: {error}", file=sys.stderr)
        return 1
    except ValueError:
        print("outbox: LAST must be a whole number.", file=sys.stderr)
        return 2
    try:
        messages = outbox(port, last=last)
    except urllib.error.HTTPError as error:  # something answers: not "is it running?"
        print(
            f"outbox: 127.0.0.1:{port} answered {error.code} to {OUTBOX_PATH}; is it this "
            "checkout's `make serve` (see moto.log in its log directory)?",
            file=sys.stderr,
        )
        return 1
    except (urllib.error.URLError, OSError):
        print(
            f"outbox: nothing answers on 127.0.0.1:{port}; is `make serve` running?",
            file=sys.stderr,
        )
        return 1
    if not messages:
        print("outbox: no email sent yet.")
    for raw in messages:
        parsed = email.message_from_string(raw["raw_data"], policy=email.policy.default)
        print("=" * 72)
        print(f"From:    {parsed['From']}\nTo:      {parsed['To']}\nSubject: {parsed['Subject']}")
        body = parsed.get_body(preferencelist=("plain",))
        print()
        print(body.get_content().strip() if body else "(no text part)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `make outbox | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        sys.exit(0)
