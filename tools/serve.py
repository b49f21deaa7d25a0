"""``make serve``: the whole service on this machine, on local AWS stand-ins.

Honours PORT, S3_PORT, DYNAMODB_PORT, ONETIME_TABLE, ONETIME_BUCKET,
ONETIME_API_KEY and every ONETIME_* setting of the app (ONETIME_MAIL_FROM is the
sender it verifies; ONETIME_KEY_PREFIX is where the samples go).  Logs, and the
state file `make outbox` reads the ports from, go to SERVE_LOG_DIR (.serve-logs/).
Ctrl-C (or SIGTERM, or SIGHUP) stops all of it; if this process is killed outright, the
kernel kills its processes (tools/processes.py).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlencode

from chalicelib.domain.errors import ConfigurationError
from chalicelib.settings import Settings
from tools.ports import PortInUse
from tools.samples import LARGE_SAMPLE, SMALL_SAMPLE, upload_samples
from tools.servestate import StateError, read_state, remove_state, serve_dir, write_state
from tools.stack import MAIL_FROM, Stack, running

# The variable that chooses each of the stack's ports, and its default.
PORT_VARIABLES = {
    "api": ("PORT", 8000),
    "s3": ("S3_PORT", 5001),
    "dynamodb": ("DYNAMODB_PORT", 5002),
}


class UsageError(Exception):
    """A setting that cannot work, said in one line."""


def port_from(env: Mapping[str, str], role: str) -> int:
    name, default = PORT_VARIABLES[role]
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise UsageError(f"{name}={raw!r} is not a port number (1-65535).")
    return int(raw)


def one_line(error: BaseException) -> str:
    """What went wrong, in one line a user can act on (not a traceback)."""
    if isinstance(error, urllib.error.HTTPError):
        try:
            body = json.loads(error.read())
            detail = f"{body['error']}: {body['message']}"
        except (ValueError, KeyError, TypeError, OSError):
            detail = error.reason
        text = f"the API answered {error.code} ({detail})"
    elif isinstance(error, (RuntimeError, OSError)) and str(error):
        text = str(error)
    else:
        # botocore's errors name the operation and AWS's reason; others at least their type.
        text = f"{type(error).__name__}: {error}"
    return " ".join(text.split())


def mint(stack: Stack, key: str) -> str:
    request = urllib.request.Request(
        f"{stack.base_url}/get-link?{urlencode({'file': key})}",
        headers={"Authorization": f"Bearer {stack.api_key}"},
    )
    return new_url(request, f"could not mint a link to {key!r}")


def request_files(stack: Stack) -> str:
    """A file request (upload link) for the banner: open it in a browser to send a file."""
    request = urllib.request.Request(
        f"{stack.base_url}/requests",
        data=json.dumps({"note": "made by make serve"}).encode(),
        headers={"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"},
    )
    return new_url(request, "could not make an upload link")


def new_url(request: urllib.request.Request, failed: str) -> str:
    """The ``url`` of what the API made on ``request``; a one-line error if it refused."""
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            url: str = json.load(response)["url"]
            return url
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"{failed}: {one_line(error)}") from error


def port_in_use(error: PortInUse, env: Mapping[str, str]) -> str:
    name, _ = PORT_VARIABLES[error.role]
    message = (
        f"onetime: port {error.port} is in use on 127.0.0.1 ({name}); stop what holds it, "
        f"or set {name} to a free port."
    )
    try:
        other = read_state(serve_dir(env))
    except StateError:
        other = None
    if other is not None and other.alive() and error.port in (other.api_port, other.s3_port):
        message += f" Another `make serve` (pid {other.pid}) is running at {other.base_url}."
    return message


# What stops `make serve`: Ctrl-C, a background job's SIGTERM, a closed terminal's SIGHUP.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def stop_once_on_signals() -> None:
    """The first stop signal raises KeyboardInterrupt, which stops the stack; later ones are
    ignored.  A second one would otherwise raise again inside the stopping and leave the
    stand-ins running, and two come together often: a terminal or ``kill -- -PGID`` signals
    make and this process, and make passes its own SIGTERM on."""

    def stop(signum: int, frame: object) -> None:
        for each in STOP_SIGNALS:
            signal.signal(each, signal.SIG_IGN)
        raise KeyboardInterrupt

    for each in STOP_SIGNALS:
        signal.signal(each, stop)


def main() -> int:
    env = os.environ
    directory = serve_dir(env)
    try:
        ports = {role: port_from(env, role) for role in PORT_VARIABLES}
    except UsageError as error:
        print(f"onetime: {error}", file=sys.stderr)
        return 2
    stack = Stack(
        api_port=ports["api"],
        s3_port=ports["s3"],
        dynamodb_port=ports["dynamodb"],
        table=env.get("ONETIME_TABLE", "onetime-local"),
        bucket=env.get("ONETIME_BUCKET", "onetime-local"),
        api_key=env.get("ONETIME_API_KEY", "onetime-dev-key"),
        # The user's sender if they chose one (it is verified in moto's SES like ours).
        mail_from=env.get("ONETIME_MAIL_FROM", "").strip() or MAIL_FROM,
        log_dir=directory,
    )
    try:  # refuse bad settings now, with the reason, rather than on the first request
        settings = Settings.from_environ({**env, **stack.app_env()})
    except ConfigurationError as error:
        print(f"onetime: {error.message}", file=sys.stderr)
        return 2
    stop_once_on_signals()
    ready = False
    try:
        with running(stack):
            state = write_state(stack, directory)
            # Under the key prefix: the app links nothing outside it.
            small, large = (settings.key_prefix + key for key in (SMALL_SAMPLE, LARGE_SAMPLE))
            upload_samples(stack, prefix=settings.key_prefix)
            small_link, large_link = mint(stack, small), mint(stack, large)
            upload_link = request_files(stack)
            aws = stack.aws_env()
            print(
                f"""
onetime is running.

  API             {stack.base_url}
  API key         {stack.api_key}   (header: Authorization: Bearer {stack.api_key})
  DynamoDB table  {stack.table}
  S3 bucket       {stack.bucket}
  Logs, ports     {directory}/   (ports in {state.name}, for `make outbox`)

  export AWS_ENDPOINT_URL_S3={aws["AWS_ENDPOINT_URL_S3"]}
  export AWS_ENDPOINT_URL_DYNAMODB={aws["AWS_ENDPOINT_URL_DYNAMODB"]}
  export AWS_ACCESS_KEY_ID={aws["AWS_ACCESS_KEY_ID"]}
  export AWS_SECRET_ACCESS_KEY={aws["AWS_SECRET_ACCESS_KEY"]}
  export AWS_DEFAULT_REGION={aws["AWS_DEFAULT_REGION"]}

Single-use links to the two sample files (open them in a browser: a GET never uses
them up; from a shell, `.venv/bin/onetime get 'LINK'` or `curl -fOJL -d '' 'LINK'`):
  small               ({small}):
    {small_link}
  large               ({large}):
    {large_link}

An upload link (a file request: open it in a browser, send a file, get a link to it):
    {upload_link}

Mint another:
  curl -H 'Authorization: Bearer {stack.api_key}' \\
       '{stack.base_url}/get-link?{urlencode({"file": small})}'

Email a link (read it back with `make outbox`):
  .venv/bin/onetime link '{small}' --email customer@example.com
    (with ONETIME_URL={stack.base_url} ONETIME_API_KEY={stack.api_key}; sender {stack.mail_from})

Ctrl-C stops everything.""",
                flush=True,
            )
            ready = True
            while all(p.poll() is None for p in stack.processes):
                time.sleep(0.5)
            print(f"onetime: a local process exited (see {directory}/); stopping.", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print("\nonetime: stopped.")
        return 0
    except PortInUse as error:
        print(port_in_use(error, env), file=sys.stderr)
        return 1
    except Exception as error:  # any failure: one line that says what, not a traceback
        what = "stopped" if ready else "could not start"
        print(f"onetime: {what}: {one_line(error)} (logs in {directory}/)", file=sys.stderr)
        return 1
    finally:
        remove_state(directory)


if __name__ == "__main__":
    sys.exit(main())
