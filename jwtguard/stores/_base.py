"""The store interface: the state validators share (revocations, DPoP proof ``jti`` s, key sets).

Theory of operation
-------------------
A :class:`~jwtguard.Validator` never waits on a store for a decision it can
make from memory. Revocations are *mirrored*: each validator keeps a local
copy (:class:`~jwtguard._revocation.RevocationMirror`) that it brings up to
date when the store's :meth:`Store.version` changes, at most every
``sync_interval`` seconds and off the request path; a request checks the copy
(two dictionary look-ups). DPoP replay is different: a proof replayed to
another worker must be caught, so each DPoP request records its proof's key
with :meth:`Store.add_once` (``SET NX`` with the proof's lifetime in Redis) —
one round trip for DPoP requests only.

Writers — your logout handler, an admin tool, the local issuer's revocation
endpoint — call :meth:`Store.revoke_token` and :meth:`Store.revoke_subject`.
Every entry carries the time after which no token it covers can still be
valid, and leaves the store by itself then.

Key sets are shared as documents: the validator that wins :meth:`Store.try_lock`
for an issuer fetches its JWKS and publishes it with :meth:`Store.put_document`
(with the URL it came from, its fetch time and max age); the others read it
with :meth:`Store.get_document` and parse it themselves, every key rule
applied. Each validator keeps its parsed keys in memory: a request never
waits on the store for a key it has (see :mod:`jwtguard._shared_keys`).

To back the store with something else, subclass :class:`Store` and implement
its abstract methods; the async ones default to running the sync ones. The
key-set methods are optional: without them each validator fetches for itself.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["DEFAULT_MAX_TOKEN_LIFETIME", "Revocations", "Store", "StoreUnavailableError"]

#: How long a subject revocation is kept when no expiry is given: no token issued before it
#: can outlive this (access tokens live minutes to hours).
DEFAULT_MAX_TOKEN_LIFETIME = 86400.0


class StoreUnavailableError(Exception):
    """The store could not be reached or answered wrongly (the message is safe to log)."""


@dataclass(frozen=True)
class Revocations:
    """A snapshot of what is revoked: ``jti`` → expiry, ``sub`` → issued-before time."""

    version: int = 0
    tokens: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    subjects: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


class Store(abc.ABC):
    """State shared by every validator (and worker) that uses the same store."""

    # -- revocation: written by the application, read by validators -------------------

    @abc.abstractmethod
    def revoke_token(self, jti: str, *, expires_at: float) -> None:
        """Refuse the token with this ``jti`` everywhere, until ``expires_at`` (its ``exp``)."""

    @abc.abstractmethod
    def revoke_subject(self, sub: str, *, issued_before: float, expires_at: float | None = None) -> None:
        """Refuse every token of ``sub`` issued (``iat``) before ``issued_before``.

        The entry leaves the store at ``expires_at`` (default: ``issued_before`` plus
        :data:`DEFAULT_MAX_TOKEN_LIFETIME`), when no token it covers can still be valid.
        """

    @abc.abstractmethod
    def version(self) -> int:
        """A number that changes whenever a revocation is added (cheap: validators poll it)."""

    @abc.abstractmethod
    def revocations(self) -> Revocations:
        """Everything revoked and not yet expired."""

    # -- DPoP replay ---------------------------------------------------------------------

    @abc.abstractmethod
    def add_once(self, key: str, ttl: float) -> bool | None:
        """Record ``key`` for ``ttl`` seconds: ``True`` if new, ``False`` if present, ``None`` if full.

        Raises:
            StoreUnavailableError: the store cannot answer.
        """

    async def aadd_once(self, key: str, ttl: float) -> bool | None:
        """Like :meth:`add_once`, without blocking the event loop (default: in a thread)."""
        return await asyncio.to_thread(self.add_once, key, ttl)

    # -- key sets shared by a fleet --------------------------------------------------------
    # Optional: the defaults share nothing, so every validator fetches its issuers' keys itself.

    def get_document(self, key: str) -> bytes | None:
        """The document stored under ``key``, or ``None`` (default: none is ever stored).

        Raises:
            StoreUnavailableError: the store cannot answer.
        """
        return None

    def put_document(self, key: str, value: bytes, ttl: float) -> None:  # noqa: B027 - optional
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any (default: keep nothing).

        Raises:
            StoreUnavailableError: the store cannot answer.
        """

    def try_lock(self, key: str, ttl: float, owner: str) -> bool:
        """Take the lock ``key`` for ``owner`` (a random string) for ``ttl`` seconds, unless it is held.

        ``True`` if taken. The default always answers ``True``: no lock is shared.

        Raises:
            StoreUnavailableError: the store cannot answer.
        """
        return True

    def unlock(self, key: str, owner: str) -> None:  # noqa: B027 - optional
        """Release the lock ``key`` if ``owner`` still holds it (default: nothing to release).

        Raises:
            StoreUnavailableError: the store cannot answer.
        """

    def close(self) -> None:  # noqa: B027 - optional for implementations
        """Release connections and threads (optional)."""
