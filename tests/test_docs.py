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
