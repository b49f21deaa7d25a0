"""The layers of docs/DESIGN.md, read from the code: every import of a chalicelib module
(at the top, under TYPE_CHECKING or inside a function) points down or sideways, never up,
and no chain of imports comes back to where it started."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Lowest first; a module may import its own layer or any layer before it.
LAYERS = (
    ("chalicelib.clock", "chalicelib.logs", "chalicelib.templates"),
    ("chalicelib.domain",),
    ("chalicelib.settings",),
    ("chalicelib.storage", "chalicelib.mail", "chalicelib.events"),
    ("chalicelib.services",),
    ("chalicelib.web",),
    ("app",),
)


def rank(module: str) -> int:
    for number, layer in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in layer):
            return number
    raise AssertionError(f"{module} is in no layer: add it to DESIGN.md and here")


def modules() -> dict[str, Path]:
    found = {"app": ROOT / "app.py"}
    for path in (ROOT / "chalicelib").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Every chalicelib module ``path`` imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def test_every_import_points_down_or_sideways() -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in graph().items()
        for target in targets
        if rank(target) > rank(module)
    ]
    assert upward == []


def test_no_import_circles() -> None:
    edges = graph()
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_the_check_sees_an_upward_import() -> None:
    assert rank("chalicelib.web.views.common") > rank("chalicelib.services.minting")
    assert "chalicelib.domain.errors" in graph()["chalicelib.storage.dynamo"]
