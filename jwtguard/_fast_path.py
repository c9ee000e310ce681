"""The hit path: a repeated ``Authorization`` value answered from the token cache, unparsed.

Adapters hand the raw value of a request's only ``Authorization`` header (ASGI:
bytes; WSGI: text) to the validator's ``_fast_path`` before any parsing. The
function built here is one frame doing, inline, what a cache hit does through
several calls: the header index look-up and exact comparison
(:class:`~jwtguard._token_cache.TokenCache`), the validity window, the key set
(still the one that verified, and fresh), the generation promotion, then the state-dependent checks — the
users' ``claim_checks`` predicates and hooks through ``Validator._recheck``, and
revocation (with the default in-process store, an integer comparison while
nothing is revoked). Every ``None`` sends the request to the full policy, which
decides, logs and counts; nothing here is weaker than a look-up by token.
"""

from __future__ import annotations

from collections.abc import Callable

from ._revocation import RevocationMirror
from ._token_cache import TAIL, TokenCache
from .claims import Claims
from .errors import AuthError
from .stores import MemoryStore

__all__ = ["FastPath", "build_fast_path"]

FastPath = Callable[[str | bytes], Claims | None]


def _never(authorization: str | bytes) -> Claims | None:
    return None


def build_fast_path(
    cache: TokenCache | None,
    clock: Callable[[], float],
    mirror: RevocationMirror,
    recheck: Callable[[Claims, float], Claims | None] | None,
) -> FastPath:
    """The validator's hit path over ``cache`` (``None``: no cache, never a hit).

    ``recheck`` (the validator's predicates, revocation and hooks on a hit) replaces the
    inline revocation check when the validator has predicates or hooks.
    """
    if cache is None:
        return _never
    headers = cache._headers
    values = cache._values
    timer = cache.timer
    store = mirror.store if type(mirror.store) is MemoryStore else None

    def fast_path(authorization: str | bytes) -> Claims | None:
        tail = authorization[-TAIL:]
        claims = headers.get(tail)
        if claims is None or values.get(tail) != authorization:
            return None
        now = clock()
        not_before, not_after = claims._cache_window
        fresh = claims._cache_freshness  # TokenCache.get's test, inline
        if (
            not (not_before <= now < not_after)
            or fresh.keys is not claims._cache_keys
            or timer() - fresh.fetched_at >= fresh.max_age
        ):
            cache.unindex(authorization)
            return None
        if claims._cache_generation != cache._generation:
            cache.promote_indexed(authorization, claims)
        if recheck is not None:
            return recheck(claims, now)
        snapshot = mirror.snapshot
        if store is None or store._version != snapshot.version or snapshot.tokens or snapshot.subjects:
            try:
                mirror.check(claims)  # syncs first when the store changed
            except AuthError:
                cache.drop(claims)
                return None  # the full validation that follows refuses it, logged and counted
        return claims

    return fast_path
