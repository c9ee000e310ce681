"""The Flask app of the HTTP benchmark: ``GET /`` answers ``{"sub": ...}``.

With ``BENCH_AUTH=jwtguard`` the view is decorated with
``@guard.require("read:messages")`` (:class:`jwtguard.flask.JWTGuard`); with
``BENCH_AUTH=wsgi`` the app is wrapped in :class:`jwtguard.wsgi.JWTGuardMiddleware`
and the view checks the scope with ``validator.require_scopes``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request

from jwtguard import Validator
from jwtguard.flask import JWTGuard, current_claims
from jwtguard.wsgi import JWTGuardMiddleware, get_claims

from . import SCOPE, SUBJECT, mode, validator


def create_app(checker: Validator | None) -> Flask:
    """The app without authentication (``checker=None``) or guarded by ``checker``."""
    app = Flask(__name__)
    if checker is None:

        @app.get("/")
        def plain() -> dict[str, Any]:
            return {"sub": SUBJECT}

        return app

    guard = JWTGuard(app, validator=checker, realm="api")

    @app.get("/")
    @guard.require(SCOPE)
    def protected() -> dict[str, Any]:
        return {"sub": current_claims["sub"]}

    return app


def create_wsgi_app(checker: Validator) -> Flask:
    """The app behind the WSGI middleware (any WSGI app could be)."""
    app = Flask(__name__)

    @app.get("/")
    def protected() -> dict[str, Any]:
        claims = get_claims(request.environ)
        checker.require_scopes(claims, SCOPE)
        return {"sub": claims["sub"]}

    app.wsgi_app = JWTGuardMiddleware(app.wsgi_app, validator=checker, realm="api")  # type: ignore[method-assign]
    return app


_APPS = {
    "none": lambda: create_app(None),
    "jwtguard": lambda: create_app(validator()),
    "wsgi": lambda: create_wsgi_app(validator()),
}
app = _APPS[mode()]()
