"""Flask extension: ``@guard.require(*scopes)`` on views, ``current_claims`` inside them.

``JWTGuard(app)`` or ``JWTGuard()`` + ``guard.init_app(app)`` (app factories). Its
state lives in ``app.extensions["jwtguard"]``; errors are werkzeug
``HTTPException`` subclasses, so ``app.errorhandler`` can restyle them.
"""

from __future__ import annotations

from ._extras import require

# ruff: noqa: E402 - the imports below follow this check on purpose
require("flask", "flask", "jwtguard.flask needs Flask")

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, has_request_context, request
from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, ServiceUnavailable, Unauthorized
from werkzeug.local import LocalProxy

from .bearer import extract_bearer
from .claims import Claims
from .errors import AuthError, ConfigurationError, MissingTokenError
from .resource_metadata import ProtectedResourceMetadata
from .responses import ErrorResponse, error_response
from .validator import DEFAULT_LEEWAY, Validator

__all__ = [
    "AuthHTTPError",
    "BadRequestError",
    "ForbiddenError",
    "JWTGuard",
    "ServiceUnavailableError",
    "UnauthorizedError",
    "current_claims",
    "get_claims",
]

F = TypeVar("F", bound=Callable[..., Any])
_CONFIG: dict[str, Any] = {
    "JWTGUARD_ISSUER": None,
    "JWTGUARD_AUDIENCE": None,
    "JWTGUARD_ALGORITHMS": ("RS256",),
    "JWTGUARD_JWKS_URI": None,
    "JWTGUARD_LEEWAY": DEFAULT_LEEWAY,
    "JWTGUARD_AUTHORIZED_PARTIES": None,
    "JWTGUARD_REQUIRED_SCOPES": (),
    "JWTGUARD_REALM": None,
}
# Per request, not in ``g``: an app context pushed by a test or CLI outlives its requests.
_CLAIMS = "jwtguard.flask.claims"


class AuthHTTPError(HTTPException):
    """A rejected request: ``auth_error`` (the :class:`~jwtguard.AuthError`), ``code`` (its status).

    ``get_response()`` is the contract answer (challenge or ``Retry-After``, JSON body);
    ``get_headers()`` its headers, to reuse in a restyled answer. Each instance is also
    the matching werkzeug class (``Unauthorized`` …), so ``app.errorhandler(401)`` sees it.
    """

    answer: ErrorResponse

    def __init__(self, error: AuthError, answer: ErrorResponse) -> None:
        super().__init__(description=error.description)
        self.auth_error = error
        self.answer = answer
        if self.code is None:  # a status without a werkzeug class of its own
            self.code = answer.status

    def get_body(self, environ: Any = None, scope: Any = None) -> str:
        return self.answer.body.decode("utf-8")

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        return list(self.answer.headers)


class BadRequestError(AuthHTTPError, BadRequest):
    """400: a malformed ``Authorization`` header."""


class UnauthorizedError(AuthHTTPError, Unauthorized):
    """401: no token, or an invalid one."""


class ForbiddenError(AuthHTTPError, Forbidden):
    """403: a valid token without a required scope."""


class ServiceUnavailableError(AuthHTTPError, ServiceUnavailable):
    """503: the issuer's keys cannot be fetched."""


_BY_STATUS: dict[int, type[AuthHTTPError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    503: ServiceUnavailableError,
}


@dataclass(frozen=True)
class _State:
    validator: Validator
    realm: str | None
    resource_metadata: ProtectedResourceMetadata | None


def _validator_from_config(config: Mapping[str, Any]) -> Validator:
    if not config["JWTGUARD_ISSUER"]:
        raise ConfigurationError("JWTGUARD_ISSUER is required when JWTGuard is given no validator=")
    return Validator(
        issuer=config["JWTGUARD_ISSUER"],
        audience=config["JWTGUARD_AUDIENCE"],
        algorithms=config["JWTGUARD_ALGORITHMS"],
        jwks_uri=config["JWTGUARD_JWKS_URI"],
        leeway=config["JWTGUARD_LEEWAY"],
        authorized_parties=config["JWTGUARD_AUTHORIZED_PARTIES"],
        required_scopes=config["JWTGUARD_REQUIRED_SCOPES"],
    )


class JWTGuard:
    """Protects Flask views with bearer tokens.

    Args:
        app: the application (or call :meth:`init_app` later).
        validator: validates the tokens; default: built from ``app.config["JWTGUARD_*"]``.
        realm: the challenges' ``realm``; default ``app.config["JWTGUARD_REALM"]``.
        resource_metadata: RFC 9728 metadata, served at its ``path`` and announced in challenges.

    Raises:
        ConfigurationError: no ``validator=`` and no ``JWTGUARD_ISSUER`` (from :meth:`init_app`).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        validator: Validator | None = None,
        realm: str | None = None,
        resource_metadata: ProtectedResourceMetadata | None = None,
    ) -> None:
        self._validator = validator
        self._realm = realm
        self._resource_metadata = resource_metadata
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register with ``app``: config defaults, the validator, the metadata route."""
        for key, value in _CONFIG.items():
            app.config.setdefault(key, value)
        meta = self._resource_metadata
        realm = self._realm if self._realm is not None else app.config["JWTGUARD_REALM"]
        validator = self._validator if self._validator is not None else _validator_from_config(app.config)
        app.extensions["jwtguard"] = _State(validator, realm, meta)
        app.register_error_handler(AuthError, _render_auth_error)
        if meta is not None:
            body = meta.body()
            app.add_url_rule(
                meta.path, "jwtguard_resource_metadata", lambda: Response(body, mimetype="application/json")
            )

    def require(self, *scopes: str) -> Callable[[F], F]:
        """Decorate a view (sync or ``async``) to require a valid token carrying every one of ``scopes``.

        Raises (as the response) :class:`AuthHTTPError`: 400, 401, 403 or 503.
        """
        return self._decorator(scopes, optional=False)

    def optional(self, *scopes: str) -> Callable[[F], F]:
        """Like :meth:`require`, but a request without bearer credentials is let in anonymously.

        :func:`get_claims` is then ``None``; a bad token is still rejected.
        """
        return self._decorator(scopes, optional=True)

    def _decorator(self, scopes: tuple[str, ...], *, optional: bool) -> Callable[[F], F]:
        if not all(isinstance(scope, str) for scope in scopes):
            raise TypeError("scopes must be strings: write @guard.require() or @guard.require('scope')")

        def decorate(view: F) -> F:
            if inspect.iscoroutinefunction(view):

                @functools.wraps(view)
                async def async_view(*args: Any, **kwargs: Any) -> Any:
                    with _rejecting() as validator:
                        token = _token(optional)
                        if token is not None:
                            _accept(validator, await validator.avalidate(token), scopes)
                    return await view(*args, **kwargs)

                return cast(F, async_view)

            @functools.wraps(view)
            def sync_view(*args: Any, **kwargs: Any) -> Any:
                with _rejecting() as validator:
                    token = _token(optional)
                    if token is not None:
                        _accept(validator, validator.validate(token), scopes)
                return view(*args, **kwargs)

            return cast(F, sync_view)

        return decorate


@contextmanager
def _rejecting() -> Iterator[Validator]:
    """Yield the app's validator; turn an :class:`~jwtguard.AuthError` into its :class:`AuthHTTPError`."""
    state = current_app.extensions.get("jwtguard")
    if not isinstance(state, _State):
        raise RuntimeError("JWTGuard is not registered on this app: call JWTGuard(app) or guard.init_app(app)")
    try:
        yield state.validator
    except AuthError as error:
        raise _http_error(error, state) from error


def _http_error(error: AuthError, state: _State) -> AuthHTTPError:
    meta = state.resource_metadata
    answer = error_response(error, state.realm, resource_metadata=meta.url if meta else None)
    return _BY_STATUS.get(answer.status, AuthHTTPError)(error, answer)


def _render_auth_error(error: AuthError) -> AuthHTTPError:
    """An ``AuthError`` raised by a view (``validator.require_scopes(...)``) gets its own answer, not a 500."""
    state = current_app.extensions["jwtguard"]
    return _http_error(error, state)


def _token(optional: bool) -> str | None:
    """Return the request's bearer token; ``None`` for an anonymous request to an optional view."""
    values = request.headers.getlist("Authorization")
    try:
        return extract_bearer(values)
    except MissingTokenError:
        if not optional:
            raise
        request.environ[_CLAIMS] = None  # no bearer credentials (perhaps another scheme): anonymous
        return None


def _accept(validator: Validator, claims: Claims, scopes: tuple[str, ...]) -> None:
    validator.require_scopes(claims, *scopes)
    request.environ[_CLAIMS] = claims


def get_claims() -> Claims | None:
    """Return the current request's claims, or ``None`` for an anonymous request to an optional view.

    Raises:
        RuntimeError: outside a request to a view decorated by ``require`` or ``optional``.
    """
    if not has_request_context() or _CLAIMS not in request.environ:
        raise RuntimeError("no jwtguard claims: not inside a request to a view protected by @guard.require")
    claims: Claims | None = request.environ[_CLAIMS]
    return claims


def _current_claims() -> Claims:
    claims = get_claims()
    if claims is None:
        raise RuntimeError("no token was sent to this optional view: use get_claims(), which returns None")
    return claims


#: The current request's :class:`~jwtguard.Claims` (a werkzeug ``LocalProxy``). Raises
#: ``RuntimeError`` outside a protected request, or when an optional view got no token.
current_claims: Claims = cast(Claims, LocalProxy(_current_claims))
