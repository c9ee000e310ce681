"""Validated tokens, remembered so that a repeated token costs a dictionary lookup.

Theory of operation
-------------------
A token is remembered the second time it passes *every* check: the first time
only records a hash of it (that record, a few dozen bytes, is all that traffic
of distinct tokens pays). Then the :class:`~jwtguard.Validator` keeps its
:class:`~jwtguard.Claims` under the exact token string, with the time window in
which the same full validation would still pass (from ``nbf``/``iat`` and
``exp``, ``max_token_age`` and the leeway) and the key-set snapshot whose key
verified it. A hit is returned only if (and the validator then runs the users'
``claim_checks`` predicates and the revocation check again, as they may depend
on state)

* the clock is inside that window (time-based claims re-checked on each hit),
* the issuer's key set is still that very snapshot and fresh: a refresh (which
  may have removed the key) or keys past their max age send the token back to
  full validation.

Each validator has its own cache, so audience and scope decisions never leak
between differently configured validators. Failures are never cached.

Size and eviction
-----------------
The cache holds at most ``token_cache_size`` tokens (default
:data:`~jwtguard.DEFAULT_TOKEN_CACHE_SIZE`), in two generations of half that
size each: new entries, and entries hit while in the older generation, go to
the recent one; when the recent generation is full it becomes the older one,
and what the older one held without a hit since is dropped — a least-recently
used approximation in O(1) per operation, with plain dicts. Users sending their
tokens in turn all hit as long as there are fewer of them than half the cache.
Memory per entry is about the token's length twice (the key, and the
``Authorization`` value the header index compares in full) plus the decoded
claims: ``docs/performance.md`` measures it. The record of seen hashes is a
plain dict of integers, cleared when it reaches the same size.

The cyclic garbage collector
----------------------------
A cached token is its :class:`~jwtguard.Claims` object and nothing more the
collector must visit: the key set and the window (a tuple shared by the tokens
with the same one) live in the claims' own ``_cache_*`` slots; arrays and
objects in the payload are kept as tuples (untracked once the collector has
seen them, and so is the payload dict; a read hands out a read-only copy);
JOSE headers and scope and role sets are shared between the tokens that have
the same ones; and the cache's dicts are keyed by text, whose keys the
collector does not visit. The header index is the exception for ASGI: its
keys are the raw bytes the server handed over, which a collection reads once
per pass (about two more cache misses per indexed entry, counted with a cache
simulation) — the price of never decoding a header on a hit.

The header index
----------------
Adapters hand the raw ``Authorization`` value (ASGI: bytes; WSGI: text) to
the validator's hit path (:mod:`jwtguard._fast_path`) before any parsing.
The index maps the last 32 characters (or bytes) of a value ``Bearer <token>`` that passed a full
:meth:`~jwtguard.Validator.authenticate` as a plain bearer token without
``cnf`` to the cached claims, and to the whole value: a hit is an exact
comparison, and the whole ~1 KB value is never hashed. Only the cache's own
entries are indexed, and an entry leaves the index when it leaves the cache.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

from ._keycache import Freshness
from ._keys import KeySet
from .claims import Claims

__all__ = ["TAIL", "TokenCache"]


class _Source(Protocol):
    @property
    def freshness(self) -> Freshness: ...


_EMPTY: tuple[float, float] = (math.inf, -math.inf)  # the window of an entry dropped: never a hit
_WINDOWS_LIMIT = 4096

#: How many trailing characters of an ``Authorization`` value key the header index.
TAIL = 32
_BEARER = "Bearer "


def _token_of(value: str | bytes) -> str:
    token = value[len(_BEARER) :]
    return token if type(token) is str else token.decode("latin-1")  # type: ignore[union-attr]


class TokenCache:
    """A bounded map from token to its cached :class:`~jwtguard.Claims`; safe to share between threads."""

    __slots__ = (
        "_generation",
        "_half",
        "_headers",
        "_older",
        "_recent",
        "_seen",
        "_values",
        "_windows",
        "size",
        "timer",
    )

    def __init__(self, size: int, timer: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.timer = timer  # the key caches' timer: the key set's freshness is read with it
        self._half = max(1, (size + 1) // 2)
        # Two generations of plain str-keyed dicts (the collector visits their values only, not
        # the ~1 KB keys): new and hit entries go to _recent; when it holds half the size, it
        # becomes _older and what _older held, not hit meanwhile, is dropped.
        self._recent: dict[str, Claims] = {}
        self._older: dict[str, Claims] = {}
        self._generation = 0
        # Hashes of tokens validated once: a token is remembered on its second full validation.
        # Integers only, so the collector never tracks this dict; cleared when full.
        self._seen: dict[int, None] = {}
        # The header index: the last TAIL characters (or bytes) of an Authorization value, as the
        # adapter handed it -> the cached claims, and -> the whole value (scalars only: a dict the
        # collector never tracks). Text and bytes keys never collide (b"x" != "x").
        self._headers: dict[str | bytes, Claims] = {}
        self._values: dict[str | bytes, str | bytes] = {}
        # Validity windows, shared by the tokens issued in the same second with the same lifetime.
        self._windows: dict[tuple[float, float], tuple[float, float]] = {}

    def get(self, token: str, now: float) -> Claims | None:
        """The cached claims if a full validation would accept ``token`` now, else ``None``."""
        claims = self._recent.get(token)
        if claims is None:
            claims = self._older.get(token)
            if claims is None:
                return None
            self._promote(token, claims)
        not_before, not_after = claims._cache_window
        # The key set: still the one that verified, and fresh (the hit path tests the same inline).
        fresh = claims._cache_freshness
        if (
            not_before <= now < not_after
            and fresh.keys is claims._cache_keys
            and self.timer() - fresh.fetched_at < fresh.max_age  # fetched_at is set with keys
        ):
            return claims
        self.discard(token)
        return None

    def promote_indexed(self, value: str | bytes, claims: Claims) -> None:
        """An index hit on an entry of the older generation: promoted, as a look-up by token would."""
        # The index holds only the two generations' entries (pruned at each turn).
        self._promote(_token_of(value), claims)

    def unindex(self, value: str | bytes) -> None:
        """Forget the indexed ``Authorization`` value ``value`` and its token (no longer valid)."""
        tail = value[-TAIL:]
        self._headers.pop(tail, None)
        self._values.pop(tail, None)
        self.discard(_token_of(value))

    def index(self, value: str | bytes, token: str, claims: Claims) -> None:
        """Index ``value``, an ``Authorization`` value that is exactly ``Bearer <token>``, if
        ``claims`` are ``token``'s cached entry. Bytes and text are indexed apart."""
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if len(text) <= TAIL or text != _BEARER + token:
            return
        if self._recent.get(token) is not claims and self._older.get(token) is not claims:
            return
        tail = value[-TAIL:]
        self._headers[tail] = claims
        self._values[tail] = value

    def seen_before(self, token: str) -> bool:
        """Whether ``token`` was validated in full before; records it otherwise."""
        key = hash(token)  # cached by the str; a collision only admits a token one validation early
        if self._seen.pop(key, False) is None:
            return True
        if len(self._seen) >= self.size:
            self._seen.clear()
        self._seen[key] = None
        return False

    def put(
        self, token: str, claims: Claims, not_before: float, not_after: float, keys: KeySet, source: _Source
    ) -> None:
        """Remember ``claims`` for ``token`` (valid from ``not_before`` until ``not_after``)."""
        window = (not_before, not_after)
        shared = self._windows.get(window)
        if shared is None:
            if len(self._windows) >= _WINDOWS_LIMIT:
                self._windows.clear()
            shared = self._windows[window] = window
        claims._cache_window = shared
        claims._cache_keys = keys
        claims._cache_freshness = source.freshness
        self.discard(token)
        self._promote(token, claims)

    def _promote(self, token: str, claims: Claims) -> None:
        """Put ``claims`` in the recent generation (from the older one, or anew)."""
        self._older.pop(token, None)
        if len(self._recent) >= self._half:
            self._older, self._recent = self._recent, {}
            self._generation += 1
            self._prune()
        claims._cache_generation = self._generation
        self._recent[token] = claims

    def _prune(self) -> None:
        """Drop the index entries of claims no longer cached (once per generation: O(1) amortised)."""
        oldest = self._generation - 1
        stale: list[str | bytes] = [
            tail
            for tail, claims in self._headers.items()
            if claims._cache_generation < oldest or claims._cache_window is _EMPTY
        ]
        for tail in stale:
            self._headers.pop(tail, None)
            self._values.pop(tail, None)

    def drop(self, claims: Claims) -> None:
        """Forget the entry ``claims`` without its token: never a hit again; out of the cache
        at the next look-up by token, or with its generation."""
        claims._cache_window = _EMPTY

    def discard(self, token: str) -> None:
        """Forget ``token``."""
        claims = self._recent.pop(token, None)
        if claims is None:
            claims = self._older.pop(token, None)
        if claims is not None:
            claims._cache_window = _EMPTY  # its index entry, if any, is never a hit again

    def clear(self) -> None:
        """Forget every entry."""
        self._recent.clear()
        self._older.clear()
        self._headers.clear()
        self._values.clear()

    def __len__(self) -> int:
        return len(self._recent) + len(self._older)
