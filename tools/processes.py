"""Local processes, each in its own process group so that stopping it stops its children."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tools import ROOT
from tools.redaction import copy_redacted


def spawn(
    name: str,
    argv: list[str],
    env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    redact: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in the checkout's root; its output goes to ``log_dir``/<name>.log
    (tokens removed if ``redact``), or nowhere."""
    log: Any = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
    output: Any = subprocess.DEVNULL if log is None else log
    if log is not None and redact:
        output = subprocess.PIPE
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=output,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so stop() gets its children too
    )
    if output is subprocess.PIPE:
        threading.Thread(target=copy_redacted, args=(process.stdout, log), daemon=True).start()
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process and everything it started (its own process group)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
