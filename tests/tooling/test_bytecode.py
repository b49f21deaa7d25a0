"""How packaging finds the runtime's CPython, and what it does without one
(tests/tooling/test_infra.py checks the bytecode in a built zip)."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from tools import package as packaging


def test_an_empty_runtime_python_variable_means_build_without_bytecode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(packaging.RUNTIME_PYTHON_VARIABLE, "")
    assert packaging.runtime_python() is None


def test_a_runtime_python_of_another_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sys.version_info[:2] != (3, 12), "this test needs a Python other than the runtime's"
    monkeypatch.setenv(packaging.RUNTIME_PYTHON_VARIABLE, sys.executable)
    with pytest.raises(packaging.PackageError, match=r"is not a CPython 3\.12"):
        packaging.runtime_python()


def test_without_the_runtime_s_python_the_zip_is_kept_and_one_line_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(packaging.RUNTIME_PYTHON_VARIABLE, "")
    archive = tmp_path / "deployment.zip"
    with zipfile.ZipFile(archive, "w") as built:
        built.writestr("app.py", "x = 1\n")
    before = archive.read_bytes()
    assert packaging.ship_bytecode(archive) == 0
    assert archive.read_bytes() == before
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1
    assert "no CPython 3.12 found" in said[0] and "without bytecode" in said[0]


def test_the_runtime_s_python_compiles_each_module_beside_its_source(tmp_path: Path) -> None:
    python = packaging.runtime_python()
    if python is None:
        pytest.skip(f"no CPython {packaging.LAMBDA_RUNTIME} on this machine to compile with")
    archive = tmp_path / "deployment.zip"
    with zipfile.ZipFile(archive, "w") as built:
        built.writestr("app.py", "x = 1\n")
        built.writestr("pkg/__init__.py", "")
        built.writestr("pkg/data.txt", "not a module")
    assert packaging.ship_bytecode(archive, python) == 2
    with zipfile.ZipFile(archive) as built:
        names = set(built.namelist())
        compiled = built.read("__pycache__/app.cpython-312.pyc")
    assert {"__pycache__/app.cpython-312.pyc", "pkg/__pycache__/__init__.cpython-312.pyc"} < names
    # Tracebacks in Lambda name the file where the runtime unpacked it.
    assert b"/var/task/app.py" in compiled
