"""The tooling tier's fixtures: the CLI tests' canned server, the packaged templates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import serving
from tests.tooling.cli import Canned
from tests.tooling.packaged import Built, build_all


@pytest.fixture
def canned() -> Iterator[Canned]:
    with serving(Canned()) as server:
        yield server


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    """Every template the packaging tests read, built and checked once (packaged.py)."""
    return build_all(tmp_path_factory)
