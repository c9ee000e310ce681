"""The default store: one process's memory."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from types import MappingProxyType

from ._base import DEFAULT_MAX_TOKEN_LIFETIME, Revocations, Store

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """State kept in this process: enough for one worker; use :class:`~jwtguard.stores.RedisStore` for several.

    Args:
        replay_capacity: proof keys remembered at most; when full of live entries,
            :meth:`add_once` answers ``None`` (the validator refuses with 503 rather
            than forget a proof that could be replayed).
        timer: a monotonic clock, for replay entries' lifetimes.
        clock: the wall clock, for revocation expiries (token dates are wall-clock times).
    """

    def __init__(
        self,
        *,
        replay_capacity: int = 100_000,
        timer: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.replay_capacity = replay_capacity
        self._timer = timer
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._tokens: dict[str, float] = {}
        self._subjects: dict[str, tuple[float, float]] = {}
        self._version = 0
        self._documents: dict[str, tuple[float, bytes]] = {}  # key -> (expiry on timer, value)
        self._locks: dict[str, tuple[float, str]] = {}  # key -> (expiry on timer, owner)

    def revoke_token(self, jti: str, *, expires_at: float) -> None:
        with self._lock:
            self._tokens[jti] = max(expires_at, self._tokens.get(jti, expires_at))
            self._version += 1

    def revoke_subject(self, sub: str, *, issued_before: float, expires_at: float | None = None) -> None:
        until = issued_before + DEFAULT_MAX_TOKEN_LIFETIME if expires_at is None else expires_at
        with self._lock:
            before, old_until = self._subjects.get(sub, (issued_before, until))
            self._subjects[sub] = (max(before, issued_before), max(old_until, until))
            self._version += 1

    def version(self) -> int:
        return self._version

    def revocations(self) -> Revocations:
        now = self._clock()
        with self._lock:
            self._tokens = {jti: until for jti, until in self._tokens.items() if until > now}
            self._subjects = {sub: entry for sub, entry in self._subjects.items() if entry[1] > now}
            return Revocations(
                self._version,
                MappingProxyType(dict(self._tokens)),
                MappingProxyType({sub: before for sub, (before, _) in self._subjects.items()}),
            )

    def add_once(self, key: str, ttl: float) -> bool | None:
        now = self._timer()
        with self._lock:
            seen = self._seen
            expiry = seen.get(key)
            if expiry is not None and expiry > now:
                return False
            seen.pop(key, None)
            while seen:  # insertion order is nearly expiry order: drop the expired front
                first, first_expiry = next(iter(seen.items()))
                if first_expiry > now:
                    break
                del seen[first]
            if len(seen) >= self.replay_capacity:
                for stale in [k for k, until in seen.items() if until <= now]:
                    del seen[stale]
                if len(seen) >= self.replay_capacity:
                    return None
            seen[key] = now + ttl
            return True

    async def aadd_once(self, key: str, ttl: float) -> bool | None:
        return self.add_once(key, ttl)  # memory only: no reason to leave the event loop

    def get_document(self, key: str) -> bytes | None:
        now = self._timer()
        with self._lock:
            entry = self._documents.get(key)
            if entry is None or entry[0] <= now:
                return None
            return entry[1]

    def put_document(self, key: str, value: bytes, ttl: float) -> None:
        now = self._timer()
        with self._lock:
            self._documents = {k: entry for k, entry in self._documents.items() if entry[0] > now}
            self._documents[key] = (now + ttl, bytes(value))

    def try_lock(self, key: str, ttl: float, owner: str) -> bool:
        now = self._timer()
        with self._lock:
            held = self._locks.get(key)
            if held is not None and held[0] > now:
                return False
            self._locks[key] = (now + ttl, owner)
            return True

    def unlock(self, key: str, owner: str) -> None:
        with self._lock:
            held = self._locks.get(key)
            if held is not None and held[1] == owner:
                del self._locks[key]
