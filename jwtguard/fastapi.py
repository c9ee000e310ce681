"""FastAPI: a security dependency that returns the token's :class:`~jwtguard.Claims`.

``Security(JWTBearer(validator), scopes=[...])`` checks the request with
:meth:`jwtguard.Validator.aauthenticate`, the scopes FastAPI collects in
:class:`~fastapi.security.SecurityScopes` with :meth:`jwtguard.Validator.authorize`,
and shows an HTTP bearer scheme, with those scopes, in the OpenAPI schema.
Failures leave the dependency as :class:`JWTBearerError`, an ``HTTPException``
carrying the right status and ``WWW-Authenticate`` / ``Retry-After`` headers.
The dependency yields the claims, so an :class:`~jwtguard.AuthError` the
endpoint raises (``validator.require_scopes(...)``) is thrown back into it and
leaves as a ``JWTBearerError`` too, never a 500. FastAPI's own handler answers
``{"detail": description}``; :func:`install_error_handler` gives the contract's
``{"error", "error_description"}`` body and renders ``AuthError`` s raised elsewhere.
"""

from __future__ import annotations

from ._extras import require

# ruff: noqa: E402 - the imports below follow this check on purpose
require("fastapi", "fastapi", "jwtguard.fastapi needs FastAPI")

from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ._guard import CLAIMS_KEY, VALIDATOR_KEY, Guard, Route
from .claims import Claims
from .errors import AuthError
from .requirement import Requirement
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
    """A FastAPI dependency that yields the validated :class:`~jwtguard.Claims`.

    Use it as ``Security(JWTBearer(validator), scopes=["read:messages"])`` (scopes
    checked and listed in the OpenAPI schema) or ``Depends(JWTBearer(validator))``
    (any valid token).

    Args:
        validator: the :class:`~jwtguard.Validator` to check tokens with.
        realm: the ``realm`` of ``WWW-Authenticate`` challenges.
        auto_error: with ``False``, a request without bearer credentials gets ``None``
            instead of a 401 (an invalid token is still refused).
        resource_metadata: RFC 9728 metadata whose URL the challenges name.
        scheme_name: the security scheme's name in the OpenAPI schema.
        description: the security scheme's description in the OpenAPI schema.

    Raises:
        ConfigurationError: ``validator`` is not a :class:`~jwtguard.Validator` (at construction).
        JWTBearerError: from the dependency: 400, 401, 403 (scopes missing) or 503, with the
            challenge headers; also for an ``AuthError`` raised by the endpoint.
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
        self.guard = Guard(
            where="jwtguard.fastapi.JWTBearer", validator=validator, realm=realm, resource_metadata=resource_metadata
        )
        self.validator = self.guard.validator
        self.realm = realm
        self.auto_error = auto_error
        self.resource_metadata = resource_metadata
        self.model = HTTPBearerModel(bearerFormat="JWT", description=description)
        self.scheme_name = scheme_name or type(self).__name__

    async def __call__(self, request: Request, security_scopes: SecurityScopes) -> AsyncIterator[Claims | None]:
        try:
            claims = await self._claims(request)
            if claims is not None or self.auto_error:
                claims = self.guard.authorize(claims, Requirement.of(security_scopes.scopes))
        except AuthError as error:
            raise self._http_error(error) from None
        try:
            yield claims
        except AuthError as error:  # raised by the endpoint: answered, not a 500
            raise self._http_error(error) from error

    async def _claims(self, request: Request) -> Claims | None:
        scope = request.scope
        claims = scope.get(CLAIMS_KEY)
        # Reuse only what this very validator accepted (JWTGuardMiddleware, or another
        # JWTBearer of the same validator): another validator may check less.
        if isinstance(claims, Claims) and scope.get(VALIDATOR_KEY) is self.validator:
            return claims
        route = Route.REQUIRED if self.auto_error else Route.OPTIONAL
        claims = await self.guard.aauthenticate(request.method, str(request.url), request.headers.raw, route)
        if claims is not None:
            scope[CLAIMS_KEY], scope[VALIDATOR_KEY] = claims, self.validator
        return claims

    def _http_error(self, error: AuthError) -> JWTBearerError:
        return JWTBearerError(error, self.guard.answer(error))


def _respond(answer: ErrorResponse) -> Response:
    return Response(answer.body, status_code=answer.status, headers=dict(answer.headers))


async def _bearer_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, JWTBearerError)
    return _respond(exc.answer)


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
