from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fake_clock import FakeClock

import jwtguard
from jwtguard.testing import LocalIssuer, LocalServer, Response

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (the examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def issuer(jwtguard_session_issuer: LocalIssuer) -> LocalIssuer:
    """The pytest plugin's session issuer, for the tests that only read from it (never rotate its keys)."""
    assert jwtguard_session_issuer.audience == "https://api.example.test"
    return jwtguard_session_issuer


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test says so (starting at the real time)."""
    return FakeClock(time.time())


@pytest.fixture
def own_issuer(clock: FakeClock) -> Iterator[LocalIssuer]:
    """An issuer of this test's own, on ``clock``, that it may rotate, reroute, slow down or break."""
    with LocalIssuer(clock=clock) as running:
        yield running


@pytest.fixture
def validator(issuer: LocalIssuer) -> jwtguard.Validator:
    """A fresh validator (empty key cache) trusting ``issuer``."""
    return issuer.validator()


@pytest.fixture(scope="session")
def broken_server() -> Iterator[LocalServer]:
    """A server whose every answer is a 500: an issuer that is down."""
    with LocalServer() as server:
        server.route("/.well-known/openid-configuration", lambda request: Response(500, "down"))
        server.route("/.well-known/jwks.json", lambda request: Response(500, "down"))
        yield server


@pytest.fixture
def down_validator(issuer: LocalIssuer, broken_server: LocalServer) -> jwtguard.Validator:
    """A validator trusting ``issuer``'s tokens, whose key-set endpoint is down."""
    return jwtguard.Validator(
        issuer=issuer.issuer,
        audience=issuer.audience,
        jwks_uri=broken_server.url + "/.well-known/jwks.json",
    )
