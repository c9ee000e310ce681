"""Mint access tokens for tests, Auth0-shaped by default."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._jose import b64url_decode
from .keys import SigningKey

__all__ = ["TokenFactory"]


class TokenFactory:
    """Mints signed access tokens with sensible defaults, overridable per call.

    Every token gets ``iss``, ``sub``, ``aud``, ``iat``, ``exp``, ``azp``,
    ``jti`` and ``scope``; pass a claim to change it or ``None`` to leave it out.

    >>> factory = TokenFactory(issuer="https://issuer.test/", audience="https://api.test")
    >>> token = factory.mint(scope="read:messages", sub="user-7")
    >>> factory.claims_of(token)["sub"]
    'user-7'
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience if isinstance(audience, str) else list(audience)
        self.key = key or SigningKey.generate("RS256")
        self.subject = subject
        self.client_id = client_id
        self.lifetime = lifetime
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
        **overrides: Any,
    ) -> str:
        """Return a signed token.

        Args:
            claims: claims to set (for names that clash with this method's arguments).
            headers: JOSE header parameters to add or override (``None`` drops one).
            key: sign with this key instead of the factory's.
            expires_in: seconds until ``exp`` (negative for an expired token).
            overrides: claims to set; ``None`` leaves a claim out.
        """
        payload = self.default_claims(expires_in)
        payload.update(claims or {})
        payload.update(overrides)
        payload = {name: value for name, value in payload.items() if value is not None}
        return (key or self.key).sign(payload, headers)

    @staticmethod
    def claims_of(token: str) -> dict[str, Any]:
        """Decode a token's payload without verifying it (for assertions in tests)."""
        return dict(json.loads(b64url_decode(token.split(".")[1])))
