"""The errors jwtguard raises, each carrying its HTTP answer (RFC 6750 §3).

Three kinds of failure never blur:

* :class:`ConfigurationError` — a programming mistake, raised when a
  :class:`~jwtguard.Validator` is built, never per request;
* :class:`KeySetUnavailableError` — *our* outage (the issuer's key set cannot be
  fetched and nothing usable is cached): 503 with ``Retry-After``;
* everything else — the client's fault: 400, 401 or 403.

``description`` is chosen from a fixed table by ``code``; it never contains text
taken from the request, so it is safe to send to clients. ``str(exc)`` adds the
structured fields (``claim``, ``reason``) for logs, and is equally safe.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ._challenge import render_challenge

__all__ = [
    "AuthError",
    "ConfigurationError",
    "ExpiredTokenError",
    "InsufficientScopeError",
    "InvalidRequestError",
    "InvalidTokenError",
    "KeySetUnavailableError",
    "MissingTokenError",
]

#: Fixed, client-safe descriptions, one per stable ``code``.
DESCRIPTIONS: dict[str, str] = {
    "missing_token": "Bearer token required",
    "invalid_request": "The request is malformed",
    "malformed_authorization": "The Authorization header is malformed",
    "duplicate_token": "The token was sent more than once",
    "malformed_token": "The access token is malformed",
    "token_too_large": "The access token is too large",
    "encrypted_token": "Encrypted tokens are not accepted",
    "alg_not_allowed": "The token signing algorithm is not allowed",
    "unsupported_crit": "The token uses an unsupported critical header",
    "invalid_typ": "The token type is not accepted",
    "unknown_issuer": "The token issuer is not accepted",
    "unknown_key": "The token signing key is not known",
    "bad_signature": "The token signature is invalid",
    "token_expired": "The access token expired",
    "token_not_yet_valid": "The access token is not yet valid",
    "iat_in_future": "The access token was issued in the future",
    "token_too_old": "The access token is too old",
    "audience_mismatch": "The token audience is not accepted",
    "unauthorized_party": "The token was issued to a client that is not accepted",
    "missing_claim": "The access token is missing a required claim",
    "invalid_claim": "The access token has an invalid claim",
    "insufficient_scope": "The access token does not have the required scope",
    "keyset_unavailable": "The signing keys are temporarily unavailable",
}


class ConfigurationError(ValueError):
    """A :class:`~jwtguard.Validator` (or adapter) was configured wrongly.

    Raised at construction time, never while handling a request.
    """


class AuthError(Exception):
    """Base class of every request-time failure.

    Attributes:
        status_code: the HTTP status to answer with (400, 401, 403 or 503).
        error: the RFC 6750 error code (``"invalid_token"`` …) or ``None``.
        code: a stable, fine-grained name for logs and metrics (``"token_expired"``).
        description: a fixed, client-safe human sentence.
        claim: the claim (or header parameter) that failed, when there is one.
        reason: a short machine word saying why (``"missing"``, ``"mismatch"`` …).
    """

    status_code: int = 401
    error: str | None = None
    default_code: str = "invalid_request"

    def __init__(
        self,
        code: str | None = None,
        *,
        claim: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.description = DESCRIPTIONS.get(self.code, DESCRIPTIONS[self.default_code])
        self.claim = claim
        self.reason = reason
        super().__init__(self._log_text())

    def _log_text(self) -> str:
        extras = [f"{name}={value}" for name, value in (("claim", self.claim), ("reason", self.reason)) if value]
        return f"{self.code}: {self.description}" + (f" ({', '.join(extras)})" if extras else "")

    def www_authenticate(self, realm: str | None = None, *, resource_metadata: str | None = None) -> str:
        """Render this error's RFC 6750 §3 ``WWW-Authenticate`` challenge."""
        return render_challenge(
            realm,
            error=self.error,
            description=self.description if self.error else None,
            resource_metadata=resource_metadata,
        )

    def headers(self, realm: str | None = None, *, resource_metadata: str | None = None) -> dict[str, str]:
        """Return the response headers for this error (``WWW-Authenticate``)."""
        return {"WWW-Authenticate": self.www_authenticate(realm, resource_metadata=resource_metadata)}

    def body(self) -> dict[str, str | None]:
        """Return the small JSON body adapters send: ``{"error", "error_description"}``."""
        return {"error": self.error or self.code, "error_description": self.description}


class MissingTokenError(AuthError):
    """No bearer credentials at all: 401 with a bare ``Bearer realm="…"`` challenge."""

    status_code = 401
    error = None
    default_code = "missing_token"


class InvalidRequestError(AuthError):
    """A malformed ``Authorization`` header, or a token sent twice: 400."""

    status_code = 400
    error = "invalid_request"
    default_code = "invalid_request"


class InvalidTokenError(AuthError):
    """A token that fails validation: 401 ``invalid_token``."""

    status_code = 401
    error = "invalid_token"
    default_code = "malformed_token"


class ExpiredTokenError(InvalidTokenError):
    """A token whose ``exp`` has passed: 401 ``invalid_token``."""

    default_code = "token_expired"


class InsufficientScopeError(AuthError):
    """A valid token without a required scope: 403 ``insufficient_scope``.

    ``required_scopes`` lists what the resource needs; the challenge carries it
    as ``scope="…"`` (RFC 6750 §3).
    """

    status_code = 403
    error = "insufficient_scope"
    default_code = "insufficient_scope"

    def __init__(self, required_scopes: Iterable[str] = (), *, code: str | None = None) -> None:
        self.required_scopes = tuple(required_scopes)
        super().__init__(code, claim="scope", reason="missing")

    def www_authenticate(self, realm: str | None = None, *, resource_metadata: str | None = None) -> str:
        return render_challenge(
            realm,
            error=self.error,
            description=self.description,
            scope=" ".join(self.required_scopes),
            resource_metadata=resource_metadata,
        )


class KeySetUnavailableError(AuthError):
    """No usable signing keys: the key-set endpoint failed and nothing is cached.

    This is the server's outage, not the client's fault: 503 with ``Retry-After``
    (``retry_after`` seconds) instead of a challenge.
    """

    status_code = 503
    error = None
    default_code = "keyset_unavailable"

    def __init__(self, retry_after: float = 30.0, *, reason: str | None = None) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(None, reason=reason)

    def headers(self, realm: str | None = None, *, resource_metadata: str | None = None) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}

    def body(self) -> dict[str, str | None]:
        return {"error": "temporarily_unavailable", "error_description": self.description}
