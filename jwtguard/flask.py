"""Flask extension: ``@guard.require(*scopes)`` on views, ``current_claims`` inside them.

``JWTGuard(app)`` or ``JWTGuard()`` + ``guard.init_app(app)`` (app factories). Its
state, the app's :class:`~jwtguard._guard.Guard`, lives in ``app.extensions["jwtguard"]``;
without ``validator=``, the validator is built from the app's ``JWTGUARD_*`` keys
by :func:`jwtguard.settings.read_settings`. Requests are checked by
:meth:`~jwtguard.Validator.authenticate`, with the URL the client used and its
certificate as the guard's one policy finds them behind proxies (``public_url``,
``trusted_proxies``, ``client_cert_header``), and the views' requirements (scopes,
roles, step-up) by :meth:`~jwtguard.Validator.authorize`; errors are werkzeug ``HTTPException``
subclasses, so ``app.errorhandler`` can restyle them.
"""

from __future__ import annotations

from ._extras import require

# ruff: noqa: E402 - the imports below follow this check on purpose
require("flask", "flask", "jwtguard.flask needs Flask")

import functools
import inspect
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, has_request_context, request
from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, ServiceUnavailable, Unauthorized
from werkzeug.local import LocalProxy

try:  # one context look-up per request instead of two proxies (Flask >= 2.2)
    from flask.globals import _cv_request
except ImportError:  # pragma: no cover - older Flask
    _cv_request = None  # type: ignore[assignment]

from ._guard import OPTIONAL, REQUIRED, Guard, Route, check_validator
from ._request import Headers, only_authorization
from .claims import Claims
from .errors import AuthError, ConfigurationError
from .requirement import Requirement
from .resource_metadata import ProtectedResourceMetadata
from .responses import ErrorResponse
from .settings import ADAPTER_KEYS, read_settings, validator_from_settings
from .validator import Validator

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
_PREFIX = "JWTGUARD_"
_WHERE = "app.config"
# The adapter settings Flask reads; any other JWTGUARD_* key that names no Validator option is an error.
_FLASK_KEYS: Mapping[str, str] = {
    name: ADAPTER_KEYS[name]
    for name in ("REALM", "RESOURCE_METADATA", "PUBLIC_URL", "TRUSTED_PROXIES", "CLIENT_CERT_HEADER")
}
# Per request, not in ``g``: an app context pushed by a test or CLI outlives its requests.
_CLAIMS = "jwtguard.flask.claims"
_MISSING: Any = object()
# The claims of the protected view running in this context (also in the environ, for code
# after the view, such as a streamed body): what current_claims reads first.
_VIEW_CLAIMS: ContextVar[Claims | None] = ContextVar("jwtguard.flask.claims")


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


def _metadata(value: Any) -> ProtectedResourceMetadata | None:
    if isinstance(value, Mapping):
        try:
            return ProtectedResourceMetadata(**value)
        except (TypeError, ConfigurationError) as exc:
            raise ConfigurationError(f"{_WHERE}: JWTGUARD_RESOURCE_METADATA: {exc}") from None
    if value is not None and not isinstance(value, ProtectedResourceMetadata):
        raise ConfigurationError(f"{_WHERE}: JWTGUARD_RESOURCE_METADATA must be a ProtectedResourceMetadata or a dict")
    return value


class JWTGuard:
    """Protects Flask views with bearer tokens.

    Args:
        app: the application (or call :meth:`init_app` later).
        validator: validates the tokens; default: built from ``app.config["JWTGUARD_*"]``
            (every :class:`~jwtguard.Validator` option: ``JWTGUARD_ISSUER``,
            ``JWTGUARD_AUDIENCE``, ``JWTGUARD_JWKS``, ``JWTGUARD_MAX_TOKEN_AGE`` …).
        realm: the challenges' ``realm``; default ``app.config["JWTGUARD_REALM"]``.
        resource_metadata: RFC 9728 metadata, served at its ``path`` and announced in challenges;
            default ``app.config["JWTGUARD_RESOURCE_METADATA"]`` (an instance or a dict).
        public_url: the scheme, host and base path clients call (``"https://api.example.com"``),
            for the URL a DPoP proof names behind a proxy; default ``JWTGUARD_PUBLIC_URL``.
        trusted_proxies: IP addresses or networks whose ``Forwarded`` / ``X-Forwarded-*`` headers
            (and ``client_cert_header``) are believed; default ``JWTGUARD_TRUSTED_PROXIES``.
        client_cert_header: the header in which a trusted TLS-terminating proxy forwards the
            client certificate (``"Client-Cert"``, RFC 9440; ``"X-SSL-Client-Cert"``, nginx);
            default ``JWTGUARD_CLIENT_CERT_HEADER``.

    Raises:
        ConfigurationError: ``validator`` is not a :class:`~jwtguard.Validator` (here); from
            :meth:`init_app`: an unknown ``JWTGUARD_*`` key, no ``validator=`` and no issuer or
            audience, any invalid option, or a view registered without its protection.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        validator: Validator | None = None,
        realm: str | None = None,
        resource_metadata: ProtectedResourceMetadata | None = None,
        public_url: str | None = None,
        trusted_proxies: Iterable[str] | None = None,
        client_cert_header: str | None = None,
    ) -> None:
        self._validator = None if validator is None else check_validator(validator, "jwtguard.flask.JWTGuard")
        self._realm = realm
        self._resource_metadata = resource_metadata
        self._origin: dict[str, Any] = {
            "PUBLIC_URL": public_url,
            "TRUSTED_PROXIES": trusted_proxies,
            "CLIENT_CERT_HEADER": client_cert_header,
        }
        self._apps: weakref.WeakSet[Flask] = weakref.WeakSet()
        self._originals: dict[int, Callable[..., Any]] = {}  # the views this guard wrapped, by id
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register with ``app``: read its ``JWTGUARD_*`` config, build its guard, serve the metadata.

        Raises:
            ConfigurationError: see the class.
        """
        values = {key[len(_PREFIX) :]: value for key, value in app.config.items() if key.startswith(_PREFIX)}
        _, settings = read_settings(values, where=_WHERE, adapter_keys=_FLASK_KEYS)
        validator = self._validator
        if validator is None:
            try:
                validator = validator_from_settings(values, where=_WHERE)
            except ConfigurationError as exc:
                raise ConfigurationError(
                    f"JWTGuard: {exc} (without validator=, set JWTGUARD_ISSUER and JWTGUARD_AUDIENCE)"
                ) from exc
        guard = Guard(
            where="jwtguard.flask.JWTGuard",
            validator=validator,
            realm=self._realm if self._realm is not None else settings.get("REALM"),
            resource_metadata=self._resource_metadata or _metadata(settings.get("RESOURCE_METADATA")),
            # The arguments win over the app's config, key by key.
            public_url=_given(self._origin, settings, "PUBLIC_URL"),
            trusted_proxies=_given(self._origin, settings, "TRUSTED_PROXIES") or (),
            client_cert_header=_given(self._origin, settings, "CLIENT_CERT_HEADER"),
        )
        for endpoint, view in app.view_functions.items():
            if self._originals.get(id(view)) is view:
                raise _unprotected(getattr(view, "__name__", endpoint))
        app.extensions["jwtguard"] = guard
        self._apps.add(app)
        app.register_error_handler(AuthError, _render_auth_error)
        meta = guard.resource_metadata
        if meta is not None:
            body = meta.body()
            app.add_url_rule(
                meta.path, "jwtguard_resource_metadata", lambda: Response(body, mimetype="application/json")
            )

    def require(
        self,
        *scopes: str,
        any_of: bool = False,
        roles: Iterable[str] = (),
        roles_any_of: bool = False,
        acr_values: Iterable[str] = (),
        max_age: float | None = None,
    ) -> Callable[[F], F]:
        """Decorate a view (sync or ``async``) to require a valid token carrying every one of ``scopes``.

        Place it below ``@app.get(...)``. The view's :class:`~jwtguard.Requirement`
        is built here, when the module is imported:

        * ``any_of=True``: one of ``scopes`` suffices;
        * ``roles``: every one of these roles (``claims.roles``), or one with ``roles_any_of=True``;
        * ``acr_values``, ``max_age``: RFC 9470 step-up — the token's ``acr`` must be one of
          ``acr_values`` and its ``auth_time`` at most ``max_age`` seconds old, else a 401
          ``insufficient_user_authentication`` that tells the client what to ask for.

        Raises:
            ConfigurationError: a bad scope, role or acr value, ``any_of`` without scopes, a
                negative ``max_age`` (here), or a view the app already registered unprotected
                (``@guard.require`` above ``@app.get``).
            AuthHTTPError: as the response: 400, 401, 403 or 503.
        """
        requirement = _requirement(scopes, any_of, roles, roles_any_of, acr_values, max_age)
        return self._decorator(requirement, REQUIRED)

    def optional(
        self,
        *scopes: str,
        any_of: bool = False,
        roles: Iterable[str] = (),
        roles_any_of: bool = False,
        acr_values: Iterable[str] = (),
        max_age: float | None = None,
    ) -> Callable[[F], F]:
        """Like :meth:`require`, but a request without bearer credentials is let in anonymously.

        :func:`get_claims` is then ``None``; a bad token, or one that does not meet the
        requirement, is still rejected.
        """
        requirement = _requirement(scopes, any_of, roles, roles_any_of, acr_values, max_age)
        return self._decorator(requirement, OPTIONAL)

    def _decorator(self, requirement: Requirement, route: Route) -> Callable[[F], F]:
        def decorate(view: F) -> F:
            if any(registered is view for app in self._apps for registered in app.view_functions.values()):
                raise _unprotected(getattr(view, "__name__", repr(view)))
            self._originals[id(view)] = view
            if inspect.iscoroutinefunction(view):

                @functools.wraps(view)
                async def async_view(*args: Any, **kwargs: Any) -> Any:
                    with _rejecting() as guard:
                        environ = request.environ
                        authorization = only_authorization(environ)
                        claims = None if authorization is None else guard.validator._fast_path(authorization)
                        if claims is None:
                            method, url, headers, certificate = _request_parts(guard)
                            claims = await guard.aauthenticate(method, url, headers, route, certificate)
                            if authorization is not None:
                                guard.validator._learn(authorization, claims)
                        _accept(guard, claims, requirement, route, environ)
                    token = _VIEW_CLAIMS.set(claims)
                    try:
                        return await view(*args, **kwargs)
                    finally:
                        _VIEW_CLAIMS.reset(token)

                return cast(F, async_view)

            @functools.wraps(view)
            def sync_view(*args: Any, **kwargs: Any) -> Any:
                guard, environ = _guard_and_environ()
                try:
                    # A repeated plain bearer token is answered from the validator's index, unparsed.
                    authorization = only_authorization(environ)
                    claims = None if authorization is None else guard.validator._fast_path(authorization)
                    if claims is None:
                        method, url, headers, certificate = _request_parts(guard)
                        claims = guard.authenticate(method, url, headers, route, certificate)
                        if authorization is not None:
                            guard.validator._learn(authorization, claims)
                    _accept(guard, claims, requirement, route, environ)
                except AuthError as error:
                    raise _http_error(error, guard) from error
                token = _VIEW_CLAIMS.set(claims)
                try:
                    return view(*args, **kwargs)
                finally:
                    _VIEW_CLAIMS.reset(token)

            return cast(F, sync_view)

        return decorate


def _requirement(
    scopes: tuple[str, ...],
    any_of: bool,
    roles: Iterable[str],
    roles_any_of: bool,
    acr_values: Iterable[str],
    max_age: float | None,
) -> Requirement:
    if not all(isinstance(scope, str) for scope in scopes):
        raise TypeError("scopes must be strings: write @guard.require() or @guard.require('scope')")
    return Requirement.of(
        scopes, any_of=any_of, roles=roles, roles_any_of=roles_any_of, acr_values=acr_values, max_age=max_age
    )


def _given(arguments: Mapping[str, Any], settings: Mapping[str, Any], key: str) -> Any:
    value = arguments[key]
    return settings.get(key) if value is None else value


def _unprotected(name: str) -> ConfigurationError:
    return ConfigurationError(
        f"view {name!r} is registered with the app without its protection: "
        "put @guard.require(...) / @guard.optional(...) below @app.route(...), not above it"
    )


# -- per request: what the sync and async views share ----------------------------------------


def _guard() -> Guard:
    """The current app's guard."""
    guard = current_app.extensions.get("jwtguard")
    if not isinstance(guard, Guard):
        raise RuntimeError("JWTGuard is not registered on this app: call JWTGuard(app) or guard.init_app(app)")
    return guard


def _guard_and_environ() -> tuple[Guard, dict[str, Any]]:
    """The current app's guard and the request's WSGI environ, with one context look-up when Flask allows."""
    ctx = _cv_request.get(None) if _cv_request is not None else None
    if ctx is None:
        return _guard(), request.environ
    guard = ctx.app.extensions.get("jwtguard")
    if not isinstance(guard, Guard):
        return _guard(), request.environ
    return guard, ctx.request.environ


@contextmanager
def _rejecting() -> Iterator[Guard]:
    """Yield the app's guard; turn an :class:`~jwtguard.AuthError` into its :class:`AuthHTTPError`."""
    guard = _guard()
    try:
        yield guard
    except AuthError as error:
        raise _http_error(error, guard) from error


def _request_parts(guard: Guard) -> tuple[str, str, Headers, bytes | str | None]:
    """What the policy reads of the current request: method, the URL the client used, headers, certificate.

    The URL and the certificate go through the guard's one policy (``public_url``,
    trusted proxies' headers); the certificate is the server's ``SSL_CLIENT_CERT``
    (mod_wsgi, gunicorn with ``--cert-reqs``) when it has one.
    """
    peer = request.remote_addr
    header = request.headers.get
    url = guard.url(
        scheme=request.scheme, host=request.host, path=request.script_root + request.path, peer=peer, header=header
    )
    certificate = guard.certificate(tls=request.environ.get("SSL_CLIENT_CERT"), peer=peer, header=header)
    return request.method, url, request.headers, certificate


def _accept(
    guard: Guard, claims: Claims | None, requirement: Requirement, route: Route, environ: dict[str, Any]
) -> None:
    """Check the view's requirement (not for an anonymous request to an optional view); keep the claims."""
    if claims is not None or route is not OPTIONAL:
        claims = guard.authorize(claims, requirement)
    environ[_CLAIMS] = claims


def _http_error(error: AuthError, guard: Guard) -> AuthHTTPError:
    answer = guard.answer(error)
    return _BY_STATUS.get(answer.status, AuthHTTPError)(error, answer)


def _render_auth_error(error: AuthError) -> AuthHTTPError:
    """An ``AuthError`` raised by a view (``validator.require_scopes(...)``) gets its own answer, not a 500."""
    guard: Guard = current_app.extensions["jwtguard"]
    return _http_error(error, guard)


def get_claims() -> Claims | None:
    """Return the current request's claims, or ``None`` for an anonymous request to an optional view.

    Raises:
        RuntimeError: outside a request to a view decorated by ``require`` or ``optional``.
    """
    environ = request.environ if has_request_context() else {}
    claims: Any = environ.get(_CLAIMS, _MISSING)
    if claims is _MISSING:
        raise RuntimeError("no jwtguard claims: not inside a request to a view protected by @guard.require")
    return claims  # type: ignore[no-any-return]


def _current_claims() -> Claims:
    claims: Claims | None = _VIEW_CLAIMS.get(_MISSING)  # set around the protected view itself: no proxy to resolve
    if claims is _MISSING:
        claims = get_claims()
    if claims is None:
        raise RuntimeError("no token was sent to this optional view: use get_claims(), which returns None")
    return claims


#: The current request's :class:`~jwtguard.Claims` (a werkzeug ``LocalProxy``). Raises
#: ``RuntimeError`` outside a protected request, or when an optional view got no token.
current_claims: Claims = cast(Claims, LocalProxy(_current_claims))
