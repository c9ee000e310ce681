"""Plain WSGI middleware (PEP 3333): bearer-token protection for Flask, Django or any WSGI app.

Theory of operation: for each request the middleware reads ``HTTP_AUTHORIZATION``
and ``HTTP_DPOP``, the URL the client used and the TLS client certificate
(``SSL_CLIENT_CERT``), both through the guard's :class:`~jwtguard._origin.Origin`
policy, checks them with ``validator.authenticate(...)`` and leaves the
:class:`~jwtguard.Claims` in ``environ["jwtguard.claims"]`` (``None`` when the
request was let in without a token) and the validator in
``environ["jwtguard.validator"]``. An :class:`~jwtguard.AuthError`, raised here
or by the wrapped app when it is called, is answered by
:func:`jwtguard.responses.error_response`. Nothing here imports a web framework.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from http import HTTPStatus
from types import TracebackType
from typing import Any, TypeAlias

from ._guard import ANONYMOUS, CLAIMS_KEY, METADATA, REQUIRED, VALIDATOR_KEY, Guard
from ._origin import Header
from ._request import only_authorization
from .claims import Claims
from .errors import AuthError, MissingTokenError
from .resource_metadata import ProtectedResourceMetadata
from .validator import Validator

__all__ = ["CLAIMS_KEY", "JWTGuardMiddleware", "get_claims"]

Environ: TypeAlias = dict[str, Any]
ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType]
StartResponse: TypeAlias = Callable[..., Callable[[bytes], object]]
WSGIApp: TypeAlias = Callable[[Environ, StartResponse], Iterable[bytes]]


def get_claims(environ: Environ) -> Claims:
    """Return the claims the middleware validated for this request.

    Raises:
        MissingTokenError: the request carried no validated token (the middleware answers 401).
    """
    claims = environ.get(CLAIMS_KEY)
    if not isinstance(claims, Claims):
        raise MissingTokenError()
    return claims


def _headers(environ: Environ) -> list[tuple[str, Any]]:
    # The server has joined repeated headers with "," (PEP 3333); the policy splits a second token,
    # and a second DPoP proof (a JWT has no commas) is a second header (RFC 9449 §4.3: exactly one).
    headers: list[tuple[str, Any]] = []
    if "HTTP_AUTHORIZATION" in environ:
        headers.append(("authorization", environ["HTTP_AUTHORIZATION"]))
    proofs = environ.get("HTTP_DPOP")
    if isinstance(proofs, str):
        headers.extend(("dpop", proof.strip()) for proof in proofs.split(","))
    elif proofs is not None:
        headers.append(("dpop", proofs))  # not text: the policy refuses it as malformed, never a 500
    return headers


def _header(environ: Environ) -> Header:
    """Look a request header up by lower-case name (``HTTP_<NAME>``, as PEP 3333 names them)."""

    def lookup(name: str) -> str | None:
        value = environ.get("HTTP_" + name.upper().replace("-", "_"))
        return value if isinstance(value, str) else None

    return lookup


def _request_url(guard: Guard, environ: Environ, header: Header) -> str:
    """The URL the client used (PEP 3333 "URL reconstruction", no query), through the guard's policy."""
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    host = header("host") or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    path = f"{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}"
    return guard.url(scheme=scheme, host=host, path=path, peer=_peer(environ), header=header)


def _peer(environ: Environ) -> str | None:
    peer = environ.get("REMOTE_ADDR")
    return peer if isinstance(peer, str) and peer else None


def _tls_certificate(environ: Environ) -> str | None:
    """The client certificate the server saw: ``SSL_CLIENT_CERT`` (PEM; mod_ssl, werkzeug's server)."""
    certificate = environ.get("SSL_CLIENT_CERT")
    return certificate if isinstance(certificate, str) and certificate.strip() else None


class JWTGuardMiddleware:
    """Require a valid bearer token on every request to ``app``.

    Args:
        app: any WSGI application (``flask_app.wsgi_app``, Django's WSGI handler …).
        validator: the :class:`~jwtguard.Validator` to check requests with (``authenticate``).
        realm: the ``realm`` of ``WWW-Authenticate`` challenges.
        exclude_paths: paths served without any check (``"/health"``; ``"/docs/*"`` for a subtree).
            Matched against ``PATH_INFO``, the path below the app's mount point.
        optional_paths: paths where a token is optional: claims when valid, ``None`` when no
            bearer credentials are sent, still an error when invalid. Same syntax as ``exclude_paths``.
        resource_metadata: RFC 9728 metadata, served (GET) at its ``path`` and named in challenges.
        protect_preflight: challenge CORS preflight requests too (by default they pass through:
            browsers never send credentials on them).
        public_url: the scheme, host and base path clients use (``"https://api.example.com"``): the
            URL a DPoP proof must name, when a proxy in front changes it.
        trusted_proxies: addresses or networks of proxies whose ``Forwarded`` / ``X-Forwarded-*``
            (and ``client_cert_header``) headers are believed; from any other peer they are ignored.
        client_cert_header: the header a trusted TLS-terminating proxy puts the client certificate
            in (``"Client-Cert"``, RFC 9440, or nginx's ``"X-SSL-Client-Cert"``); needs ``trusted_proxies``.

    Raises:
        ConfigurationError: a bad option (validator, paths, ``public_url``, ``trusted_proxies`` …).
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        validator: Validator,
        realm: str | None = None,
        exclude_paths: Iterable[str] = (),
        optional_paths: Iterable[str] = (),
        resource_metadata: ProtectedResourceMetadata | None = None,
        protect_preflight: bool = False,
        public_url: str | None = None,
        trusted_proxies: Iterable[str] = (),
        client_cert_header: str | None = None,
    ) -> None:
        self.app = app
        self.guard = Guard(
            where="jwtguard.wsgi.JWTGuardMiddleware",
            validator=validator,
            realm=realm,
            exclude_paths=exclude_paths,
            optional_paths=optional_paths,
            resource_metadata=resource_metadata,
            protect_preflight=protect_preflight,
            public_url=public_url,
            trusted_proxies=trusted_proxies,
            client_cert_header=client_cert_header,
        )
        self.validator = self.guard.validator

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if self.guard.plain and method != "OPTIONS":
            route = REQUIRED  # nothing excluded, optional or served here: skip the path
        else:
            preflight = method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
            route = self.guard.route(environ.get("PATH_INFO") or "/", method, preflight)
        if route is METADATA:
            meta = self.guard.resource_metadata
            assert meta is not None
            return self._send(start_response, 200, [("Content-Type", "application/json")], meta.body(), method)
        validator = self.validator
        try:
            claims = None
            if route is not ANONYMOUS:
                # A repeated plain bearer token is answered from the validator's index, unparsed.
                authorization = only_authorization(environ)
                if authorization is not None:
                    claims = validator._fast_path(authorization)
                if claims is None:
                    header = _header(environ)
                    url = _request_url(self.guard, environ, header)
                    certificate = self.guard.certificate(
                        tls=_tls_certificate(environ), peer=_peer(environ), header=header
                    )
                    claims = self.guard.authenticate(str(method), url, _headers(environ), route, certificate)
                    if authorization is not None:
                        validator._learn(authorization, claims)
            environ[CLAIMS_KEY] = claims
            environ[VALIDATOR_KEY] = validator  # for the app's own validator.authorize(...)
        except AuthError as error:
            return self._deny(start_response, error, method)
        started = False

        def tracking(status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None) -> Any:
            nonlocal started
            started = True
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, tracking)
        except AuthError as error:
            # Nothing is sent before the body is iterated, so the app's own start_response can
            # still be replaced: PEP 3333 asks for exc_info then (the server re-raises if too late).
            return self._deny(start_response, error, method, started)

    def _deny(self, start_response: StartResponse, error: AuthError, method: Any, replace: bool = False) -> list[bytes]:
        answer = self.guard.answer(error)
        return self._send(start_response, answer.status, list(answer.headers), answer.body, method, replace)

    @staticmethod
    def _send(
        start_response: StartResponse,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        method: Any,
        replace: bool = False,
    ) -> list[bytes]:
        headers = [*headers, ("Content-Length", str(len(body)))]
        status_line = f"{status} {HTTPStatus(status).phrase}"
        if replace:
            start_response(status_line, headers, sys.exc_info())
        else:
            start_response(status_line, headers)
        return [] if method == "HEAD" else [body]
