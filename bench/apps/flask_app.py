"""The Flask app of the HTTP benchmark: ``GET /`` answers ``{"sub": ...}``.

With ``BENCH_AUTH=jwtguard`` the view is decorated with
``@guard.require("read:messages")`` (:class:`jwtguard.flask.JWTGuard`).
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from jwtguard import Validator
from jwtguard.flask import JWTGuard, current_claims

from . import SCOPE, SUBJECT, guarded, validator


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


app = create_app(validator() if guarded() else None)
