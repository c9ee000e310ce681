"""Key sets shared through a store: one fetch per issuer refresh for a whole fleet.

Theory of operation
-------------------
Every worker keeps its parsed keys in memory (:mod:`jwtguard._jwks`): a request
never waits on the store for a key it has. When a worker's
:class:`~jwtguard._jwks.RemoteKeySource` needs a fetch (cold, expired, due for
refresh ahead, an unknown ``kid``), its fetch thread — never the event loop —
goes through the store first:

1. It reads the issuer's document from the store. A document that another
   worker fetched and that is good enough for this refresh is parsed and used:
   no fetch.
2. Otherwise it tries the store's lock for the issuer (``SET NX PX`` on Redis,
   with a TTL of the fetch timeout plus a margin). The winner fetches from the
   issuer, publishes the JWKS document with the URL it came from, its fetch
   time and its announced max age, and releases the lock.
3. A worker that loses waits, polling every :data:`POLL_INTERVAL` seconds,
   for a *new* document (another id than the one it saw) and parses it; if the
   lock is released without one (the winner's fetch failed) it takes the lock
   and fetches itself; if the wait reaches the lock's TTL (the winner died),
   it fetches without the lock. The wait is bounded like any fetch.

The security rules do not change: a document is only used for the source it
was published for (its URL must be the configured ``jwks_uri``, or for
discovery a URL discovery would accept, for the same issuer), and parsing
applies every key rule (:class:`~jwtguard._keys.KeySet` with the worker's own
algorithms and ``max_keys``). The store holds the raw JWKS, never parsed keys.

When the store fails, the worker fetches for itself (as without a store) and
leaves the store alone for :data:`OUTAGE_BACKOFF` seconds, so an outage never
slows a fetch down by more than one failed command, and never fails one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .stores import Store

__all__ = ["POLL_INTERVAL", "Record", "SharedKeySets"]

logger = logging.getLogger("jwtguard")

#: Seconds between two looks at the store while another worker fetches.
POLL_INTERVAL = 0.05
#: Seconds the store is left alone after it failed (each worker fetches for itself meanwhile).
OUTAGE_BACKOFF = 5.0
_FORMAT = 1


@dataclass(frozen=True)
class Record:
    """A JWKS document as a worker fetched it, as kept in the store."""

    id: str
    issuer: str
    url: str
    fetched_at: float  # wall clock (seconds since the epoch)
    max_age: float | None  # what the response announced (Cache-Control), before clamping
    jwks: dict[str, Any]

    def kids(self) -> set[str]:
        """The ``kid`` values of the document's keys (unparsed: for choosing, never for trusting)."""
        keys = self.jwks.get("keys")
        if not isinstance(keys, list):
            return set()
        return {key["kid"] for key in keys if isinstance(key, dict) and isinstance(key.get("kid"), str)}

    def encode(self) -> bytes:
        fields = {
            "v": _FORMAT,
            "id": self.id,
            "issuer": self.issuer,
            "url": self.url,
            "fetched_at": self.fetched_at,
            "max_age": self.max_age,
            "jwks": self.jwks,
        }
        return json.dumps(fields, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Record | None:
        """The record in ``raw``, or ``None`` when it is not one."""
        try:
            fields = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(fields, dict) or fields.get("v") != _FORMAT:
            return None
        id_, issuer, url, jwks = fields.get("id"), fields.get("issuer"), fields.get("url"), fields.get("jwks")
        fetched_at, max_age = fields.get("fetched_at"), fields.get("max_age")
        if not (isinstance(id_, str) and isinstance(issuer, str) and isinstance(url, str) and isinstance(jwks, dict)):
            return None
        if not isinstance(fetched_at, (int, float)) or not _number(fetched_at):
            return None
        if max_age is not None and not (isinstance(max_age, (int, float)) and _number(max_age) and max_age >= 0):
            return None
        return cls(id_, issuer, url, float(fetched_at), None if max_age is None else float(max_age), jwks)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def new_id() -> str:
    """A fresh random id for a record or a lock owner."""
    return secrets.token_hex(12)


class SharedKeySets:
    """One key source's view of the store: its document, its lock, and the store's health.

    Every method swallows the store's failures: a failed read is no document, a
    failed lock is a lock won (fetch yourself), a failed write is skipped.

    Args:
        store: the shared store.
        issuer: the issuer of the source.
        jwks_uri: the configured key-set URL (``None``: discovery).
        max_bytes: the largest JWKS accepted from the issuer (bounds what is read from the store).
        timer: a monotonic clock, for the outage back-off.
    """

    def __init__(
        self,
        store: Store,
        issuer: str,
        jwks_uri: str | None,
        *,
        max_bytes: int,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        name = jwks_uri if jwks_uri is not None else "discovery " + issuer
        digest = hashlib.sha256(name.encode()).hexdigest()
        self.key = f"jwks:{digest}"
        self.lock_key = f"jwks:{digest}:lock"
        self._max_bytes = max_bytes
        self._timer = timer
        self._down_until = -math.inf

    def available(self) -> bool:
        """Whether the store may be asked (it has not failed in the last :data:`OUTAGE_BACKOFF` seconds)."""
        return self._timer() >= self._down_until

    def _failed(self, what: str, exc: Exception) -> None:
        if self.available():
            logger.warning(
                "jwtguard: the store failed while %s a shared key set (%s); fetching keys directly for %.0f s",
                what,
                type(exc).__name__,
                OUTAGE_BACKOFF,
            )
        self._down_until = self._timer() + OUTAGE_BACKOFF

    def read(self) -> Record | None:
        """The issuer's document in the store, if there is a well-formed one."""
        if not self.available():
            return None
        try:
            raw = self.store.get_document(self.key)
        except Exception as exc:  # StoreUnavailableError, or a broken store: never fail the fetch
            self._failed("reading", exc)
            return None
        if raw is None:
            return None
        if not isinstance(raw, (bytes, bytearray)) or len(raw) > 2 * self._max_bytes + 4096:
            return None
        return Record.decode(bytes(raw))

    def publish(self, record: Record, ttl: float) -> None:
        """Put ``record`` in the store for ``ttl`` seconds (skipped while the store is down)."""
        if not self.available():
            return
        try:
            self.store.put_document(self.key, record.encode(), ttl)
        except Exception as exc:
            self._failed("publishing", exc)

    def try_lock(self, owner: str, ttl: float) -> bool:
        """Take the issuer's lock; ``True`` also when the store is down (then everyone fetches)."""
        if not self.available():
            return True
        try:
            return bool(self.store.try_lock(self.lock_key, ttl, owner))
        except Exception as exc:
            self._failed("locking", exc)
            return True

    def unlock(self, owner: str) -> None:
        """Release the issuer's lock if ``owner`` holds it (it expires by itself otherwise)."""
        if not self.available():
            return
        try:
            self.store.unlock(self.lock_key, owner)
        except Exception as exc:
            self._failed("unlocking", exc)
