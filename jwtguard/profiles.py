"""Ready-made validators for common issuers, so nobody has to know the traps.

>>> from jwtguard import profiles
>>> profiles.auth0("example.eu.auth0.com", audience="https://api.example.com").issuers
('https://example.eu.auth0.com/',)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .validator import RFC9068_TOKEN_TYPES, Validator

__all__ = ["auth0", "oidc", "rfc9068"]


def auth0(domain: str, audience: str | Sequence[str], **options: Any) -> Validator:
    """A validator for an Auth0 tenant's access tokens.

    Args:
        domain: the tenant domain (``"tenant.eu.auth0.com"``) or custom domain;
            a full ``https://…`` URL is accepted too. The issuer is built with
            the trailing slash Auth0 puts in ``iss``.
        audience: the API identifier configured in Auth0.
        options: any other :class:`~jwtguard.Validator` option. Auth0 signs
            with RS256 (the default); RBAC ``permissions`` count as scopes.

    Raises:
        ConfigurationError: an empty or malformed domain.
    """
    if not isinstance(domain, str) or not domain.strip():
        raise ConfigurationError("domain must be the Auth0 tenant domain, e.g. 'tenant.eu.auth0.com'")
    host = domain.strip()
    if "://" in host:
        parts = urlsplit(host)
        if parts.scheme != "https" or not parts.netloc or parts.path not in ("", "/"):
            raise ConfigurationError("domain must be a bare host name or an https:// origin")
        host = parts.netloc
    host = host.rstrip("/")
    if "/" in host:
        raise ConfigurationError("domain must be a bare host name, e.g. 'tenant.eu.auth0.com'")
    return Validator(issuer=f"https://{host}/", audience=audience, **options)


def rfc9068(issuer: str | Sequence[str], audience: str | Sequence[str], **options: Any) -> Validator:
    """A strict RFC 9068 (JWT profile for OAuth 2.0 access tokens) validator.

    Requires ``typ: at+jwt`` (§2.1, §4) and the claims §2.2 makes mandatory:
    ``iss``, ``exp``, ``aud``, ``sub``, ``client_id``, ``iat`` and ``jti``.
    """
    required = (*options.pop("required_claims", ()), "sub", "client_id", "iat", "jti")
    options.setdefault("token_types", RFC9068_TOKEN_TYPES)
    return Validator(issuer=issuer, audience=audience, required_claims=required, **options)


def oidc(issuer: str | Sequence[str], audience: str | Sequence[str], **options: Any) -> Validator:
    """A validator for any OpenID Connect provider (Okta, Azure AD, Keycloak …).

    Keys come from the provider's discovery document; every default applies.
    """
    return Validator(issuer=issuer, audience=audience, **options)
