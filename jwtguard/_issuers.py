"""Issuers accepted by rule, for multi-tenant APIs: :class:`IssuerTemplate` and predicates.

Theory of operation. ``issuer=`` takes exact strings and, beside them, rules:
an :class:`IssuerTemplate` (``https://login.microsoftonline.com/{tenant}/v2.0``)
or a callable ``iss -> bool``. A token whose ``iss`` is none of the strings is
offered to the rules, in order; a refused ``iss`` is ``unknown_issuer`` and
costs no network, nothing is created for it and nothing is remembered. An
accepted ``iss`` gets a key source of its own on first use, kept in a bounded
LRU (``issuer_cache_size``): a flood of tenants evicts the least recently used
sources, never grows memory. Sources whose keys do not depend on the tenant (a
template with a fixed ``jwks_uri``, or a validator's ``jwks`` / ``jwks_uri``)
are shared by every tenant: one key set, one fetch.

A forged ``iss`` must never steer a fetch elsewhere (SSRF): the placeholder may
only stand for one path segment of unreserved characters (no ``/``, ``?``,
``#``, ``@``, ``%``, never ``.`` or ``..``), so discovery stays on the
template's host, and a discovery document naming a ``jwks_uri`` on another host
is refused unless that host is listed in ``jwks_hosts``. A predicate's issuers
keep to their own host the same way. An explicit ``jwks_uri`` is configuration,
trusted as given.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cachetools import LRUCache

from . import _http
from ._discovery import authority
from ._jwks import RemoteKeySource
from .errors import ConfigurationError, InvalidTokenError

if TYPE_CHECKING:
    from ._sources import SourceParts

__all__ = [
    "DEFAULT_ISSUER_CACHE_SIZE",
    "IssuerResolver",
    "IssuerRule",
    "IssuerTemplate",
    "build_resolver",
    "is_rule",
    "tenant_checks",
]

logger = logging.getLogger("jwtguard")

TENANT = "{tenant}"
#: A tenant: one path segment of unreserved characters, starting with a letter or digit.
DEFAULT_TENANT_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._~-]{0,127}"
#: How many resolved issuers' key sources a validator keeps.
DEFAULT_ISSUER_CACHE_SIZE = 100
_FORBIDDEN = frozenset("/?#@%\\:[] ")


class IssuerTemplate:
    """Accept every issuer of one shape: one ``{tenant}`` placeholder in the issuer's path.

    >>> template = IssuerTemplate("https://login.microsoftonline.com/{tenant}/v2.0", tenant_claim="tid")
    >>> template.tenant_of("https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0")
    '72f988bf-86f1-41af-91ab-2d7cd011db47'
    >>> template.tenant_of("https://login.microsoftonline.com/../v2.0") is None
    True

    Args:
        template: the issuer, with ``{tenant}`` standing for one path segment
            (never in the host: the host is fixed, so a forged ``iss`` cannot
            move a fetch to another host).
        tenants: the accepted tenants; ``None`` accepts any tenant matching
            ``tenant_pattern`` (each new one costs a key-set fetch unless
            ``jwks_uri`` is fixed).
        tenant_claim: a claim that must equal the tenant of ``iss`` (Azure AD:
            ``"tid"``); the claim becomes required for this template's tokens.
        tenant_pattern: a regular expression a tenant must match in full. Whatever
            it allows, ``/ ? # @ % \\ :`` and the segments ``.`` and ``..`` are refused.
        jwks_uri: the key-set URL, fixed or with ``{tenant}``; default: discovery
            from each issuer (OIDC, then RFC 8414, then ``/.well-known/jwks.json``).
        jwks_hosts: hosts (``host`` or ``host:port``) besides the template's that a
            discovered ``jwks_uri`` may name; default none.

    Raises:
        ConfigurationError: not exactly one placeholder, a placeholder outside the
            path, a bad pattern, or an empty ``tenants``.
    """

    def __init__(
        self,
        template: str,
        *,
        tenants: Collection[str] | None = None,
        tenant_claim: str | None = None,
        tenant_pattern: str = DEFAULT_TENANT_PATTERN,
        jwks_uri: str | None = None,
        jwks_hosts: Collection[str] = (),
    ) -> None:
        if not isinstance(template, str) or template.count(TENANT) != 1:
            raise ConfigurationError("IssuerTemplate: the template must hold exactly one {tenant}")
        prefix, suffix = template.split(TENANT)
        if "/" not in prefix.partition("://")[2]:
            raise ConfigurationError("IssuerTemplate: {tenant} must be in the path, after the host")
        try:
            self._pattern = re.compile(re.escape(prefix) + f"(?P<tenant>{tenant_pattern})" + re.escape(suffix))
        except (re.error, TypeError):
            raise ConfigurationError("IssuerTemplate: tenant_pattern is not a regular expression") from None
        if tenants is not None:
            if isinstance(tenants, str) or not tenants or not all(isinstance(t, str) and t for t in tenants):
                raise ConfigurationError("IssuerTemplate: tenants must be a non-empty collection of strings, or None")
            if not all(_safe(t) for t in tenants):
                raise ConfigurationError("IssuerTemplate: a tenant is not a single path segment")
        if tenant_claim is not None and (not isinstance(tenant_claim, str) or not tenant_claim):
            raise ConfigurationError("IssuerTemplate: tenant_claim must be a claim name")
        if jwks_uri is not None and (not isinstance(jwks_uri, str) or jwks_uri.count(TENANT) > 1):
            raise ConfigurationError("IssuerTemplate: jwks_uri must be a URL with at most one {tenant}")
        if jwks_uri is not None and TENANT in jwks_uri and "/" not in jwks_uri.split(TENANT)[0].partition("://")[2]:
            raise ConfigurationError("IssuerTemplate: {tenant} in jwks_uri must be in the path")
        if isinstance(jwks_hosts, str) or not all(isinstance(h, str) and h for h in jwks_hosts):
            raise ConfigurationError("IssuerTemplate: jwks_hosts must be a collection of host names")
        self.template = template
        self.tenants = None if tenants is None else frozenset(tenants)
        self.tenant_claim = tenant_claim
        self.jwks_uri = jwks_uri
        self.jwks_hosts = frozenset(h.lower() for h in jwks_hosts)

    def tenant_of(self, iss: object) -> str | None:
        """The tenant ``iss`` names if this template accepts it, else ``None`` (no network)."""
        if not isinstance(iss, str):
            return None
        match = self._pattern.fullmatch(iss)
        if match is None:
            return None
        tenant = match.group("tenant")
        if not _safe(tenant) or (self.tenants is not None and tenant not in self.tenants):
            return None
        return tenant

    def issuer_for(self, tenant: str) -> str:
        """The issuer of ``tenant``."""
        return self.template.replace(TENANT, tenant)

    def __repr__(self) -> str:
        return f"IssuerTemplate({self.template!r})"


def _safe(tenant: str) -> bool:
    return tenant not in (".", "..") and not _FORBIDDEN.intersection(tenant) and tenant.isprintable()


#: What ``issuer=`` accepts besides strings.
IssuerRule = IssuerTemplate | Callable[[str], bool]


def is_rule(value: object) -> bool:
    """Whether ``value`` is an issuer rule: a template, or a predicate taking one argument (``iss``)."""
    if isinstance(value, IssuerTemplate):
        return True
    if not callable(value) or isinstance(value, type):
        return False
    try:
        inspect.signature(value).bind("https://issuer.example/")
    except TypeError:
        return False
    except ValueError:
        return True  # no introspectable signature (a builtin): trusted as given
    return True


@dataclass(frozen=True)
class Resolved:
    """An accepted issuer: where its keys are and which hosts discovery may name."""

    issuer: str
    jwks_uri: str | None  # configured: trusted as given
    hosts: frozenset[str]
    shared: bool  # the keys do not depend on the issuer


def _resolve(rule: IssuerRule, iss: str, settings: _http.HttpSettings) -> Resolved | None:
    if isinstance(rule, IssuerTemplate):
        tenant = rule.tenant_of(iss)
        if tenant is None:
            return None
        uri = None if rule.jwks_uri is None else rule.jwks_uri.replace(TENANT, tenant)
        shared = rule.jwks_uri is not None and TENANT not in rule.jwks_uri
        return Resolved(iss, uri, frozenset({authority(iss), *rule.jwks_hosts}), shared)
    try:
        accepted = rule(iss)
    except Exception as exc:  # a crashing predicate refuses the issuer
        logger.warning("jwtguard: the issuer predicate raised %s; refusing the issuer", type(exc).__name__)
        return None
    if not accepted:
        return None
    try:
        _http.check_url(iss, settings, "issuer")
    except ConfigurationError:
        return None
    return Resolved(iss, None, frozenset({authority(iss)}), False)


class IssuerResolver:
    """Key sources for issuers accepted by rule: made on first use, kept in a bounded LRU."""

    def __init__(
        self,
        rules: Sequence[IssuerRule],
        settings: _http.HttpSettings,
        make: Callable[[Resolved], Any],
        capacity: int,
    ) -> None:
        self._rules = tuple(rules)
        self._settings = settings
        self._make = make
        self._lock = threading.Lock()
        self._sources: LRUCache[str, Any] = LRUCache(maxsize=max(1, capacity))

    def source(self, iss: str) -> Any | None:
        """The key source for ``iss``, or ``None`` if no rule accepts it (no network either way)."""
        with self._lock:
            found = self._sources.get(iss)
        if found is not None:
            return found
        resolved = next((r for r in (_resolve(rule, iss, self._settings) for rule in self._rules) if r), None)
        if resolved is None:
            return None
        with self._lock:
            found = self._sources.get(iss)
            if found is None:
                found = self._make(resolved)
                if found is not None:
                    self._sources[iss] = found
            return found

    def __len__(self) -> int:
        """How many resolved issuers have a key source now (at most the capacity)."""
        return len(self._sources)


def build_resolver(
    rules: Sequence[IssuerRule],
    *,
    jwks: Mapping[str, Any] | None,
    jwks_uri: str | Mapping[str, str] | None,
    parts: SourceParts,
    capacity: int = DEFAULT_ISSUER_CACHE_SIZE,
) -> IssuerResolver:
    """The resolver of a validator's rules; keys as configured, else discovery on the issuer's host.

    A validator's ``jwks`` document (or ``jwks_uri`` URL) serves every resolved
    issuer; a mapping serves the issuers it names (others are refused for
    static keys, discovered for URLs). Sources of configured URLs are shared.

    Raises:
        ConfigurationError: a template whose host may not be fetched (``https://`` only,
            plain ``http`` for loopback), or an unusable ``jwks``.
    """
    for rule in rules:
        if isinstance(rule, IssuerTemplate):
            _http.check_url(rule.issuer_for("tenant"), parts.settings, f"{rule!r}")
            if rule.jwks_uri is not None:
                _http.check_url(rule.jwks_uri.replace(TENANT, "tenant"), parts.settings, f"{rule!r} jwks_uri")
    static: dict[str | None, Any] = {}
    if jwks is not None and "keys" in jwks:
        static[None] = parts.static("(resolved issuers)", jwks)
    elif jwks is not None:
        static = {iss: parts.static(iss, doc) for iss, doc in jwks.items() if isinstance(doc, Mapping)}
    by_uri: dict[str, RemoteKeySource] = {}  # configured URLs only: bounded by the configuration

    def make(resolved: Resolved) -> Any:
        if jwks is not None:
            return static.get(None) or static.get(resolved.issuer)
        uri, shared = resolved.jwks_uri, resolved.shared
        if uri is None and jwks_uri is not None:
            uri = jwks_uri.get(resolved.issuer) if isinstance(jwks_uri, Mapping) else jwks_uri
            shared = uri is not None
        if shared and uri in by_uri:
            return by_uri[uri]
        source = parts.remote(resolved.issuer, uri, jwks_hosts=None if uri is not None else resolved.hosts)
        if shared and uri is not None:
            by_uri[uri] = source
        return source

    return IssuerResolver(rules, parts.settings, make, capacity)


def tenant_checks(rules: Sequence[IssuerRule]) -> list[Callable[[Mapping[str, Any], float], None]]:
    """Checks binding a tenant claim (Azure AD ``tid``) to the tenant in ``iss``, one per template that names one."""
    checks = []
    for rule in rules:
        if isinstance(rule, IssuerTemplate) and rule.tenant_claim is not None:
            checks.append(_tenant_check(rule, rule.tenant_claim))
    return checks


def _tenant_check(template: IssuerTemplate, claim: str) -> Callable[[Mapping[str, Any], float], None]:
    def check(payload: Mapping[str, Any], now: float) -> None:
        tenant = template.tenant_of(payload.get("iss"))
        if tenant is None:
            return  # another issuer's token
        if claim not in payload:
            raise InvalidTokenError("missing_claim", claim=claim, reason="missing")
        if payload[claim] != tenant:
            raise InvalidTokenError("invalid_claim", claim=claim, reason="tenant_mismatch")

    return check
