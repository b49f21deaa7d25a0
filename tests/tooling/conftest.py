"""The tooling tier's fixtures: the CLI tests' canned server, the packaged templates."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.helpers import POLL_SECONDS
from tests.tooling.cli import Canned
from tests.tooling.packaged import Built, build_all


@pytest.fixture
def canned() -> Iterator[Canned]:
    server = Canned()
    thread = threading.Thread(target=server.serve_forever, args=(POLL_SECONDS,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    """Every template the packaging tests read, built and checked once (packaged.py)."""
    return build_all(tmp_path_factory)
