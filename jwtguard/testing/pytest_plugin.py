"""pytest fixtures for testing APIs protected by jwtguard (registered as ``pytest11``).

Installed with jwtguard, so nothing to configure:

* ``jwtguard_issuer`` — a running :class:`~jwtguard.testing.LocalIssuer`, one per
  test, built with the keyword arguments of ``jwtguard_issuer_options``;
* ``jwtguard_issuer_options`` — ``{}``; override it to configure the issuer
  (``audience``, ``algorithm``, lifetimes, rotation, clients, users, ``clock``);
* ``jwtguard_session_issuer`` — one default issuer for the whole session (faster;
  do not rotate its keys or change its clock);
* ``jwtguard_validator`` — a :class:`~jwtguard.Validator` wired to ``jwtguard_issuer``;
* ``jwtguard_token`` — a function minting access tokens from ``jwtguard_issuer``:
  ``jwtguard_token(scope="read:messages")``, ``jwtguard_token(expires_in=-60)``.

See ``docs/testing.md`` for an example test per framework adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ..validator import Validator
from .issuer import LocalIssuer

__all__ = [
    "jwtguard_issuer",
    "jwtguard_issuer_options",
    "jwtguard_session_issuer",
    "jwtguard_token",
    "jwtguard_validator",
]


@pytest.fixture
def jwtguard_issuer_options() -> dict[str, Any]:
    """Keyword arguments for ``jwtguard_issuer``'s :class:`LocalIssuer`; override to configure it."""
    return {}


@pytest.fixture
def jwtguard_issuer(jwtguard_issuer_options: dict[str, Any]) -> Iterator[LocalIssuer]:
    """A local issuer on 127.0.0.1, stopped after the test."""
    with LocalIssuer(**jwtguard_issuer_options) as issuer:
        yield issuer


@pytest.fixture(scope="session")
def jwtguard_session_issuer() -> Iterator[LocalIssuer]:
    """One local issuer with the default options, shared by the whole session."""
    with LocalIssuer() as issuer:
        yield issuer


@pytest.fixture
def jwtguard_validator(jwtguard_issuer: LocalIssuer) -> Validator:
    """A validator that trusts ``jwtguard_issuer`` (its audience, its algorithms, its clock)."""
    return jwtguard_issuer.validator()


@pytest.fixture
def jwtguard_token(jwtguard_issuer: LocalIssuer) -> Callable[..., str]:
    """Mint a token from ``jwtguard_issuer``: ``jwtguard_token(scope="read:messages", expires_in=-60)``.

    Keyword arguments are those of :meth:`jwtguard.testing.TokenFactory.mint`.
    """

    def mint(**claims: Any) -> str:
        return jwtguard_issuer.token(**claims)

    return mint
