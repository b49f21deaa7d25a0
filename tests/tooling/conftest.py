"""The tooling tier's fixtures: the CLI tests' canned server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.helpers import POLL_SECONDS
from tests.tooling.cli import Canned


@pytest.fixture
def canned() -> Iterator[Canned]:
    server = Canned()
    thread = threading.Thread(target=server.serve_forever, args=(POLL_SECONDS,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()
