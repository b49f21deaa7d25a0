"""``make serve``: the whole service on this machine, on local AWS stand-ins.

Honours PORT, S3_PORT, DYNAMODB_PORT, ONETIME_TABLE, ONETIME_BUCKET,
ONETIME_API_KEY and every ONETIME_* setting of the app.  Ctrl-C stops all of it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from urllib.parse import urlencode

from chalicelib.errors import ConfigurationError
from chalicelib.settings import Settings
from tools.stack import LARGE_SAMPLE, MAIL_FROM, ROOT, SMALL_SAMPLE, Stack, running, upload_samples


def mint(stack: Stack, key: str) -> str:
    request = urllib.request.Request(
        f"{stack.base_url}/get-link?{urlencode({'file': key})}",
        headers={"Authorization": f"Bearer {stack.api_key}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        url: str = json.load(response)["url"]
        return url


def main() -> int:
    env = os.environ
    stack = Stack(
        api_port=int(env.get("PORT", "8000")),
        s3_port=int(env.get("S3_PORT", "5001")),
        dynamodb_port=int(env.get("DYNAMODB_PORT", "5002")),
        table=env.get("ONETIME_TABLE", "onetime-local"),
        bucket=env.get("ONETIME_BUCKET", "onetime-local"),
        api_key=env.get("ONETIME_API_KEY", "onetime-dev-key"),
        log_dir=ROOT / ".serve-logs",
    )
    try:  # refuse bad settings now, with the reason, rather than on the first request
        Settings.from_environ({**env, **stack.app_env()})
    except ConfigurationError as error:
        print(f"onetime: {error.message}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with running(stack):
            upload_samples(stack)
            aws = stack.aws_env()
            print(
                f"""
onetime is running.

  API             {stack.base_url}
  API key         {stack.api_key}   (header: Authorization: Bearer {stack.api_key})
  DynamoDB table  {stack.table}
  S3 bucket       {stack.bucket}

  export AWS_ENDPOINT_URL_S3={aws["AWS_ENDPOINT_URL_S3"]}
  export AWS_ENDPOINT_URL_DYNAMODB={aws["AWS_ENDPOINT_URL_DYNAMODB"]}
  export AWS_ACCESS_KEY_ID={aws["AWS_ACCESS_KEY_ID"]}
  export AWS_SECRET_ACCESS_KEY={aws["AWS_SECRET_ACCESS_KEY"]}
  export AWS_DEFAULT_REGION={aws["AWS_DEFAULT_REGION"]}

Single-use links to the two sample files:
  small, streamed      ({SMALL_SAMPLE}):
    {mint(stack, SMALL_SAMPLE)}
  large, redirected    ({LARGE_SAMPLE}):
    {mint(stack, LARGE_SAMPLE)}

Mint another:
  curl -H 'Authorization: Bearer {stack.api_key}' \\
       '{stack.base_url}/get-link?{urlencode({"file": SMALL_SAMPLE})}'

Email a link (read it back with `make outbox`):
  onetime link '{SMALL_SAMPLE}' --email customer@example.com
    (with ONETIME_URL={stack.base_url} ONETIME_API_KEY={stack.api_key}; sender {MAIL_FROM})

Ctrl-C stops everything.""",
                flush=True,
            )
            while all(p.poll() is None for p in stack.processes):
                time.sleep(0.5)
            print("onetime: a local process exited (see .serve-logs/); stopping.", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print("\nonetime: stopped.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
