"""Every :class:`~jwtguard.Validator` option, checked and normalised in one place.

:class:`Options` is what a validator is built from: the constructor's keyword
arguments, the settings loader (:mod:`jwtguard.settings`: Flask's
``JWTGUARD_*``, Django's ``JWTGUARD`` dict, environment variables) and the
profiles all end here, so a value is validated the same way whichever way it
came. Building one raises :class:`~jwtguard.ConfigurationError` for any bad
value; a built one is frozen.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from . import _http
from ._checks import ClaimPredicate, NoAudience, as_number
from ._dpop import DEFAULT_DPOP_ALGORITHMS
from ._issuers import DEFAULT_ISSUER_CACHE_SIZE, IssuerRule, is_rule
from ._keys import MAX_KEYS
from ._options import media_type, seconds, strings
from .claims import DEFAULT_ROLE_CLAIMS, is_scope_token
from .errors import ConfigurationError
from .hooks import Hooks
from .stores import Store

__all__ = [
    "DEFAULT_LEEWAY",
    "DEFAULT_MAX_TOKEN_SIZE",
    "DEFAULT_TOKEN_CACHE_SIZE",
    "DEFAULT_TOKEN_TYPES",
    "OPTION_NAMES",
    "Options",
    "RFC9068_TOKEN_TYPES",
    "scope_tokens",
]

#: Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``.
DEFAULT_LEEWAY = 5.0
#: Largest token accepted, in characters (Azure AD tokens with groups reach ~8 KiB).
DEFAULT_MAX_TOKEN_SIZE = 16 * 1024
#: Accepted ``typ`` header values: absent, ``JWT``, or RFC 9068's ``at+jwt``.
DEFAULT_TOKEN_TYPES: tuple[str | None, ...] = (None, "JWT", "at+jwt", "application/at+jwt")
#: The strict RFC 9068 §4 set: only ``at+jwt``.
RFC9068_TOKEN_TYPES: tuple[str | None, ...] = ("at+jwt", "application/at+jwt")
#: How many validated tokens each validator remembers.
DEFAULT_TOKEN_CACHE_SIZE = 8192
#: The ``dpop=`` modes (RFC 9449): refuse the DPoP scheme, accept both schemes, or require DPoP.
DPOP_MODES = ("disabled", "allowed", "required")


def scope_tokens(value: str | Sequence[str], what: str) -> tuple[str, ...]:
    """``value`` as scope names, each an RFC 6749 §3.3 scope-token.

    Raises:
        ConfigurationError: an empty name, or one with a space or another character RFC 6749 excludes.
    """
    scopes = strings(value, what)
    for scope in scopes:
        if not is_scope_token(scope):
            raise ConfigurationError(f"{what}: {scope!r} is not an RFC 6749 scope-token (printable ASCII, no spaces)")
    return scopes


def _integer(value: object, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{what} must be an integer >= {minimum}")
    return value


def _optional_text(value: object, what: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigurationError(f"{what} must be a URL")
    return value


def _function(value: object, what: str) -> Callable[[], float]:
    if not callable(value) or as_number(value()) is None:
        raise ConfigurationError(f"{what} must be a callable returning a finite number of seconds")
    return value


@dataclass(frozen=True)
class Options:
    """The options of one validator (see :class:`~jwtguard.Validator` for their meaning)."""

    issuer: str | IssuerRule | Sequence[str | IssuerRule]
    audience: str | Collection[str] | None = None
    algorithms: Sequence[str] = ("RS256",)
    jwks_uri: str | Mapping[str, str] | None = None
    jwks: Mapping[str, Any] | None = None
    leeway: float = DEFAULT_LEEWAY
    authorized_parties: str | Sequence[str] | None = None
    required_scopes: str | Sequence[str] = ()
    max_token_age: float | None = None
    token_types: Collection[str | None] = DEFAULT_TOKEN_TYPES
    required_claims: str | Sequence[str] = ()
    claim_checks: Mapping[str, ClaimPredicate | None] | None = None
    max_token_size: int = DEFAULT_MAX_TOKEN_SIZE
    token_cache_size: int = DEFAULT_TOKEN_CACHE_SIZE
    cache_max_age: float = 600.0
    unknown_kid_cooldown: float = 30.0
    max_stale: float = 86400.0
    cache_max_age_bounds: Sequence[float] = (60.0, 86400.0)
    timeout: float = 5.0
    max_response_size: int = 1024 * 1024
    max_keys: int = MAX_KEYS
    allow_insecure_http: bool = False
    proxy: str | None = None
    trust_env_proxies: bool = False
    ca_bundle: str | os.PathLike[str] | ssl.SSLContext | None = field(default=None, repr=False)
    fetch_headers: Mapping[str, str] | None = field(default=None, repr=False)
    fetch: _http.Fetch | None = field(default=None, repr=False)
    clock: Callable[[], float] = field(default=time.time, repr=False)
    timer: Callable[[], float] = field(default=time.monotonic, repr=False)
    hooks: Hooks | None = field(default=None, repr=False)
    dpop: str = "allowed"
    dpop_algorithms: Sequence[str] = DEFAULT_DPOP_ALGORITHMS
    dpop_max_age: float = 300.0
    dpop_nonce: bool = False
    dpop_nonce_secret: str | bytes | None = field(default=None, repr=False)
    dpop_replay_cache_size: int = 100_000
    role_claims: Sequence[str] = DEFAULT_ROLE_CLAIMS
    introspection: str | None = None
    introspection_endpoint: str | None = None
    introspection_client: Sequence[str] | None = field(default=None, repr=False)
    introspection_auth_method: str = "client_secret_basic"
    introspection_cache_size: int = 1024
    introspection_cache_ttl: float = 60.0
    store: Store | None = field(default=None, repr=False)
    store_sync_interval: float = 1.0
    issuer_cache_size: int = DEFAULT_ISSUER_CACHE_SIZE
    refuse_id_tokens: bool = False

    def __post_init__(self) -> None:
        normal = {name: check(self) for name, check in _NORMALISE.items()}
        for name, value in normal.items():
            object.__setattr__(self, name, value)
        if self.jwks is not None and self.jwks_uri is not None:
            raise ConfigurationError("give jwks= (static keys) or jwks_uri=, not both")


def _issuers(o: Options) -> tuple[str | IssuerRule, ...]:
    """Strings (exact ``iss`` values) and rules (:class:`~jwtguard.IssuerTemplate`, predicates), in order."""
    value = o.issuer
    if is_rule(value):
        return (value,)  # type: ignore[return-value]
    if isinstance(value, (Sequence, Collection)) and not isinstance(value, (str, bytes)):
        rules = tuple(item for item in value if is_rule(item))
        names = strings([item for item in value if not is_rule(item)], "issuer")  # type: ignore[misc]
        issuers: tuple[str | IssuerRule, ...] = (*names, *rules)
    else:
        issuers = strings(value, "issuer")  # type: ignore[arg-type]
    if not issuers:
        raise ConfigurationError("issuer is required")
    return issuers


def _audience(o: Options) -> frozenset[str]:
    if isinstance(o.audience, NoAudience):
        return o.audience  # jwtguard.NO_AUDIENCE, kept as itself: the check table reads it
    return frozenset(strings(o.audience, "audience"))  # type: ignore[arg-type]  # sets too


def _jwks(o: Options) -> Mapping[str, Any] | None:
    if o.jwks is not None and not isinstance(o.jwks, Mapping):
        raise ConfigurationError("jwks must be a JWKS document (a mapping with 'keys') or a mapping issuer -> JWKS")
    return o.jwks


def _jwks_uri(o: Options) -> str | Mapping[str, str] | None:
    if o.jwks_uri is not None and not isinstance(o.jwks_uri, (str, Mapping)):
        raise ConfigurationError("jwks_uri must be a URL or a mapping issuer -> URL")
    return o.jwks_uri


def _token_types(o: Options) -> frozenset[str | None]:
    types = o.token_types
    if isinstance(types, str) or not isinstance(types, Collection):
        raise ConfigurationError("token_types must be a collection of typ values (None: no typ)")
    if not all(t is None or isinstance(t, str) for t in types):
        raise ConfigurationError("token_types must hold strings or None")
    accepted = frozenset(None if t is None else media_type(t) for t in types)
    if not accepted:
        raise ConfigurationError("token_types must accept at least one value")
    return accepted


def _claim_checks(o: Options) -> Mapping[str, ClaimPredicate | None]:
    if o.claim_checks is not None and not isinstance(o.claim_checks, Mapping):
        raise ConfigurationError("claim_checks must be a mapping claim name -> predicate (or None)")
    return dict(o.claim_checks or {})


def _parties(o: Options) -> frozenset[str] | None:
    parties = o.authorized_parties
    return None if parties is None else frozenset(strings(parties, "authorized_parties"))


def _dpop(o: Options) -> str:
    if o.dpop not in DPOP_MODES:
        raise ConfigurationError(f"dpop must be one of {', '.join(DPOP_MODES)}")
    return o.dpop


def _dpop_algorithms(o: Options) -> tuple[str, ...]:
    from ._algorithms import SPECS

    names = strings(o.dpop_algorithms, "dpop_algorithms")
    for name in names:
        if name not in SPECS or SPECS[name].symmetric:
            raise ConfigurationError(f"dpop_algorithms: {name!r} is not an asymmetric JWS algorithm (RFC 9449 §4.2)")
    if not names:
        raise ConfigurationError("dpop_algorithms must name at least one algorithm")
    return names


def _nonce_secret(o: Options) -> bytes | None:
    secret = o.dpop_nonce_secret
    if secret is None:
        return None
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes) or len(secret) < 16:
        raise ConfigurationError("dpop_nonce_secret must be at least 16 bytes (shared by every worker)")
    return secret


def _flag(name: str) -> Callable[[Options], bool]:
    def check(o: Options) -> bool:
        value = getattr(o, name)
        if not isinstance(value, bool):
            raise ConfigurationError(f"{name} must be True or False")
        return value

    return check


def _store(o: Options) -> Store | None:
    if o.store is not None and not isinstance(o.store, Store):
        raise ConfigurationError("store must be a jwtguard.stores.Store (MemoryStore, RedisStore …)")
    return o.store


def _sync_interval(o: Options) -> float:
    value = seconds(o.store_sync_interval, "store_sync_interval") or 0.0
    if value <= 0:
        raise ConfigurationError("store_sync_interval must be > 0")
    return value


def _introspection(o: Options) -> str | None:
    from ._introspection import INTROSPECTION_MODES

    if o.introspection is None:  # an endpoint alone means: introspect opaque tokens
        return "opaque" if o.introspection_endpoint is not None else None
    if o.introspection not in INTROSPECTION_MODES:
        raise ConfigurationError(f"introspection must be one of {', '.join(INTROSPECTION_MODES)} (or None)")
    return o.introspection


def _introspection_client(o: Options) -> tuple[str, str] | None:
    client = o.introspection_client
    if client is None:
        return None
    pair = strings(client, "introspection_client") if not isinstance(client, str) else ()
    if len(pair) != 2:
        raise ConfigurationError("introspection_client must be (client_id, client_secret)")
    return pair[0], pair[1]


def _introspection_auth_method(o: Options) -> str:
    from ._introspection import INTROSPECTION_AUTH_METHODS

    if o.introspection_auth_method not in INTROSPECTION_AUTH_METHODS:
        raise ConfigurationError(f"introspection_auth_method must be one of {', '.join(INTROSPECTION_AUTH_METHODS)}")
    return o.introspection_auth_method


def _hooks(o: Options) -> Hooks | None:
    if o.hooks is not None and not isinstance(o.hooks, Hooks):
        raise ConfigurationError("hooks must be a jwtguard.hooks.Hooks")
    return o.hooks


def _timeout(o: Options) -> float:
    value = seconds(o.timeout, "timeout") or 0.0
    if value <= 0:
        raise ConfigurationError("timeout must be > 0")
    return value


def _max_age_bounds(o: Options) -> tuple[float, float]:
    value, what = o.cache_max_age_bounds, "cache_max_age_bounds"
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise ConfigurationError(f"{what} must be two numbers of seconds: (low, high)")
    try:
        low, high = (float(v) if isinstance(v, str) else v for v in value)
    except ValueError:
        raise ConfigurationError(f"{what} must be two numbers of seconds: (low, high)") from None
    low, high = seconds(low, what) or 0.0, seconds(high, what) or 0.0
    if low > high:
        raise ConfigurationError(f"{what}: the low bound must not exceed the high one")
    return low, high


def _fetch(o: Options) -> _http.Fetch | None:
    if o.fetch is not None and (o.proxy is not None or o.trust_env_proxies is True or o.ca_bundle is not None):
        raise ConfigurationError("fetch replaces the built-in transport: give it the proxy and CA bundle instead")
    return _http.check_fetch(o.fetch)


_NORMALISE: dict[str, Callable[[Options], Any]] = {
    "issuer": _issuers,
    "audience": _audience,
    "jwks": _jwks,
    "jwks_uri": _jwks_uri,
    "leeway": lambda o: seconds(o.leeway, "leeway"),
    "authorized_parties": _parties,
    "required_scopes": lambda o: scope_tokens(o.required_scopes, "required_scopes"),
    "max_token_age": lambda o: seconds(o.max_token_age, "max_token_age", optional=True),
    "token_types": _token_types,
    "required_claims": lambda o: strings(o.required_claims, "required_claims"),
    "claim_checks": _claim_checks,
    "max_token_size": lambda o: _integer(o.max_token_size, "max_token_size", 64),
    "token_cache_size": lambda o: _integer(o.token_cache_size, "token_cache_size", 0),
    "max_response_size": lambda o: _integer(o.max_response_size, "max_response_size (bytes)", 1),
    "timeout": _timeout,
    "allow_insecure_http": _flag("allow_insecure_http"),
    "cache_max_age_bounds": _max_age_bounds,
    "max_keys": lambda o: _integer(o.max_keys, "max_keys", 1),
    "proxy": lambda o: _http.check_proxy(o.proxy),
    "trust_env_proxies": _flag("trust_env_proxies"),
    "ca_bundle": lambda o: _http.tls_context(o.ca_bundle),
    "fetch_headers": lambda o: _http.check_headers(o.fetch_headers),
    "fetch": _fetch,
    "clock": lambda o: _function(o.clock, "clock"),
    "timer": lambda o: _function(o.timer, "timer"),
    "hooks": _hooks,
    "dpop": _dpop,
    "dpop_algorithms": _dpop_algorithms,
    "dpop_max_age": lambda o: seconds(o.dpop_max_age, "dpop_max_age"),
    "dpop_nonce": _flag("dpop_nonce"),
    "dpop_nonce_secret": _nonce_secret,
    "dpop_replay_cache_size": lambda o: _integer(o.dpop_replay_cache_size, "dpop_replay_cache_size", 1),
    "role_claims": lambda o: strings(o.role_claims, "role_claims"),
    "introspection": _introspection,
    "introspection_endpoint": lambda o: _optional_text(o.introspection_endpoint, "introspection_endpoint"),
    "introspection_client": _introspection_client,
    "introspection_auth_method": _introspection_auth_method,
    "introspection_cache_size": lambda o: _integer(o.introspection_cache_size, "introspection_cache_size", 0),
    "introspection_cache_ttl": lambda o: seconds(o.introspection_cache_ttl, "introspection_cache_ttl"),
    "store": _store,
    "store_sync_interval": _sync_interval,
    "issuer_cache_size": lambda o: _integer(o.issuer_cache_size, "issuer_cache_size", 1),
    "refuse_id_tokens": _flag("refuse_id_tokens"),
}

#: Every option name, in the constructor's order.
OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Options))
