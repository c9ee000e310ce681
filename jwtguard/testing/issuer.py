"""An in-process OpenID issuer on 127.0.0.1: discovery, JWKS, key rotation, token, revocation and introspection.

For tests and local development only: it signs whatever it is asked to, and its
token endpoint (:mod:`jwtguard.testing.oauth`) knows only test clients and users.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..stores import Store
from ..validator import Validator
from ._revocation import TokenState
from ._server import LocalServer, Request, Response
from .keys import SigningKey
from .oauth import GRANT_TYPES, OIDC_SCOPES, LocalClient, LocalUser, OAuthServer
from .tokens import TokenFactory

__all__ = ["LocalIssuer"]

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/jwks.json"
TOKEN_PATH = "/oauth/token"
REVOCATION_PATH = "/oauth/revoke"
INTROSPECTION_PATH = "/oauth/introspect"


class LocalIssuer:
    """A real HTTP issuer on a free loopback port, usable as a context manager.

    >>> with LocalIssuer(audience="https://api.test") as issuer:
    ...     validator = issuer.validator()
    ...     claims = validator.validate(issuer.token(scope="read:messages"))
    >>> sorted(claims.scopes)
    ['read:messages']

    It also answers ``POST /oauth/token`` (see :mod:`jwtguard.testing.oauth`):

    >>> with LocalIssuer() as issuer:
    ...     tokens = issuer.login(scope="openid offline_access read:messages")
    >>> sorted(tokens)
    ['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type']

    and revokes (RFC 7009) and introspects (RFC 7662) its tokens, publishing
    revocations to a :mod:`jwtguard.stores` store that APIs share:

    >>> from jwtguard.stores import MemoryStore
    >>> store = MemoryStore()
    >>> with LocalIssuer(store=store) as issuer:
    ...     tokens = issuer.login()
    ...     issuer.introspect(tokens["access_token"])["active"]
    ...     issuer.revoke(tokens["refresh_token"])       # logs the user out: a subject revocation
    ...     issuer.introspect(tokens["access_token"])["active"]
    True
    True
    False
    >>> list(store.revocations().subjects)
    ['user-123']

    Args:
        algorithm: the algorithm of the first signing key.
        audience: the default ``aud`` of minted tokens (and of :meth:`validator`).
        clock: the time tokens are minted at (share it with the validator in tests).
        port: the port to bind (0: a free one).
        access_token_lifetime: seconds an access token lives (also :meth:`token`'s default).
        id_token_lifetime: seconds an ID token lives.
        refresh_token_lifetime: seconds a refresh token lives (default 30 days).
        refresh_token_rotation: ``"none"``, ``"rotate"`` (default) or ``"rotate-sliding"``.
        access_token_type: the ``typ`` header of access tokens: ``"JWT"`` or ``"at+jwt"``.
        clients: the registered clients (default: ``test-client`` / ``test-secret``).
        users: the registered users (default: ``test-user`` / ``test-password``).
        access_token_format: ``"jwt"`` (default) or ``"opaque"``: random strings whose
            claims only the introspection endpoint tells (for APIs that introspect).
        store: a :class:`~jwtguard.stores.Store` to publish revocations to: revoking an access
            token calls ``store.revoke_token(jti, expires_at=exp)``; revoking a refresh token or
            :meth:`logout` calls ``store.revoke_subject(sub, issued_before=now)``.

    Raises:
        ValueError: an unknown algorithm, rotation mode or token format, a lifetime that is
            not > 0, a ``store`` that is not a :class:`~jwtguard.stores.Store`.
    """

    def __init__(
        self,
        *,
        algorithm: str = "RS256",
        audience: str = "https://api.example.test",
        clock: Callable[[], float] = time.time,
        port: int = 0,
        access_token_lifetime: float = 3600,
        id_token_lifetime: float = 3600,
        refresh_token_lifetime: float = 30 * 86400,
        refresh_token_rotation: str = "rotate",
        access_token_type: str = "JWT",
        clients: Iterable[LocalClient] | None = None,
        users: Iterable[LocalUser] | None = None,
        access_token_format: str = "jwt",
        store: Store | None = None,
    ) -> None:
        self.audience = audience
        self.clock = clock
        self.server = LocalServer(port=port)
        self._lock = threading.Lock()
        self.signing_key = SigningKey.generate(algorithm)
        self._published: dict[str, SigningKey] = {self.signing_key.kid: self.signing_key}
        self.oauth = OAuthServer(
            factory=self.factory,
            audience=audience,
            clock=lambda: self.clock(),
            access_token_lifetime=access_token_lifetime,
            id_token_lifetime=id_token_lifetime,
            refresh_token_lifetime=refresh_token_lifetime,
            refresh_token_rotation=refresh_token_rotation,
            access_token_type=access_token_type,
            clients=clients,
            users=users,
            access_token_format=access_token_format,
        )
        self.tokens = TokenState(
            issuer=lambda: self.issuer,
            jwks=self.jwks,
            refresh_tokens=self.oauth.refresh_tokens,
            opaque=self.oauth.opaque_tokens,
            authenticate=self.oauth.authenticate_client,
            clock=lambda: self.clock(),
            store=store,
        )
        self.server.route(DISCOVERY_PATH, self._discovery, "GET")
        self.server.route(JWKS_PATH, self._jwks, "GET")
        self.server.route(TOKEN_PATH, self.oauth.handle)
        self.server.route(REVOCATION_PATH, self.tokens.handle_revoke)
        self.server.route(INTROSPECTION_PATH, self.tokens.handle_introspect)

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> LocalIssuer:
        """Start serving; return ``self``."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()

    def __enter__(self) -> LocalIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what it serves -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's base URL (no trailing slash)."""
        return self.server.url

    @property
    def issuer(self) -> str:
        """The issuer identifier, with a trailing slash as Auth0 writes it."""
        return self.server.url + "/"

    @property
    def jwks_uri(self) -> str:
        """The URL of the JWKS."""
        return self.server.url + JWKS_PATH

    @property
    def token_endpoint(self) -> str:
        """The URL of the OAuth 2.0 token endpoint (``POST``, form-encoded)."""
        return self.server.url + TOKEN_PATH

    @property
    def revocation_endpoint(self) -> str:
        """The URL of the RFC 7009 revocation endpoint (``POST``, form-encoded)."""
        return self.server.url + REVOCATION_PATH

    @property
    def introspection_endpoint(self) -> str:
        """The URL of the RFC 7662 introspection endpoint (``POST``, form-encoded)."""
        return self.server.url + INTROSPECTION_PATH

    def discovery_document(self) -> dict[str, Any]:
        """The OIDC discovery document this issuer serves."""
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "id_token_signing_alg_values_supported": sorted({k.alg for k in self.keys}),
            "token_endpoint": self.token_endpoint,
            "grant_types_supported": list(GRANT_TYPES),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint": self.revocation_endpoint,
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint": self.introspection_endpoint,
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": sorted(OIDC_SCOPES),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
        }

    def _discovery(self, request: Request) -> Response:
        return Response(200, self.discovery_document())

    def _jwks(self, request: Request) -> Response:
        return Response(200, self.jwks(), {"Cache-Control": "max-age=600"})

    def jwks(self) -> dict[str, Any]:
        """The JWKS document currently published."""
        return {"keys": [key.jwk for key in self.keys]}

    @property
    def keys(self) -> list[SigningKey]:
        """The keys currently published."""
        with self._lock:
            return list(self._published.values())

    @property
    def jwks_fetches(self) -> int:
        """How many times the JWKS was requested."""
        return self.server.hits[JWKS_PATH]

    @property
    def discovery_fetches(self) -> int:
        """How many times the discovery document was requested."""
        return self.server.hits[DISCOVERY_PATH]

    @property
    def token_requests(self) -> int:
        """How many requests the token endpoint received."""
        return self.server.hits[TOKEN_PATH]

    @property
    def revocation_requests(self) -> int:
        """How many requests the revocation endpoint received."""
        return self.server.hits[REVOCATION_PATH]

    @property
    def introspection_requests(self) -> int:
        """How many requests the introspection endpoint received."""
        return self.server.hits[INTROSPECTION_PATH]

    # -- keys ---------------------------------------------------------------------

    def rotate(self, algorithm: str | None = None, kid: str | None = None) -> SigningKey:
        """Publish a new key and sign with it from now on; the old keys stay published."""
        key = SigningKey.generate(algorithm or self.signing_key.alg, kid)
        with self._lock:
            self._published[key.kid] = key
            self.signing_key = key
        return key

    def retire(self, kid: str) -> None:
        """Stop publishing the key ``kid`` (tokens it signed stop validating once caches refresh)."""
        with self._lock:
            self._published.pop(kid, None)

    # -- tokens -------------------------------------------------------------------

    def factory(self, **options: Any) -> TokenFactory:
        """A :class:`TokenFactory` for this issuer, signing with the current key.

        ``options`` are :class:`TokenFactory` arguments (``audience``,
        ``subject``, ``client_id``, ``lifetime``, ``token_type`` …); the
        lifetime and ``typ`` default to the issuer's access-token settings.
        """
        options.setdefault("key", self.signing_key)
        options.setdefault("clock", self.clock)
        options.setdefault("lifetime", self.oauth.access_token_lifetime)
        options.setdefault("token_type", self.oauth.access_token_type)
        return TokenFactory(self.issuer, options.pop("audience", self.audience), **options)

    def token(self, **claims: Any) -> str:
        """Mint an access token with the current key (see :meth:`TokenFactory.mint`).

        >>> with LocalIssuer() as issuer:
        ...     token = issuer.token(scope="read:messages", expires_in=-60)   # expired a minute ago
        """
        return self.factory().mint(**claims)

    def opaque_token(self, **claims: Any) -> str:
        """Mint an opaque access token (what :meth:`token` would sign, kept by the issuer instead).

        Only the introspection endpoint tells its claims. Same arguments as :meth:`token`
        but ``headers`` and ``key``.
        """
        factory = self.factory()
        signed = factory.mint(**claims)
        return self.oauth.opaque_tokens.issue(TokenFactory.claims_of(signed), self.clock())

    # -- revocation and introspection (also over HTTP) ---------------------------------

    def revoke(self, token: str, token_type_hint: str | None = None) -> bool:
        """Revoke an access token (by its ``jti``) or a refresh token (its family, and the user's session).

        What ``POST /oauth/revoke`` does, without client authentication; returns
        whether the token was known. Revocations are published to ``store``.

        Raises:
            OAuthError: ``temporarily_unavailable`` when the store could not be told.
        """
        return self.tokens.revoke(token, token_type_hint)

    def logout(self, subject: str = "user-123") -> None:
        """Log ``subject`` out: revoke every refresh token, and every access token issued until now.

        Raises:
            OAuthError: ``temporarily_unavailable`` when the store could not be told.
        """
        self.tokens.logout(subject)

    def introspect(self, token: str, token_type_hint: str | None = None) -> dict[str, Any]:
        """What ``POST /oauth/introspect`` answers for ``token`` (RFC 7662 §2.2)."""
        return self.tokens.introspect(token, token_type_hint)

    def login(
        self,
        user: str | LocalUser = "test-user",
        *,
        client_id: str = "test-client",
        scope: str | None = None,
        audience: str | None = None,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        """Log a user in without HTTP: the token response of the ``password`` grant.

        The scope defaults to ``openid profile email offline_access`` (ID,
        access and refresh tokens); ``openid`` brings the ID token and
        ``offline_access`` the refresh token. ``user`` is a registered
        username, a :class:`LocalUser` or any name (then the ``sub``).
        See :meth:`jwtguard.testing.oauth.OAuthServer.login`.
        """
        return self.oauth.login(user, client_id=client_id, scope=scope, audience=audience, nonce=nonce)

    def validator(self, *, audience: str | Sequence[str] | None = None, **options: Any) -> Validator:
        """A :class:`~jwtguard.Validator` wired to this issuer (discovery over loopback HTTP).

        With a test clock (``LocalIssuer(clock=…)``), that clock also drives the
        validator's key-cache ``timer``: advancing it ages cached keys too.
        """
        options.setdefault("algorithms", sorted({key.alg for key in self.keys}))
        options.setdefault("clock", self.clock)
        if self.clock is not time.time:
            options.setdefault("timer", self.clock)
        return Validator(issuer=self.issuer, audience=audience or self.audience, **options)
