"""The :class:`Validator`: every check an OAuth 2.0 resource server owes a bearer token."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from . import _http, _jose
from ._algorithms import AlgorithmSpec, compile_allowlist
from ._checks import ClaimPredicate, as_number, build_table
from ._keycache import CachePolicy
from ._keys import Key
from ._options import media_type, number, seconds, strings
from ._sources import KeySource, build_sources
from ._status import KeySetStatus
from ._token_cache import CachedToken, TokenCache
from .claims import Claims, is_scope_token
from .errors import AuthError, ConfigurationError, InsufficientScopeError, InvalidTokenError
from .hooks import Hooks, call_safely

__all__ = [
    "DEFAULT_LEEWAY",
    "DEFAULT_MAX_TOKEN_SIZE",
    "DEFAULT_TOKEN_CACHE_SIZE",
    "DEFAULT_TOKEN_TYPES",
    "RFC9068_TOKEN_TYPES",
    "Validator",
]

#: Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``.
DEFAULT_LEEWAY = 5.0
#: Largest token accepted, in characters (Azure AD tokens with groups reach ~8 KiB).
DEFAULT_MAX_TOKEN_SIZE = 16 * 1024
#: Accepted ``typ`` header values: absent, ``JWT``, or RFC 9068's ``at+jwt``.
DEFAULT_TOKEN_TYPES: tuple[str | None, ...] = (None, "JWT", "at+jwt", "application/at+jwt")
logger = logging.getLogger("jwtguard")

#: How many validated tokens each validator remembers.
DEFAULT_TOKEN_CACHE_SIZE = 1024
#: The strict RFC 9068 §4 set: only ``at+jwt``.
RFC9068_TOKEN_TYPES: tuple[str | None, ...] = ("at+jwt", "application/at+jwt")


def _scopes(value: str | Sequence[str], what: str) -> tuple[str, ...]:
    scopes = strings(value, what)
    for scope in scopes:
        if not is_scope_token(scope):
            raise ConfigurationError(f"{what}: {scope!r} is not an RFC 6749 scope-token (printable ASCII, no spaces)")
    return scopes


class Validator:
    """Validates OAuth 2.0 / OIDC JWT access tokens for one API.

    Args:
        issuer: the accepted issuer(s); exact string match on ``iss``. With
            several, each issuer's tokens verify only with that issuer's keys.
        audience: the accepted audience(s); the token's ``aud`` must contain one.
        algorithms: the allowed JWS algorithms (default ``["RS256"]``).
        jwks_uri: the key-set URL, or a mapping issuer → URL. Default: OIDC
            discovery from the issuer, falling back to ``{issuer}/.well-known/jwks.json``.
        jwks: static keys (a JWKS document, or a mapping issuer → JWKS): no network.
        leeway: seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``.
        authorized_parties: accepted client ids, checked against ``azp`` (or ``client_id``).
        required_scopes: scopes every token must carry.
        max_token_age: reject tokens whose ``iat`` is older than this (makes ``iat`` required).
        token_types: accepted ``typ`` header values (``None`` = absent).
        required_claims: claims that must be present (e.g. ``("sub", "jti")``).
        claim_checks: extra or replacement checks: claim name → predicate on its
            value (the claim becomes required), or ``None`` to drop an optional check.
        max_token_size: longest token accepted, in characters.
        token_cache_size: how many validated tokens to remember (0: none). A
            repeated token is answered from memory only while a full validation
            would accept it (see :mod:`jwtguard._token_cache`).
        cache_max_age: seconds fetched keys stay fresh.
        unknown_kid_cooldown: minimum seconds between refetches caused by unknown ``kid``\\ s.
        max_stale: seconds past ``cache_max_age`` that keys keep serving while fetches fail.
        timeout: seconds a key-set fetch may take, in all.
        max_response_size: largest discovery or JWKS response, in bytes.
        allow_insecure_http: allow plain ``http://`` to non-loopback hosts (unsafe).
        clock: returns the current time in seconds since the epoch (token dates:
            ``exp``, ``nbf``, ``iat``).
        timer: a monotonic clock in seconds, for the durations the key-set cache
            measures (freshness, cooldown, back-off), so that a step of the wall
            clock never freezes or hastens refetches.
        hooks: a :class:`~jwtguard.hooks.Hooks` receiving validations,
            rejections and key-set fetches (for metrics).

    Raises:
        ConfigurationError: any invalid option.
    """

    def __init__(
        self,
        *,
        issuer: str | Sequence[str],
        audience: str | Sequence[str] | None = None,
        algorithms: Sequence[str] = ("RS256",),
        jwks_uri: str | Mapping[str, str] | None = None,
        jwks: Mapping[str, Any] | None = None,
        leeway: float = DEFAULT_LEEWAY,
        authorized_parties: str | Sequence[str] | None = None,
        required_scopes: str | Sequence[str] = (),
        max_token_age: float | None = None,
        token_types: Collection[str | None] = DEFAULT_TOKEN_TYPES,
        required_claims: str | Sequence[str] = (),
        claim_checks: Mapping[str, ClaimPredicate | None] | None = None,
        max_token_size: int = DEFAULT_MAX_TOKEN_SIZE,
        token_cache_size: int = DEFAULT_TOKEN_CACHE_SIZE,
        cache_max_age: float = 600.0,
        unknown_kid_cooldown: float = 30.0,
        max_stale: float = 86400.0,
        timeout: float = 5.0,
        max_response_size: int = 1024 * 1024,
        allow_insecure_http: bool = False,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
        hooks: Hooks | None = None,
    ) -> None:
        issuers = strings(issuer, "issuer")
        if not issuers:
            raise ConfigurationError("issuer is required")
        if jwks is not None and jwks_uri is not None:
            raise ConfigurationError("give jwks= (static keys) or jwks_uri=, not both")
        if jwks is not None and not isinstance(jwks, Mapping):
            raise ConfigurationError("jwks must be a JWKS document (a mapping with 'keys') or a mapping issuer -> JWKS")
        if jwks_uri is not None and not isinstance(jwks_uri, (str, Mapping)):
            raise ConfigurationError("jwks_uri must be a URL or a mapping issuer -> URL")
        for name, function in (("clock", clock), ("timer", timer)):
            if not callable(function) or as_number(function()) is None:
                raise ConfigurationError(f"{name} must be a callable returning a finite number of seconds")
        if hooks is not None and not isinstance(hooks, Hooks):
            raise ConfigurationError("hooks must be a jwtguard.hooks.Hooks")
        self._algorithms = compile_allowlist(algorithms, remote=jwks is None)
        self.issuers = issuers
        self.audiences = frozenset(strings(audience, "audience"))
        self.leeway = seconds(leeway, "leeway") or 0.0
        parties = strings(authorized_parties, "authorized_parties") if authorized_parties is not None else None
        self.authorized_parties = frozenset(parties) if parties is not None else None
        self.required_scopes = _scopes(required_scopes, "required_scopes")
        if isinstance(token_types, str) or not isinstance(token_types, Collection):
            raise ConfigurationError("token_types must be a collection of typ values (None: no typ)")
        if not all(t is None or isinstance(t, str) for t in token_types):
            raise ConfigurationError("token_types must hold strings or None")
        self._token_types = frozenset(None if t is None else media_type(t) for t in token_types)
        if not self._token_types:
            raise ConfigurationError("token_types must accept at least one value")
        if isinstance(max_token_size, bool) or not isinstance(max_token_size, int) or max_token_size < 64:
            raise ConfigurationError("max_token_size must be an integer >= 64")
        self.max_token_size = max_token_size
        self.max_token_age = seconds(max_token_age, "max_token_age", optional=True)
        if claim_checks is not None and not isinstance(claim_checks, Mapping):
            raise ConfigurationError("claim_checks must be a mapping claim name -> predicate (or None)")
        checks = dict(claim_checks or {})
        table = build_table(
            leeway=self.leeway,
            audiences=self.audiences,
            authorized_parties=self.authorized_parties,
            max_token_age=self.max_token_age,
            required_claims=strings(required_claims, "required_claims"),
            claim_checks=checks,
        )
        self._checks = tuple(table.values())
        # Users' predicates may depend on state (a revocation list): they run again on every cache hit.
        self._predicates = tuple(table[name] for name, predicate in checks.items() if predicate is not None)
        if isinstance(token_cache_size, bool) or not isinstance(token_cache_size, int) or token_cache_size < 0:
            raise ConfigurationError("token_cache_size must be an integer >= 0")
        # A user predicate on a time claim may depend on the time: such tokens are never cached.
        custom_time_check = any(checks.get(name) is not None for name in ("exp", "nbf", "iat"))
        self._token_cache = TokenCache(token_cache_size) if token_cache_size and not custom_time_check else None
        self._clock = clock
        self._hooks = hooks
        if not isinstance(allow_insecure_http, bool):
            raise ConfigurationError("allow_insecure_http must be True or False")
        if isinstance(max_response_size, bool) or not isinstance(max_response_size, int) or max_response_size < 1:
            raise ConfigurationError("max_response_size must be a positive integer (bytes)")
        settings = _http.HttpSettings(
            timeout=seconds(timeout, "timeout") or 0.0,
            max_bytes=max_response_size,
            allow_insecure_http=allow_insecure_http,
        )
        if settings.timeout <= 0:
            raise ConfigurationError("timeout must be > 0")
        policy = CachePolicy(max_age=cache_max_age, cooldown=unknown_kid_cooldown, max_stale=max_stale)
        self._sources: dict[str, KeySource] = build_sources(
            issuers,
            jwks=jwks,
            jwks_uri=jwks_uri,
            algorithms=tuple(self._algorithms),
            policy=policy,
            settings=settings,
            timer=timer,
            hooks=hooks,
        )

    # -- validation ---------------------------------------------------------------

    def _frame(self, token: object) -> tuple[_jose.ParsedToken, AlgorithmSpec, KeySource]:
        parsed = _jose.parse(token, self.max_token_size)
        header = parsed.header
        alg = header.get("alg")
        spec = self._algorithms.get(alg) if isinstance(alg, str) else None
        if spec is None:
            raise InvalidTokenError("alg_not_allowed", claim="alg", reason="not_allowed")
        if "crit" in header:
            # RFC 7515 §4.1.11: we understand no extension, so any "crit" is unsupported.
            raise InvalidTokenError("unsupported_crit", claim="crit", reason="unsupported")
        typ = header.get("typ")
        if typ is not None and not isinstance(typ, str):
            raise InvalidTokenError("invalid_typ", claim="typ", reason="wrong_type")
        if (None if typ is None else media_type(typ)) not in self._token_types:
            raise InvalidTokenError("invalid_typ", claim="typ", reason="not_accepted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidTokenError("malformed_token", claim="kid", reason="wrong_type")
        iss = parsed.payload.get("iss")
        # Only configured issuers reach a key source: an unknown one costs no network.
        source = self._sources.get(iss) if isinstance(iss, str) else None
        if source is None:
            raise InvalidTokenError(
                "unknown_issuer" if iss is not None else "missing_claim",
                claim="iss",
                reason="mismatch" if iss is not None else "missing",
            )
        return parsed, spec, source

    def _finish(
        self, token: str, parsed: _jose.ParsedToken, spec: AlgorithmSpec, source: KeySource, key: Key
    ) -> Claims:
        if not key.verify(spec, parsed.signing_input, parsed.signature):
            raise InvalidTokenError("bad_signature", reason="mismatch")
        payload = parsed.payload
        now = self._clock()
        for check in self._checks:
            check(payload, now)
        claims = Claims._adopt(payload, parsed.header)
        if self.required_scopes and not claims.scopes.issuperset(self.required_scopes):
            raise InsufficientScopeError(self.required_scopes)
        if self._token_cache is not None and self._token_cache.seen_before(token):
            self._remember(token, claims, payload, source, key, now)
        return claims

    def _remember(
        self, token: str, claims: Claims, payload: dict[str, Any], source: KeySource, key: Key, now: float
    ) -> None:
        keys = source.snapshot()
        if keys is None or not keys.holds(key):
            return  # the key set changed meanwhile: do not cache
        # The window in which the time checks (exp, nbf, iat, max_token_age) pass; see _checks.
        leeway = self.leeway
        not_after = number(payload.get("exp")) + leeway
        not_before = -math.inf
        nbf, iat = number(payload.get("nbf")), number(payload.get("iat"))
        if not math.isnan(nbf):
            not_before = nbf - leeway
        if not math.isnan(iat):
            not_before = max(not_before, iat - leeway)
            if self.max_token_age is not None:
                not_after = min(not_after, iat + self.max_token_age + leeway)
        if not math.isnan(not_after):
            assert self._token_cache is not None
            self._token_cache.put(token, CachedToken(claims, not_before, not_after, keys, source.snapshot))

    def validate(self, token: str) -> Claims:
        """Validate an access token and return its claims.

        May fetch the issuer's key set (bounded by ``timeout``) when it is not
        cached or the token names an unknown key.

        Raises:
            InvalidTokenError: the token fails a check (``ExpiredTokenError`` when expired).
            InsufficientScopeError: a ``required_scopes`` entry is missing.
            KeySetUnavailableError: no usable keys (the key-set endpoint failed).
        """
        claims = self._from_cache(token)
        if claims is not None:
            return claims
        try:
            parsed, spec, source = self._frame(token)
            key = source.get_key(parsed.header.get("kid"), spec)
            claims = self._finish(token, parsed, spec, source, key)
        except AuthError as error:
            self._rejected(error)
            raise
        if self._hooks is not None:
            call_safely(self._hooks.on_validated, claims, cached=False)
        return claims

    async def avalidate(self, token: str) -> Claims:
        """Like :meth:`validate`; only a key-set fetch leaves the event loop."""
        claims = self._from_cache(token)
        if claims is not None:
            return claims
        try:
            parsed, spec, source = self._frame(token)
            key = await source.aget_key(parsed.header.get("kid"), spec)
            claims = self._finish(token, parsed, spec, source, key)
        except AuthError as error:
            self._rejected(error)
            raise
        if self._hooks is not None:
            call_safely(self._hooks.on_validated, claims, cached=False)
        return claims

    def _from_cache(self, token: object) -> Claims | None:
        if self._token_cache is None or type(token) is not str:
            return None
        now = self._clock()
        claims = self._token_cache.get(token, now)
        if claims is None:
            return None
        try:
            for check in self._predicates:
                check(claims, now)
        except AuthError:
            self._token_cache.discard(token)
            return None  # the full validation that follows refuses it, logged and counted
        if self._hooks is not None:
            call_safely(self._hooks.on_validated, claims, cached=True)
        return claims

    def _rejected(self, error: AuthError) -> None:
        # Never the token, a claim value or a header value: only our own code and field names.
        logger.debug("jwtguard: rejected a token: %s (claim=%s, reason=%s)", error.code, error.claim, error.reason)
        if self._hooks is not None:
            call_safely(self._hooks.on_rejected, error)

    def require_scopes(self, claims: Claims, *scopes: str) -> None:
        """Raise :class:`InsufficientScopeError` unless ``claims`` grant every scope.

        The error's challenge lists all of ``scopes`` (RFC 6750 §3).

        Raises:
            InsufficientScopeError: a scope is missing (403).
            ConfigurationError: a name in ``scopes`` is not an RFC 6749 scope-token.
        """
        _scopes(scopes, "require_scopes")
        if not claims.scopes.issuperset(scopes):
            error = InsufficientScopeError(scopes)
            self._rejected(error)
            raise error

    # -- key-set management --------------------------------------------------------

    def warm_up(self) -> tuple[KeySetStatus, ...]:
        """Fetch every issuer's key set now (call at start-up); return their status.

        Never raises for an outage: check ``status.loaded``.
        """
        for source in self._distinct_sources():
            source.refresh()
        return self.key_set_status()

    async def awarm_up(self) -> tuple[KeySetStatus, ...]:
        """Like :meth:`warm_up`, without blocking the event loop."""
        for source in self._distinct_sources():
            await source.arefresh()
        return self.key_set_status()

    def key_set_status(self) -> tuple[KeySetStatus, ...]:
        """Return a snapshot of every issuer's key set (for health checks); no network.

        One entry per configured issuer, also where issuers share one key set.
        """
        return tuple(replace(source.status(), issuer=iss) for iss, source in self._sources.items())

    def _distinct_sources(self) -> list[KeySource]:
        return list({id(source): source for source in self._sources.values()}.values())

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The allowed algorithms."""
        return tuple(self._algorithms)

    def __repr__(self) -> str:
        return f"Validator(issuer={list(self.issuers)!r}, audience={sorted(self.audiences)!r})"
