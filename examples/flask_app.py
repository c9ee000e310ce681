"""A Flask API protected by jwtguard: ``GET /messages`` needs ``read:messages``, ``GET /health`` is public.

    python examples/flask_app.py

starts a local issuer, prints a token, and serves the API on 127.0.0.1:5000.
"""

from __future__ import annotations

from flask import Flask

import jwtguard
from jwtguard.flask import JWTGuard, current_claims


def create_app(validator: jwtguard.Validator) -> Flask:
    app = Flask(__name__)
    guard = JWTGuard(app, validator=validator, realm="api")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/messages")
    @guard.require("read:messages")
    def messages() -> dict[str, object]:
        return {"sub": current_claims["sub"], "messages": ["hello"]}

    return app


if __name__ == "__main__":
    from jwtguard.testing import LocalIssuer

    with LocalIssuer(audience="https://api.example.com") as issuer:
        token = issuer.token(scope="read:messages", sub="user-42")
        print(f"curl -H 'Authorization: Bearer {token}' http://127.0.0.1:5000/messages")
        create_app(issuer.validator()).run(host="127.0.0.1", port=5000)
