"""Issue 16, item 2 (in part): every runtime dependency packaged into the function is pinned,
transitive ones included, so that two builds of one commit package the same versions."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"
# The Lambda runtime's environment (CPython on Linux): markers are judged as there.
LAMBDA: dict[str, str] = {
    **{key: str(value) for key, value in default_environment().items()},
    "platform_python_implementation": "CPython",
    "implementation_name": "cpython",
}


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, Requirement]:
    found: dict[str, Requirement] = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            found[_name(requirement.name)] = requirement
    return found


def closure(roots: dict[str, Requirement]) -> set[str]:
    """Every package the roots need, with the extras they ask for, judged as on Lambda."""
    seen: set[tuple[str, frozenset[str]]] = set()
    queue = [(name, frozenset(req.extras)) for name, req in roots.items()]
    while queue:
        entry = queue.pop()
        if entry in seen:
            continue
        seen.add(entry)
        name, extras = entry
        for text in requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            environments: list[dict[str, str]] = [
                {**LAMBDA, "extra": extra} for extra in (extras or {""})
            ]
            if marker is None or any(marker.evaluate(env) for env in environments):
                queue.append((_name(requirement.name), frozenset(requirement.extras)))
    return {name for name, _ in seen}


def test_every_runtime_dependency_is_pinned_to_what_is_installed() -> None:
    declared = pins()
    for name in closure(declared):
        assert name in declared, f"{name} is packaged but not pinned in requirements.txt"
        (spec,) = declared[name].specifier
        assert spec.operator == "==", f"{name} is not pinned with =="
        try:
            assert spec.version == version(name), name
        except PackageNotFoundError:  # pragma: no cover - make deps installs every pin
            raise AssertionError(f"{name} is pinned but not installed") from None


def test_the_crypto_extras_pull_in_cryptography_and_cffi() -> None:
    # The case the issue names: PyJWT[crypto] needs cryptography, which needs cffi.
    assert {"cryptography", "cffi", "pycparser"} <= set(closure(pins()))
