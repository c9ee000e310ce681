"""Revocations, mirrored from the store so that a request never waits on the network.

Theory of operation
-------------------
The mirror holds a snapshot of the store's revocations and a version. A local
store (:class:`~jwtguard.stores.MemoryStore`) is read when its version
changes — an integer comparison per request. A remote one (Redis) is polled
by one daemon thread per mirror, every ``interval`` seconds: the version
first (one small round trip), the whole set only when it changed. So a
revocation reaches every worker within ``interval`` plus one Redis round
trip, cache hits included, and a request only does two dictionary look-ups.
When the store cannot be reached, the last good snapshot keeps being applied
and the failure is logged; once the store answers again, the mirror catches
up. After ``os.fork()`` the child starts its own polling thread on first use.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from ._checks import as_number
from .errors import InvalidTokenError
from .stores import MemoryStore, Revocations, Store, StoreUnavailableError

__all__ = ["RevocationMirror"]

logger = logging.getLogger("jwtguard")


class RevocationMirror:
    """This process's copy of the store's revocations."""

    def __init__(self, store: Store, *, interval: float, timer: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.interval = interval
        self._timer = timer
        self._local = isinstance(store, MemoryStore)
        self.snapshot = Revocations()
        self.last_sync: float | None = None
        self._thread: threading.Thread | None = None
        self._failing = False
        self._lock = threading.Lock()

    def check(self, claims: Any) -> None:
        """Raise :class:`InvalidTokenError` (``token_revoked``) when ``claims`` are revoked."""
        if self._local:
            if self.store.version() != self.snapshot.version:
                self.sync()
        elif self._thread is None or not self._thread.is_alive():
            self._start()
        snapshot = self.snapshot
        if not snapshot.tokens and not snapshot.subjects:
            return
        jti = claims.get("jti")
        if isinstance(jti, str) and jti in snapshot.tokens:
            raise InvalidTokenError("token_revoked", claim="jti", reason="revoked")
        sub = claims.get("sub")
        before = snapshot.subjects.get(sub) if isinstance(sub, str) else None
        if before is not None:
            iat = as_number(claims.get("iat"))
            if iat is None or iat < before:  # no iat: it cannot show it is newer, so it is refused
                raise InvalidTokenError("token_revoked", claim="sub", reason="revoked")

    def sync(self) -> bool:
        """Bring the snapshot up to date now; ``False`` when the store cannot be reached."""
        try:
            if self.store.version() != self.snapshot.version or self.last_sync is None:
                self.snapshot = self.store.revocations()
        except StoreUnavailableError as error:
            # Once per outage at WARNING, then quietly until the store answers again.
            level = logging.DEBUG if self._failing else logging.WARNING
            logger.log(level, "jwtguard: reading revocations from the store failed (%s); using the last copy", error)
            self._failing = True
            return False
        if self._failing:
            logger.warning("jwtguard: the store answers again; revocations are current")
            self._failing = False
        self.last_sync = self._timer()
        return True

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self.sync()  # the first copy before the first decision
            self._thread = threading.Thread(
                target=_poll, args=(weakref.ref(self), self.interval), name="jwtguard-revocations", daemon=True
            )
            self._thread.start()


def _poll(mirror_ref: weakref.ref[RevocationMirror], interval: float) -> None:
    # Holds only a weak reference between rounds, so a discarded validator ends its thread.
    while True:
        time.sleep(interval)
        mirror = mirror_ref()
        if mirror is None:
            return
        mirror.sync()
        del mirror
