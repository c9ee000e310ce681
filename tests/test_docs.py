"""The examples in docstrings run (doctest), module by module."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "jwtguard",
    "jwtguard._challenge",
    "jwtguard._discovery",
    "jwtguard._issuers",
    "jwtguard.claims",
    "jwtguard.health",
    "jwtguard.hooks",
    "jwtguard._paths",
    "jwtguard.profiles",
    "jwtguard.requirement",
    "jwtguard.settings",
    "jwtguard.resource_metadata",
    "jwtguard.responses",
    "jwtguard.testing",
    "jwtguard.testing.dpop",
    "jwtguard.testing.issuer",
    "jwtguard.testing.keys",
    "jwtguard.testing.tokens",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_every_validator_option_is_in_the_readme_options_table() -> None:
    import inspect
    import re
    from pathlib import Path

    import jwtguard

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(\w+)`", readme, re.MULTILINE))
    documented |= {
        name
        for row in re.findall(r"^\| (`\w+`(?: / `\w+`)+) \|", readme, re.MULTILINE)
        for name in re.findall(r"`(\w+)`", row)
    }
    missing = set(inspect.signature(jwtguard.Validator).parameters) - documented
    assert missing == set()
