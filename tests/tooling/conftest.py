"""The tooling tier's fixtures: the CLI tests' canned server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import serving
from tests.tooling.cli import Canned


@pytest.fixture
def canned() -> Iterator[Canned]:
    with serving(Canned()) as server:
        yield server
