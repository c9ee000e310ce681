"""Starlette: route-level requirements answered with the RFC 6750 / RFC 9470 challenge.

``@requires("read:messages")`` builds a :class:`~jwtguard.Requirement` when the
module is imported (a bad scope, role or ``max_age`` is a
:class:`~jwtguard.ConfigurationError` then) and, on each call, checks the claims
that :class:`jwtguard.asgi.JWTGuardMiddleware` left in the scope with that
middleware's validator (:meth:`jwtguard.Validator.authorize`). A refusal leaves
the endpoint as the :class:`~jwtguard.AuthError` itself, which the middleware
answers: 401 without a token, 403 ``insufficient_scope`` with ``scope="…"``, 401
``insufficient_user_authentication`` with ``acr_values``/``max_age`` — where
Starlette's own ``@requires`` answers a bare 403.
"""

from __future__ import annotations

from ._extras import require

# ruff: noqa: E402 - the imports below follow this check on purpose
require("starlette", "starlette", "jwtguard.starlette needs Starlette")

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from starlette.requests import HTTPConnection

from ._guard import CLAIMS_KEY, VALIDATOR_KEY
from .claims import Claims
from .errors import ConfigurationError
from .requirement import Requirement
from .validator import Validator

__all__ = ["requires"]

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

_CONNECTION_NAMES = ("request", "websocket")


def requires(
    *scopes: str,
    any_of: bool = False,
    roles: Iterable[str] = (),
    roles_any_of: bool = False,
    acr_values: Iterable[str] = (),
    max_age: float | None = None,
) -> Callable[[Endpoint], Endpoint]:
    """Decorate a Starlette endpoint so that it runs only for tokens that meet a requirement.

    Works on ``async`` and plain functions and on ``HTTPEndpoint`` /
    ``WebSocketEndpoint`` methods: the endpoint needs a parameter named
    ``request`` or ``websocket``, as with Starlette's ``@requires``. The app
    must run behind :class:`jwtguard.asgi.JWTGuardMiddleware`.

    Args:
        scopes: every one of them (or one with ``any_of=True``).
        any_of: one of ``scopes`` suffices.
        roles: every one of them (or one with ``roles_any_of=True``), from ``claims.roles``.
        roles_any_of: one of ``roles`` suffices.
        acr_values: the token's ``acr`` must be one of them (RFC 9470 step-up).
        max_age: the token's ``auth_time`` no older than this many seconds.

    Raises:
        ConfigurationError: when decorating: a bad requirement (see :meth:`Requirement.of`), or
            an endpoint without a ``request``/``websocket`` parameter.
        AuthError: from the endpoint, for the middleware to answer: ``MissingTokenError`` (no
            token), ``InsufficientScopeError`` (a scope or role missing),
            ``InsufficientUserAuthenticationError`` (step-up needed).
        RuntimeError: from the endpoint, when no ``JWTGuardMiddleware`` ran for the request.
    """
    requirement = Requirement.of(
        scopes, any_of=any_of, roles=roles, roles_any_of=roles_any_of, acr_values=acr_values, max_age=max_age
    )

    def decorate(endpoint: Endpoint) -> Endpoint:
        position = _connection_position(endpoint)

        def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            named = [kwargs[name] for name in _CONNECTION_NAMES if name in kwargs]
            authorize(named[0] if named else args[position], requirement)

        if inspect.iscoroutinefunction(endpoint):

            @functools.wraps(endpoint)
            async def async_endpoint(*args: Any, **kwargs: Any) -> Any:
                check(args, kwargs)
                return await endpoint(*args, **kwargs)

            return cast(Endpoint, async_endpoint)

        @functools.wraps(endpoint)
        def sync_endpoint(*args: Any, **kwargs: Any) -> Any:
            check(args, kwargs)
            return endpoint(*args, **kwargs)

        return cast(Endpoint, sync_endpoint)

    return decorate


def authorize(connection: HTTPConnection, requirement: Requirement) -> None:
    """Check the request's claims against ``requirement`` with the middleware's validator.

    Raises:
        AuthError: the requirement is not met (the middleware answers it).
        RuntimeError: ``JWTGuardMiddleware`` did not run for this request.
    """
    validator = connection.scope.get(VALIDATOR_KEY)
    if not isinstance(validator, Validator):
        raise RuntimeError("jwtguard.starlette.requires needs jwtguard.asgi.JWTGuardMiddleware in front of the app")
    claims = connection.scope.get(CLAIMS_KEY)
    validator.authorize(claims if isinstance(claims, Claims) else None, requirement)


def _connection_position(endpoint: Callable[..., Any]) -> int:
    for position, name in enumerate(inspect.signature(endpoint).parameters):
        if name in _CONNECTION_NAMES:
            return position
    raise ConfigurationError(
        f"jwtguard.starlette.requires: {getattr(endpoint, '__qualname__', endpoint)!r} has no "
        "'request' or 'websocket' parameter"
    )
