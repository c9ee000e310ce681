"""FastAPI: a security dependency that returns the token's :class:`~jwtguard.Claims`.

``Security(JWTBearer(validator), scopes=[...])`` validates the bearer token,
checks the scopes FastAPI collects in :class:`~fastapi.security.SecurityScopes`
and shows an HTTP bearer scheme, with those scopes, in the OpenAPI schema.
Failures are raised as :class:`JWTBearerError`, an ``HTTPException`` carrying
the right status and ``WWW-Authenticate`` / ``Retry-After`` headers, answered
with the contract's ``{"error", "error_description"}`` body: the dependency
registers that handler with the app the first time it fails, unless the app
has its own handler for :class:`JWTBearerError` (``app.exception_handlers``).
:func:`install_error_handler` also renders ``AuthError`` s raised by endpoints.
"""

from __future__ import annotations

from ._extras import require

# ruff: noqa: E402 - the imports below follow this check on purpose
require("fastapi", "fastapi", "jwtguard.fastapi needs FastAPI")

from fastapi import Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ._guard import CLAIMS_KEY, VALIDATOR_KEY
from .bearer import extract_bearer
from .claims import Claims
from .errors import AuthError, MissingTokenError
from .resource_metadata import ProtectedResourceMetadata
from .responses import ErrorResponse, error_response
from .validator import Validator

__all__ = ["JWTBearer", "JWTBearerError", "install_error_handler"]


class JWTBearerError(HTTPException):
    """An :class:`~jwtguard.AuthError` leaving :class:`JWTBearer`, as an ``HTTPException``.

    Attributes:
        error: the original :class:`~jwtguard.AuthError`.
        answer: its rendered :class:`~jwtguard.responses.ErrorResponse`.
    """

    def __init__(self, error: AuthError, answer: ErrorResponse) -> None:
        self.error = error
        self.answer = answer
        headers = {name: value for name, value in answer.headers if name != "Content-Type"}
        super().__init__(answer.status, detail=error.description, headers=headers)


class JWTBearer(SecurityBase):
    """A FastAPI dependency that returns the validated :class:`~jwtguard.Claims`.

    Use it as ``Security(JWTBearer(validator), scopes=["read:messages"])`` (scopes
    checked and listed in the OpenAPI schema) or ``Depends(JWTBearer(validator))``
    (any valid token).

    Args:
        validator: the :class:`~jwtguard.Validator` to check tokens with.
        realm: the ``realm`` of ``WWW-Authenticate`` challenges.
        auto_error: with ``False``, a request without a bearer token gets ``None``
            instead of a 401 (an invalid token is still refused).
        resource_metadata: RFC 9728 metadata whose URL the challenges name.
        scheme_name: the security scheme's name in the OpenAPI schema.
        description: the security scheme's description in the OpenAPI schema.

    Raises (from the dependency):
        JWTBearerError: 400, 401, 403 (scopes missing) or 503, with the challenge headers.
    """

    def __init__(
        self,
        validator: Validator,
        *,
        realm: str | None = None,
        auto_error: bool = True,
        resource_metadata: ProtectedResourceMetadata | None = None,
        scheme_name: str | None = None,
        description: str | None = None,
    ) -> None:
        self.validator = validator
        self.realm = realm
        self.auto_error = auto_error
        self.resource_metadata = resource_metadata
        self.model = HTTPBearerModel(bearerFormat="JWT", description=description)
        self.scheme_name = scheme_name or type(self).__name__

    async def __call__(self, request: Request, security_scopes: SecurityScopes) -> Claims | None:
        try:
            scope = request.scope
            claims = scope.get(CLAIMS_KEY)
            # Reuse only what this very validator accepted (JWTGuardMiddleware, or another
            # JWTBearer of the same validator): another validator may check less.
            if not isinstance(claims, Claims) or scope.get(VALIDATOR_KEY) is not self.validator:
                claims = await self.validator.avalidate(extract_bearer(request.headers.getlist("authorization")))
                scope[CLAIMS_KEY], scope[VALIDATOR_KEY] = claims, self.validator
            self.validator.require_scopes(claims, *security_scopes.scopes)
        except MissingTokenError as exc:
            if self.auto_error:
                raise self._http_error(request, exc) from None
            return None
        except AuthError as exc:
            raise self._http_error(request, exc) from None
        return claims

    def _http_error(self, request: Request, error: AuthError) -> JWTBearerError:
        _register_bearer_error_handler(request)
        url = self.resource_metadata.url if self.resource_metadata else None
        return JWTBearerError(error, error_response(error, self.realm, resource_metadata=url))


def _respond(answer: ErrorResponse) -> Response:
    return Response(answer.body, status_code=answer.status, headers=dict(answer.headers))


async def _bearer_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, JWTBearerError)
    return _respond(exc.answer)


def _register_bearer_error_handler(request: Request) -> None:
    # FastAPI answers any HTTPException with {"detail": ...}. The handlers of the running
    # app are in the scope (Starlette's ExceptionMiddleware puts them there); adding ours
    # there, and on the app for stacks built later, keeps a handler the user set.
    handlers = request.scope.get("starlette.exception_handlers")
    if isinstance(handlers, tuple) and handlers and isinstance(handlers[0], dict):
        handlers[0].setdefault(JWTBearerError, _bearer_error)
    app = request.scope.get("app")
    if isinstance(app, Starlette):
        app.exception_handlers.setdefault(JWTBearerError, _bearer_error)


def install_error_handler(
    app: Starlette, *, realm: str | None = None, resource_metadata: ProtectedResourceMetadata | None = None
) -> None:
    """Answer :class:`JWTBearerError` with the contract's JSON body, and render ``AuthError`` s too.

    An :class:`~jwtguard.AuthError` raised by an endpoint (``validator.require_scopes(...)``)
    is answered with ``realm`` and ``resource_metadata`` instead of becoming a 500.
    """
    url = resource_metadata.url if resource_metadata else None

    async def auth_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuthError)
        return _respond(error_response(exc, realm, resource_metadata=url))

    app.add_exception_handler(JWTBearerError, _bearer_error)
    app.add_exception_handler(AuthError, auth_error)
