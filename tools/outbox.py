"""``make outbox``: the last emails the local SES stand-in (moto) accepted."""

from __future__ import annotations

import email
import email.policy
import os
import sys
import urllib.error

from tools.stack import outbox


def main() -> int:
    port = int(os.environ.get("S3_PORT", "5001"))
    try:
        messages = outbox(port, last=int(os.environ.get("LAST", "5")))
    except (urllib.error.URLError, OSError):
        print(f"outbox: nothing answers on 127.0.0.1:{port}; is `make serve` running?")
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
    sys.exit(main())
