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

from ._challenge import BEARER_ONLY, Schemes, render_challenges

__all__ = [
    "AuthError",
    "ConfigurationError",
    "ExpiredTokenError",
    "InsufficientRoleError",
    "InsufficientScopeError",
    "InsufficientUserAuthenticationError",
    "InvalidDPoPProofError",
    "InvalidRequestError",
    "InvalidTokenError",
    "KeySetUnavailableError",
    "MissingTokenError",
    "ServiceUnavailableError",
    "UseDPoPNonceError",
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
    "introspection_unavailable": "The access token cannot be checked right now",
    "token_inactive": "The access token is not active",
    "invalid_dpop_proof": "The DPoP proof is invalid",
    "dpop_proof_missing": "A DPoP proof is required",
    "dpop_proof_replayed": "The DPoP proof was already used",
    "dpop_key_mismatch": "The DPoP proof key is not the key the token is bound to",
    "dpop_bound_token": "A DPoP-bound token must be sent with the DPoP scheme",
    "dpop_required": "The access token must be DPoP-bound",
    "not_dpop_bound": "The access token is not DPoP-bound",
    "use_dpop_nonce": "A fresh DPoP nonce is required",
    "certificate_required": "The access token is bound to a client certificate",
    "certificate_mismatch": "The client certificate is not the one the token is bound to",
    "unsupported_binding": "The access token is bound in a way that is not supported",
    "insufficient_user_authentication": "A stronger or more recent user authentication is required",
    "insufficient_role": "The access token does not have the required role",
    "service_unavailable": "The service is temporarily unavailable",
    "dpop_replay_capacity": "Too many DPoP proofs to check right now",
    "dpop_replay_unavailable": "DPoP proofs cannot be checked right now",
    "token_revoked": "The access token was revoked",
    "id_token": "An ID token is not an access token",
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
    #: The schemes the answering validator accepts (its challenges name each) …
    schemes: Schemes = BEARER_ONLY
    #: … and the one this error concerns: its parameters go on that scheme's challenge.
    scheme: str = "Bearer"

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

    def _params(self) -> list[tuple[str, str | None]]:
        """The challenge parameters of this error (``error``, ``error_description`` …)."""
        return [("error", self.error), ("error_description", self.description if self.error else None)]

    def www_authenticate(self, realm: str | None = None, *, resource_metadata: str | None = None) -> str:
        """Render this error's ``WWW-Authenticate`` value (RFC 6750 §3; RFC 9449 §7.1 with DPoP).

        One challenge per scheme the validator accepts; this error's parameters
        go on the challenge of the scheme it concerns.
        """
        return render_challenges(self.schemes, self.scheme, realm, self._params(), resource_metadata)

    def headers(self, realm: str | None = None, *, resource_metadata: str | None = None) -> dict[str, str]:
        """Return every response header the answer needs (``WWW-Authenticate``; see subclasses)."""
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

    def _params(self) -> list[tuple[str, str | None]]:
        return [*super()._params(), ("scope", " ".join(self.required_scopes))]


class InsufficientRoleError(InsufficientScopeError):
    """A valid token without a required role: 403 ``insufficient_scope`` (roles are not scopes, so no ``scope=``).

    ``required_roles`` lists the roles the resource needs.
    """

    default_code = "insufficient_role"

    def __init__(self, required_roles: Iterable[str] = ()) -> None:
        self.required_roles = tuple(required_roles)
        super().__init__((), code=self.default_code)
        self.claim = "roles"


class InvalidDPoPProofError(InvalidTokenError):
    """A missing, malformed, replayed or mismatched DPoP proof (RFC 9449 §7.1): 401 ``invalid_dpop_proof``."""

    error = "invalid_dpop_proof"
    default_code = "invalid_dpop_proof"
    scheme = "DPoP"


class UseDPoPNonceError(InvalidTokenError):
    """The server requires a fresh DPoP nonce (RFC 9449 §9): 401 ``use_dpop_nonce`` and a ``DPoP-Nonce`` header."""

    error = "use_dpop_nonce"
    default_code = "use_dpop_nonce"
    scheme = "DPoP"

    def __init__(self, nonce: str) -> None:
        self.nonce = nonce
        super().__init__(None, claim="nonce", reason="missing_or_stale")

    def headers(self, realm: str | None = None, *, resource_metadata: str | None = None) -> dict[str, str]:
        return {**super().headers(realm, resource_metadata=resource_metadata), "DPoP-Nonce": self.nonce}


class InsufficientUserAuthenticationError(AuthError):
    """The user's authentication is too weak or too old for this resource (RFC 9470): 401.

    The challenge carries ``acr_values`` and/or ``max_age``: what the client
    must ask the authorization server for when it sends the user to log in again.
    """

    status_code = 401
    error = "insufficient_user_authentication"
    default_code = "insufficient_user_authentication"

    def __init__(
        self, acr_values: Iterable[str] = (), max_age: float | None = None, *, reason: str | None = None
    ) -> None:
        self.acr_values = tuple(acr_values)
        self.max_age = None if max_age is None else int(max_age)
        super().__init__(None, claim="acr" if reason == "acr" else "auth_time", reason=reason)

    def _params(self) -> list[tuple[str, str | None]]:
        return [
            *super()._params(),
            ("acr_values", " ".join(self.acr_values) or None),
            ("max_age", None if self.max_age is None else str(self.max_age)),
        ]


class ServiceUnavailableError(AuthError):
    """Our own outage, not the client's fault: 503 with ``Retry-After`` (``retry_after`` seconds), no challenge."""

    status_code = 503
    error = None
    default_code = "service_unavailable"

    def __init__(self, code: str | None = None, *, retry_after: float = 30.0, reason: str | None = None) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(code, reason=reason)

    def headers(self, realm: str | None = None, *, resource_metadata: str | None = None) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}

    def body(self) -> dict[str, str | None]:
        return {"error": "temporarily_unavailable", "error_description": self.description}


class KeySetUnavailableError(ServiceUnavailableError):
    """No usable signing keys: the key-set endpoint failed and nothing is cached.

    This is the server's outage, not the client's fault: 503 with ``Retry-After``
    (``retry_after`` seconds) instead of a challenge.
    """

    default_code = "keyset_unavailable"

    def __init__(self, retry_after: float = 30.0, *, reason: str | None = None) -> None:
        super().__init__(None, retry_after=retry_after, reason=reason)
