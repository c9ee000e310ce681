"""A Starlette API protected by jwtguard: ``GET /messages`` needs ``read:messages``.

    python examples/starlette_app.py

starts a local token issuer and the API on http://127.0.0.1:8000 and prints a
token to try. Set ``JWTGUARD_ISSUER`` and ``JWTGUARD_AUDIENCE`` to use your own
issuer (Auth0, Okta, Azure AD, Keycloak) instead; ``PORT`` changes the port.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import jwtguard
from jwtguard.asgi import JWTGuardMiddleware, get_claims
from jwtguard.testing import LocalIssuer


def create_app(validator: jwtguard.Validator) -> Starlette:
    async def messages(request: Request) -> JSONResponse:
        claims = get_claims(request)
        validator.require_scopes(claims, "read:messages")  # 403 insufficient_scope when missing
        return JSONResponse({"sub": claims["sub"], "messages": ["hello"]})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    guard = Middleware(JWTGuardMiddleware, validator=validator, realm="api", exclude_paths=["/health"])
    return Starlette(routes=[Route("/messages", messages), Route("/health", health)], middleware=[guard])


def main() -> None:
    import uvicorn

    port = int(os.environ.get("PORT", "8000"))
    if "JWTGUARD_ISSUER" in os.environ:
        validator = jwtguard.Validator(issuer=os.environ["JWTGUARD_ISSUER"], audience=os.environ["JWTGUARD_AUDIENCE"])
        uvicorn.run(create_app(validator), host="127.0.0.1", port=port)
        return
    with LocalIssuer(audience="https://api.example.com") as issuer:
        token = issuer.token(scope="read:messages", sub="user-42", expires_in=3600)
        print(f'curl -H "Authorization: Bearer {token}" http://127.0.0.1:{port}/messages')
        uvicorn.run(create_app(issuer.validator()), host="127.0.0.1", port=port)


if __name__ == "__main__":
    main()
