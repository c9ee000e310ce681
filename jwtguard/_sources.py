"""Key sources: where a :class:`~jwtguard.Validator` gets each issuer's keys.

A static ``jwks=`` becomes a :class:`StaticKeySource` (no network); otherwise a
:class:`~jwtguard._jwks.RemoteKeySource` fetches the issuer's JWKS.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from . import _http
from ._algorithms import AlgorithmSpec
from ._jwks import RemoteKeySource
from ._keycache import CachePolicy, Freshness
from ._keys import MAX_KEYS, Key, KeySet
from ._status import KeySetStatus
from .errors import ConfigurationError
from .hooks import Hooks

if TYPE_CHECKING:
    from .stores import Store

__all__ = ["Freshness", "KeySource", "SourceParts", "StaticKeySource", "build_sources", "static_source"]

logger = logging.getLogger("jwtguard")


class KeySource(Protocol):
    """What the validator needs of a key source."""

    def get_key(self, kid: str | None, spec: AlgorithmSpec) -> Key: ...
    async def aget_key(self, kid: str | None, spec: AlgorithmSpec) -> Key: ...
    def refresh(self) -> KeySetStatus: ...
    async def arefresh(self) -> KeySetStatus: ...
    def status(self) -> KeySetStatus: ...
    def snapshot(self) -> KeySet | None: ...
    @property
    def freshness(self) -> Freshness: ...


class _Fixed:
    """The freshness record of keys that never go stale."""

    __slots__ = ("fetched_at", "keys", "max_age")

    def __init__(self, keys: KeySet) -> None:
        self.keys = keys
        self.fetched_at = 0.0
        self.max_age = math.inf


class StaticKeySource:
    """Keys given in configuration: never fetched, never stale."""

    def __init__(self, issuer: str, keys: KeySet) -> None:
        self.issuer = issuer
        self._keys = keys
        self.freshness: Freshness = _Fixed(keys)

    def get_key(self, kid: str | None, spec: AlgorithmSpec) -> Key:
        return self._keys.find(kid, spec)

    def snapshot(self) -> KeySet | None:
        return self._keys

    async def aget_key(self, kid: str | None, spec: AlgorithmSpec) -> Key:
        return self._keys.find(kid, spec)

    def refresh(self) -> KeySetStatus:
        return self.status()

    async def arefresh(self) -> KeySetStatus:
        return self.status()

    def status(self) -> KeySetStatus:
        count = len(self._keys)
        return KeySetStatus(self.issuer, "static", bool(count), count, None, False, None, self._keys.dropped)


def static_source(
    issuer: str, jwks: Mapping[str, Any], algorithms: Sequence[str], max_keys: int = MAX_KEYS
) -> StaticKeySource:
    """Build a :class:`StaticKeySource`; HMAC keys are allowed here (trusted configuration).

    Raises:
        ValueError: ``jwks`` is not a JWKS document.
    """
    keys = KeySet(jwks, algorithms, symmetric_ok=True, max_keys=max_keys)
    if keys.dropped:
        logger.warning("jwtguard: jwks holds %d keys beyond max_keys=%d; they are ignored", keys.dropped, max_keys)
    return StaticKeySource(issuer, keys)


@dataclass(frozen=True)
class SourceParts:
    """What every key source of one validator shares: algorithms, cache policy, network bounds …"""

    algorithms: tuple[str, ...]
    policy: CachePolicy
    settings: _http.HttpSettings
    timer: Callable[[], float]
    hooks: Hooks | None
    max_keys: int = MAX_KEYS
    store: Store | None = None  # a store given by the application: key sets shared with its fleet
    clock: Callable[[], float] = time.time

    def remote(self, issuer: str, uri: str | None, *, jwks_hosts: frozenset[str] | None = None) -> RemoteKeySource:
        """A remote key source for ``issuer``: ``uri``, or discovery when ``None``."""
        return RemoteKeySource(
            issuer,
            self.algorithms,
            jwks_uri=uri,
            policy=self.policy,
            settings=self.settings,
            timer=self.timer,
            hooks=self.hooks,
            max_keys=self.max_keys,
            store=self.store,
            clock=self.clock,
            jwks_hosts=jwks_hosts,
        )

    def static(self, issuer: str, document: Mapping[str, Any]) -> StaticKeySource:
        """A static key source from trusted configuration.

        Raises:
            ConfigurationError: not a JWKS, or no key usable with the algorithms.
        """
        return _static(issuer, document, self.algorithms, self.max_keys)


def build_sources(
    issuers: Sequence[str],
    *,
    jwks: Mapping[str, Any] | None,
    jwks_uri: str | Mapping[str, str] | None,
    parts: SourceParts,
) -> dict[str, KeySource]:
    """The key source of each configured issuer.

    Issuers configured with the same keys share one source: one static key
    set, or one remote key set per URL (Azure AD's v1 and v2 issuers of a
    tenant publish one JWKS: one fetch serves both). Each issuer's tokens
    still verify only with keys from the source configured for it; issuers
    left to discovery each get their own. With a ``store``, remote key sets
    are shared with every validator using it (one fetch per refresh for a fleet).

    Raises:
        ConfigurationError: a ``jwks`` or ``jwks_uri`` that does not fit the issuer(s),
            keys unusable with the algorithms, or a URL that may not be fetched.
    """
    shared: dict[object, KeySource] = {}
    sources: dict[str, KeySource] = {}
    for issuer in issuers:
        if jwks is not None:
            document = jwks if "keys" in jwks else jwks.get(issuer)
            if not isinstance(document, Mapping):
                raise ConfigurationError(f"jwks has no key set for issuer {issuer!r}")
            source = shared.get(id(document))
            if source is None:
                source = shared[id(document)] = parts.static(issuer, document)
        else:
            uri = jwks_uri.get(issuer) if isinstance(jwks_uri, Mapping) else jwks_uri
            if uri is None and isinstance(jwks_uri, Mapping):
                raise ConfigurationError(f"jwks_uri has no URL for issuer {issuer!r}")
            if uri is None:
                _http.check_url(issuer, parts.settings, "issuer (used for OIDC discovery)")
            else:
                _http.check_url(uri, parts.settings, "jwks_uri")
            source = shared.get(uri) if uri is not None else None
            if source is None:
                source = parts.remote(issuer, uri)
                if uri is not None:
                    shared[uri] = source
        sources[issuer] = source
    return sources


def _static(issuer: str, document: Mapping[str, Any], algorithms: Sequence[str], max_keys: int) -> StaticKeySource:
    try:
        source = static_source(issuer, document, algorithms, max_keys)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"jwks: {exc}") from None
    if not source.status().loaded:
        raise ConfigurationError(f"jwks for issuer {issuer!r} holds no key usable with {list(algorithms)}")
    return source
