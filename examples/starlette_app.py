"""A Starlette API protected by jwtguard: ``GET /messages`` needs ``read:messages``.

Route-level requirements with :func:`jwtguard.starlette.requires`: ``GET /any-of``
needs ``read:messages`` or ``admin``, ``GET /roles`` the role ``admin``, and
``GET /step-up`` a multi-factor login (``acr`` ``mfa``) at most five minutes old.

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
from jwtguard.starlette import requires
from jwtguard.testing import LocalIssuer


def create_app(validator: jwtguard.Validator) -> Starlette:
    async def messages(request: Request) -> JSONResponse:
        claims = get_claims(request)
        validator.require_scopes(claims, "read:messages")  # 403 insufficient_scope when missing
        return JSONResponse({"sub": claims["sub"], "messages": ["hello"]})

    @requires("read:messages", "admin", any_of=True)  # 403 insufficient_scope, scope="read:messages admin"
    async def any_of(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.user.identity})

    @requires(roles=["admin"])  # 403 insufficient_scope (code insufficient_role)
    async def roles(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.user.identity})

    @requires(acr_values=["mfa"], max_age=300)  # 401 insufficient_user_authentication (RFC 9470)
    def step_up(request: Request) -> JSONResponse:  # plain functions work too (Starlette's thread pool)
        return JSONResponse({"sub": request.user.identity})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/messages", messages),
        Route("/any-of", any_of),
        Route("/roles", roles),
        Route("/step-up", step_up),
        Route("/health", health),
    ]
    guard = Middleware(JWTGuardMiddleware, validator=validator, realm="api", exclude_paths=["/health"])
    return Starlette(routes=routes, middleware=[guard])


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
