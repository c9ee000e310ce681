"""Ready-made validators for common issuers, so nobody has to know the traps.

Each profile builds the issuer the way the provider writes ``iss``, points at
its keys, and adds the checks its tokens need; every other
:class:`~jwtguard.Validator` option passes through (``jwks=`` replaces the
provider's keys, for tests). ``refuse_id_tokens`` (ID tokens refused by their
``nonce`` / ``at_hash`` / ``c_hash`` / ``s_hash``) is on where the provider never
puts those claims in access tokens: ``auth0``, ``rfc9068``, ``okta``,
``azure_ad``, ``cognito``, ``github_actions``.

>>> from jwtguard import profiles
>>> profiles.auth0("example.eu.auth0.com", audience="https://api.example.com").issuers
('https://example.eu.auth0.com/',)
>>> profiles.okta("dev-123.okta.com", "api://default").issuers
('https://dev-123.okta.com/oauth2/default',)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any
from urllib.parse import urlsplit

from ._checks import NO_AUDIENCE, ClaimPredicate, as_number
from ._issuers import IssuerTemplate
from .claims import DEFAULT_ROLE_CLAIMS
from .errors import ConfigurationError
from .validator import RFC9068_TOKEN_TYPES, Validator

__all__ = [
    "auth0",
    "azure_ad",
    "cognito",
    "firebase",
    "github_actions",
    "google",
    "keycloak",
    "oidc",
    "okta",
    "rfc9068",
]

_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_AZURE_V1 = "https://sts.windows.net/{tenant}/"
_AZURE_V2 = "https://login.microsoftonline.com/{tenant}/v2.0"
_AZURE_KEYS = "https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys"
GOOGLE_CERTS = "https://www.googleapis.com/oauth2/v3/certs"
FIREBASE_CERTS = "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com"


def _host(domain: str, what: str) -> str:
    """A bare host name from ``domain`` (a host, or an ``https://`` origin)."""
    if not isinstance(domain, str) or not domain.strip():
        raise ConfigurationError(f"domain must be the {what} domain, e.g. 'tenant.eu.auth0.com'")
    host = domain.strip()
    if "://" in host:
        parts = urlsplit(host)
        if parts.scheme != "https" or not parts.netloc or parts.path not in ("", "/"):
            raise ConfigurationError("domain must be a bare host name or an https:// origin")
        host = parts.netloc
    host = host.rstrip("/")
    if "/" in host:
        raise ConfigurationError(f"domain must be a bare host name, e.g. 'tenant.eu.auth0.com' ({what})")
    return host


def _equals(expected: object) -> ClaimPredicate:
    return lambda value: value == expected


def _checks(options: dict[str, Any], checks: dict[str, ClaimPredicate | None]) -> None:
    """Put the profile's claim checks under the user's own (which win, name by name)."""
    options["claim_checks"] = {**checks, **(options.get("claim_checks") or {})}


def _keys(options: dict[str, Any], jwks_uri: str) -> None:
    """Point at the provider's keys unless the caller gave keys of its own."""
    if "jwks" not in options:
        options.setdefault("jwks_uri", jwks_uri)


def auth0(domain: str, audience: str | Sequence[str], **options: Any) -> Validator:
    """A validator for an Auth0 tenant's access tokens.

    Traps: ``iss`` ends with a slash (built here from the tenant or custom
    domain); a token requested without ``audience=`` is opaque (or a JWE) and can
    never validate; with RBAC, ``permissions`` count as scopes; RS256.

    Args:
        domain: the tenant domain (``"tenant.eu.auth0.com"``) or custom domain;
            a full ``https://…`` URL is accepted too.
        audience: the API identifier configured in Auth0.
        options: any other :class:`~jwtguard.Validator` option.

    Raises:
        ConfigurationError: an empty or malformed domain.
    """
    host = _host(domain, "Auth0 tenant")
    options.setdefault("refuse_id_tokens", True)
    return Validator(issuer=f"https://{host}/", audience=audience, **options)


def rfc9068(issuer: str | Sequence[str], audience: str | Sequence[str], **options: Any) -> Validator:
    """A strict RFC 9068 (JWT profile for OAuth 2.0 access tokens) validator.

    Requires ``typ: at+jwt`` (§2.1, §4) and the claims §2.2 makes mandatory:
    ``iss``, ``exp``, ``aud``, ``sub``, ``client_id``, ``iat`` and ``jti``; refuses ID tokens.
    """
    required = (*options.pop("required_claims", ()), "sub", "client_id", "iat", "jti")
    options.setdefault("token_types", RFC9068_TOKEN_TYPES)
    options.setdefault("refuse_id_tokens", True)
    return Validator(issuer=issuer, audience=audience, required_claims=required, **options)


def oidc(issuer: str | Sequence[str], audience: str | Sequence[str], **options: Any) -> Validator:
    """A validator for any OpenID Connect provider.

    Keys come from the provider's discovery document; every default applies,
    ``refuse_id_tokens`` included (off: some providers copy ``nonce`` into
    access tokens). An ID token whose ``aud`` names the API is accepted unless
    you set ``refuse_id_tokens=True`` or require a claim only access tokens carry.
    """
    return Validator(issuer=issuer, audience=audience, **options)


def okta(
    domain: str,
    audience: str | Sequence[str],
    authorization_server: str = "default",
    *,
    client_ids: Collection[str] | None = None,
    **options: Any,
) -> Validator:
    """A validator for an Okta custom authorization server's access tokens.

    Traps: only a *custom* authorization server (``…/oauth2/default`` or
    ``…/oauth2/aus…``) issues tokens for your API; the org server's
    (``https://{domain}``) are for Okta's own APIs and are refused here. Scopes
    are a list in ``scp``; the client is in ``cid`` (not ``azp`` or
    ``client_id``), so ``client_ids=`` checks ``cid``; the user is ``uid`` and
    ``sub`` is a login name. The default server's audience is ``api://default``.

    Raises:
        ConfigurationError: a bad domain, or an authorization server that is not a custom one's id.
    """
    host = _host(domain, "Okta org")
    if not isinstance(authorization_server, str) or not re.fullmatch(r"[A-Za-z0-9]+", authorization_server):
        raise ConfigurationError(
            "authorization_server must be a custom authorization server's id ('default' or 'aus…'): "
            "the org authorization server's tokens are not meant for your API"
        )
    if client_ids is not None:
        allowed = frozenset(_names(client_ids, "client_ids"))
        _checks(options, {"cid": lambda value: value in allowed})
    options.setdefault("refuse_id_tokens", True)
    return Validator(issuer=f"https://{host}/oauth2/{authorization_server}", audience=audience, **options)


def azure_ad(
    tenant: str,
    audience: str | Sequence[str],
    *,
    versions: Sequence[str] = ("v2",),
    tenants: Collection[str] | None = None,
    **options: Any,
) -> Validator:
    """A validator for Microsoft Entra ID (Azure AD) access tokens, one tenant or many.

    Traps: the token's version follows the API's app manifest
    (``requestedAccessTokenVersion``), not the client: v1 tokens say
    ``iss = https://sts.windows.net/{tid}/`` and ``aud`` = the application ID URI,
    v2 tokens ``https://login.microsoftonline.com/{tid}/v2.0`` and ``aud`` = the
    client id — list both audiences when in doubt. A tenant's v1 and v2 issuers
    share one key set (one fetch here). ``tid`` must be the tenant of ``iss``
    (checked). Tokens for Microsoft Graph (``nonce`` in their header) cannot be
    validated by your API. With the audience being the client id, your own
    app's ID tokens carry it too: they are refused by their ``nonce`` /
    ``at_hash`` / ``c_hash``, but an ID token carrying none of them passes, so
    require ``scp`` or ``roles`` (``required_claims``) where that matters.
    Multi-tenant (``tenant="organizations"`` or ``"common"``): any tenant's tokens
    are accepted unless ``tenants=`` lists the tenant ids you onboarded.

    Args:
        tenant: the tenant id (a GUID), or ``"organizations"`` / ``"common"`` for a
            multi-tenant app (issuers resolved by :class:`~jwtguard.IssuerTemplate`).
        audience: the application ID URI and/or the client id.
        versions: the token versions accepted, ``"v1"`` and/or ``"v2"``.
        tenants: with a multi-tenant app, the accepted tenant ids (``None``: all).

    Raises:
        ConfigurationError: a tenant that is not a GUID, unknown versions, ``tenants``
            with a single-tenant app.
    """
    known = {"v1": _AZURE_V1, "v2": _AZURE_V2}
    if isinstance(versions, str) or not versions or not set(versions) <= set(known):
        raise ConfigurationError("versions must name 'v1' and/or 'v2'")
    templates = [known[version] for version in dict.fromkeys(versions)]
    options.setdefault("refuse_id_tokens", True)
    if tenant in ("organizations", "common"):
        keys = None if "jwks" in options or "jwks_uri" in options else _AZURE_KEYS.replace("{tenant}", "common")
        issuers: list[Any] = [
            IssuerTemplate(template, tenants=tenants, tenant_claim="tid", tenant_pattern=_GUID, jwks_uri=keys)
            for template in templates
        ]
        return Validator(issuer=issuers, audience=audience, **options)
    if not isinstance(tenant, str) or not re.fullmatch(_GUID, tenant):
        raise ConfigurationError("tenant must be the tenant id (a lower-case GUID), 'organizations' or 'common'")
    if tenants is not None:
        raise ConfigurationError("tenants= is for multi-tenant apps (tenant='organizations')")
    _keys(options, _AZURE_KEYS.replace("{tenant}", tenant))
    _checks(options, {"tid": _equals(tenant)})
    issuer = [template.replace("{tenant}", tenant) for template in templates]
    return Validator(issuer=issuer, audience=audience, **options)


def keycloak(
    base_url: str, realm: str, audience: str | Sequence[str], *, client_roles: Sequence[str] = (), **options: Any
) -> Validator:
    """A validator for a Keycloak realm's access tokens.

    Traps: ``iss`` is ``{base_url}/realms/{realm}`` with the host name *the
    client* used (set Keycloak's ``hostname`` so back-end and front-end agree;
    before Keycloak 17 ``base_url`` ends with ``/auth``). ``aud`` is ``account``
    unless an audience mapper adds your API. Keycloak copies the request's
    ``nonce`` into access tokens, so ID tokens are told apart by the ``typ``
    claim instead: ``Bearer`` for access tokens (``ID`` and ``Refresh`` are
    refused). Realm roles (``realm_access.roles``) are in ``claims.roles``; client
    roles (``resource_access.<client>.roles``) are added for ``client_roles``.

    Raises:
        ConfigurationError: an empty realm or client name, or a name with ``/`` or ``.``.
    """
    if not isinstance(base_url, str) or not base_url.strip():
        raise ConfigurationError("base_url must be the Keycloak server's URL, e.g. 'https://sso.example.com'")
    for name in (realm, *_names(client_roles, "client_roles")):
        if not isinstance(name, str) or not name or "/" in name or "." in name:
            raise ConfigurationError(f"keycloak: {name!r} is not a realm or client name")
    roles = tuple(f"resource_access.{client}.roles" for client in _names(client_roles, "client_roles"))
    options.setdefault("role_claims", (*DEFAULT_ROLE_CLAIMS, *roles))
    _checks(options, {"typ": _equals("Bearer")})
    return Validator(issuer=f"{base_url.strip().rstrip('/')}/realms/{realm}", audience=audience, **options)


def cognito(region: str, user_pool_id: str, client_ids: str | Sequence[str], **options: Any) -> Validator:
    """A validator for an Amazon Cognito user pool's access tokens.

    Traps: Cognito access tokens carry **no** ``aud``: the client is in
    ``client_id``, so the audience check is replaced by ``client_ids``
    (``audience=NO_AUDIENCE`` with ``authorized_parties``), and a token that does
    carry ``aud`` (an ID token) is refused; ``token_use`` must be ``access``.
    Groups (``cognito:groups``) are in ``claims.roles``; scopes in ``scope``.

    Raises:
        ConfigurationError: a malformed region or user pool id, or no client id.
    """
    if not isinstance(region, str) or not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region):
        raise ConfigurationError("region must be an AWS region, e.g. 'eu-west-1'")
    if not isinstance(user_pool_id, str) or not re.fullmatch(re.escape(region) + r"_[A-Za-z0-9]+", user_pool_id):
        raise ConfigurationError(f"user_pool_id must be the pool id of region {region}, e.g. '{region}_AbC123'")
    parties = _names(client_ids, "client_ids")
    if not parties:
        raise ConfigurationError("client_ids must name the app clients whose tokens are accepted")
    issuer = f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
    _keys(options, f"{issuer}/.well-known/jwks.json")
    _checks(options, {"token_use": _equals("access")})
    options.setdefault("refuse_id_tokens", True)
    return Validator(issuer=issuer, audience=NO_AUDIENCE, authorized_parties=parties, **options)


def google(audience: str | Sequence[str], *, hosted_domain: str | None = None, **options: Any) -> Validator:
    """A validator for Google-signed ID tokens (Sign in with Google, Cloud Run / IAP service identity).

    Traps: Google's access tokens are opaque; what an API receives is an ID
    token whose ``aud`` is your client id (or the URL a service asked a token
    for), so ``refuse_id_tokens`` stays off. ``iss`` is ``https://accounts.google.com``
    or ``accounts.google.com`` (both accepted). Any Google account can get such a
    token: ``hosted_domain=`` requires ``hd`` (a Workspace domain); check
    ``email_verified`` before trusting ``email``.
    """
    _keys(options, GOOGLE_CERTS)
    if hosted_domain is not None:
        _checks(options, {"hd": _equals(hosted_domain)})
    return Validator(issuer=["https://accounts.google.com", "accounts.google.com"], audience=audience, **options)


def firebase(project_id: str, **options: Any) -> Validator:
    """A validator for Firebase Authentication ID tokens.

    Traps: the keys are X.509 certificates at a ``{kid: PEM}`` endpoint, not a
    JWKS (read as one here); ``iss`` is ``https://securetoken.google.com/{project}``
    and ``aud`` the project id; ``sub`` (the uid) must be a non-empty string and
    ``auth_time`` in the past. Firebase ID tokens are what the client sends, so
    ``refuse_id_tokens`` stays off. Revoked sessions are visible only through
    the Admin SDK, not in the token.

    Raises:
        ConfigurationError: an empty or malformed project id.
    """
    if not isinstance(project_id, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{3,61}[a-z0-9]", project_id):
        raise ConfigurationError("project_id must be the Firebase project id, e.g. 'my-project-1234'")
    clock: Callable[[], float] = options.get("clock", time.time)
    leeway = float(options.get("leeway", 5.0))

    def in_the_past(value: object) -> bool:
        number = as_number(value)
        return number is not None and number <= clock() + leeway

    _keys(options, FIREBASE_CERTS)
    _checks(options, {"sub": lambda v: isinstance(v, str) and 0 < len(v) <= 128, "auth_time": in_the_past})
    return Validator(issuer=f"https://securetoken.google.com/{project_id}", audience=project_id, **options)


def github_actions(
    audience: str | Sequence[str],
    *,
    repository: str | Sequence[str] | None = None,
    repository_owner: str | Sequence[str] | None = None,
    ref: str | Sequence[str] | None = None,
    sub: str | Sequence[str] | None = None,
    enterprise: str | None = None,
    **options: Any,
) -> Validator:
    """A validator for GitHub Actions OIDC tokens (workload identity of a workflow run).

    Traps: *every* workflow on GitHub can get a token from this issuer with any
    audience, so at least one of ``repository``, ``repository_owner`` or ``sub``
    is required. The default audience is ``https://github.com/<owner>`` unless the
    workflow asks for another. Names can be re-registered after a rename or
    deletion: pin ``repository_id`` / ``repository_owner_id`` with
    ``claim_checks`` for the strongest binding. ``sub`` reads
    ``repo:<owner>/<repo>:ref:refs/heads/main`` (or ``:environment:<name>``,
    ``:pull_request``). Each value is a pattern or a list of them (any matches):
    ``*`` matches within one ``/``-separated part, ``**`` across parts.

    Raises:
        ConfigurationError: none of ``repository``, ``repository_owner``, ``sub``.
    """
    patterns = {"repository": repository, "repository_owner": repository_owner, "ref": ref, "sub": sub}
    if repository is None and repository_owner is None and sub is None:
        raise ConfigurationError(
            "github_actions: give repository=, repository_owner= or sub=: any GitHub workflow can get a token"
        )
    _checks(options, {name: _glob(_names(value, name)) for name, value in patterns.items() if value is not None})
    options.setdefault("refuse_id_tokens", True)
    issuer = GITHUB_ACTIONS_ISSUER if enterprise is None else f"{GITHUB_ACTIONS_ISSUER}/{_segment(enterprise)}"
    return Validator(issuer=issuer, audience=audience, **options)


def _names(value: str | Collection[str], what: str) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    if not all(isinstance(item, str) and item for item in items):
        raise ConfigurationError(f"{what} must be a non-empty string or a sequence of them")
    return items


def _segment(name: str) -> str:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        raise ConfigurationError("enterprise must be the enterprise's slug")
    return name


def _glob(patterns: Sequence[str]) -> ClaimPredicate:
    """A predicate matching any of ``patterns``: ``*`` within a ``/``-separated part, ``**`` across parts."""
    compiled = [
        re.compile("".join({"**": ".*", "*": "[^/]*"}.get(part, re.escape(part)) for part in re.split(r"(\*\*|\*)", p)))
        for p in patterns
    ]
    return lambda value: isinstance(value, str) and any(c.fullmatch(value) for c in compiled)
