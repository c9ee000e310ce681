"""What a user installs or unpacks: the license, the project links, the sdist's contents, the extras' errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jwtguard._extras import require

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own TOML parser
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
REPOSITORY = "https://github.com/jwtguard/jwtguard"

# -- license and metadata ------------------------------------------------------------------------


def test_license_file_is_the_mit_license_the_metadata_declares() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert PYPROJECT["project"]["license"] == "MIT"
    assert text.startswith("MIT License\n")
    assert "Copyright (c) the jwtguard authors" in text
    assert "Permission is hereby granted, free of charge" in text
    # PEP 639: an SPDX expression excludes license classifiers, and needs setuptools 77.
    assert not [c for c in PYPROJECT["project"]["classifiers"] if c.startswith("License ::")]
    assert "setuptools>=77" in PYPROJECT["build-system"]["requires"]


def test_project_urls_point_at_the_repository() -> None:
    urls = PYPROJECT["project"]["urls"]
    assert set(urls) == {"Homepage", "Documentation", "Changelog", "Issues", "Security"}
    assert urls["Homepage"] == REPOSITORY
    for url in urls.values():
        assert url == REPOSITORY or url.startswith(REPOSITORY + "/") or url.startswith(REPOSITORY + "#")
    assert urls["Changelog"].endswith("/CHANGELOG.md")
    assert urls["Security"].endswith("/SECURITY.md")


# -- the sdist: MANIFEST.in, checked statically (building an sdist needs the network) -------------


def manifest() -> list[tuple[str, list[str]]]:
    """MANIFEST.in as (command, arguments) lines."""
    lines = []
    for line in (ROOT / "MANIFEST.in").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            command, *arguments = line.split()
            lines.append((command, arguments))
    return lines


def arguments(command: str) -> set[str]:
    return {argument for name, args in manifest() if name == command for argument in args}


def test_manifest_uses_only_simple_rules_on_paths_that_exist() -> None:
    for command, args in manifest():
        assert command in {"include", "graft", "prune", "global-exclude"}, command
        if command != "global-exclude":
            assert args, command
            for path in args:
                assert not any(char in path for char in "*?["), f"{command} {path}: name it exactly"
                if command != "prune":  # prune: may be absent (not installed yet)
                    assert (ROOT / path).exists(), f"MANIFEST.in: {command} {path}: no such path"


def test_sdist_carries_every_directory_and_file_the_tests_use() -> None:
    grafted, included = arguments("graft"), arguments("include")
    assert grafted >= {"tests", "examples", "docs", "fuzz", "scripts", "bench"}
    assert included >= {"LICENSE", "README.md", "CHANGELOG.md", "SECURITY.md", "CONTRIBUTING.md", "pyproject.toml"}
    # A top-level directory or file the tests import or open (`from bench import`, ROOT / "fuzz",
    # "examples/quickstart.py", "SECURITY.md") must be shipped too.
    tests = [
        path
        for path in (ROOT / "tests").rglob("*.py")
        if path.name != Path(__file__).name and "node_modules" not in path.parts
    ]
    sources = "\n".join(path.read_text(encoding="utf-8") for path in tests)
    shipped = grafted | included | {"jwtguard"}
    for entry in ROOT.iterdir():
        name = entry.name
        if name.startswith(".") or name.endswith(".egg-info") or name in {"build", "dist"}:
            continue
        used = re.search(rf"[\"']{re.escape(name)}[\"'/]|^\s*(from|import) {re.escape(name)}\b", sources, re.M)
        if used:
            assert name in shipped, f"the tests use {name}, which MANIFEST.in leaves out of the sdist"


def test_sdist_leaves_out_installed_packages_and_caches() -> None:
    assert "tests/interop/node_modules" in arguments("prune")
    assert "*.py[cod]" in arguments("global-exclude")
    assert not [path for path in arguments("graft") | arguments("include") if path.startswith(".")]


# -- adapters without their framework -----------------------------------------------------------

BLOCKED_IMPORT = """
import json, sys
for name in {blocked!r}:
    sys.modules[name] = None  # as if not installed: importing it raises ModuleNotFoundError
try:
    exec({statement!r})
except ImportError as error:
    cause = error.__cause__
    print(json.dumps([type(error).__name__, str(error), getattr(cause, "name", None)]))
else:
    print(json.dumps(None))
"""


def import_without(statement: str, *blocked: str) -> list[str | None] | None:
    """Run ``statement`` in a fresh interpreter where ``blocked`` modules cannot be imported."""
    code = BLOCKED_IMPORT.format(blocked=blocked, statement=statement)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    answer: list[str | None] | None = json.loads(result.stdout)
    return answer


@pytest.mark.parametrize(
    ("statement", "blocked", "message"),
    [
        ("import jwtguard.fastapi", "fastapi", 'jwtguard.fastapi needs FastAPI: pip install "jwtguard[fastapi]"'),
        ("import jwtguard.flask", "flask", 'jwtguard.flask needs Flask: pip install "jwtguard[flask]"'),
        ("import jwtguard.django", "django", 'jwtguard.django needs Django: pip install "jwtguard[django]"'),
        (
            "from jwtguard.django import JWTAuthentication",
            "rest_framework",
            'jwtguard.django\'s DRF classes need Django REST framework: pip install "jwtguard[django]"',
        ),
    ],
    ids=["fastapi", "flask", "django", "django-drf"],
)
def test_an_adapter_without_its_framework_names_the_extra(statement: str, blocked: str, message: str) -> None:
    assert import_without(statement, blocked) == ["ModuleNotFoundError", message, blocked]


def test_the_framework_neutral_middlewares_need_no_framework() -> None:
    frameworks = ("starlette", "fastapi", "flask", "werkzeug", "django", "rest_framework")
    assert import_without("import jwtguard.asgi, jwtguard.wsgi, jwtguard.testing", *frameworks) is None
    assert import_without("import jwtguard.django", "rest_framework") is None  # plain Django needs no DRF


def test_require_imports_or_names_the_extra() -> None:
    require("json", "core", "never raised")
    with pytest.raises(ModuleNotFoundError) as caught:
        require("jwtguard_no_such_framework", "demo", "this needs a framework")
    assert str(caught.value) == 'this needs a framework: pip install "jwtguard[demo]"'
    assert caught.value.name == "jwtguard_no_such_framework"
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)
