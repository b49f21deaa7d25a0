"""What `make serve` is running, kept in a state file for `make outbox` and anyone else
who needs its ports."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints

from tools import ROOT
from tools.stack import Stack

SERVE_DIR_VARIABLE = "SERVE_LOG_DIR"
STATE_FILE = "stack.json"


def serve_dir(environ: Mapping[str, str]) -> Path:
    """Where `make serve` keeps its logs and state: SERVE_LOG_DIR, else .serve-logs/."""
    return Path(environ.get(SERVE_DIR_VARIABLE) or ROOT / ".serve-logs")


@dataclass(frozen=True)
class ServeState:
    """The state file `make serve` writes once its stack is up and removes at exit."""

    pid: int
    api_port: int
    s3_port: int
    dynamodb_port: int
    base_url: str
    table: str
    bucket: str

    def alive(self) -> bool:
        """Whether the process that wrote it still runs (it cannot remove the file
        if it was killed outright)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # someone else's process, but alive
        return True


# Each field's type, to read the file back with: ports as numbers, names as text.
_FIELDS: dict[str, Any] = get_type_hints(ServeState)


class StateError(RuntimeError):
    """The state file is there but cannot be read."""


def write_state(stack: Stack, directory: Path) -> Path:
    # Every field but the pid is the stack's own (base_url is its property).
    state = ServeState(
        pid=os.getpid(), **{name: getattr(stack, name) for name in _FIELDS if name != "pid"}
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / STATE_FILE
    partial = directory / f".{STATE_FILE}.{os.getpid()}"
    partial.write_text(json.dumps(dataclasses.asdict(state), indent=2) + "\n", encoding="utf-8")
    partial.replace(path)  # readers never see half a file
    return path


def read_state(directory: Path) -> ServeState | None:
    """The state `make serve` recorded in ``directory``; None if there is none."""
    path = directory / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ServeState(**{name: kind(data[name]) for name, kind in _FIELDS.items()})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StateError(f"{path} is unreadable ({type(error).__name__}); delete it") from error


def remove_state(directory: Path) -> None:
    """Remove the state file if this process wrote it (not another `make serve`'s)."""
    with contextlib.suppress(StateError):
        state = read_state(directory)
        if state is not None and state.pid == os.getpid():
            (directory / STATE_FILE).unlink(missing_ok=True)
