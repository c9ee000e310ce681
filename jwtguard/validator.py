"""The :class:`Validator`: every check an OAuth 2.0 resource server owes a bearer token."""

from __future__ import annotations

import logging
import math
import os
import ssl
import time
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from . import _http, _jose
from ._algorithms import AlgorithmSpec, compile_allowlist
from ._binding import Binding, Credentials
from ._challenge import Schemes
from ._checks import ClaimPredicate, build_table
from ._config import (
    DEFAULT_LEEWAY,
    DEFAULT_MAX_TOKEN_SIZE,
    DEFAULT_TOKEN_CACHE_SIZE,
    DEFAULT_TOKEN_TYPES,
    RFC9068_TOKEN_TYPES,
    Options,
)
from ._dpop import DEFAULT_DPOP_ALGORITHMS, Proof
from ._fast_path import FastPath, build_fast_path
from ._http import Fetch
from ._introspection import Introspection, claims_of
from ._issuers import DEFAULT_ISSUER_CACHE_SIZE, IssuerResolver, IssuerRule, build_resolver, tenant_checks
from ._keycache import CachePolicy
from ._keys import MAX_KEYS, Key
from ._options import media_type, number
from ._request import Headers
from ._revocation import RevocationMirror
from ._sources import KeySource, SourceParts, build_sources
from ._status import KeySetStatus
from ._token_cache import TokenCache
from .bearer import extract_credentials
from .claims import DEFAULT_ROLE_CLAIMS, Claims
from .errors import AuthError, InsufficientScopeError, InvalidTokenError, MissingTokenError
from .hooks import Hooks, call_safely
from .requirement import Requirement
from .stores import MemoryStore, Store, StoreUnavailableError

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

__all__ = [
    "DEFAULT_LEEWAY",
    "DEFAULT_MAX_TOKEN_SIZE",
    "DEFAULT_TOKEN_CACHE_SIZE",
    "DEFAULT_TOKEN_TYPES",
    "RFC9068_TOKEN_TYPES",
    "Validator",
]

logger = logging.getLogger("jwtguard")
# require_scopes' requirements by scopes (any_of or not): immutable, so shared by every validator.
_SCOPE_REQUIREMENTS: dict[tuple[str, ...], Requirement] = {}
_ANY_SCOPE_REQUIREMENTS: dict[tuple[str, ...], Requirement] = {}


class Validator:
    """Validates OAuth 2.0 / OIDC JWT access tokens for one API.

    Args:
        issuer: the accepted issuer(s); exact string match on ``iss``. With
            several, each issuer's tokens verify only with that issuer's keys.
            Beside strings, rules for multi-tenant APIs: a
            :class:`~jwtguard.IssuerTemplate` (``https://login.microsoftonline.com/{tenant}/v2.0``)
            or a callable ``iss -> bool``; each issuer a rule accepts gets its own
            key source on first use (see :mod:`jwtguard._issuers`), a refused one
            costs no network.
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
        token_cache_size: how many validated tokens to remember (0: none), the
            bound on the cache's memory (a few KB per token). A repeated token is
            answered from memory only while a full validation would accept it
            (see :mod:`jwtguard._token_cache`).
        cache_max_age: seconds fetched keys stay fresh when the key-set response
            has no ``Cache-Control: max-age``.
        cache_max_age_bounds: ``(low, high)``: the range a ``Cache-Control: max-age``
            announced by the key-set response is clamped to (default 60 s to 24 h).
        unknown_kid_cooldown: minimum seconds between refetches caused by unknown ``kid``\\ s.
        max_stale: seconds past ``cache_max_age`` that keys keep serving while fetches fail.
        timeout: seconds a key-set fetch may take, in all.
        max_response_size: largest discovery or JWKS response, in bytes.
        max_keys: how many keys of a key set are read; the rest are ignored, counted
            in :attr:`KeySetStatus.dropped_keys <jwtguard.KeySetStatus.dropped_keys>` and logged once.
        allow_insecure_http: allow plain ``http://`` to non-loopback hosts (unsafe).
        proxy: an ``http://host:port`` proxy for discovery and key-set fetches
            (``https://`` URLs go through it in a ``CONNECT`` tunnel).
        trust_env_proxies: use ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` from the
            environment (ignored by default; ``proxy`` wins over them).
        ca_bundle: the CA certificates to trust for fetches, replacing the system
            store: a PEM file or directory, or an ``ssl.SSLContext`` that verifies.
        fetch_headers: extra headers sent with every discovery and key-set request.
        fetch: replaces the built-in HTTP client: ``fetch(url, headers, timeout, max_bytes)``
            returns ``(status, headers, body)`` for one GET, following no redirect.
        clock: returns the current time in seconds since the epoch (token dates:
            ``exp``, ``nbf``, ``iat``).
        timer: a monotonic clock in seconds, for the durations the key-set cache
            measures (freshness, cooldown, back-off), so that a step of the wall
            clock never freezes or hastens refetches.
        hooks: a :class:`~jwtguard.hooks.Hooks` receiving validations,
            rejections and key-set fetches (for metrics).
        dpop: ``"allowed"`` (bearer tokens, and DPoP-bound tokens with a valid
            proof), ``"required"`` (only DPoP-bound tokens) or ``"disabled"``
            (the DPoP scheme is refused). A DPoP-bound token sent as a bearer
            token is refused in every mode (RFC 9449 §7.2).
        dpop_algorithms: algorithms accepted for DPoP proofs (asymmetric only).
        dpop_max_age: seconds a proof's ``iat`` may lie in the past (plus ``leeway``).
        dpop_nonce: require server nonces in proofs (RFC 9449 §8).
        dpop_nonce_secret: the nonce key shared by every worker (random per process when unset).
        dpop_replay_cache_size: proofs remembered against replay; when full of live
            entries, new proofs are refused with 503 rather than old ones forgotten.
        role_claims: where :attr:`Claims.roles <jwtguard.Claims.roles>` looks: claim names or dotted
            paths (``"resource_access.my-client.roles"``).
        introspection: RFC 7662 token introspection: ``"opaque"`` (tokens that are not
            a JWS or JWE are POSTed to the issuer's introspection endpoint, and the claims
            of its answer pass the same checks as a JWT's; ``active: false`` is a 401
            ``token_inactive``), ``"always"`` (JWTs too, after their local checks: for
            routes where a revocation must count at once), or ``None`` (off; an opaque
            token is ``malformed_token``). Default: ``"opaque"`` when
            ``introspection_endpoint`` is given, else off. See :mod:`jwtguard._introspection`.
        introspection_endpoint: the introspection endpoint. Default: the issuer's
            discovery document's ``introspection_endpoint``.
        introspection_client: ``(client_id, client_secret)`` this API authenticates
            with at the introspection endpoint (required with introspection).
        introspection_auth_method: ``"client_secret_basic"`` (default) or ``"client_secret_post"``.
        introspection_cache_size: introspection answers remembered (0: none).
        introspection_cache_ttl: seconds an answer is remembered at most (never past the
            token's ``exp``; 0: not at all). A revocation at the issuer reaches this
            validator within this bound (unless it also reaches ``store``).
        store: the state shared with other validators and workers
            (:mod:`jwtguard.stores`): revocations, refused on every request
            (cache hits included), and DPoP proofs, each accepted once fleet-wide.
            Default: a :class:`~jwtguard.stores.MemoryStore` of this validator.
        store_sync_interval: seconds between two reads of a remote store's
            revocations (the bound within which a revocation reaches this process).
        issuer_cache_size: how many issuers accepted by a rule keep their key
            source (least recently used first out; default 100).
        refuse_id_tokens: refuse tokens carrying ``nonce``, ``at_hash``, ``c_hash``
            or ``s_hash``: OpenID Connect ID tokens, never access tokens
            (``code="id_token"``). Off by default (some issuers copy ``nonce``
            into access tokens); on in the profiles whose issuers never do.

    Raises:
        ConfigurationError: any invalid option.
    """

    def __init__(
        self,
        *,
        issuer: str | IssuerRule | Sequence[str | IssuerRule],
        audience: str | Collection[str] | None = None,
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
        cache_max_age_bounds: Sequence[float] = (60.0, 86400.0),
        timeout: float = 5.0,
        max_response_size: int = 1024 * 1024,
        max_keys: int = MAX_KEYS,
        allow_insecure_http: bool = False,
        proxy: str | None = None,
        trust_env_proxies: bool = False,
        ca_bundle: str | os.PathLike[str] | ssl.SSLContext | None = None,
        fetch_headers: Mapping[str, str] | None = None,
        fetch: Fetch | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
        hooks: Hooks | None = None,
        dpop: str = "allowed",
        dpop_algorithms: Sequence[str] = DEFAULT_DPOP_ALGORITHMS,
        dpop_max_age: float = 300.0,
        dpop_nonce: bool = False,
        dpop_nonce_secret: str | bytes | None = None,
        dpop_replay_cache_size: int = 100_000,
        role_claims: Sequence[str] = DEFAULT_ROLE_CLAIMS,
        introspection: str | None = None,
        introspection_endpoint: str | None = None,
        introspection_client: Sequence[str] | None = None,
        introspection_auth_method: str = "client_secret_basic",
        introspection_cache_size: int = 1024,
        introspection_cache_ttl: float = 60.0,
        store: Store | None = None,
        store_sync_interval: float = 1.0,
        issuer_cache_size: int = DEFAULT_ISSUER_CACHE_SIZE,
        refuse_id_tokens: bool = False,
    ) -> None:
        arguments = dict(locals())
        del arguments["self"]
        self._assemble(Options(**arguments))

    def _assemble(self, options: Options) -> None:
        """Build the parts (algorithms, check table, token cache, key sources) from checked options."""
        self._options = options
        self._algorithms = compile_allowlist(options.algorithms, remote=options.jwks is None)
        checks = options.claim_checks or {}
        table = build_table(
            leeway=options.leeway,
            audiences=cast(frozenset[str], options.audience),
            authorized_parties=cast("frozenset[str] | None", options.authorized_parties),
            max_token_age=options.max_token_age,
            required_claims=options.required_claims,
            claim_checks=checks,
            refuse_id_tokens=options.refuse_id_tokens,
        )
        issuers = cast("tuple[str | IssuerRule, ...]", options.issuer)
        rules = tuple(issuer for issuer in issuers if not isinstance(issuer, str))
        self._checks = (*table.values(), *tenant_checks(rules))
        # Users' predicates may depend on state (a revocation list): they run again on every cache hit.
        self._predicates = tuple(table[name] for name, predicate in checks.items() if predicate is not None)
        # A user predicate on a time claim may depend on the time: such tokens are never cached.
        custom_time_check = any(checks.get(name) is not None for name in ("exp", "nbf", "iat"))
        size = options.token_cache_size
        self._token_cache = TokenCache(size, options.timer) if size and not custom_time_check else None
        self._introspection = Introspection.from_options(options, _http.HttpSettings.from_options(options))
        if self._introspection is not None and self._introspection.always:
            self._token_cache = None  # every request asks the issuer: no path may skip it
        self._clock = options.clock
        self._hooks = options.hooks
        self._role_claims = cast(tuple[str, ...], options.role_claims)
        self._store = options.store or MemoryStore(
            replay_capacity=options.dpop_replay_cache_size, timer=options.timer, clock=options.clock
        )
        self._revocations = RevocationMirror(self._store, interval=options.store_sync_interval, timer=options.timer)
        # The claims of a request whose one Authorization value is the argument, from the cache
        # alone, or None (then call authenticate). For adapters, before any parsing: only a value
        # that passed authenticate as a plain bearer token without cnf is indexed (_learn), and a
        # hit re-applies every check a cache hit does. DPoP or certificate-bound tokens are never
        # indexed, so their sender constraint and replay check always run.
        self._fast_path: FastPath = build_fast_path(
            self._token_cache,
            self._clock,
            self._revocations,
            self._recheck if self._predicates or self._hooks is not None else None,
        )
        self._binding = Binding(
            mode=options.dpop,
            algorithms=cast(tuple[str, ...], options.dpop_algorithms),
            max_age=options.dpop_max_age,
            leeway=options.leeway,
            nonce=options.dpop_nonce,
            nonce_secret=cast("bytes | None", options.dpop_nonce_secret),
            replay_cache_size=options.dpop_replay_cache_size,
            clock=options.clock,
            timer=options.timer,
        )
        self._token_types = cast(frozenset[str | None], options.token_types)
        parts = SourceParts(
            tuple(self._algorithms),
            CachePolicy.from_options(options),
            _http.HttpSettings.from_options(options),
            options.timer,
            options.hooks,
            options.max_keys,
            options.store,  # a store given by the application: key sets shared with its fleet
            options.clock,
        )
        self._sources: dict[str, KeySource] = build_sources(
            self.issuers, jwks=options.jwks, jwks_uri=options.jwks_uri, parts=parts
        )
        self._resolver: IssuerResolver | None = None
        if rules:
            self._resolver = build_resolver(
                rules, jwks=options.jwks, jwks_uri=options.jwks_uri, parts=parts, capacity=options.issuer_cache_size
            )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, prefix: str = "JWTGUARD_", **overrides: Any
    ) -> Validator:
        """Build a validator from ``JWTGUARD_*`` environment variables (twelve-factor deployments).

        Every option is reachable: ``JWTGUARD_ISSUER``, ``JWTGUARD_AUDIENCE``
        (several separated by commas or spaces), ``JWTGUARD_LEEWAY=10``,
        ``JWTGUARD_JWKS`` (JSON), ``JWTGUARD_HOOKS=package.module:hooks`` …
        (see :mod:`jwtguard.settings`); ``overrides`` are keyword arguments
        that win over the environment. Variables with the prefix that name no
        option are an error (adapter settings such as ``JWTGUARD_REALM`` are
        known and ignored here).

        Raises:
            ConfigurationError: an unknown variable (naming the nearest known one) or a bad value.
        """
        from .settings import validator_from_settings

        source = os.environ if environ is None else environ
        values = {name[len(prefix) :]: value for name, value in source.items() if name.startswith(prefix)}
        return validator_from_settings(values, where="environment", from_text=True, overrides=overrides)

    # -- validation ---------------------------------------------------------------

    def _frame(self, token: object) -> tuple[_jose.ParsedToken, AlgorithmSpec, KeySource]:
        parsed = _jose.parse(token, self._options.max_token_size)
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
        if source is None and self._resolver is not None and isinstance(iss, str):
            source = self._resolver.source(iss)  # issuers accepted by rule (multi-tenant)
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
        segment = parsed.signing_input[: parsed.signing_input.find(b".")]  # tokens sharing a header share one copy
        claims = Claims._adopt(payload, parsed.header, self._role_claims, segment)
        self._revocations.check(claims)
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
            self._token_cache.put(token, claims, not_before, not_after, keys, source)

    def _flow(self, token: str) -> Generator[tuple[KeySource, str | None, AlgorithmSpec], Key, Claims]:
        """The whole validation of a token not answered from the cache, written once.

        It yields ``(source, kid, spec)`` when it needs a key and is sent the
        key back; :meth:`validate` and :meth:`avalidate` drive it, the one
        fetching keys in a blocking way, the other awaiting them. A failure
        raised by the driver is thrown in here, so every rejection is logged
        and counted in one place.
        """
        try:
            parsed, spec, source = self._frame(token)
            key = yield source, parsed.header.get("kid"), spec
            claims = self._finish(token, parsed, spec, source, key)
        except AuthError as error:
            self._rejected(error)
            raise
        if self._hooks is not None:
            call_safely(self._hooks.on_validated, claims, cached=False)
        return claims

    def validate(self, token: str) -> Claims:
        """Validate an access token and return its claims.

        May fetch the issuer's key set (bounded by ``timeout``) when it is not
        cached or the token names an unknown key.

        Raises:
            InvalidTokenError: the token fails a check (``ExpiredTokenError`` when expired).
            InsufficientScopeError: a ``required_scopes`` entry is missing.
            KeySetUnavailableError: no usable keys (the key-set endpoint failed).
            ServiceUnavailableError: with ``introspection``, the endpoint could not be asked
                (503, ``introspection_unavailable``).
        """
        if self._introspection is not None:
            return self._introspected(token)
        return self._validate_jwt(token)

    def _validate_jwt(self, token: str) -> Claims:
        """Every local check of a JWT: :meth:`validate` without introspection."""
        claims = self._from_cache(token)
        if claims is not None:
            return claims
        flow = self._flow(token)
        source, kid, spec = next(flow)
        try:
            key = source.get_key(kid, spec)
        except AuthError as error:
            return _finish_flow(flow, error)
        return _finish_flow(flow, key)

    async def avalidate(self, token: str) -> Claims:
        """Like :meth:`validate`; only a key-set fetch (or an introspection request) leaves the event loop."""
        if self._introspection is not None:
            return await self._aintrospected(token)
        return await self._avalidate_jwt(token)

    async def _avalidate_jwt(self, token: str) -> Claims:
        claims = self._from_cache(token)
        if claims is not None:
            return claims
        flow = self._flow(token)
        source, kid, spec = next(flow)
        try:
            key = await source.aget_key(kid, spec)
        except AuthError as error:
            return _finish_flow(flow, error)
        return _finish_flow(flow, key)

    # -- introspection (RFC 7662) ------------------------------------------------------

    def _introspected(self, token: str) -> Claims:
        """:meth:`validate` with introspection: opaque tokens asked, JWTs checked locally (and asked, ``"always"``)."""
        introspection = self._introspection
        assert introspection is not None
        opaque = introspection.is_opaque(token)
        local = None if opaque else self._validate_jwt(token)
        if local is not None and not introspection.always:
            return local
        try:
            if opaque:
                introspection.check_opaque(token, self.max_token_size)
            response = introspection.introspect(token)
        except AuthError as error:
            self._rejected(error)
            raise
        return self._accept_introspected(response, local)

    async def _aintrospected(self, token: str) -> Claims:
        """Like :meth:`_introspected`; the request runs in a thread of its own."""
        introspection = self._introspection
        assert introspection is not None
        opaque = introspection.is_opaque(token)
        local = None if opaque else await self._avalidate_jwt(token)
        if local is not None and not introspection.always:
            return local
        try:
            if opaque:
                introspection.check_opaque(token, self.max_token_size)
            response = await introspection.aintrospect(token)
        except AuthError as error:
            self._rejected(error)
            raise
        return self._accept_introspected(response, local)

    def _accept_introspected(self, response: Mapping[str, Any], local: Claims | None) -> Claims:
        """The claims an introspection answer stands for, after the checks a JWT's claims pass."""
        assert self._introspection is not None
        try:
            payload = claims_of(response)  # not active: token_inactive
            if local is not None:
                return local  # a JWT's own verified claims; the answer only said it is live
            iss = payload.get("iss")
            named = (self._introspection.issuer,) if self._introspection.issuer else self.issuers
            if iss is not None and named and iss not in named:
                raise InvalidTokenError("unknown_issuer", claim="iss", reason="mismatch")
            now = self._clock()
            for check in self._checks:
                check(payload, now)
            claims = Claims._adopt(payload, {}, self._role_claims)
            self._revocations.check(claims)
            if self.required_scopes and not claims.scopes.issuperset(self.required_scopes):
                raise InsufficientScopeError(self.required_scopes)
        except AuthError as error:
            self._rejected(error)
            raise
        if self._hooks is not None:
            call_safely(self._hooks.on_validated, claims, cached=False)
        return claims

    # -- requests -------------------------------------------------------------------

    def _credentials(self, headers: Headers, optional: bool) -> Credentials | None:
        try:
            return self._binding.credentials(headers, optional=optional)
        except AuthError as error:
            self._rejected(error)
            raise

    def _bind(
        self, claims: Claims, credentials: Credentials, method: str, url: str, certificate: Certificate | Any
    ) -> Proof | None:
        """The sender constraint; returns the DPoP proof whose replay the driver then checks."""
        try:
            return self._binding.check(claims, credentials, method=method, url=url, certificate=certificate)
        except AuthError as error:
            self._rejected(error, credentials.scheme)
            raise

    def _replayed(self, proof: Proof, outcome: bool | StoreUnavailableError | None) -> None:
        try:
            self._binding.replayed(proof, outcome)
        except AuthError as error:
            self._rejected(error, "DPoP")
            raise

    @overload
    def authenticate(
        self,
        method: str,
        url: str,
        headers: Headers,
        client_certificate: bytes | str | Certificate | None = None,
        *,
        optional: Literal[False] = False,
    ) -> Claims: ...
    @overload
    def authenticate(
        self,
        method: str,
        url: str,
        headers: Headers,
        client_certificate: bytes | str | Certificate | None = None,
        *,
        optional: bool,
    ) -> Claims | None: ...
    def authenticate(
        self,
        method: str,
        url: str,
        headers: Headers,
        client_certificate: bytes | str | Certificate | None = None,
        *,
        optional: bool = False,
    ) -> Claims | None:
        """Check a request's credentials: the one request policy every adapter calls.

        Reads the credentials from ``Authorization`` in ``headers`` (a mapping,
        or ``(name, value)`` pairs; ``str`` or ``bytes``; repeated names kept):
        scheme ``Bearer``, and ``DPoP`` unless ``dpop="disabled"``, with the
        ``DPoP`` proof header. Then every check of :meth:`validate`, then the
        sender constraint the token carries: ``cnf.jkt`` needs a valid DPoP
        proof for this ``method`` and ``url`` (the URL the client used: scheme,
        host, path); ``cnf["x5t#S256"]`` needs ``client_certificate`` (DER
        bytes, PEM text or a ``cryptography`` certificate) with that SHA-256
        thumbprint. With ``optional=True`` a request without credentials gets
        ``None`` (anonymous) instead of :class:`MissingTokenError`; bad
        credentials are refused all the same.

        Raises:
            MissingTokenError: no bearer credentials at all (401, bare challenge).
            InvalidRequestError: a malformed ``Authorization`` header, or several (400).
            InvalidTokenError, InsufficientScopeError, KeySetUnavailableError: as :meth:`validate`.
            InvalidDPoPProofError, UseDPoPNonceError: the DPoP proof (RFC 9449).
        """
        credentials = self._credentials(headers, optional)
        if credentials is None:
            return None
        try:
            claims = self.validate(credentials.token)
        except AuthError as error:
            error.scheme = credentials.scheme if error.scheme == "Bearer" else error.scheme
            raise
        proof = self._bind(claims, credentials, method, url, client_certificate)
        if proof is not None:
            key, ttl = self._binding.replay_key(proof)
            try:
                outcome: bool | StoreUnavailableError | None = self._store.add_once(key, ttl)
            except StoreUnavailableError as error:
                outcome = error
            self._replayed(proof, outcome)
        return claims

    @overload
    async def aauthenticate(
        self,
        method: str,
        url: str,
        headers: Headers,
        client_certificate: bytes | str | Certificate | None = None,
        *,
        optional: Literal[False] = False,
    ) -> Claims: ...
    @overload
    async def aauthenticate(
        self,
        method: str,
        url: str,
        headers: Headers,
        client_certificate: bytes | str | Certificate | None = None,
        *,
        optional: bool,
    ) -> Claims | None: ...
    async def aauthenticate(
        self,
        method: str,
        url: str,
        headers: Headers,
        client_certificate: bytes | str | Certificate | None = None,
        *,
        optional: bool = False,
    ) -> Claims | None:
        """Like :meth:`authenticate`; never blocks the event loop."""
        credentials = self._credentials(headers, optional)
        if credentials is None:
            return None
        try:
            claims = await self.avalidate(credentials.token)
        except AuthError as error:
            error.scheme = credentials.scheme if error.scheme == "Bearer" else error.scheme
            raise
        proof = self._bind(claims, credentials, method, url, client_certificate)
        if proof is not None:
            key, ttl = self._binding.replay_key(proof)
            try:
                outcome: bool | StoreUnavailableError | None = await self._store.aadd_once(key, ttl)
            except StoreUnavailableError as error:
                outcome = error
            self._replayed(proof, outcome)
        return claims

    def _from_cache(self, token: object) -> Claims | None:
        if self._token_cache is None or type(token) is not str:
            return None
        now = self._clock()
        claims = self._token_cache.get(token, now)
        if claims is None:
            return None
        return self._recheck(claims, now)

    def _recheck(self, claims: Claims, now: float) -> Claims | None:
        """A cache hit's state-dependent checks: the users' predicates, then revocation."""
        try:
            for check in self._predicates:
                check(claims, now)
            self._revocations.check(claims)
        except AuthError:
            assert self._token_cache is not None
            self._token_cache.drop(claims)
            return None  # the full validation that follows refuses it, logged and counted
        if self._hooks is not None:
            call_safely(self._hooks.on_validated, claims, cached=True)
        return claims

    def _learn(self, authorization: str | bytes, claims: Claims | None) -> None:
        """Index ``authorization`` for :meth:`_fast_path`, once :meth:`authenticate` accepted it.

        ``authorization`` must be the request's only ``Authorization`` value. Indexed
        only if it is a ``Bearer`` token whose claims are in the cache and carry no ``cnf``.
        """
        cache = self._token_cache
        if cache is None or claims is None or getattr(claims, "_cache_keys", None) is None or "cnf" in claims:
            return  # never cached (a token's first validation, or distinct tokens): nothing to index
        text = authorization.decode("latin-1") if isinstance(authorization, bytes) else authorization
        try:
            scheme, token = extract_credentials((text,), dpop=False)
        except AuthError:
            return
        if scheme == "Bearer":
            cache.index(authorization, token, claims)

    def _rejected(self, error: AuthError, scheme: str | None = None) -> None:
        # The challenge names every scheme this validator accepts (RFC 9449 §7.1).
        error.schemes = self._binding.schemes
        if scheme is not None and error.scheme == "Bearer":
            error.scheme = scheme
        # Never the token, a claim value or a header value: only our own code and field names.
        logger.debug("jwtguard: rejected a token: %s (claim=%s, reason=%s)", error.code, error.claim, error.reason)
        if self._hooks is not None:
            call_safely(self._hooks.on_rejected, error)

    def require_scopes(self, claims: Claims, *scopes: str, any_of: bool = False) -> None:
        """Raise :class:`InsufficientScopeError` unless ``claims`` grant every one of ``scopes``.

        With ``any_of=True``, one of them suffices. The error's challenge lists
        all of ``scopes`` (RFC 6750 §3).

        Raises:
            InsufficientScopeError: a scope is missing (403).
            MissingTokenError: ``claims`` is ``None`` (an anonymous request).
            ConfigurationError: a name in ``scopes`` is not an RFC 6749 scope-token.
        """
        # Called on every request of an endpoint: its checked Requirement is built once.
        known = _ANY_SCOPE_REQUIREMENTS if any_of else _SCOPE_REQUIREMENTS
        try:
            requirement = known.get(scopes)
        except TypeError:  # an unhashable "scope": Requirement.of says what is wrong
            requirement = None
        if requirement is None:
            requirement = Requirement.of(scopes, any_of=any_of)
            if len(known) >= 1024:
                known.clear()
            known[scopes] = requirement  # valid scopes: strings, hashable
        self.authorize(claims, requirement)

    def require_roles(self, claims: Claims, *roles: str, any_of: bool = False) -> None:
        """Raise :class:`InsufficientRoleError` (403) unless ``claims.roles`` hold every one of ``roles``.

        With ``any_of=True``, one of them suffices.
        """
        self.authorize(claims, Requirement.of(roles=roles, roles_any_of=any_of))

    def require_authentication(
        self, claims: Claims, *, acr_values: Sequence[str] = (), max_age: float | None = None
    ) -> None:
        """RFC 9470 step-up: the user's authentication must be strong and recent enough.

        Raises:
            InsufficientUserAuthenticationError: ``acr`` is not one of ``acr_values``, or
                ``auth_time`` is missing or older than ``max_age`` seconds (401, with
                ``acr_values`` / ``max_age`` in the challenge so the client can ask for them).
        """
        self.authorize(claims, Requirement.of(acr_values=acr_values, max_age=max_age))

    def authorize(self, claims: Claims | None, requirement: Requirement) -> Claims:
        """Check ``claims`` against a route's ``requirement``; return them.

        Every adapter's route-level form (a decorator, a dependency, a
        permission class) ends here, so each refusal is decided, logged and
        counted the same way whatever the framework.

        Raises:
            MissingTokenError: ``claims`` is ``None`` (an anonymous request).
            InsufficientScopeError: the requirement is not met (403).
        """
        scopes = requirement.all_scopes
        if scopes is not None and type(claims) is Claims and (claims._scopes or claims.scopes).issuperset(scopes):
            return claims  # met, decided without check's frames: this runs on every request of a route
        try:
            if claims is None:
                raise MissingTokenError()
            now = None if requirement.max_age is None else self._clock()  # only max_age reads the time
            requirement.check(claims, now, self._options.leeway)
        except AuthError as error:
            self._rejected(error)
            raise
        return claims

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

    @property
    def schemes(self) -> Schemes:
        """The schemes accepted (``Bearer``; ``DPoP`` unless ``dpop="disabled"``), as challenges name them."""
        return self._binding.schemes

    @property
    def options(self) -> Options:
        """Every option this validator was built with, checked and normalised (read-only)."""
        return self._options

    @property
    def issuers(self) -> tuple[str, ...]:
        """The accepted issuers named exactly (issuer rules are in ``options.issuer``)."""
        return tuple(issuer for issuer in cast(tuple[object, ...], self._options.issuer) if isinstance(issuer, str))

    @property
    def audiences(self) -> frozenset[str]:
        """The accepted audiences."""
        return self._options.audience  # type: ignore[return-value]

    @property
    def leeway(self) -> float:
        """Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``."""
        return self._options.leeway

    @property
    def required_scopes(self) -> tuple[str, ...]:
        """Scopes every token must carry."""
        return self._options.required_scopes  # type: ignore[return-value]

    @property
    def authorized_parties(self) -> frozenset[str] | None:
        """Accepted client ids (``azp`` / ``client_id``), or ``None`` when not checked."""
        return self._options.authorized_parties  # type: ignore[return-value]

    @property
    def max_token_size(self) -> int:
        """Longest token accepted, in characters."""
        return self._options.max_token_size

    @property
    def max_token_age(self) -> float | None:
        """Maximum seconds since ``iat``, or ``None``."""
        return self._options.max_token_age

    def __setattr__(self, name: str, value: object) -> None:
        if not name.startswith("_"):
            raise AttributeError(f"Validator.{name} is read-only: build a new Validator with the option you want")
        super().__setattr__(name, value)

    def __repr__(self) -> str:
        return f"Validator(issuer={list(self.issuers)!r}, audience={sorted(self.audiences)!r})"


def _finish_flow(flow: Generator[Any, Key, Claims], sent: Key | AuthError) -> Claims:
    """Resume :meth:`Validator._flow` with a key (or the error finding it raised) and return its claims."""
    try:
        if isinstance(sent, AuthError):
            flow.throw(sent)
        else:
            flow.send(sent)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise RuntimeError("the validation flow asked for a second key")  # pragma: no cover
