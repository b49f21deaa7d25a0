"""Ports on 127.0.0.1 for the local stack and the tests.

Left alone, the OS chooses each port.  Two checkouts testing on one machine can
keep apart by giving each its own range: ``ONETIME_TEST_PORTS=31000-31999``.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import threading
import time
from collections.abc import Mapping

HOST = "127.0.0.1"
PORTS_VARIABLE = "ONETIME_TEST_PORTS"


class PortInUse(RuntimeError):
    """A port the stack needs is taken: starting anyway would talk to someone else's server."""

    def __init__(self, port: int, role: str) -> None:
        super().__init__(f"port {port} is in use ({role})")
        self.port = port
        self.role = role


class NoFreePort(RuntimeError):
    """Every port of the range is taken."""


def port_range(value: str | None) -> range | None:
    """The ports ``ONETIME_TEST_PORTS`` allows, both ends included ("31000-31999");
    None when it is unset or blank, for the OS's choice."""
    text = (value or "").strip()
    if not text:
        return None
    first, dash, last = (part.strip() for part in text.partition("-"))
    if not (dash and first.isdigit() and last.isdigit()):
        raise ValueError(f"{PORTS_VARIABLE}={value!r} must be a range such as 31000-31999.")
    low, high = int(first), int(last)
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"{PORTS_VARIABLE}={value!r} must run upwards, between ports 1 and 65535.")
    return range(low, high + 1)


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now."""
    with socket.socket() as sock:
        # As the servers themselves bind: a port whose last connections linger in
        # TIME_WAIT is free to them, and so to this check.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        return _binds(sock, port)


def _binds(sock: socket.socket, port: int) -> bool:
    try:
        sock.bind((HOST, port))
    except OSError:
        return False
    return True


class _Cursor:
    """Where the next search of the range starts.  Moving on past each port handed out
    keeps this process from handing it out again before its server has bound it; the
    random start keeps two processes sharing a range apart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: int | None = None

    def take(self, ports: range) -> int:
        with self._lock:
            start = random.randrange(len(ports)) if self._next is None else self._next
            for step in range(len(ports)):
                index = (start + step) % len(ports)
                with socket.socket() as sock:
                    # Without SO_REUSEADDR: the port must suit a plain bind too.
                    if not _binds(sock, ports[index]):
                        continue
                self._next = index + 1
                return ports[index]
        raise NoFreePort(f"no free port in {ports.start}-{ports.stop - 1} ({PORTS_VARIABLE})")


_CURSOR = _Cursor()


def free_port(environ: Mapping[str, str] | None = None) -> int:
    """A port nothing listens on: from ``ONETIME_TEST_PORTS`` if set, else the OS's choice."""
    ports = port_range((os.environ if environ is None else environ).get(PORTS_VARIABLE))
    if ports is not None:
        return _CURSOR.take(ports)
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], name: str, timeout: float = 30
) -> None:
    """Until ``process`` listens on ``port``; an error if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode} before listening")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on {HOST}:{port} within {timeout} s")
