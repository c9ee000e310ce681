"""The local issuer's token endpoint: ``POST /oauth/token`` (RFC 6749), for development and CI.

**Not for production.** It exists so that tests, demos and local development
can run the whole token flow with no external service. It keeps everything
in memory, its users and secrets are test fixtures, and it offers the
``password`` grant, which real deployments should not use (RFC 9700 §2.4).

Grants (``grant_type``):

* ``client_credentials`` — a machine client gets an access token whose ``sub``
  is ``{client_id}@clients`` (as Auth0 writes it). No refresh token.
* ``password`` — log a test user in: an access token, plus an ID token when
  the scope has ``openid``, plus a refresh token when it has ``offline_access``
  (the default scope, ``openid profile email offline_access``, gets all three).
* ``refresh_token`` — new tokens from a refresh token (see
  :mod:`jwtguard.testing._refresh` for rotation and reuse detection).

A request that carries a valid ``DPoP`` proof (RFC 9449 §5) gets a DPoP-bound
access token (``cnf.jkt`` = the proof key's thumbprint, ``token_type: DPoP``);
an invalid proof is answered ``invalid_dpop_proof``.

The same clients revoke tokens at ``POST /oauth/revoke`` (RFC 7009) and
introspect them at ``POST /oauth/introspect`` (RFC 7662): see
:mod:`jwtguard.testing._revocation`.

Clients authenticate with HTTP Basic (``client_secret_basic``) or with
``client_id`` and ``client_secret`` in the form (``client_secret_post``);
public clients (no secret) send only ``client_id``. Requests may carry
``audience`` (Auth0's parameter; default: the issuer's audience) and
``scope``. Errors follow RFC 6749 §5.2: a JSON ``{"error",
"error_description"}`` with 400 (401 for ``invalid_client``) and
``Cache-Control: no-store``; descriptions never repeat what the client sent.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._dpop import DEFAULT_DPOP_ALGORITHMS, verify_proof
from ..errors import InvalidDPoPProofError
from ._accounts import (
    DEFAULT_CLIENT,
    DEFAULT_LOGIN_SCOPE,
    DEFAULT_USER,
    GRANT_TYPES,
    OIDC_SCOPES,
    LocalClient,
    LocalUser,
)
from ._protocol import NO_STORE, SCOPE_TOKEN, OAuthError, invalid_client, parse_basic, parse_form
from ._refresh import Grant, RefreshTokenError, RefreshTokens
from ._revocation import OpaqueTokens
from ._server import Request, Response
from .tokens import TokenFactory

__all__ = [
    "ACCESS_TOKEN_FORMATS",
    "DEFAULT_CLIENT",
    "DEFAULT_LOGIN_SCOPE",
    "DEFAULT_USER",
    "GRANT_TYPES",
    "LocalClient",
    "LocalUser",
    "OAuthError",
    "OAuthServer",
    "OIDC_SCOPES",
]

#: The forms an access token may take: a signed JWT, or an opaque string (introspection tells its claims).
ACCESS_TOKEN_FORMATS = ("jwt", "opaque")
_EMAIL_CLAIMS = frozenset({"email", "email_verified"})
_REFRESH_REFUSALS = {
    "unknown": "The refresh token is not known",
    "other_client": "The refresh token was issued to another client",
    "revoked": "The refresh token was revoked",
    "reused": "The refresh token was already used; every token of its family is revoked",
    "expired": "The refresh token expired",
}


class OAuthServer:
    """The grants behind ``POST /oauth/token``; :class:`LocalIssuer` builds one.

    Args:
        factory: makes a :class:`TokenFactory` signing with the issuer's current key.
        audience: the audience of tokens whose request names none.
        clock: the current time (the issuer's injectable clock).
        access_token_lifetime: seconds an access token lives.
        id_token_lifetime: seconds an ID token lives.
        refresh_token_lifetime: seconds a refresh token lives.
        refresh_token_rotation: ``"none"``, ``"rotate"`` or ``"rotate-sliding"``.
        access_token_type: the ``typ`` header of access tokens (``"JWT"`` or ``"at+jwt"``).
        clients: the registered clients (default: :data:`DEFAULT_CLIENT`).
        users: the registered users (default: :data:`DEFAULT_USER`).
        access_token_format: ``"jwt"`` (signed access tokens) or ``"opaque"`` (random
            strings whose claims only introspection tells, RFC 7662).
    """

    def __init__(
        self,
        *,
        factory: Callable[..., TokenFactory],
        audience: str,
        clock: Callable[[], float] = time.time,
        access_token_lifetime: float = 3600,
        id_token_lifetime: float = 3600,
        refresh_token_lifetime: float = 30 * 86400,
        refresh_token_rotation: str = "rotate",
        access_token_type: str = "JWT",
        clients: Iterable[LocalClient] | None = None,
        users: Iterable[LocalUser] | None = None,
        access_token_format: str = "jwt",
    ) -> None:
        if access_token_format not in ACCESS_TOKEN_FORMATS:
            raise ValueError(f"access_token_format must be one of {ACCESS_TOKEN_FORMATS}")
        for name, value in (
            ("access_token_lifetime", access_token_lifetime),
            ("id_token_lifetime", id_token_lifetime),
            ("refresh_token_lifetime", refresh_token_lifetime),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be a number of seconds > 0")
        self._factory = factory
        self.audience = audience
        self.clock = clock
        self.access_token_lifetime = access_token_lifetime
        self.id_token_lifetime = id_token_lifetime
        self.access_token_type = access_token_type
        self.refresh_tokens = RefreshTokens(refresh_token_rotation, refresh_token_lifetime)
        self.access_token_format = access_token_format
        self.opaque_tokens = OpaqueTokens()
        self.clients = {c.client_id: c for c in (clients if clients is not None else [DEFAULT_CLIENT])}
        self.users = {u.username: u for u in (users if users is not None else [DEFAULT_USER])}

    # -- HTTP -----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one HTTP request to the token endpoint."""
        if request.method != "POST":
            error = OAuthError("invalid_request", "The token endpoint accepts only POST").response()
            return Response(405, error.body, {**error.headers, "Allow": "POST"})
        try:
            jkt = self._dpop_key(request)
            body = self.token_request(parse_form(request), request.header("authorization"), dpop_jkt=jkt)
        except OAuthError as error:
            return error.response()
        return Response(200, body, dict(NO_STORE))

    def _dpop_key(self, request: Request) -> str | None:
        """The thumbprint of a valid DPoP proof sent to the token endpoint (RFC 9449 §5), if any."""
        proofs = [value for name, value in request.headers.items() if name.lower() == "dpop"]
        if not proofs:
            return None
        url = f"http://{request.header('host') or '127.0.0.1'}{request.path}"
        try:
            if len(proofs) != 1:
                raise InvalidDPoPProofError()
            proof = verify_proof(
                proofs[0],
                method="POST",
                url=url,
                access_token=None,
                now=self.clock(),
                algorithms=DEFAULT_DPOP_ALGORITHMS,
                max_age=300,
                leeway=5,
            )
        except InvalidDPoPProofError:
            raise OAuthError("invalid_dpop_proof", "The DPoP proof is invalid") from None
        return proof.jkt

    def token_request(
        self, form: Mapping[str, str], authorization: str | None = None, *, dpop_jkt: str | None = None
    ) -> dict[str, Any]:
        """Run one token request (form parameters and ``Authorization`` header).

        With ``dpop_jkt`` (the thumbprint of the request's DPoP proof key), the
        access token is DPoP-bound (``cnf.jkt``, ``token_type: DPoP``).

        Returns:
            The RFC 6749 §5.1 response body.

        Raises:
            OAuthError: any RFC 6749 §5.2 error.
        """
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise OAuthError("invalid_request", "The grant_type parameter is missing")
        if grant_type not in GRANT_TYPES:
            raise OAuthError("unsupported_grant_type", "The grant type is not supported")
        client = self._authenticate(form, authorization)
        if grant_type not in client.grant_types or (
            grant_type == "client_credentials" and client.client_secret is None
        ):
            raise OAuthError("unauthorized_client", "The client may not use this grant type")
        if grant_type == "client_credentials":
            body = self._client_credentials(client, form, dpop_jkt)
        elif grant_type == "password":
            body = self._password(client, form, dpop_jkt)
        else:
            body = self._refresh(client, form, dpop_jkt)
        return body

    def authenticate_client(self, form: Mapping[str, str], authorization: str | None) -> LocalClient:
        """The client a request authenticates as: HTTP Basic, or ``client_id`` (and ``client_secret``) in the form.

        Raises:
            OAuthError: ``invalid_client`` (401), or ``invalid_request`` for two methods at once.
        """
        return self._authenticate(form, authorization)

    def _authenticate(self, form: Mapping[str, str], authorization: str | None) -> LocalClient:
        secret: str | None
        if authorization is not None:
            if "client_secret" in form:  # RFC 6749 §2.3: one authentication method only
                raise OAuthError("invalid_request", "Use only one client authentication method")
            client_id, secret = parse_basic(authorization)
            if form.get("client_id", client_id) != client_id:
                raise invalid_client()
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret")
        client = self.clients.get(client_id)
        if client is None:
            raise invalid_client()
        expected = client.client_secret
        if expected is None:
            if secret:  # a public client has no secret to present
                raise invalid_client()
        elif secret is None or not hmac.compare_digest(secret.encode(), expected.encode()):
            raise invalid_client()
        return client

    # -- grants ---------------------------------------------------------------------

    def _client_credentials(self, client: LocalClient, form: Mapping[str, str], jkt: str | None) -> dict[str, Any]:
        default = " ".join(client.scopes or ())
        scopes = self._scopes(client, form.get("scope", default), user=False)
        audience = self._audience(client, form.get("audience"))
        subject = f"{client.client_id}@clients"
        token = self._access_token(client, subject, scopes, audience, jkt, gty="client-credentials")
        return self._body(token, scopes, jkt)

    def _password(self, client: LocalClient, form: Mapping[str, str], jkt: str | None) -> dict[str, Any]:
        username, password = form.get("username"), form.get("password")
        if username is None or password is None:
            raise OAuthError("invalid_request", "The username or password parameter is missing")
        user = self.users.get(username)
        if user is None or not hmac.compare_digest(password.encode(), user.password.encode()):
            raise OAuthError("invalid_grant", "The username or password is wrong")
        return self._login(client, user, form.get("scope"), form.get("audience"), form.get("nonce"), jkt)

    def _refresh(self, client: LocalClient, form: Mapping[str, str], jkt: str | None) -> dict[str, Any]:
        token = form.get("refresh_token")
        if token is None:
            raise OAuthError("invalid_request", "The refresh_token parameter is missing")
        try:
            grant, new_token = self.refresh_tokens.redeem(token, client.client_id, self.clock())
        except RefreshTokenError as refused:
            raise OAuthError("invalid_grant", _REFRESH_REFUSALS[refused.reason]) from None
        scopes = grant.scopes
        if "scope" in form:  # RFC 6749 §6: a narrower scope, never a wider one
            scopes = self._scopes(client, form["scope"], user=True)
            if not set(scopes) <= set(grant.scopes):
                raise OAuthError("invalid_scope", "The scope exceeds the scope originally granted")
        body = self._body(self._access_token(client, grant.subject, scopes, grant.audience, jkt), scopes, jkt)
        if "openid" in grant.scopes:
            body["id_token"] = self._id_token(client, grant, nonce=None)
        if new_token is not None:
            body["refresh_token"] = new_token
        return body

    def login(
        self,
        user: str | LocalUser = DEFAULT_USER.username,
        *,
        client_id: str = DEFAULT_CLIENT.client_id,
        scope: str | None = None,
        audience: str | None = None,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        """Log a user in without HTTP; return what the ``password`` grant would.

        ``user`` is a registered username, a :class:`LocalUser`, or any other
        name (a user whose ``sub`` is that name). No password is needed.

        Raises:
            OAuthError: an unknown client, a scope or audience it may not have.
        """
        client = self.clients.get(client_id)
        if client is None:
            raise invalid_client()
        if isinstance(user, str):
            user = self.users.get(user) or LocalUser(user, "")
        return self._login(client, user, scope, audience, nonce)

    def _login(
        self,
        client: LocalClient,
        user: LocalUser,
        scope: str | None,
        audience: str | None,
        nonce: str | None,
        jkt: str | None = None,
    ) -> dict[str, Any]:
        scopes = self._scopes(client, DEFAULT_LOGIN_SCOPE if scope is None else scope, user=True)
        grant = Grant(
            client.client_id, user.sub, scopes, self._audience(client, audience), int(self.clock()), dict(user.claims)
        )
        body = self._body(self._access_token(client, grant.subject, scopes, grant.audience, jkt), scopes, jkt)
        if "openid" in scopes:
            body["id_token"] = self._id_token(client, grant, nonce)
        if "offline_access" in scopes:
            body["refresh_token"] = self.refresh_tokens.issue(grant, self.clock())
        return body

    # -- pieces -----------------------------------------------------------------------

    def _scopes(self, client: LocalClient, scope: str, *, user: bool) -> tuple[str, ...]:
        tokens = scope.split(" ") if scope else []
        if not all(SCOPE_TOKEN.fullmatch(token) for token in tokens):
            raise OAuthError("invalid_scope", "The scope is malformed")
        allowed = client.scopes
        for token in tokens:
            if allowed is not None and token not in allowed and not (user and token in OIDC_SCOPES):
                raise OAuthError("invalid_scope", "The client may not request this scope")
        return tuple(dict.fromkeys(tokens))

    def _audience(self, client: LocalClient, audience: str | None) -> str:
        chosen = audience or self.audience
        if client.audiences is not None and chosen not in client.audiences:
            # RFC 8707 §2: the requested resource is not one this client may reach.
            raise OAuthError("invalid_target", "The client may not request tokens for this audience")
        return chosen

    def _access_token(
        self,
        client: LocalClient,
        subject: str,
        scopes: tuple[str, ...],
        audience: str,
        jkt: str | None = None,
        **extra: Any,
    ) -> str:
        factory = self._factory(
            audience=audience,
            subject=subject,
            client_id=client.client_id,
            lifetime=self.access_token_lifetime,
            token_type=self.access_token_type,
        )
        if self.access_token_type.lower().endswith("at+jwt"):
            extra["client_id"] = client.client_id  # RFC 9068 §2.2
        if jkt is not None:
            extra["cnf"] = {"jkt": jkt}  # RFC 9449 §6.1
        if self.access_token_format == "opaque":
            claims = {**factory.default_claims(), "scope": " ".join(scopes), **extra}
            return self.opaque_tokens.issue(claims, self.clock())
        return factory.mint(scope=" ".join(scopes), **extra)

    def _id_token(self, client: LocalClient, grant: Grant, nonce: str | None) -> str:
        profile = {
            name: value
            for name, value in grant.profile.items()
            if ("email" if name in _EMAIL_CLAIMS else "profile") in grant.scopes
        }
        factory = self._factory(subject=grant.subject, client_id=client.client_id, lifetime=self.id_token_lifetime)
        return factory.id_token(nonce=nonce, auth_time=grant.auth_time, **profile)

    def _body(self, access_token: str, scopes: tuple[str, ...], jkt: str | None = None) -> dict[str, Any]:
        return {
            "access_token": access_token,
            "token_type": "Bearer" if jkt is None else "DPoP",
            "expires_in": int(self.access_token_lifetime),
            "scope": " ".join(scopes),
        }
