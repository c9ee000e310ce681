"""pytest fixtures for testing APIs protected by jwtguard (registered as ``pytest11``).

* ``jwtguard_issuer`` — a running :class:`~jwtguard.testing.LocalIssuer` (one per test);
* ``jwtguard_validator`` — a :class:`~jwtguard.Validator` wired to it;
* ``jwtguard_token`` — a function minting tokens: ``jwtguard_token(scope="read:messages")``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ..validator import Validator
from .issuer import LocalIssuer


@pytest.fixture
def jwtguard_issuer() -> Iterator[LocalIssuer]:
    """A local issuer on 127.0.0.1, stopped after the test."""
    with LocalIssuer() as issuer:
        yield issuer


@pytest.fixture
def jwtguard_validator(jwtguard_issuer: LocalIssuer) -> Validator:
    """A validator that trusts ``jwtguard_issuer``."""
    return jwtguard_issuer.validator()


@pytest.fixture
def jwtguard_token(jwtguard_issuer: LocalIssuer) -> Callable[..., str]:
    """Mint a token from ``jwtguard_issuer``: ``jwtguard_token(scope="read:messages", expires_in=-60)``."""

    def mint(**claims: Any) -> str:
        return jwtguard_issuer.token(**claims)

    return mint
