"""Set-up mistakes, tried as a new user makes them: each is an error when the app is built, never a
request-time 500 or a silently public route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import load_example

import jwtguard

load_example("django_app")  # configures Django once

from flask import Flask  # noqa: E402

from jwtguard.asgi import JWTGuardMiddleware as AsgiGuard  # noqa: E402
from jwtguard.django import require_token  # noqa: E402
from jwtguard.fastapi import JWTBearer  # noqa: E402
from jwtguard.flask import JWTGuard  # noqa: E402
from jwtguard.resource_metadata import ProtectedResourceMetadata  # noqa: E402
from jwtguard.wsgi import JWTGuardMiddleware as WsgiGuard  # noqa: E402

ISSUER = "https://issuer.example.test/"


def _validator() -> jwtguard.Validator:
    return jwtguard.Validator(issuer=ISSUER, audience="api")


async def _asgi_app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never called
    raise AssertionError


def _wsgi_app(environ: Any, start_response: Any) -> list[bytes]:  # pragma: no cover - never called
    raise AssertionError


def _flask(**config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update({"JWTGUARD_ISSUER": ISSUER, "JWTGUARD_AUDIENCE": "api", **config})
    return app


def _route_above_guard() -> None:
    app = Flask(__name__)
    guard = JWTGuard(app, validator=_validator())

    @guard.require("read")
    @app.get("/messages")
    def messages() -> str:  # pragma: no cover - never called
        return "public!"


MISTAKES: dict[str, Callable[[], object]] = {
    "asgi: validator=None": lambda: AsgiGuard(_asgi_app, validator=None),  # type: ignore[arg-type]
    "asgi: validator is a URL": lambda: AsgiGuard(_asgi_app, validator=ISSUER),  # type: ignore[arg-type]
    "asgi: exclude path without a slash": lambda: AsgiGuard(
        _asgi_app, validator=_validator(), exclude_paths=["health"]
    ),
    "asgi: resource metadata as a dict": lambda: AsgiGuard(
        _asgi_app,
        validator=_validator(),
        resource_metadata={"resource": "https://api.example.test"},  # type: ignore[arg-type]
    ),
    "asgi: trusted proxy that is no network": lambda: AsgiGuard(
        _asgi_app, validator=_validator(), trusted_proxies=["proxy.internal"]
    ),
    "wsgi: validator=None": lambda: WsgiGuard(_wsgi_app, validator=None),  # type: ignore[arg-type]
    "wsgi: certificate header without trusted proxies": lambda: WsgiGuard(
        _wsgi_app, validator=_validator(), client_cert_header="Client-Cert"
    ),
    "fastapi: validator is a URL": lambda: JWTBearer(ISSUER),  # type: ignore[arg-type]
    "flask: validator is a string": lambda: JWTGuard(Flask(__name__), validator="validator"),  # type: ignore[arg-type]
    "flask: a typo in the config": lambda: JWTGuard(_flask(JWTGUARD_AUDIANCE="api")),
    "flask: no audience": lambda: JWTGuard(_flask(JWTGUARD_AUDIENCE=None)),
    "flask: an http issuer": lambda: JWTGuard(_flask(JWTGUARD_ISSUER="http://issuer.example.test/")),
    "flask: @guard.require above @app.get": _route_above_guard,
    "flask: a scope with a space": lambda: JWTGuard(validator=_validator()).require("read messages"),
    "django: a scope with a space": lambda: require_token("read messages"),
    "core: a requirement with an empty role": lambda: jwtguard.Requirement.of(roles=[""]),
    "core: an unknown dpop mode": lambda: jwtguard.Validator(issuer=ISSUER, audience="api", dpop="sometimes"),
    "metadata: a relative resource": lambda: ProtectedResourceMetadata("/api"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_set_up_mistake_fails_when_the_app_is_built(mistake: str) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        MISTAKES[mistake]()
