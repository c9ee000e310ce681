"""A store on Redis: every worker and pod that shares it shares revocations, DPoP replay state and key sets."""

from __future__ import annotations

from .._extras import require

# ruff: noqa: E402 - the imports below follow this check on purpose
require("redis", "redis", "jwtguard.stores.RedisStore needs redis-py")

import asyncio
import time
import weakref
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import redis
import redis.asyncio

from ._base import DEFAULT_MAX_TOKEN_LIFETIME, Revocations, Store, StoreUnavailableError

__all__ = ["RedisStore"]

_FAILURES = (redis.exceptions.RedisError, OSError)

# Keep the later expiry of a token already revoked (ZADD GT needs Redis >= 6.2).
_REVOKE_SUBJECT = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if (not old) or tonumber(old) < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[1])
return redis.call('INCR', KEYS[3])
"""

# Release a lock only if its owner still holds it (it may have expired and been taken by another).
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore(Store):
    """Shared state in Redis (redis-py, sync and asyncio).

    Args:
        url: ``redis://host:port/db`` (or ``rediss://`` for TLS, ``unix://``).
        client: a ready ``redis.Redis`` instead of ``url``.
        async_client: a factory of ``redis.asyncio.Redis`` clients (one per event loop);
            default: built from ``url`` or from ``client``'s connection settings.
        prefix: prepended to every key.
        socket_timeout: seconds a Redis command may take before it counts as an outage.
        clock: the wall clock, for revocation expiries.
        share_key_sets: share fetched key sets with the fleet (one fetch per refresh). ``False``:
            each validator fetches its issuers' keys itself, so that writing to Redis can
            revoke or replay but never plant a key.

    Raises (from the methods):
        StoreUnavailableError: Redis cannot be reached or fails.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        async_client: Callable[[], redis.asyncio.Redis] | None = None,
        prefix: str = "jwtguard:",
        socket_timeout: float = 0.5,
        clock: Callable[[], float] = time.time,
        share_key_sets: bool = True,
    ) -> None:
        if (url is None) == (client is None):
            from ..errors import ConfigurationError

            raise ConfigurationError("RedisStore needs url= or client=, not both")
        options: dict[str, Any] = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_timeout}
        self._client = client if client is not None else redis.Redis.from_url(str(url), **options)
        if async_client is None:
            kwargs = dict(self._client.connection_pool.connection_kwargs)

            def async_client() -> redis.asyncio.Redis:
                return redis.asyncio.Redis(**{k: v for k, v in kwargs.items() if k in _ASYNC_KWARGS})

        self._make_async = async_client
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = (
            weakref.WeakKeyDictionary()
        )
        self._prefix = prefix
        self._clock = clock
        self._revoke_subject = self._client.register_script(_REVOKE_SUBJECT)
        self._unlock = self._client.register_script(_UNLOCK)
        self._share_key_sets = share_key_sets

    def _key(self, name: str) -> str:
        return self._prefix + name

    def revoke_token(self, jti: str, *, expires_at: float) -> None:
        try:
            with self._client.pipeline() as pipe:
                pipe.zadd(self._key("revoked:jti"), {jti: expires_at}, gt=True)
                pipe.zadd(self._key("revoked:jti"), {jti: expires_at}, nx=True)
                pipe.incr(self._key("revocations:version"))
                pipe.execute()
        except _FAILURES as exc:
            raise StoreUnavailableError(type(exc).__name__) from None

    def revoke_subject(self, sub: str, *, issued_before: float, expires_at: float | None = None) -> None:
        until = issued_before + DEFAULT_MAX_TOKEN_LIFETIME if expires_at is None else expires_at
        keys = [self._key("revoked:sub"), self._key("revoked:sub:expiry"), self._key("revocations:version")]
        try:
            self._revoke_subject(keys=keys, args=[sub, issued_before, until])
        except _FAILURES as exc:
            raise StoreUnavailableError(type(exc).__name__) from None

    def version(self) -> int:
        try:
            return int(self._client.get(self._key("revocations:version")) or 0)
        except _FAILURES as exc:
            raise StoreUnavailableError(type(exc).__name__) from None

    def revocations(self) -> Revocations:
        now = self._clock()
        jti, subs, expiry = self._key("revoked:jti"), self._key("revoked:sub"), self._key("revoked:sub:expiry")
        try:
            expired = [_text(member) for member in self._client.zrangebyscore(expiry, "-inf", now)]
            with self._client.pipeline() as pipe:
                pipe.zremrangebyscore(jti, "-inf", now)
                if expired:
                    pipe.hdel(subs, *expired)
                    pipe.zrem(expiry, *expired)
                pipe.get(self._key("revocations:version"))
                pipe.zrange(jti, 0, -1, withscores=True)
                pipe.hgetall(subs)
                *_, version, tokens, subjects = pipe.execute()
        except _FAILURES as exc:
            raise StoreUnavailableError(type(exc).__name__) from None
        return Revocations(
            int(version or 0),
            MappingProxyType({_text(member): float(score) for member, score in tokens}),
            MappingProxyType({_text(name): float(before) for name, before in subjects.items()}),
        )

    def add_once(self, key: str, ttl: float) -> bool | None:
        try:
            return bool(self._client.set(self._key("dpop:" + key), b"1", nx=True, px=max(1, int(ttl * 1000))))
        except _FAILURES as exc:
            raise StoreUnavailableError(type(exc).__name__) from None

    async def aadd_once(self, key: str, ttl: float) -> bool | None:
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = self._async[loop] = self._make_async()
        try:
            return bool(await client.set(self._key("dpop:" + key), b"1", nx=True, px=max(1, int(ttl * 1000))))
        except _FAILURES as exc:
            raise StoreUnavailableError(type(exc).__name__) from None

    def get_document(self, key: str) -> bytes | None:
        if not self._share_key_sets:
            return None
        try:
            value = self._client.get(self._key(key))
        except _FAILURES as exc:
            raise StoreUnavailableError(type(exc).__name__) from None
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else bytes(value)  # str: decode_responses=True

    def put_document(self, key: str, value: bytes, ttl: float) -> None:
        if not self._share_key_sets:
            return
        try:
            self._client.set(self._key(key), value, px=max(1, int(ttl * 1000)))
        except _FAILURES as exc:
            raise StoreUnavailableError(type(exc).__name__) from None

    def try_lock(self, key: str, ttl: float, owner: str) -> bool:
        if not self._share_key_sets:
            return True
        try:
            return bool(self._client.set(self._key(key), owner, nx=True, px=max(1, int(ttl * 1000))))
        except _FAILURES as exc:
            raise StoreUnavailableError(type(exc).__name__) from None

    def unlock(self, key: str, owner: str) -> None:
        if not self._share_key_sets:
            return
        try:
            self._unlock(keys=[self._key(key)], args=[owner])
        except _FAILURES as exc:
            raise StoreUnavailableError(type(exc).__name__) from None

    def close(self) -> None:
        self._client.close()

    async def aclose(self) -> None:
        """Close the asyncio connections of the running event loop (call before the loop ends)."""
        client = self._async.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_ASYNC_KWARGS = frozenset(
    {"host", "port", "db", "username", "password", "socket_timeout", "socket_connect_timeout", "path", "ssl"}
)
