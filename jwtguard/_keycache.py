"""Key-set freshness: when to use cached keys, when to refetch, when to give up.

Theory of operation
-------------------
This module is pure: it never touches the network or a clock. The caller
passes ``now`` in, asks :meth:`KeyCache.plan` for a token's key, and gets
either a :class:`~jwtguard._keys.Key` or a :class:`Refresh` telling it to fetch
the key set; once a fetch has ended (in success or failure) it reports back
with :meth:`KeyCache.succeeded` / :meth:`KeyCache.failed` and asks
:meth:`KeyCache.settle` for the final answer.

* Keys younger than ``max_age`` are *fresh* and used without network.
* A ``kid`` missing from a fresh set asks for one refetch, at most once per
  ``cooldown`` window counted from the last refetch an unknown ``kid`` caused:
  a key rotated right after start-up is found at once, while a flood of random
  ``kid``\\ s costs at most one fetch per window. Inside the window an unknown
  ``kid`` fails fast, unless a fetch is already under way (then it waits for it).
* Keys older than ``max_age`` are refreshed. The snapshot is replaced **only**
  when a fetch succeeds: after a failure the last good keys keep serving until
  they are ``max_age + max_stale`` old.
* After a failure no new fetch starts for ``retry_interval`` seconds; in that
  time callers with no usable keys get :class:`~jwtguard.KeySetUnavailableError`
  at once, with ``Retry-After`` set to what is left of the interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._algorithms import AlgorithmSpec
from ._keys import Key, KeySet
from .errors import ConfigurationError, InvalidTokenError, KeySetUnavailableError

__all__ = ["CachePolicy", "KeyCache", "Refresh"]


@dataclass(frozen=True)
class CachePolicy:
    """How long keys live, how often unknown ``kid``\\ s may refetch, how long stale keys serve."""

    max_age: float = 600.0
    cooldown: float = 30.0
    max_stale: float = 86400.0
    retry_interval: float = 5.0

    def __post_init__(self) -> None:
        for name in ("max_age", "cooldown", "max_stale", "retry_interval"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < float("inf"):
                raise ConfigurationError(f"{name} must be a finite number of seconds >= 0")


@dataclass(frozen=True, slots=True)
class Refresh:
    """The key set must be fetched before the token's key can be chosen."""

    reason: Literal["cold", "expired", "unknown_kid"]


class KeyCache:
    """The freshness state of one issuer's key set (see the module docstring)."""

    def __init__(self, policy: CachePolicy) -> None:
        self.policy = policy
        self.keys: KeySet | None = None
        self.fetched_at: float | None = None
        self.failed_at: float | None = None
        self.last_error: str | None = None
        self._kid_refetch_at: float | None = None

    def _fresh(self, now: float) -> bool:
        return self.fetched_at is not None and now - self.fetched_at < self.policy.max_age

    def fresh_keys(self, now: float) -> KeySet | None:
        """The key set if it is fresh, else ``None``."""
        return self.keys if self._fresh(now) else None

    def _usable(self, now: float) -> bool:
        limit = self.policy.max_age + self.policy.max_stale
        return self.fetched_at is not None and now - self.fetched_at <= limit

    def _backing_off(self, now: float) -> bool:
        return self.failed_at is not None and now - self.failed_at < self.policy.retry_interval

    def plan(self, kid: str | None, spec: AlgorithmSpec, now: float, *, fetching: bool = False) -> Key | Refresh:
        """Return the key to verify with, or the refresh to perform (or join) first.

        Raises:
            InvalidTokenError: ``unknown_key``, when no refetch is allowed.
            KeySetUnavailableError: no usable keys and a recent fetch failed.
        """
        keys = self.keys
        if keys is not None and self._fresh(now):
            try:
                return keys.find(kid, spec)
            except InvalidTokenError as exc:
                if exc.reason != "not_found":
                    raise
                if fetching or self._may_refetch_for_kid(now):
                    return Refresh("unknown_kid")
                raise
        if fetching or not self._backing_off(now):
            return Refresh("cold" if keys is None else "expired")
        return self.settle(kid, spec, now)

    def _may_refetch_for_kid(self, now: float) -> bool:
        if self._backing_off(now):
            return False
        return self._kid_refetch_at is None or now - self._kid_refetch_at >= self.policy.cooldown

    def started(self, refresh: Refresh, now: float) -> None:
        """Record that a fetch starts now for ``refresh``."""
        if refresh.reason == "unknown_kid":
            self._kid_refetch_at = now

    def succeeded(self, keys: KeySet, now: float) -> None:
        """Install a freshly fetched key set."""
        self.keys = keys
        self.fetched_at = now
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
