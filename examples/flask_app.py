"""A Flask API protected by jwtguard.

    GET  /messages    a token with read:messages (a bearer token, or a DPoP-bound one with its proof)
    GET  /admin       a token with the role admin
    POST /transfers   write:transfers, and a user who logged in with MFA in the last 5 minutes
                      (RFC 9470 step-up: otherwise a 401 that says so)
    GET  /health      public

    python examples/flask_app.py

starts a local issuer, prints a token, and serves the API on 127.0.0.1:5000. Behind a
TLS-terminating proxy, pass ``public_url="https://api.example.com"`` (or
``trusted_proxies=[...]``) to ``JWTGuard`` so DPoP proofs are checked against the URL
clients call.
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

    @app.get("/admin")
    @guard.require(roles=["admin"])
    def admin() -> dict[str, object]:
        return {"sub": current_claims["sub"], "roles": sorted(current_claims.roles)}

    @app.post("/transfers")
    @guard.require("write:transfers", acr_values=["mfa"], max_age=300)
    def transfer() -> tuple[dict[str, object], int]:
        return {"by": current_claims["sub"]}, 201

    return app


if __name__ == "__main__":
    from jwtguard.testing import LocalIssuer

    with LocalIssuer(audience="https://api.example.com") as issuer:
        token = issuer.token(scope="read:messages", sub="user-42")
        print(f"curl -H 'Authorization: Bearer {token}' http://127.0.0.1:5000/messages")
        admin = issuer.token(sub="user-42", roles=["admin"])
        print(f"curl -H 'Authorization: Bearer {admin}' http://127.0.0.1:5000/admin")
        create_app(issuer.validator()).run(host="127.0.0.1", port=5000)
