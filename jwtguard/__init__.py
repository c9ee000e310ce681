"""jwtguard: protect APIs with OAuth 2.0 / OpenID Connect JWT access tokens.

>>> import jwtguard
>>> validator = jwtguard.Validator(issuer="https://tenant.example.com/", audience="https://api.example.com")
"""

from __future__ import annotations

from . import profiles
from ._checks import NO_AUDIENCE
from ._issuers import IssuerTemplate
from ._status import KeySetStatus
from .claims import Claims
from .errors import (
    AuthError,
    ConfigurationError,
    ExpiredTokenError,
    InsufficientRoleError,
    InsufficientScopeError,
    InsufficientUserAuthenticationError,
    InvalidDPoPProofError,
    InvalidRequestError,
    InvalidTokenError,
    KeySetUnavailableError,
    MissingTokenError,
    ServiceUnavailableError,
    UseDPoPNonceError,
)
from .requirement import Requirement
from .validator import (
    DEFAULT_LEEWAY,
    DEFAULT_MAX_TOKEN_SIZE,
    DEFAULT_TOKEN_CACHE_SIZE,
    DEFAULT_TOKEN_TYPES,
    RFC9068_TOKEN_TYPES,
    Validator,
)

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "Claims",
    "ConfigurationError",
    "DEFAULT_LEEWAY",
    "DEFAULT_MAX_TOKEN_SIZE",
    "DEFAULT_TOKEN_CACHE_SIZE",
    "DEFAULT_TOKEN_TYPES",
    "ExpiredTokenError",
    "InsufficientRoleError",
    "InsufficientScopeError",
    "InsufficientUserAuthenticationError",
    "InvalidDPoPProofError",
    "InvalidRequestError",
    "InvalidTokenError",
    "IssuerTemplate",
    "KeySetStatus",
    "KeySetUnavailableError",
    "MissingTokenError",
    "NO_AUDIENCE",
    "RFC9068_TOKEN_TYPES",
    "Requirement",
    "ServiceUnavailableError",
    "UseDPoPNonceError",
    "Validator",
    "profiles",
]
