"""Pure ASGI middleware: bearer-token protection for Starlette, FastAPI or any ASGI app.

Theory of operation: for each ``http`` request (and ``websocket`` handshake when
``protect_websockets=True``) the middleware reads the request from the raw scope —
its headers, the URL the client used and the TLS client certificate (ASGI TLS
extension), both through the guard's :class:`~jwtguard._origin.Origin` policy —
checks it with ``await validator.aauthenticate(...)`` and leaves the
:class:`~jwtguard.Claims` in ``scope["jwtguard.claims"]``, ``scope["auth"]`` and
(as a :class:`TokenUser`) ``scope["user"]``, which is where Starlette's
``request.auth``, ``request.user`` and ``@requires(...)`` look, and the validator
in ``scope["jwtguard.validator"]`` for :func:`jwtguard.starlette.requires`.
Lifespan scopes, and websockets unless asked for, pass through untouched. An
:class:`~jwtguard.AuthError`, raised here or by the endpoint before the response
starts, is answered by :func:`jwtguard.responses.error_response`; a 500 the app
sends (Starlette's ``ServerErrorMiddleware`` does, then re-raises) is held back
until the app is done, so that an ``AuthError`` behind it is still answered. Nothing here
imports Starlette.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any, Protocol

from ._guard import ANONYMOUS, CLAIMS_KEY, METADATA, REQUIRED, VALIDATOR_KEY, Guard
from ._origin import Header
from .bearer import is_preflight
from .claims import Claims
from .errors import AuthError, MissingTokenError
from .resource_metadata import ProtectedResourceMetadata
from .validator import Validator

__all__ = ["CLAIMS_KEY", "AnonymousCredentials", "AnonymousUser", "JWTGuardMiddleware", "TokenUser", "get_claims"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The most TokenUser objects kept for reuse (each keeps its claims alive).
_USERS = 4096
# Messages after which an error can no longer be answered.
_STARTED = {"http.response.start", "websocket.accept", "websocket.close", "websocket.http.response.start"}


class TokenUser:
    """``request.user`` for a valid token; its identity is the token's ``sub``.

    Read-only: the middleware hands the same one to the requests of a cached token.
    """

    __slots__ = ("_claims",)
    _claims: Claims
    is_authenticated = True

    def __init__(self, claims: Claims) -> None:
        object.__setattr__(self, "_claims", claims)

    @property
    def claims(self) -> Claims:
        """The validated claims."""
        return self._claims

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("TokenUser is read-only")

    @property
    def identity(self) -> str:
        return self.claims.subject or ""

    @property
    def display_name(self) -> str:
        return self.identity


class AnonymousUser:
    """``request.user`` on an excluded or optional-auth path without a token."""

    is_authenticated = False
    identity = display_name = ""


class AnonymousCredentials:
    """``request.auth`` without a token: no scopes, so ``@requires(...)`` refuses."""

    scopes: frozenset[str] = frozenset()


class _Connection(Protocol):
    @property
    def scope(self) -> Mapping[str, Any]: ...


def get_claims(conn: _Connection | Mapping[str, Any]) -> Claims:
    """Return the claims the middleware validated, from a Starlette request/websocket or a raw scope.

    Raises:
        MissingTokenError: the request carried no validated token (a 401 when it reaches the middleware).
    """
    try:
        claims = conn.scope.get(CLAIMS_KEY)  # type: ignore[union-attr]  # a request or websocket
    except AttributeError:
        try:
            claims = conn.get(CLAIMS_KEY)  # type: ignore[union-attr]  # a raw scope
        except (AttributeError, TypeError):
            claims = None
    except TypeError:
        claims = None
    if type(claims) is not Claims and not isinstance(claims, Claims):
        raise MissingTokenError()
    return claims


def _header(scope: Scope) -> Header:
    """Look a request header up by lower-case name (repeated ones joined with ``", "``, RFC 9110 §5.3)."""

    def lookup(name: str) -> str | None:
        values = []
        for item in scope.get("headers", ()):
            try:
                found, value = _text(item[0]), _text(item[1])
            except (TypeError, IndexError):
                continue  # a broken server's odd header: never a 500 (Authorization is judged by the policy)
            if found.lower() == name:
                values.append(value)
        return ", ".join(values) if values else None

    return lookup


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")  # ASGI header bytes are octets
    raise TypeError("not a header")


def _request_url(guard: Guard, scope: Scope, header: Header) -> str:
    """The URL the client used (no query): the server's view, or what ``public_url``/trusted proxies say."""
    host = header("host")
    if host is None:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    path = f"{scope.get('root_path', '')}{_route_path(scope)}"
    return guard.url(scheme=str(scope.get("scheme", "http")), host=host, path=path, peer=_peer(scope), header=header)


def _peer(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def _tls_certificate(scope: Scope) -> str | None:
    """The client certificate the server saw: ASGI TLS extension, first PEM of ``client_cert_chain``."""
    tls = (scope.get("extensions") or {}).get("tls")
    chain = tls.get("client_cert_chain") if isinstance(tls, Mapping) else None
    if not chain or isinstance(chain, (str, bytes)):
        return None
    first = next(iter(chain), None)
    return first if isinstance(first, str) and first else None


def _is_preflight(scope: Scope) -> bool:
    names = {bytes(item[0]).decode("latin-1").lower(): "" for item in scope.get("headers", ())}
    return is_preflight("OPTIONS", names)


def _set_anonymous(scope: Scope) -> None:
    scope[CLAIMS_KEY] = None
    scope.setdefault("auth", AnonymousCredentials())  # keep what an outer auth middleware set
    scope.setdefault("user", AnonymousUser())


def _route_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class JWTGuardMiddleware:
    """Require a valid bearer token on every HTTP request (and websocket when asked) of ``app``.

    Args:
        app: any ASGI application.
        validator: the :class:`~jwtguard.Validator` to check tokens with.
        realm: the ``realm`` of ``WWW-Authenticate`` challenges.
        exclude_paths: paths served without any check (``"/health"``; ``"/docs/*"`` for a subtree).
        optional_paths: paths where a token is optional: claims when valid, anonymous when
            absent, still an error when invalid. Same syntax as ``exclude_paths``.
        resource_metadata: RFC 9728 metadata, served (GET) at its ``path`` and named in challenges.
        protect_websockets: check websocket handshakes too; a failure denies the handshake
            with the HTTP error when the server supports it, else closes with code 1008.
        protect_preflight: challenge CORS preflight requests too (by default they pass through).
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
        app: ASGIApp,
        *,
        validator: Validator,
        realm: str | None = None,
        exclude_paths: Iterable[str] = (),
        optional_paths: Iterable[str] = (),
        resource_metadata: ProtectedResourceMetadata | None = None,
        protect_websockets: bool = False,
        protect_preflight: bool = False,
        public_url: str | None = None,
        trusted_proxies: Iterable[str] = (),
        client_cert_header: str | None = None,
    ) -> None:
        self.app = app
        self.guard = Guard(
            where="jwtguard.asgi.JWTGuardMiddleware",
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
        self.protect_websockets = protect_websockets
        # id(claims) -> its TokenUser, which holds the claims: an id is not reused while its entry lives.
        self._users: dict[int, TokenUser] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and (kind != "websocket" or not self.protect_websockets):
            await self.app(scope, receive, send)
            return
        method = scope.get("method")
        guard = self.guard
        if guard.plain and method != "OPTIONS":
            route = REQUIRED  # nothing excluded, optional or served here: skip the path
        else:
            route = guard.route(_route_path(scope), method, method == "OPTIONS" and _is_preflight(scope))
        if route is METADATA:
            meta = self.guard.resource_metadata
            assert meta is not None
            await self._send_http(scope, send, 200, [(b"content-type", b"application/json")], meta.body())
            return
        started = False
        # Wrapped around a whole Starlette or FastAPI app, its ServerErrorMiddleware answers an
        # endpoint's AuthError with a 500 and then re-raises it: a 500 is held back until the app
        # is done, discarded if an AuthError follows, sent unchanged otherwise.
        held: list[Message] = []

        # A plain function handing back send's own awaitable: no coroutine frame of its own per message.
        def guarded_send(message: Message) -> Awaitable[None]:
            nonlocal started
            if started:  # nothing is held once the response started
                return send(message)
            if held:
                held.append(message)
                return _nothing()
            kind = message["type"]
            if kind == "http.response.start" and message.get("status") == 500:
                held.append(message)
                return _nothing()
            started = kind in _STARTED
            return send(message)

        try:
            claims = None
            validator = self.validator
            users = self._users
            if route is not ANONYMOUS:
                # A repeated plain bearer token is answered from the validator's index, unparsed.
                # Several Authorization headers (in any case) are the full policy's to refuse.
                authorization = None
                try:
                    for name, value in scope["headers"]:
                        if len(name) == 13 and (name == b"authorization" or name.lower() == b"authorization"):
                            authorization = value if authorization is None else b""
                except (KeyError, TypeError, ValueError):
                    authorization = b""  # odd headers: the full policy answers
                if type(authorization) is not bytes or not authorization:
                    authorization = None
                else:
                    claims = validator._fast_path(authorization)
                if claims is None:
                    header = _header(scope)
                    url = _request_url(self.guard, scope, header)
                    certificate = self.guard.certificate(tls=_tls_certificate(scope), peer=_peer(scope), header=header)
                    headers = scope.get("headers", ())
                    claims = await self.guard.aauthenticate(str(method), url, headers, route, certificate)
                    if authorization is not None:
                        validator._learn(authorization, claims)
            # Route-level checks (jwtguard.starlette.requires) authorize with this validator.
            scope[VALIDATOR_KEY] = validator
            if claims is None:
                _set_anonymous(scope)
            else:
                scope[CLAIMS_KEY] = scope["auth"] = claims
                user = users.get(id(claims))  # a cached token's requests share one (read-only) user
                if user is None or user._claims is not claims:
                    if len(users) >= _USERS:
                        users.clear()
                    user = users[id(claims)] = TokenUser(claims)
                scope["user"] = user
            await self.app(scope, receive, guarded_send)
        except AuthError as exc:
            if started:
                raise
            await self._deny(scope, send, exc)  # a held 500 is dropped
            return
        except Exception:
            await _flush(held, send)
            raise
        if held:
            await _flush(held, send)

    async def _deny(self, scope: Scope, send: Send, error: AuthError) -> None:
        """Send the answer to ``error``: an HTTP error response, or a websocket handshake denial."""
        answer = self.guard.answer(error)
        headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers]
        if scope["type"] == "http":
            await self._send_http(scope, send, answer.status, headers, answer.body)
        elif "websocket.http.response" in scope.get("extensions", {}):
            headers.append((b"content-length", str(len(answer.body)).encode()))
            await send({"type": "websocket.http.response.start", "status": answer.status, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": answer.body})
        else:
            await send({"type": "websocket.close", "code": 1008})  # policy violation (RFC 6455 §7.4.1)

    @staticmethod
    async def _send_http(
        scope: Scope, send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})


async def _nothing() -> None:
    """An awaitable that does nothing (a message held back)."""


async def _flush(held: list[Message], send: Send) -> None:
    for message in held:
        await send(message)
    held.clear()
