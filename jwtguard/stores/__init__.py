"""Shared state for a fleet of workers: revocations and DPoP replay (see :mod:`jwtguard.stores._base`).

>>> from jwtguard.stores import MemoryStore
>>> store = MemoryStore()
>>> store.revoke_token("token-id-1", expires_at=4_000_000_000)
>>> "token-id-1" in store.revocations().tokens
True

:class:`RedisStore` needs the ``redis`` extra (``pip install "jwtguard[redis]"``)
and is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._base import DEFAULT_MAX_TOKEN_LIFETIME, Revocations, Store, StoreUnavailableError
from ._memory import MemoryStore

if TYPE_CHECKING:
    from ._redis import RedisStore

__all__ = [
    "DEFAULT_MAX_TOKEN_LIFETIME",
    "MemoryStore",
    "RedisStore",
    "Revocations",
    "Store",
    "StoreUnavailableError",
]


def __getattr__(name: str) -> Any:
    if name == "RedisStore":
        return importlib.import_module("._redis", __name__).RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
