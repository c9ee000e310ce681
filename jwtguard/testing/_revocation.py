"""The local issuer's revocation (RFC 7009) and introspection (RFC 7662) endpoints.

Theory of operation. The issuer's access tokens are JWTs it signed, or, with
``access_token_format="opaque"``, random strings whose claims it keeps
(:class:`OpaqueTokens`, by SHA-256, never the token itself). Either kind is
*active* while it is the issuer's own (a published key verifies it, or it is
recorded), unexpired, and not revoked. Revocation is recorded two ways:

* an access token: its ``jti`` (until its ``exp``);
* a refresh token: its whole family (:mod:`jwtguard.testing._refresh`), and
  the user's *session*: every token of the subject issued before now — the
  effect of a logout, which :meth:`TokenState.logout` also has.

With a :class:`~jwtguard.stores.Store`, each revocation is published to it
(``revoke_token(jti, expires_at=exp)``, ``revoke_subject(sub, issued_before=now)``),
so that APIs whose validators share the store refuse those access tokens
within their ``store_sync_interval``, though the tokens have not expired.

``POST /oauth/revoke`` takes ``token`` and an optional ``token_type_hint``
and answers 200 whether or not the token was known (RFC 7009 §2.2), except
for client errors: client authentication fails (401 ``invalid_client``), no
``token`` (400 ``invalid_request``), or a token issued to another client (400
``invalid_request``, as oidc-provider answers). ``POST /oauth/introspect``
needs a confidential client and answers ``{"active": false}`` for any token
that is unknown, expired, revoked, or not an access or refresh token (an ID
token). Neither endpoint ever says why a token is inactive.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .._algorithms import SPECS
from .._jose import parse
from .._keys import KeySet
from ..errors import AuthError
from ..stores import Store, StoreUnavailableError
from ._protocol import NO_STORE, OAuthError, invalid_client, parse_form
from ._refresh import RefreshTokens
from ._server import Request, Response

__all__ = ["OpaqueTokens", "TokenState"]

_PRUNE_EVERY = 256
_HINTS = ("access_token", "refresh_token")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class OpaqueTokens:
    """Opaque access tokens: random strings standing for claims the issuer keeps (by digest)."""

    def __init__(self) -> None:
        self._claims: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._issued = 0

    def issue(self, claims: Mapping[str, Any], now: float) -> str:
        """Return a new opaque token standing for ``claims``."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._issued += 1
            if self._issued % _PRUNE_EVERY == 0:  # forget expired tokens: a long-running issuer stays small
                self._claims = {k: c for k, c in self._claims.items() if _number(c.get("exp")) > now}
            self._claims[_digest(token)] = dict(claims)
        return token

    def claims(self, token: str) -> dict[str, Any] | None:
        """The claims ``token`` stands for, or ``None``."""
        with self._lock:
            found = self._claims.get(_digest(token))
        return None if found is None else dict(found)


class TokenState:
    """Revocations and introspection for one :class:`~jwtguard.testing.LocalIssuer`.

    Args:
        issuer: returns the issuer identifier (known once the server listens).
        jwks: returns the JWKS the issuer publishes (its tokens verify with it).
        refresh_tokens: the issuer's refresh tokens.
        opaque: the issuer's opaque access tokens.
        authenticate: client authentication, as the token endpoint does it:
            ``(form, authorization) -> client`` or :class:`OAuthError`.
        clock: the issuer's clock.
        store: where revocations are published (``None``: nowhere).
    """

    def __init__(
        self,
        *,
        issuer: Callable[[], str],
        jwks: Callable[[], Mapping[str, Any]],
        refresh_tokens: RefreshTokens,
        opaque: OpaqueTokens,
        authenticate: Callable[[Mapping[str, str], str | None], Any],
        clock: Callable[[], float],
        store: Store | None = None,
    ) -> None:
        if store is not None and not isinstance(store, Store):
            raise ValueError("store must be a jwtguard.stores.Store (MemoryStore, RedisStore …)")
        self._issuer = issuer
        self._jwks = jwks
        self._refresh_tokens = refresh_tokens
        self._opaque = opaque
        self._authenticate = authenticate
        self.clock = clock
        self.store = store
        self._lock = threading.Lock()
        self._revoked_jtis: dict[str, float] = {}  # jti -> exp
        self._logged_out: dict[str, float] = {}  # sub -> every token issued before this is revoked

    # -- what a token is --------------------------------------------------------------

    def _signed_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a JWT this issuer signed with a key it still publishes, else ``None``."""
        try:
            parsed = parse(token, 64 * 1024)
        except AuthError:
            return None
        alg, kid = parsed.header.get("alg"), parsed.header.get("kid")
        spec = SPECS.get(alg) if isinstance(alg, str) else None
        if spec is None or spec.symmetric or not (kid is None or isinstance(kid, str)):
            return None
        try:
            key = KeySet(self._jwks(), [spec.name]).find(kid, spec)
        except (AuthError, ValueError):
            return None
        if not key.verify(spec, parsed.signing_input, parsed.signature):
            return None
        return parsed.payload if parsed.payload.get("iss") == self._issuer() else None

    def access_token_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of an access token of this issuer (revoked or expired ones included), else ``None``.

        ID tokens (no ``jti``) are not access tokens.
        """
        claims = self._opaque.claims(token)
        if claims is None:
            claims = self._signed_claims(token)
        return claims if claims is not None and isinstance(claims.get("jti"), str) else None

    def _live(self, claims: Mapping[str, Any], now: float) -> bool:
        if not _number(claims.get("exp")) > now:
            return False
        with self._lock:
            if claims.get("jti") in self._revoked_jtis:
                return False
            before = self._logged_out.get(claims.get("sub"))  # type: ignore[arg-type]
        return before is None or _number(claims.get("iat")) >= before

    # -- RFC 7662 --------------------------------------------------------------------

    def introspect(self, token: str, hint: str | None = None) -> dict[str, Any]:
        """The RFC 7662 §2.2 answer for ``token``: ``{"active": False}`` unless it is live."""
        now = self.clock()
        lookups = (self._introspect_access, self._introspect_refresh)
        for lookup in reversed(lookups) if hint == "refresh_token" else lookups:
            answer = lookup(token, now)
            if answer is not None:
                return answer
        return {"active": False}

    def _introspect_access(self, token: str, now: float) -> dict[str, Any] | None:
        claims = self.access_token_claims(token)
        if claims is None:
            return None
        if not self._live(claims, now):
            return {"active": False}
        bound = isinstance(claims.get("cnf"), Mapping) and "jkt" in claims["cnf"]
        client_id = claims.get("client_id", claims.get("azp"))
        return {**claims, "active": True, "client_id": client_id, "token_type": "DPoP" if bound else "Bearer"}

    def _introspect_refresh(self, token: str, now: float) -> dict[str, Any] | None:
        info = self._refresh_tokens.find(token, now)
        if info is None:
            return None
        grant = info.grant
        if not info.active:
            return {"active": False}
        with self._lock:
            before = self._logged_out.get(grant.subject)
        if before is not None and info.issued_at < before:
            return {"active": False}
        # No aud and no token_type: a refresh token is for the token endpoint, never for an API.
        return {
            "active": True,
            "scope": " ".join(grant.scopes),
            "client_id": grant.client_id,
            "sub": grant.subject,
            "exp": int(info.expires_at),
            "iat": int(info.issued_at),
            "iss": self._issuer(),
        }

    # -- RFC 7009 --------------------------------------------------------------------

    def revoke(self, token: str, hint: str | None = None, *, client_id: str | None = None) -> bool:
        """Revoke ``token`` (an access or refresh token of this issuer); return whether it was known.

        With ``client_id``, a token issued to another client is refused.

        Raises:
            OAuthError: ``invalid_request`` for another client's token; ``temporarily_unavailable``
                (503) when the store could not be told (the issuer's own records are updated).
        """
        now = self.clock()
        kinds = (self._revoke_access, self._revoke_refresh)
        ordered = reversed(kinds) if hint == "refresh_token" else kinds
        return any(revoke(token, client_id, now) for revoke in ordered)

    def _revoke_access(self, token: str, client_id: str | None, now: float) -> bool:
        claims = self.access_token_claims(token)
        if claims is None:
            return False
        if client_id is not None and claims.get("client_id", claims.get("azp")) != client_id:
            raise _not_yours()
        exp = _number(claims.get("exp"))
        if exp > now:  # an expired token needs no revocation
            with self._lock:
                self._revoked_jtis = {jti: until for jti, until in self._revoked_jtis.items() if until > now}
                self._revoked_jtis[claims["jti"]] = exp
            self._publish(lambda store: store.revoke_token(claims["jti"], expires_at=exp))
        return True

    def _revoke_refresh(self, token: str, client_id: str | None, now: float) -> bool:
        info = self._refresh_tokens.find(token, now)
        if info is None:
            return False
        if client_id is not None and info.grant.client_id != client_id:
            raise _not_yours()
        self._refresh_tokens.revoke(token)
        self._end_session(info.grant.subject, now)
        return True

    def logout(self, subject: str) -> None:
        """Log ``subject`` out everywhere: every refresh token revoked, every access token issued until now.

        Raises:
            OAuthError: ``temporarily_unavailable`` when the store could not be told.
        """
        self._refresh_tokens.revoke_subject(subject)
        self._end_session(subject, self.clock())

    def _end_session(self, subject: str, now: float) -> None:
        with self._lock:
            self._logged_out[subject] = max(now, self._logged_out.get(subject, now))
        self._publish(lambda store: store.revoke_subject(subject, issued_before=now))

    def _publish(self, write: Callable[[Store], None]) -> None:
        if self.store is None:
            return
        try:
            write(self.store)
        except StoreUnavailableError:
            raise OAuthError("temporarily_unavailable", "The revocation could not be published", 503) from None

    # -- HTTP ------------------------------------------------------------------------

    def handle_revoke(self, request: Request) -> Response:
        """Answer one HTTP request to the revocation endpoint (RFC 7009 §2)."""
        return self._handle(request, self._revoke_request, "revocation")

    def handle_introspect(self, request: Request) -> Response:
        """Answer one HTTP request to the introspection endpoint (RFC 7662 §2)."""
        return self._handle(request, self._introspect_request, "introspection")

    def _handle(
        self, request: Request, run: Callable[[Mapping[str, str], str | None], dict[str, Any]], name: str
    ) -> Response:
        if request.method != "POST":
            error = OAuthError("invalid_request", f"The {name} endpoint accepts only POST").response()
            return Response(405, error.body, {**error.headers, "Allow": "POST"})
        try:
            body = run(parse_form(request), request.header("authorization"))
        except OAuthError as error:
            return error.response()
        return Response(200, body, dict(NO_STORE))

    def _request_token(self, form: Mapping[str, str], authorization: str | None) -> tuple[Any, str, str | None]:
        client = self._authenticate(form, authorization)
        token = form.get("token")
        if token is None:
            raise OAuthError("invalid_request", "The token parameter is missing")
        hint = form.get("token_type_hint")
        return client, token, hint if hint in _HINTS else None  # RFC 7009 §2.1: an unknown hint is ignored

    def _revoke_request(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        client, token, hint = self._request_token(form, authorization)
        self.revoke(token, hint, client_id=client.client_id)
        return {}

    def _introspect_request(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        client, token, hint = self._request_token(form, authorization)
        if client.client_secret is None:  # RFC 7662 §2.1: the caller must be authorized; a public client is not
            raise invalid_client()
        return self.introspect(token, hint)


def _not_yours() -> OAuthError:
    return OAuthError("invalid_request", "The token was issued to another client")


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return float("-inf")
    return float(value)
