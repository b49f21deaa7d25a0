"""Local processes, each in its own process group so that stopping it stops its children,
and each told by the kernel to die with the process that started it."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tools import ROOT
from tools.redaction import copy_redacted

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@functools.cache
def _prctl() -> Any:
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGKILL the child when its parent dies, however
    it dies: a parent killed by SIGKILL runs no cleanup, and its stand-ins would otherwise
    keep their ports.  The signal survives the exec (of node, python, chalice).  Linux only
    (None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = _prctl()  # resolved here: between fork and exec, only a plain call is safe
    parent, kill = os.getpid(), int(signal.SIGKILL)

    def set_parent_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before that call: no signal will come
            os._exit(1)

    return set_parent_death_signal


def spawn(
    name: str,
    argv: list[str],
    env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    redact: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in the checkout's root; its output goes to ``log_dir``/<name>.log
    (tokens removed if ``redact``), or nowhere.  It is killed when the thread that called
    this ends (PR_SET_PDEATHSIG follows the thread): call it from the main thread."""
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
        preexec_fn=die_with_parent(),  # one prctl call, resolved beforehand
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
