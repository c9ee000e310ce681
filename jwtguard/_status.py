"""The state of one issuer's key set, as health checks see it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KeySetStatus"]


@dataclass(frozen=True)
class KeySetStatus:
    """A snapshot of one issuer's key set, for health and readiness checks.

    Attributes:
        issuer: the issuer the keys belong to.
        source: ``"static"`` or the URL the keys were (or will be) fetched from.
        loaded: whether usable keys are held.
        key_count: how many keys are held.
        age: seconds since the last successful fetch (``None``: never, or static).
        stale: whether the keys are older than the cache's max age.
        last_error: the reason the last fetch failed, if the last fetch failed.
        dropped_keys: how many keys the set published beyond ``max_keys`` (ignored).
    """

    issuer: str
    source: str
    loaded: bool
    key_count: int
    age: float | None
    stale: bool
    last_error: str | None
    dropped_keys: int = 0
