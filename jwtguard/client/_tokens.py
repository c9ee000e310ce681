"""The tokens a client holds: :class:`TokenSet`, parsed from an RFC 6749 §5.1 token response.

Expiry is computed from ``expires_in`` at the time the response was received
(the caller passes ``now``), never from the access token's claims: to a client an
access token is opaque (RFC 6749 §1.4), and claims it has not verified prove nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import TokenEndpointError

__all__ = ["TokenSet"]


@dataclass(frozen=True)
class TokenSet:
    """An access token and what came with it; the tokens never appear in ``repr``.

    Persist it with :func:`dataclasses.asdict` and restore it with ``TokenSet(**saved)``.

    Attributes:
        access_token: the access token, or ``None`` when only a refresh token is
            known (the first request then refreshes).
        refresh_token: the refresh token, or ``None`` (client credentials, or a
            login without ``offline_access``).
        expires_at: when the access token expires, in the clock's seconds
            (``None``: unknown, so only a 401 from the API triggers a refresh).
        expires_in: the lifetime the issuer announced, in seconds.
        token_type: ``"Bearer"``.
        scope: the granted scope, when the issuer said.
        id_token: the ID token, when one came with the response.
    """

    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    expires_in: float | None = None
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a secret
    scope: str | None = None
    id_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_response(cls, body: Mapping[str, Any], *, now: float, previous: TokenSet | None = None) -> TokenSet:
        """Parse a successful token response (RFC 6749 §5.1) received at ``now``.

        A response without a refresh token (no rotation) keeps ``previous``'s, and
        one without ``scope`` keeps ``previous``'s scope (§5.1: it was unchanged).

        Raises:
            TokenEndpointError: ``invalid_response`` — no access token, a token
                type other than Bearer, or a malformed ``expires_in``.
        """
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise TokenEndpointError("invalid_response", "The token response has no access_token")
        token_type = body.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            # RFC 6749 §7.1: a client must not use a token whose type it does not understand.
            raise TokenEndpointError("invalid_response", "The token response's token_type is not Bearer")
        expires_in = _seconds(body.get("expires_in"))
        refresh_token = body.get("refresh_token")
        if not isinstance(refresh_token, str) or not refresh_token:
            refresh_token = previous.refresh_token if previous is not None else None
        scope = body.get("scope")
        if not isinstance(scope, str):
            scope = previous.scope if previous is not None else None
        id_token = body.get("id_token")
        return cls(
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at=None if expires_in is None else now + expires_in,
            expires_in=expires_in,
            token_type="Bearer",  # noqa: S106 - a token type, not a secret
            scope=scope,
            id_token=id_token if isinstance(id_token, str) else None,
        )

    def needs_renewal(self, now: float, margin: float) -> bool:
        """Whether the access token is missing or within ``margin`` seconds of expiry.

        The margin is at most half the announced lifetime, so that a short-lived
        token is still used for a while before it is renewed.
        """
        if self.access_token is None:
            return True
        if self.expires_at is None:
            return False
        if self.expires_in is not None:
            margin = min(margin, self.expires_in / 2)
        return now >= self.expires_at - margin

    def expired(self, now: float) -> bool:
        """Whether the access token is missing or past its expiry (as far as the client knows)."""
        return self.access_token is None or (self.expires_at is not None and now >= self.expires_at)


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):  # some issuers send a JSON string ("3600")
        try:
            value = float(value)
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise TokenEndpointError("invalid_response", "The token response's expires_in is not a number of seconds")
    return float(value)
