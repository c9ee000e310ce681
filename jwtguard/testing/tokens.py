"""Mint access and ID tokens for tests, Auth0-shaped by default."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._jose import b64url_decode
from .keys import SigningKey

__all__ = ["WRONG_AUDIENCE", "TokenFactory"]

#: The audience :meth:`TokenFactory.wrong_audience` uses by default.
WRONG_AUDIENCE = "https://wrong-audience.example.test"


class TokenFactory:
    """Mints signed access tokens with sensible defaults, overridable per call.

    Every token gets ``iss``, ``sub``, ``aud``, ``iat``, ``exp``, ``azp``,
    ``jti`` and ``scope``; pass a claim to change it or ``None`` to leave it out.
    The ``typ`` header is ``token_type`` (``"JWT"``, as Auth0 writes it, or
    ``"at+jwt"`` for RFC 9068; ``None`` leaves it out).

    >>> factory = TokenFactory(issuer="https://issuer.test/", audience="https://api.test")
    >>> token = factory.mint(scope="read:messages", sub="user-7")
    >>> factory.claims_of(token)["sub"]
    'user-7'
    >>> factory.header_of(factory.expired())["typ"]
    'JWT'

    The usual broken tokens take one call each: :meth:`expired`,
    :meth:`not_yet_valid`, :meth:`wrong_audience`, :meth:`missing_scope`,
    :meth:`other_key`; :meth:`id_token` mints an OpenID Connect ID token.
    """

    def __init__(
        self,
        issuer: str,
        audience: str | Sequence[str],
        *,
        key: SigningKey | None = None,
        subject: str = "user-123",
        client_id: str = "test-client",
        lifetime: float = 3600,
        token_type: str | None = "JWT",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience if isinstance(audience, str) else list(audience)
        self.key = key or SigningKey.generate("RS256")
        self.subject = subject
        self.client_id = client_id
        self.lifetime = lifetime
        self.token_type = token_type
        self.clock = clock

    def default_claims(self, expires_in: float | None = None) -> dict[str, Any]:
        """The claims a token gets when nothing is overridden."""
        now = int(self.clock())
        return {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.audience,
            "iat": now,
            "exp": now + int(self.lifetime if expires_in is None else expires_in),
            "azp": self.client_id,
            "jti": secrets.token_urlsafe(12),
            "scope": "",
        }

    def mint(
        self,
        claims: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, Any] | None = None,
        key: SigningKey | None = None,
        expires_in: float | None = None,
        not_before: float | None = None,
        **overrides: Any,
    ) -> str:
        """Return a signed token.

        Args:
            claims: claims to set (for names that clash with this method's arguments).
            headers: JOSE header parameters to add or override (``None`` drops one),
                e.g. ``{"typ": "at+jwt"}`` or ``{"kid": None}``.
            key: sign with this key instead of the factory's.
            expires_in: seconds until ``exp`` (negative for an expired token).
            not_before: seconds from now until ``nbf`` (positive: not yet valid).
            overrides: claims to set; ``None`` leaves a claim out.
        """
        payload = self.default_claims(expires_in)
        if not_before is not None:
            payload["nbf"] = int(self.clock() + not_before)
        payload.update(claims or {})
        payload.update(overrides)
        payload = {name: value for name, value in payload.items() if value is not None}
        return (key or self.key).sign(payload, {"typ": self.token_type, **(headers or {})})

    # -- the usual broken tokens, one call each -------------------------------------

    def expired(self, seconds_ago: float = 60, **claims: Any) -> str:
        """A token that expired ``seconds_ago`` (issued one lifetime before that)."""
        now = int(self.clock())
        exp = now - int(seconds_ago)
        return self.mint(claims, iat=exp - int(self.lifetime), exp=exp)

    def not_yet_valid(self, seconds_ahead: float = 300, **claims: Any) -> str:
        """A token whose ``nbf`` is ``seconds_ahead`` in the future."""
        return self.mint(claims, not_before=seconds_ahead)

    def wrong_audience(self, audience: str = WRONG_AUDIENCE, **claims: Any) -> str:
        """A token for another API."""
        return self.mint(claims, aud=audience)

    def missing_scope(self, **claims: Any) -> str:
        """A token without any ``scope`` claim (and no ``scp`` or ``permissions``)."""
        return self.mint(claims, scope=None)

    def other_key(self, *, same_kid: bool = True, **claims: Any) -> str:
        """A token signed by a key the issuer does not publish.

        With ``same_kid`` (the default) the header names the factory key's
        ``kid``, so the signature check fails; otherwise the ``kid`` is
        unknown to the issuer.
        """
        other = _other_key(self.key.alg)
        if same_kid:
            other = SigningKey(other.alg, self.key.kid, other.private_key)
        return self.mint(claims, key=other)

    def id_token(
        self,
        *,
        nonce: str | None = None,
        auth_time: int | None = None,
        expires_in: float | None = None,
        **claims: Any,
    ) -> str:
        """An OpenID Connect ID token: ``aud`` is the client id, no ``scope``.

        Meant for the client, never for an API: a validator configured with the
        API's audience rejects it.
        """
        defaults = {
            "aud": self.client_id,
            "azp": None,
            "scope": None,
            "jti": None,
            "auth_time": int(self.clock()) if auth_time is None else auth_time,
            "nonce": nonce,
        }
        return self.mint({**defaults, **claims}, headers={"typ": "JWT"}, expires_in=expires_in)

    # -- reading tokens back -----------------------------------------------------------

    @staticmethod
    def claims_of(token: str) -> dict[str, Any]:
        """Decode a token's payload without verifying it (for assertions in tests)."""
        return dict(json.loads(b64url_decode(token.split(".")[1])))

    @staticmethod
    def header_of(token: str) -> dict[str, Any]:
        """Decode a token's JOSE header without verifying it."""
        return dict(json.loads(b64url_decode(token.split(".")[0])))


_OTHER_KEYS: dict[str, SigningKey] = {}


def _other_key(alg: str) -> SigningKey:
    # Generating an RSA key takes tens of milliseconds: make one per algorithm.
    if alg not in _OTHER_KEYS:
        _OTHER_KEYS[alg] = SigningKey.generate(alg, "unpublished-key")
    return _OTHER_KEYS[alg]
