"""The remote key source: an issuer's JWKS, fetched and kept fresh.

:class:`RemoteKeySource` fetches the issuer's JWKS (through OIDC discovery or
an explicit ``jwks_uri``) and keeps it fresh with the policy described in
:mod:`jwtguard._keycache`.

How a fetch runs: the first caller that needs one starts it in a thread of its
own; every other caller, thread or asyncio task, waits on the same future
(single flight, so one issuer never has more than one fetch running, and a
slow issuer never delays another's). Sync callers block on it, async callers
await it without blocking the event loop. A refresh of keys that are still
usable (refresh ahead, or stale keys) runs the same way, but nobody waits for
it: the request that started it is answered from the cached keys at once. The
fetch itself is bounded by the timeout (a watchdog closes its socket), and so
is every wait: a hung endpoint costs a request at most the timeout plus a
small margin, and is recorded as a failure; a fetch still running long after
its timeout (an application's ``fetch`` function that hangs) is abandoned, so
a new one may start. After ``os.fork()`` the child starts with fresh locks and
no fetch under way.

With a store (``Validator(store=...)``), the fetch thread first looks for the
key set another worker fetched, and fetches only if it wins the store's lock
for the issuer: one fetch per refresh for a whole fleet (see
:mod:`jwtguard._shared_keys`). Requests still never wait on the store for a
key this worker has.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from . import _http
from ._algorithms import AlgorithmSpec
from ._discovery import discovery_flow
from ._keycache import CachePolicy, KeyCache, Refresh
from ._keys import MAX_KEYS, Key, KeySet
from ._shared_keys import POLL_INTERVAL, Record, SharedKeySets, new_id
from ._status import KeySetStatus
from ._x509 import jwks_of
from .errors import AuthError
from .hooks import Hooks, call_safely

if TYPE_CHECKING:
    from .stores import Store

__all__ = ["RemoteKeySource"]

logger = logging.getLogger("jwtguard")

_WAIT_MARGIN = 0.5
# concurrent.futures.TimeoutError is the builtin only from Python 3.11 on.
_WAIT_TIMEOUT = (TimeoutError, concurrent.futures.TimeoutError)
_SOURCES: weakref.WeakSet[RemoteKeySource] = weakref.WeakSet()


class RemoteKeySource:
    """One issuer's JWKS, fetched over HTTPS and cached.

    Args:
        issuer: the issuer whose keys these are (used for discovery).
        algorithms: allowed algorithm names (keys no allowed algorithm can use are dropped).
        jwks_uri: the key-set URL; ``None`` discovers it from the issuer.
        policy: cache timing (max age, unknown-``kid`` cooldown, max staleness).
        settings: network bounds.
        timer: a monotonic clock in seconds (``time.monotonic``): every duration the
            cache measures (freshness, cooldown, back-off, ``Retry-After``) uses it,
            so a wall-clock step (NTP) never freezes or hastens refetches.
        hooks: told about each fetch (:meth:`~jwtguard.hooks.Hooks.on_key_set_fetch`).
        max_keys: how many keys of a fetched set are read (the rest are counted, and logged once).
        store: shares the fetched key set with every validator using the same store
            (``None``: this source fetches for itself).
        clock: the wall clock, for the fetch time of a key set shared through ``store``.
        jwks_hosts: the hosts (``host`` or ``host:port``) a discovered ``jwks_uri`` may
            name (issuers accepted by rule, :mod:`jwtguard._issuers`); ``None``: any.

    A ``{kid: PEM certificate}`` document (Google, Firebase) is read as the key
    set its certificates' public keys make (:mod:`jwtguard._x509`).
    """

    def __init__(
        self,
        issuer: str,
        algorithms: Sequence[str],
        *,
        jwks_uri: str | None,
        policy: CachePolicy,
        settings: _http.HttpSettings,
        timer: Callable[[], float] = time.monotonic,
        hooks: Hooks | None = None,
        max_keys: int = MAX_KEYS,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        jwks_hosts: frozenset[str] | None = None,
    ) -> None:
        self.issuer = issuer
        self._jwks_hosts = jwks_hosts
        self._algorithms = tuple(algorithms)
        self._jwks_uri = jwks_uri
        self._discovered_uri: str | None = None
        self._settings = settings
        self._timer = timer
        self._hooks = hooks
        self._cache = KeyCache(policy)
        self._lock = threading.Lock()
        self._inflight: Future[None] | None = None
        self._inflight_since = 0.0  # time.monotonic() when the fetch under way started
        self._max_keys = max_keys
        self._dropped = 0  # keys beyond max_keys in the last fetched set
        _SOURCES.add(self)
        #: How many fetches of the key set (and discovery document) were started.
        self.fetch_count = 0
        self._clock = clock
        self._shared = None if store is None else SharedKeySets(store, issuer, jwks_uri, max_bytes=settings.max_bytes)
        self._record_id: str | None = None  # the id of the shared record the cached keys came from
        #: How many of those fetches were answered by a key set from the store instead.
        self.store_reads = 0

    # -- the fetch itself (runs in the worker pool) --------------------------------

    def _fetch(self) -> tuple[KeySet, float | None]:
        """The key set, and the max age its response announced (``None``: none)."""
        document, _, max_age = self._fetch_document()
        return self._parse(document), max_age

    def _fetch_document(self) -> tuple[Any, str, float | None]:
        """The JWKS document, the URL it came from and the max age its response announced."""
        flow = discovery_flow(self.issuer, self._jwks_uri or self._discovered_uri, self._settings, self._jwks_hosts)
        deadline = time.monotonic() + self._settings.timeout
        url = next(flow)
        headers: Mapping[str, str] = {}
        while True:
            try:
                document, headers = _http.fetch_json(url, self._settings, deadline)
            except _http.FetchError as exc:
                if url == self._discovered_uri:
                    self._discovered_uri = None  # rediscover next time
                url = flow.throw(exc)
                continue
            try:
                url = flow.send(document)
            except StopIteration as done:
                document, uri = done.value
                break
        self._parse(document)  # first: a set with no usable key is a failure, its URL not remembered
        if self._jwks_uri is None:
            self._discovered_uri = uri
        return document, uri, _http.max_age_of(headers)  # the last response's headers: the key set's

    def _parse(self, document: Any) -> KeySet:
        """Parse a JWKS document with every key rule.

        Raises:
            FetchError: ``invalid_jwks``, ``no_usable_keys``.
        """
        try:
            keys = KeySet(jwks_of(document, self._max_keys), self._algorithms, max_keys=self._max_keys)
        except ValueError:
            raise _http.FetchError("invalid_jwks") from None
        if not len(keys):
            raise _http.FetchError("no_usable_keys")
        return keys

    # -- through the store: a fleet's single flight (runs in the fetch thread) -----

    def _obtain(self, reason: str, kid: str | None) -> tuple[KeySet, float | None, float, bool]:
        """Keys for a refresh: ``(keys, announced max age, age, fetched here)``; fetch only if no one else does."""
        shared = self._shared
        if shared is None:
            keys, max_age = self._fetch()
            return keys, max_age, 0.0, True
        seen = shared.read()
        if seen is not None and seen.id != self._record_id and self._serves(seen, reason, kid):
            taken = self._take(seen)
            if taken is not None:
                return taken
        owner = new_id()
        deadline = time.monotonic() + self._wait
        locked = shared.try_lock(owner, self._wait)
        while not locked and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)  # another worker is fetching: bounded by the lock's TTL
            record = shared.read()
            if record is not None and record.id != self._record_id and (seen is None or record.id != seen.id):
                taken = self._take(record)  # published after we looked: as new as a fetch of ours
                if taken is not None:
                    return taken
            locked = shared.try_lock(owner, self._wait)  # released without a new document: its fetch failed
        try:
            if locked:  # a fetch may have ended between our look and our lock: look again
                record = shared.read()
                if record is not None and record.id != self._record_id and (seen is None or record.id != seen.id):
                    taken = self._take(record)
                    if taken is not None:
                        return taken
            document, url, max_age = self._fetch_document()
            keys = self._parse(document)
            record = Record(new_id(), self.issuer, url, self._clock(), max_age, document)
            self._record_id = record.id
            policy = self._cache.policy
            shared.publish(record, policy.lifetime(max_age) + policy.max_stale)
        finally:
            if locked:
                shared.unlock(owner)
        return keys, max_age, 0.0, True

    def _serves(self, record: Record, reason: str, kid: str | None) -> bool:
        """Whether ``record`` (fetched by another worker) may answer a refresh for ``reason`` without a fetch."""
        if reason == "unknown_kid" and (kid is None or kid not in record.kids()):
            return False
        return self._cache.policy.serves(reason, record.max_age, max(0.0, self._clock() - record.fetched_at))

    def _take(self, record: Record) -> tuple[KeySet, float | None, float, bool] | None:
        """The keys of ``record`` if it is this source's key set and parses, else ``None`` (then fetch)."""
        if record.issuer != self.issuer or not self._from_our_url(record.url):
            logger.warning("jwtguard: the store holds a key set for %s from another URL; ignored", self.issuer)
            return None
        try:
            keys = self._parse(record.jwks)
        except _http.FetchError as exc:
            logger.warning("jwtguard: the key set of %s in the store is unusable (%s); ignored", self.issuer, exc)
            return None
        self._record_id = record.id
        self.store_reads += 1
        logger.debug("jwtguard: took %d keys for %s from the store", len(keys), self.issuer)
        return keys, record.max_age, max(0.0, self._clock() - record.fetched_at), False

    def _from_our_url(self, url: str) -> bool:
        """Whether this source could have fetched its keys from ``url`` itself."""
        if self._jwks_uri is not None:
            return url == self._jwks_uri
        if self._discovered_uri is not None:
            return url == self._discovered_uri
        try:
            _http.check_url(url, self._settings, "jwks_uri")  # what discovery itself accepts
        except ValueError:
            return False
        return True

    def _run_fetch(self, future: Future[None], reason: str = "expired", kid: str | None = None) -> None:
        started = time.monotonic()
        try:
            keys, max_age, age, fetched = self._obtain(reason, kid)
        except Exception as exc:  # a fetch failure is an outage, whatever its cause
            reason = exc.reason if isinstance(exc, _http.FetchError) else "internal_error"
            logger.warning("jwtguard: fetching the key set of %s failed: %s", self.issuer, reason)
            self._notify(ok=False, reason=reason, started=started)
            with self._lock:
                if self._inflight is future:
                    self._cache.failed(reason, self._timer())
                    self._inflight = None
        else:
            if fetched:
                logger.info("jwtguard: fetched %d keys for %s", len(keys), self.issuer)
            if keys.dropped and not self._dropped:  # once, not at every refresh
                logger.warning(
                    "jwtguard: the key set of %s holds %d keys beyond max_keys=%d; they are ignored",
                    self.issuer,
                    keys.dropped,
                    self._max_keys,
                )
            self._dropped = keys.dropped
            if fetched:
                self._notify(ok=True, reason=None, started=started)
            with self._lock:
                self._cache.succeeded(keys, self._timer(), max_age, age)
                if self._inflight is future:
                    self._inflight = None
        future.set_result(None)

    def _notify(self, *, ok: bool, reason: str | None, started: float) -> None:
        if self._hooks is not None:
            duration = time.monotonic() - started
            call_safely(self._hooks.on_key_set_fetch, self.issuer, ok=ok, reason=reason, duration=duration)

    # -- single flight ------------------------------------------------------------

    def _plan(self, kid: str | None, spec: AlgorithmSpec) -> Key | Future[None]:
        try:  # the fast path: cached keys, no lock
            now = self._timer()
            step = self._cache.plan(kid, spec, now)
            if isinstance(step, Key):
                if self._inflight is None and self._cache.ahead(now) is not None:
                    self._refresh_ahead()
                return step
        except AuthError:
            pass  # decided again below: a fetch under way may still bring the key
        with self._lock:
            now = self._timer()
            step = self._cache.plan(kid, spec, now, fetching=self._fetching())
            if isinstance(step, Key):
                return step
            return self._start_or_join(step, now, kid)

    def _refresh_ahead(self) -> None:
        """Start a background refresh if one is still due; nobody waits for it."""
        with self._lock:
            now = self._timer()
            due = self._cache.ahead(now, fetching=self._fetching())
            if due is not None:
                self._start_or_join(due, now)

    def _fetching(self) -> bool:
        """Whether a fetch is under way. Call with the lock held."""
        if self._inflight is not None and time.monotonic() - self._inflight_since > 2 * self._wait:
            self._expire(self._inflight)  # hung far beyond its timeout: abandon it
        return self._inflight is not None

    def _start_or_join(self, step: Refresh, now: float, kid: str | None = None) -> Future[None]:
        """Return the fetch under way, or start one (for ``kid``, when unknown). Call with the lock held."""
        if self._inflight is None:
            self._cache.started(step, now)
            self._inflight = Future()
            self._inflight_since = time.monotonic()
            self.fetch_count += 1
            name = "jwtguard-fetch"
            args = (self._inflight, step.reason, kid)
            threading.Thread(target=self._run_fetch, args=args, name=name, daemon=True).start()
        return self._inflight

    def _timed_out(self, future: Future[None]) -> None:
        with self._lock:
            self._expire(future)

    def _expire(self, future: Future[None]) -> None:
        """Record ``future`` as timed out, if it is still the fetch under way. Call with the lock held."""
        if self._inflight is future:
            logger.warning("jwtguard: fetching the key set of %s timed out", self.issuer)
            self._cache.failed("timeout", self._timer())
            self._inflight = None

    def _settle(self, kid: str | None, spec: AlgorithmSpec) -> Key:
        return self._cache.settle(kid, spec, self._timer())

    @property
    def _wait(self) -> float:
        return self._settings.timeout + _WAIT_MARGIN

    def get_key(self, kid: str | None, spec: AlgorithmSpec) -> Key:
        """Return the key for ``kid``/``spec``, fetching the key set when needed.

        Raises:
            InvalidTokenError: ``unknown_key``.
            KeySetUnavailableError: no usable keys.
        """
        step = self._plan(kid, spec)
        if isinstance(step, Key):
            return step
        self._wait_sync(step)
        return self._settle(kid, spec)

    async def aget_key(self, kid: str | None, spec: AlgorithmSpec) -> Key:
        """Like :meth:`get_key`, awaiting any fetch without blocking the event loop."""
        step = self._plan(kid, spec)
        if isinstance(step, Key):
            return step
        await self._wait_async(step)
        return self._settle(kid, spec)

    def _wait_sync(self, future: Future[None]) -> None:
        try:
            future.result(timeout=self._wait)
        except _WAIT_TIMEOUT:
            self._timed_out(future)

    async def _wait_async(self, future: Future[None]) -> None:
        # asyncio.wait (unlike wait_for) never cancels the shared future on timeout.
        done, _ = await asyncio.wait({asyncio.wrap_future(future)}, timeout=self._wait)
        if not done:
            self._timed_out(future)

    def refresh(self) -> KeySetStatus:
        """Fetch the key set now (for warming up at start-up) and return the status."""
        with self._lock:
            self._fetching()
            future = self._start_or_join(Refresh("expired"), self._timer())
        self._wait_sync(future)
        return self.status()

    async def arefresh(self) -> KeySetStatus:
        """Like :meth:`refresh`, without blocking the event loop."""
        with self._lock:
            self._fetching()
            future = self._start_or_join(Refresh("expired"), self._timer())
        await self._wait_async(future)
        return self.status()

    def snapshot(self) -> KeySet | None:
        """The current key set if it is fresh, else ``None`` (no lock, no network)."""
        return self._cache.fresh_keys(self._timer())

    @property
    def freshness(self) -> KeyCache:
        """The key cache, which cache hits read (keys, ``fetched_at``, ``max_age``)."""
        return self._cache

    def status(self) -> KeySetStatus:
        """Return a snapshot of this key set's state."""
        cache = self._cache
        now = self._timer()
        age = None if cache.fetched_at is None else now - cache.fetched_at
        count = 0 if cache.keys is None else len(cache.keys)
        usable = cache.keys is not None and cache._usable(now)
        source = self._jwks_uri or self._discovered_uri or self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        stale = age is None or age >= cache.max_age
        return KeySetStatus(self.issuer, source, usable, count, age, stale, cache.last_error, self._dropped)


def _after_fork_in_child() -> None:
    # A lock held, or a fetch running, in another thread of the parent does not exist here.
    for source in list(_SOURCES):
        source._lock = threading.Lock()
        source._inflight = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
