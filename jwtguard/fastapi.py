"""FastAPI: a security dependency that returns the token's :class:`~jwtguard.Claims` (or your model).

``Security(JWTBearer(validator), scopes=[...])`` reads the request the way
every jwtguard adapter does — method, the URL the client used (``public_url``,
trusted proxies), headers, the TLS client certificate — and checks it with
:meth:`jwtguard.Validator.aauthenticate`, so DPoP- and certificate-bound tokens
work; the scopes FastAPI collects in :class:`~fastapi.security.SecurityScopes`
are checked with :meth:`jwtguard.Validator.authorize` (one
:class:`~jwtguard.Requirement` per distinct set, built on first use).
``bearer.require(...)`` gives a dependency for any-of scopes, roles and step-up,
its ``Requirement`` built when the route is defined.

The OpenAPI schema shows an HTTP bearer scheme and, when given the issuer's
endpoints (or after :meth:`JWTBearer.adiscover`), an OAuth2 scheme whose flows
Swagger UI can run. FastAPI lists one security scheme per dependency, so the
OAuth2 scheme (and the scopes of ``require``) hang on no-op sub-dependencies:
the instance's ``__signature__`` names them.

Failures leave the dependency as :class:`JWTBearerError`, an ``HTTPException``
carrying the right status and ``WWW-Authenticate`` / ``DPoP-Nonce`` /
``Retry-After`` headers. The dependency yields, so an :class:`~jwtguard.AuthError`
the endpoint raises is thrown back into it and leaves as a ``JWTBearerError``
too, never a 500. FastAPI's own handler answers ``{"detail": description}``;
:func:`install_error_handler` gives the contract's ``{"error", "error_description"}``.
"""

from __future__ import annotations

from ._extras import require

# ruff: noqa: E402 - the imports below follow this check on purpose
require("fastapi", "fastapi", "jwtguard.fastapi needs FastAPI")

import asyncio
import dataclasses
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Generic, cast
from urllib.parse import urlsplit

from fastapi import Request, Security
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.openapi.models import OAuthFlowAuthorizationCode, OAuthFlowClientCredentials, OAuthFlows
from fastapi.openapi.models import SecurityBase as SecuritySchemeModel
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import Response
from typing_extensions import TypeVar

from . import _http
from ._config import scope_tokens
from ._guard import CLAIMS_KEY, OPTIONAL, REQUIRED, VALIDATOR_KEY, Guard
from .claims import Claims
from .errors import AuthError, ConfigurationError, InvalidTokenError
from .requirement import Requirement
from .resource_metadata import ProtectedResourceMetadata
from .responses import ErrorResponse, error_response
from .validator import Validator

__all__ = ["JWTBearer", "JWTBearerError", "install_error_handler"]

logger = logging.getLogger("jwtguard")

#: What the dependency yields: :class:`~jwtguard.Claims`, or the ``claims_model`` given.
ClaimsT = TypeVar("ClaimsT", default=Claims)

_WHERE = "jwtguard.fastapi.JWTBearer"
_FLOWS = ("authorization_code", "client_credentials")
_MAX_CACHED_REQUIREMENTS = 256  # distinct scope sets: bounded by the app's routes


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


class _Scheme(SecurityBase):
    """A security scheme for the OpenAPI schema only: a no-op dependency."""

    def __init__(self, model: SecuritySchemeModel, scheme_name: str) -> None:
        self.model = model
        self.scheme_name = scheme_name

    async def __call__(self) -> None:
        return None


def _signature(markers: Iterable[tuple[str, _Scheme, tuple[str, ...]]]) -> inspect.Signature:
    """``(request, security_scopes, *, <name>=Security(scheme, scopes=...) ...)``, as FastAPI reads it."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    return inspect.Signature(
        [
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
            inspect.Parameter("security_scopes", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=SecurityScopes),
            *(inspect.Parameter(n, keyword, default=Security(s, scopes=list(sc))) for n, s, sc in markers),
        ]
    )


def _request_url(request: Request, guard: Guard) -> str:
    """The URL the client used: scheme, host (``Host`` or the server), root path + path; see ``Guard.url``."""
    scope = request.scope
    host = request.headers.get("host")
    if not host:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    root: str = scope.get("root_path", "")
    path: str = scope.get("path", "")
    path = path if root and path.startswith(root) else root + path  # ASGI servers differ on root_path
    peer = request.client.host if request.client else None
    return guard.url(scheme=scope.get("scheme", "http"), host=host, path=path, peer=peer, header=request.headers.get)


def _certificate(request: Request, guard: Guard) -> bytes | str | None:
    """The first certificate of the ASGI TLS extension's ``client_cert_chain``, or a trusted proxy's header."""
    tls = (request.scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") if isinstance(tls, Mapping) else None
    first = chain[0] if isinstance(chain, (list, tuple)) and chain else None
    peer = request.client.host if request.client else None
    return guard.certificate(tls=first, peer=peer, header=request.headers.get)


def _check_url(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or not ((parts.scheme in ("http", "https") and parts.netloc) or value.startswith("/")):
        raise ConfigurationError(f"{_WHERE}: {what} must be an http(s) URL or an absolute path")
    return value


class _Converter:
    """Claims → ``claims_model`` (a pydantic model or a dataclass), validated by pydantic."""

    def __init__(self, model: type[Any]) -> None:
        from pydantic import BaseModel

        if not isinstance(model, type) or not (issubclass(model, BaseModel) or dataclasses.is_dataclass(model)):
            raise ConfigurationError(f"{_WHERE}: claims_model must be a pydantic BaseModel or a dataclass")
        try:
            from pydantic import TypeAdapter

            self.adapter: Any = TypeAdapter(model)
        except Exception as error:  # pydantic v1, or a model pydantic cannot build a schema for
            raise ConfigurationError(f"{_WHERE}: claims_model {model.__name__} cannot be validated: {error}") from None
        if issubclass(model, BaseModel):
            fields = model.model_fields
            self.names = set(fields) | {f.alias for f in fields.values() if f.alias}
        else:
            self.names = {f.name for f in dataclasses.fields(model)}

    def __call__(self, claims: Claims) -> Any:
        from pydantic import ValidationError

        try:
            return self.adapter.validate_python(dict(claims))
        except (ValidationError, TypeError, ValueError) as error:
            where = error.errors()[0]["loc"] if isinstance(error, ValidationError) and error.errors() else ()
            # Only a name the model declares: an extra claim's name is the client's text.
            claim = where[0] if where and where[0] in self.names else None
            raise InvalidTokenError("invalid_claim", claim=claim, reason="claims_model") from None


class JWTBearer(SecurityBase, Generic[ClaimsT]):
    """A FastAPI dependency that yields the validated :class:`~jwtguard.Claims` (or ``claims_model``).

    Use it as ``Security(JWTBearer(validator), scopes=["read:messages"])`` (every scope
    required, listed in the OpenAPI schema), ``Depends(JWTBearer(validator))`` (any
    valid token) or ``Depends(bearer.require(...))`` (any-of scopes, roles, step-up).

    Args:
        validator: the :class:`~jwtguard.Validator` to check tokens with.
        realm: the ``realm`` of ``WWW-Authenticate`` challenges.
        auto_error: with ``False``, a request without credentials gets ``None``
            instead of a 401 (an invalid token is still refused).
        resource_metadata: RFC 9728 metadata whose URL the challenges name.
        scheme_name: the HTTP bearer scheme's name in the OpenAPI schema.
        description: the HTTP bearer scheme's description in the OpenAPI schema.
        public_url: the scheme, host and base path clients use (a DPoP proof's ``htu``).
        trusted_proxies: peers whose ``Forwarded`` / ``X-Forwarded-*`` headers are believed.
        client_cert_header: where a trusted proxy puts the client certificate (RFC 9440 ``Client-Cert``).
        claims_model: a pydantic model or dataclass: the dependency yields ``claims_model``
            validated from the claims; claims that do not fit are a 401 ``invalid_token``.
        authorization_url, token_url, refresh_url: the issuer's OAuth 2.0 endpoints, for an
            OAuth2 scheme in the OpenAPI schema (Swagger UI's "Authorize").
        scopes: the scopes Swagger UI offers, name → description.
        flows: ``"authorization_code"`` and/or ``"client_credentials"`` (default: the first
            with ``authorization_url``, else the second); URLs not given are filled by
            :meth:`adiscover`.
        oauth2_scheme_name: the OAuth2 scheme's name in the OpenAPI schema.

    Raises:
        ConfigurationError: at construction: ``validator`` not a :class:`~jwtguard.Validator`,
            a bad ``public_url`` / ``trusted_proxies`` / ``client_cert_header``, an unknown flow,
            a bad URL or scope name, a ``claims_model`` that is neither a model nor a dataclass.
        JWTBearerError: from the dependency: 400, 401, 403 or 503 with the challenge headers;
            also for an ``AuthError`` raised by the endpoint.
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
        public_url: str | None = None,
        trusted_proxies: Iterable[str] = (),
        client_cert_header: str | None = None,
        claims_model: type[ClaimsT] | None = None,
        authorization_url: str | None = None,
        token_url: str | None = None,
        refresh_url: str | None = None,
        scopes: Mapping[str, str] | None = None,
        flows: Iterable[str] | None = None,
        oauth2_scheme_name: str = "OAuth2",
    ) -> None:
        self.guard = Guard(
            where=_WHERE,
            validator=validator,
            realm=realm,
            resource_metadata=resource_metadata,
            public_url=public_url,
            trusted_proxies=trusted_proxies,
            client_cert_header=client_cert_header,
        )
        self.validator = self.guard.validator
        self.realm = realm
        self.auto_error = auto_error
        self.resource_metadata = resource_metadata
        self.model = HTTPBearerModel(bearerFormat="JWT", description=description)
        self.scheme_name = scheme_name or type(self).__name__
        self._convert = None if claims_model is None else _Converter(claims_model)
        self._requirements: dict[tuple[str, ...], Requirement] = {}
        self._bearer_scheme = _Scheme(self.model, self.scheme_name)
        self._urls = {
            "authorization_url": _check_url(authorization_url, "authorization_url"),
            "token_url": _check_url(token_url, "token_url"),
            "refresh_url": _check_url(refresh_url, "refresh_url"),
        }
        self._scopes = self._check_scopes(scopes)
        self._flows = self._check_flows(flows)
        self.oauth2: _Scheme | None = None
        if self._flows:
            self.oauth2 = _Scheme(self._oauth2_model(), oauth2_scheme_name)
        self.__signature__ = _signature(self._markers(()))

    # -- set-up ---------------------------------------------------------------------

    def _check_scopes(self, scopes: Mapping[str, str] | None) -> dict[str, str]:
        if scopes is None:
            return {}
        if not isinstance(scopes, Mapping) or not all(isinstance(text, str) for text in scopes.values()):
            raise ConfigurationError(f"{_WHERE}: scopes must map each scope to its description")
        names = scope_tokens(tuple(scopes), f"{_WHERE}: scopes")
        return {name: scopes[name] for name in names}

    def _check_flows(self, flows: Iterable[str] | None) -> tuple[str, ...]:
        urls = self._urls
        if flows is None:
            flows = ("authorization_code",) if urls["authorization_url"] else ()
            flows = flows or (("client_credentials",) if urls["token_url"] else ())
        chosen = (flows,) if isinstance(flows, str) else tuple(flows)
        unknown = [flow for flow in chosen if flow not in _FLOWS]
        if unknown:
            raise ConfigurationError(f"{_WHERE}: flows must be among {list(_FLOWS)}, not {unknown!r}")
        if urls["authorization_url"] and "authorization_code" not in chosen:
            raise ConfigurationError(f"{_WHERE}: authorization_url is only for the authorization_code flow")
        if (self._scopes or urls["refresh_url"]) and not chosen:
            raise ConfigurationError(f"{_WHERE}: scopes and refresh_url describe an OAuth2 scheme: give its URLs")
        return tuple(dict.fromkeys(chosen))

    def _oauth2_model(self) -> OAuth2Model:
        """The OAuth2 scheme with every flow whose URLs are known (yet)."""
        authorization, token = self._urls["authorization_url"], self._urls["token_url"]
        common: dict[str, Any] = {"scopes": self._scopes, "refreshUrl": self._urls["refresh_url"]}
        flows = OAuthFlows(
            authorizationCode=OAuthFlowAuthorizationCode(authorizationUrl=authorization, tokenUrl=token, **common)
            if "authorization_code" in self._flows and authorization and token
            else None,
            clientCredentials=OAuthFlowClientCredentials(tokenUrl=token, **common)
            if "client_credentials" in self._flows and token
            else None,
        )
        return OAuth2Model(flows=flows)

    def _markers(self, scopes: tuple[str, ...]) -> list[tuple[str, _Scheme, tuple[str, ...]]]:
        return [("jwtguard_oauth2", self.oauth2, scopes)] if self.oauth2 is not None else []

    async def adiscover(self, issuer: str | None = None) -> bool:
        """Fill the OAuth2 URLs not given from the issuer's OIDC discovery document (call at start-up).

        Explicit URLs win. Call it before the schema is first served (in a lifespan):
        FastAPI caches the schema. Returns whether the document was read; an outage
        or a document naming another issuer is logged and leaves the scheme as it was.

        Raises:
            ConfigurationError: no OAuth2 scheme was asked for, or ``issuer`` is not one of the
                validator's (needed when it has several).
        """
        if self.oauth2 is None:
            raise ConfigurationError(f"{_WHERE}.adiscover: give flows= (or the URLs) for an OAuth2 scheme first")
        issuers = self.validator.issuers
        if issuer is None and len(issuers) != 1:
            raise ConfigurationError(f"{_WHERE}.adiscover: name the issuer, one of {list(issuers)}")
        issuer = issuer if issuer is not None else issuers[0]
        if issuer not in issuers:
            raise ConfigurationError(f"{_WHERE}.adiscover: {issuer!r} is not one of the validator's issuers")
        options = self.validator.options
        settings = _http.HttpSettings(options.timeout, options.max_response_size, options.allow_insecure_http)
        url = _http.check_url(issuer.rstrip("/") + "/.well-known/openid-configuration", settings, "issuer")
        try:
            document = await asyncio.to_thread(_http.get_json, url, settings)
        except _http.FetchError as error:
            logger.warning("jwtguard: OAuth2 endpoints not discovered: %s", error.reason)
            return False
        if not isinstance(document, dict) or document.get("issuer") != issuer:  # OIDC Discovery §4.3
            logger.warning("jwtguard: OAuth2 endpoints not discovered: discovery_issuer_mismatch")
            return False
        for name, field in (("authorization_url", "authorization_endpoint"), ("token_url", "token_endpoint")):
            found = document.get(field)
            if self._urls[name] is None and isinstance(found, str) and urlsplit(found).scheme in ("http", "https"):
                self._urls[name] = found
        self.oauth2.model = self._oauth2_model()
        return True

    def swagger_ui_init_oauth(self, client_id: str, **extra: Any) -> dict[str, Any]:
        """``FastAPI(swagger_ui_init_oauth=...)``: Swagger UI's OAuth2 client, PKCE on, our scopes preselected.

        ``extra`` adds Swagger UI ``initOAuth`` options, e.g.
        ``additionalQueryStringParams={"audience": "https://api.example.com"}`` for Auth0.
        """
        return {
            "clientId": client_id,
            "usePkceWithAuthorizationCodeGrant": True,
            "scopes": " ".join(self._scopes),
        } | extra

    def require(
        self,
        scopes: Iterable[str] = (),
        *,
        any_of: bool = False,
        roles: Iterable[str] = (),
        roles_any_of: bool = False,
        acr_values: Iterable[str] = (),
        max_age: float | None = None,
    ) -> Callable[..., AsyncIterator[ClaimsT]]:
        """A dependency for ``Depends(...)`` / ``Security(...)`` checking a :class:`~jwtguard.Requirement`.

        Built now, so a bad value is a ``ConfigurationError`` when the app is defined.
        ``scopes`` are listed in the OpenAPI schema (all of them, also with ``any_of``:
        OpenAPI has no "one of" for one scheme). A request without a token is refused
        even when ``auto_error=False``.

        Raises:
            ConfigurationError: see :meth:`jwtguard.Requirement.of`.
        """
        try:
            needed = Requirement.of(
                scopes, any_of=any_of, roles=roles, roles_any_of=roles_any_of, acr_values=acr_values, max_age=max_age
            )
        except ConfigurationError as error:
            raise ConfigurationError(f"{_WHERE}.require: {error}") from None

        async def dependency(request: Request, security_scopes: SecurityScopes, **_: None) -> AsyncIterator[ClaimsT]:
            value = await self._resolve(request, security_scopes.scopes, needed)
            try:
                yield cast(ClaimsT, value)
            except AuthError as error:  # raised by the endpoint: answered, not a 500
                raise self._http_error(error) from error

        markers = [("jwtguard_bearer", self._bearer_scheme, needed.scopes), *self._markers(needed.scopes)]
        dependency.__signature__ = _signature(markers)  # type: ignore[attr-defined]
        return dependency

    # -- per request ------------------------------------------------------------------

    async def __call__(
        self, request: Request, security_scopes: SecurityScopes, **_: None
    ) -> AsyncIterator[ClaimsT | None]:
        value = await self._resolve(request, security_scopes.scopes, None)
        try:
            yield value
        except AuthError as error:  # raised by the endpoint: answered, not a 500
            raise self._http_error(error) from error

    async def _resolve(self, request: Request, scopes: list[str], needed: Requirement | None) -> ClaimsT | None:
        requirement = self._requirement(scopes)  # first: a bad scope fails every request, not only valid ones
        try:
            claims = await self._claims(request)
            if claims is not None or self.auto_error or needed is not None:
                claims = self.guard.authorize(claims, requirement)
                if needed is not None:
                    claims = self.guard.authorize(claims, needed)
            if claims is None or self._convert is None:
                return cast("ClaimsT | None", claims)
            try:
                return cast(ClaimsT, self._convert(claims))
            except AuthError as error:
                raise self.guard.refused(error) from None  # to the hooks and the log, like every refusal
        except AuthError as error:
            raise self._http_error(error) from None

    def _requirement(self, scopes: list[str]) -> Requirement:
        """The requirement of ``Security(..., scopes=...)``, built once per distinct set.

        Raises:
            ConfigurationError: a scope that is not an RFC 6749 scope-token (a 500 naming it,
                on every request that reaches it; ``require()`` refuses it at definition).
        """
        key = tuple(scopes)
        found = self._requirements.get(key)
        if found is None:
            try:
                found = Requirement.of(key)
            except ConfigurationError as error:
                raise ConfigurationError(f"{_WHERE}: Security(..., scopes={list(key)!r}): {error}") from None
            if len(self._requirements) < _MAX_CACHED_REQUIREMENTS:
                self._requirements[key] = found
        return found

    async def _claims(self, request: Request) -> Claims | None:
        scope = request.scope
        claims = scope.get(CLAIMS_KEY)
        # Reuse only what this very validator accepted (JWTGuardMiddleware, or another
        # JWTBearer of the same validator): another validator may check less.
        if isinstance(claims, Claims) and scope.get(VALIDATOR_KEY) is self.validator:
            return claims
        route = REQUIRED if self.auto_error else OPTIONAL
        guard = self.guard
        url, certificate = _request_url(request, guard), _certificate(request, guard)
        claims = await guard.aauthenticate(request.method, url, request.headers.raw, route, certificate)
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
