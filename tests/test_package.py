"""The package's shape: what it imports, what it exports, and that it is lint- and type-clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import jwtguard

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = ("starlette", "fastapi", "flask", "werkzeug", "django", "rest_framework")


def test_core_imports_no_web_framework() -> None:
    code = (
        "import json, sys, jwtguard, jwtguard.testing;"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r})))"
    )
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", code], text=True))
    assert loaded == []


def test_all_is_sorted_and_complete() -> None:
    assert jwtguard.__all__ == sorted(jwtguard.__all__)
    # Every public non-module name is exported (submodules appear as attributes once imported).
    public = {
        name
        for name, value in vars(jwtguard).items()
        if not name.startswith(("_", "@")) and not isinstance(value, ModuleType) and name != "annotations"
    }
    assert public <= set(jwtguard.__all__)
    for name in jwtguard.__all__:
        assert getattr(jwtguard, name) is not None


def test_errors_are_importable_from_both_places() -> None:
    from jwtguard import errors

    for name in errors.__all__:
        assert getattr(jwtguard, name) is getattr(errors, name)


def test_ships_py_typed() -> None:
    assert (ROOT / "jwtguard" / "py.typed").is_file()


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# A distribution name and the top-level module it provides, where the two differ.
_IMPORT_NAMES = {"pyjwt": "jwt", "djangorestframework": "rest_framework"}


def test_every_runtime_dependency_is_imported_by_the_package() -> None:
    import re

    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    source = "\n".join(path.read_text() for path in (ROOT / "jwtguard").rglob("*.py"))
    for requirement in declared:
        name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()
        module = _IMPORT_NAMES.get(name, name.replace("-", "_"))
        assert re.search(rf"^\s*(import|from) {module}\b", source, re.MULTILINE), f"{name} is declared but unused"
