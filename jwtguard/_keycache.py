"""Key-set freshness: when to use cached keys, when to refetch, when to give up.

Theory of operation
-------------------
This module is pure: it never touches the network or a clock. The caller
passes ``now`` in, asks :meth:`KeyCache.plan` for a token's key, and gets
either a :class:`~jwtguard._keys.Key` or a :class:`Refresh` telling it to fetch
the key set and wait for it; with a key in hand it asks :meth:`KeyCache.ahead`
whether to start a fetch *in the background*. Once a fetch has ended (in
success or failure) it reports back with :meth:`KeyCache.succeeded` /
:meth:`KeyCache.failed`, and a caller that waited asks :meth:`KeyCache.settle`
for the final answer.

* Each key set has its own *max age*: the ``Cache-Control: max-age`` of the
  response that brought it (less its ``Age``; ``no-cache`` and ``no-store``
  count as 0), clamped to ``max_age_bounds`` so an issuer can neither make
  every request refetch nor pin its keys for days; without the header,
  ``max_age``. Keys younger than their max age are *fresh*.
* Only a cold cache and an unknown ``kid`` make a request wait for a fetch.
  Cached keys past ``refresh_ratio`` of their max age are still used at once,
  and the first such request starts a background refetch (refresh ahead), so
  under steady traffic keys are replaced before they expire and no request
  ever waits for a routine refresh. Keys past their max age (a refresh
  failed, or no request came in time) keep serving the same way, while a
  background refetch is tried, until they are ``max age + max_stale`` old
  (stale-while-revalidate, then stale-if-error); after that the cache is cold.
* A ``kid`` missing from a fresh set asks for one refetch, at most once per
  ``cooldown`` window counted from the last refetch an unknown ``kid`` caused:
  a key rotated right after start-up is found at once, while a flood of random
  ``kid``\\ s costs at most one fetch per window. Inside the window an unknown
  ``kid`` fails fast, unless a fetch is already under way (then it waits for it).
  Missing from keys past their max age, it waits for the refetch that is due anyway.
* The snapshot is replaced **only** when a fetch succeeds: a failed refresh,
  ahead of expiry or after it, leaves the last good keys in place.
* After a failure no new fetch starts for ``retry_interval`` seconds; in that
  time callers with no usable keys get :class:`~jwtguard.KeySetUnavailableError`
  at once, with ``Retry-After`` set to what is left of the interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from ._algorithms import AlgorithmSpec
from ._keys import Key, KeySet
from .errors import ConfigurationError, InvalidTokenError, KeySetUnavailableError

if TYPE_CHECKING:
    from ._config import Options

__all__ = ["CachePolicy", "KeyCache", "Refresh"]


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf


@dataclass(frozen=True)
class CachePolicy:
    """How long keys live, how often unknown ``kid``\\ s may refetch, how long stale keys serve.

    ``max_age`` applies when the key-set response has no ``Cache-Control: max-age``;
    an announced one is clamped to ``max_age_bounds``. A background refresh
    starts once keys are ``refresh_ratio`` of their max age old.
    """

    max_age: float = 600.0
    cooldown: float = 30.0
    max_stale: float = 86400.0
    retry_interval: float = 5.0
    max_age_bounds: tuple[float, float] = (60.0, 86400.0)
    refresh_ratio: float = 0.8

    def __post_init__(self) -> None:
        for name in ("max_age", "cooldown", "max_stale", "retry_interval"):
            if not _finite(getattr(self, name)):
                raise ConfigurationError(f"{name} must be a finite number of seconds >= 0")
        bounds = self.max_age_bounds
        if not (
            isinstance(bounds, tuple) and len(bounds) == 2 and all(map(_finite, bounds)) and bounds[0] <= bounds[1]
        ):
            raise ConfigurationError("max_age_bounds must be two finite numbers of seconds, 0 <= low <= high")
        if not _finite(self.refresh_ratio) or not 0 < self.refresh_ratio <= 1:
            raise ConfigurationError("refresh_ratio must be a number in (0, 1]")

    @classmethod
    def from_options(cls, options: Options) -> CachePolicy:
        """The policy a validator's checked options describe."""
        bounds = options.cache_max_age_bounds
        return cls(options.cache_max_age, options.unknown_kid_cooldown, options.max_stale, 5.0, (bounds[0], bounds[1]))

    def serves(self, reason: str, announced: float | None, age: float) -> bool:
        """Whether keys another worker fetched ``age`` seconds ago may stand in for a fetch for ``reason``.

        A cold cache takes any keys still usable (a refresh follows in the background when
        they are due); a refresh takes only keys not yet due for one themselves; an unknown
        ``kid`` takes only fresh keys (the caller also checks that they hold the ``kid``).
        """
        lifetime = self.lifetime(announced)
        if reason == "cold":
            return age <= lifetime + self.max_stale
        if reason == "unknown_kid":
            return age < lifetime
        return age < self.refresh_ratio * lifetime

    def lifetime(self, announced: float | None) -> float:
        """The max age of a key set whose response announced ``announced`` seconds (``None``: nothing)."""
        if announced is None:
            return self.max_age
        low, high = self.max_age_bounds
        return min(max(announced, low), high)


@dataclass(frozen=True, slots=True)
class Refresh:
    """The key set must be fetched: before the token's key can be chosen, or (``ahead``) in the background."""

    reason: Literal["cold", "expired", "unknown_kid", "ahead"]


class Freshness(Protocol):
    """What a cache hit reads to know its key set is still the current, fresh one.

    The keys are fresh while ``timer() - fetched_at < max_age`` (``fetched_at`` is set
    whenever ``keys`` is). :class:`KeyCache` is one; keys given in configuration have
    one that never expires.
    """

    @property
    def keys(self) -> KeySet | None: ...
    @property
    def fetched_at(self) -> float | None: ...
    @property
    def max_age(self) -> float: ...


class KeyCache:
    """The freshness state of one issuer's key set (see the module docstring)."""

    def __init__(self, policy: CachePolicy) -> None:
        self.policy = policy
        self.keys: KeySet | None = None
        self.fetched_at: float | None = None
        #: The max age of the keys held (see :meth:`CachePolicy.lifetime`).
        self.max_age: float = policy.max_age
        self.failed_at: float | None = None
        self.last_error: str | None = None
        self._kid_refetch_at: float | None = None
        self._refresh_at = math.inf  # when a background refresh becomes due

    def _fresh(self, now: float) -> bool:
        return self.fetched_at is not None and now - self.fetched_at < self.max_age

    def fresh_keys(self, now: float) -> KeySet | None:
        """The key set if it is fresh, else ``None``."""
        return self.keys if self._fresh(now) else None

    def _usable(self, now: float) -> bool:
        limit = self.max_age + self.policy.max_stale
        return self.fetched_at is not None and now - self.fetched_at <= limit

    def _backing_off(self, now: float) -> bool:
        return self.failed_at is not None and now - self.failed_at < self.policy.retry_interval

    def plan(self, kid: str | None, spec: AlgorithmSpec, now: float, *, fetching: bool = False) -> Key | Refresh:
        """Return the key to verify with, or the refresh to perform (or join) and wait for first.

        A key may come from keys due for a refresh: ask :meth:`ahead` next.

        Raises:
            InvalidTokenError: ``unknown_key``, when no refetch is allowed.
            KeySetUnavailableError: no usable keys and a recent fetch failed.
        """
        keys = self.keys
        if keys is not None and self._usable(now):
            try:
                return keys.find(kid, spec)
            except InvalidTokenError as exc:
                if exc.reason != "not_found":
                    raise
                if fetching:
                    return Refresh("unknown_kid")
                if not self._fresh(now):
                    if self._backing_off(now):
                        raise
                    return Refresh("expired")
                if self._may_refetch_for_kid(now):
                    return Refresh("unknown_kid")
                raise
        if fetching or not self._backing_off(now):
            return Refresh("cold" if keys is None else "expired")
        return self.settle(kid, spec, now)

    def ahead(self, now: float, *, fetching: bool = False) -> Refresh | None:
        """The background refresh to start now, if one is due (keys past the refresh point)."""
        if fetching or now < self._refresh_at or self._backing_off(now) or not self._usable(now):
            return None
        return Refresh("ahead" if self._fresh(now) else "expired")

    def _may_refetch_for_kid(self, now: float) -> bool:
        if self._backing_off(now):
            return False
        return self._kid_refetch_at is None or now - self._kid_refetch_at >= self.policy.cooldown

    def started(self, refresh: Refresh, now: float) -> None:
        """Record that a fetch starts now for ``refresh``."""
        if refresh.reason == "unknown_kid":
            self._kid_refetch_at = now

    def succeeded(self, keys: KeySet, now: float, announced_max_age: float | None = None, age: float = 0.0) -> None:
        """Install a fetched key set, whose response announced ``announced_max_age`` (or nothing).

        ``age``: seconds since the fetch, for a key set another worker fetched (taken from a store).
        """
        self.max_age = self.policy.lifetime(announced_max_age)
        self.fetched_at = now - max(0.0, age)
        self.keys = keys
        self._refresh_at = self.fetched_at + self.policy.refresh_ratio * self.max_age
        self.failed_at = None
        self.last_error = None

    def failed(self, reason: str, now: float) -> None:
        """Record a failed fetch; the cached keys stay."""
        self.failed_at = now
        self.last_error = reason

    def settle(self, kid: str | None, spec: AlgorithmSpec, now: float) -> Key:
        """Answer from whatever is cached, after a fetch ended or while backing off.

        Raises:
            InvalidTokenError: ``unknown_key``.
            KeySetUnavailableError: nothing usable is cached.
        """
        if self.keys is not None and self._usable(now):
            return self.keys.find(kid, spec)
        wait = self.policy.retry_interval
        if self.failed_at is not None:
            wait = max(1.0, self.policy.retry_interval - (now - self.failed_at))
        raise KeySetUnavailableError(wait, reason=self.last_error)
