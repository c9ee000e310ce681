"""Validated tokens, remembered so that a repeated token costs a dictionary lookup.

Theory of operation
-------------------
A token is remembered the second time it passes *every* check: the first time
only records that it was seen (that record is all that traffic of distinct
tokens pays). Then the :class:`~jwtguard.Validator` stores its
:class:`~jwtguard.Claims` under the exact token string, with the time window
in which the same full validation would still pass (from ``nbf``/``iat`` and
``exp``, ``max_token_age`` and the leeway) and the key-set snapshot whose key
verified it. A hit is returned only if (and the validator then runs the users'
``claim_checks`` predicates again, as they may depend on state)

* the clock is inside that window (time-based claims re-checked on each hit),
* the issuer's key set is still that very snapshot and fresh: a refresh (which
  may have removed the key) or keys past their max age send the token back to
  full validation.

Each validator has its own cache, so audience and scope decisions never leak
between differently configured validators. Failures are never cached. The
cache and the record of seen tokens are each bounded (``token_cache_size``);
when full, the oldest entry goes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from ._keys import KeySet
from .claims import Claims

__all__ = ["CachedToken", "TokenCache"]

_V = TypeVar("_V")


class CachedToken(NamedTuple):
    """A validated token: its claims, the window in which they hold, and the key set that verified it."""

    claims: Claims
    not_before: float
    not_after: float
    keys: KeySet
    snapshot: Callable[[], KeySet | None]


class TokenCache:
    """A bounded map from token to :class:`CachedToken`; safe to share between threads."""

    __slots__ = ("_entries", "_seen", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        # FIFO eviction: an OrderedDict pops its oldest entry in O(1); a dict would rescan
        # the slots its earlier pops left empty.
        self._entries: OrderedDict[str, CachedToken] = OrderedDict()
        # Tokens validated once: a token is remembered on its second full validation, so
        # traffic of all-distinct tokens pays for this small record only.
        self._seen: OrderedDict[str, None] = OrderedDict()

    def get(self, token: str, now: float) -> Claims | None:
        """The cached claims if a full validation would accept ``token`` now, else ``None``."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry.not_before <= now < entry.not_after and entry.snapshot() is entry.keys:
            return entry.claims
        self._entries.pop(token, None)
        return None

    def seen_before(self, token: str) -> bool:
        """Whether ``token`` was validated in full before; records it otherwise."""
        if self._seen.pop(token, False) is None:
            return True
        _add(self._seen, token, None, self.size)
        return False

    def put(self, token: str, entry: CachedToken) -> None:
        """Remember ``entry``, evicting the oldest entry when full."""
        _add(self._entries, token, entry, self.size)

    def discard(self, token: str) -> None:
        """Forget ``token``."""
        self._entries.pop(token, None)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _add(entries: OrderedDict[str, _V], token: str, value: _V, size: int) -> None:
    """Insert ``token``, first evicting the oldest entry when ``entries`` holds ``size`` already."""
    if len(entries) >= size:
        try:  # noqa: SIM105 - faster than contextlib.suppress on this path
            entries.popitem(last=False)
        except KeyError:
            pass  # emptied by another thread meanwhile
    entries[token] = value
