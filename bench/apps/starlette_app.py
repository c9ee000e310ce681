"""The Starlette app of the HTTP benchmark: ``GET /`` answers ``{"sub": ...}``.

With ``BENCH_AUTH=jwtguard`` it sits behind :class:`jwtguard.asgi.JWTGuardMiddleware`
and the endpoint requires the ``read:messages`` scope, as a real API would.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwtguard import Validator
from jwtguard.asgi import JWTGuardMiddleware, get_claims

from . import SCOPE, SUBJECT, guarded, validator


def create_app(checker: Validator | None) -> Starlette:
    """The app without authentication (``checker=None``) or guarded by ``checker``."""
    if checker is None:

        async def plain(request: Request) -> JSONResponse:
            return JSONResponse({"sub": SUBJECT})

        return Starlette(routes=[Route("/", plain)])

    async def protected(request: Request) -> JSONResponse:
        claims = get_claims(request)
        checker.require_scopes(claims, SCOPE)
        return JSONResponse({"sub": claims["sub"]})

    guard = Middleware(JWTGuardMiddleware, validator=checker, realm="api")
    return Starlette(routes=[Route("/", protected)], middleware=[guard])


app = create_app(validator() if guarded() else None)
