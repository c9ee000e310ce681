"""Shared state: revocations (cache hits included) and DPoP replay, in memory and on a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fake_clock import FakeClock
from redis_server import RedisServer, running_redis

import jwtguard
from jwtguard.stores import MemoryStore, Store, StoreUnavailableError
from jwtguard.testing import DPoPKey, SigningKey, TokenFactory

ISSUER = "https://issuer.example.test/"
AUDIENCE = "https://api.example.test"
URL = "https://api.example.test/messages"
KEY = SigningKey.generate("RS256", kid="k")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


def make(clock: FakeClock, **options: Any) -> jwtguard.Validator:
    return jwtguard.Validator(issuer=ISSUER, audience=AUDIENCE, jwks={"keys": [KEY.jwk]}, clock=clock, **options)


def mint(clock: FakeClock, **claims: Any) -> str:
    return TokenFactory(ISSUER, AUDIENCE, key=KEY, clock=clock).mint(**claims)


def refused_code(validator: jwtguard.Validator, token: str) -> str:
    with pytest.raises(jwtguard.AuthError) as caught:
        validator.validate(token)
    return caught.value.code


# -- revocation ----------------------------------------------------------------------------


def test_a_revoked_token_is_refused_cache_hits_included(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock)
    validator = make(clock, store=store)
    token, other = mint(clock, jti="t-1"), mint(clock, jti="t-2")
    for _ in range(3):  # the third validation is a cache hit
        validator.validate(token)
    store.revoke_token("t-1", expires_at=clock() + 3600)
    assert refused_code(validator, token) == "token_revoked"
    validator.validate(other)


def test_a_revoked_subject_refuses_tokens_issued_before(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock)
    validator = make(clock, store=store)
    old = mint(clock, sub="alice")
    validator.validate(old)
    validator.validate(old)
    clock.advance(10)
    store.revoke_subject("alice", issued_before=clock())
    assert refused_code(validator, old) == "token_revoked"
    assert refused_code(validator, mint(clock, sub="alice", iat=None)) == "token_revoked"  # no iat: cannot be newer
    clock.advance(1)
    validator.validate(mint(clock, sub="alice"))  # logged in again afterwards
    validator.validate(mint(clock, sub="bob", iat=int(clock()) - 100))


def test_revocations_leave_the_store_once_nothing_they_cover_is_valid(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock)
    store.revoke_token("t", expires_at=clock() + 60)
    store.revoke_subject("alice", issued_before=clock(), expires_at=clock() + 120)
    store.revoke_subject("bob", issued_before=clock())  # kept for the default maximum token lifetime
    assert set(store.revocations().tokens) == {"t"}
    clock.advance(61)
    assert not store.revocations().tokens
    assert set(store.revocations().subjects) == {"alice", "bob"}
    clock.advance(60)
    assert set(store.revocations().subjects) == {"bob"}


def test_the_store_option_must_be_a_store(clock: FakeClock) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        make(clock, store={"url": "redis://"})
    with pytest.raises(jwtguard.ConfigurationError):
        make(clock, store_sync_interval=0)


# -- Redis ---------------------------------------------------------------------------------


def redis_store(server: RedisServer, prefix: str) -> Store:
    from jwtguard.stores import RedisStore

    return RedisStore(server.url, prefix=prefix)


def test_a_revocation_reaches_every_validator_sharing_redis(redis_server: RedisServer, request: Any) -> None:
    prefix = f"t-{request.node.name}:"
    clock = FakeClock(time.time())
    workers = [make(clock, store=redis_store(redis_server, prefix), store_sync_interval=0.05) for _ in range(3)]
    token = mint(clock, sub="alice", jti="j-1")
    for worker in workers:
        worker.validate(token)
        worker.validate(token)  # cached
    redis_store(redis_server, prefix).revoke_subject("alice", issued_before=clock() + 1)
    deadline = time.monotonic() + 5  # the documented bound is the sync interval plus a round trip
    pending = list(workers)
    while pending and time.monotonic() < deadline:
        pending = [w for w in pending if _still_accepts(w, token)]
        time.sleep(0.01)  # real worker threads poll Redis: wait for them, bounded by the deadline
    assert not pending


def _still_accepts(validator: jwtguard.Validator, token: str) -> bool:
    try:
        validator.validate(token)
    except jwtguard.InvalidTokenError as error:
        return error.code != "token_revoked"
    return True


def test_redis_revocation_entries_expire(redis_server: RedisServer) -> None:
    from jwtguard.stores import RedisStore

    clock = FakeClock(time.time())
    store = RedisStore(redis_server.url, prefix="expiry:", clock=clock)
    version = store.version()
    store.revoke_token("t", expires_at=clock() + 60)
    store.revoke_token("t", expires_at=clock() + 30)  # never shortens
    store.revoke_subject("alice", issued_before=clock(), expires_at=clock() + 120)
    assert store.version() == version + 3
    snapshot = store.revocations()
    assert dict(snapshot.tokens) == {"t": pytest.approx(clock() + 60)}
    assert dict(snapshot.subjects) == {"alice": pytest.approx(clock())}
    clock.advance(121)
    assert not store.revocations().tokens
    assert not store.revocations().subjects


def test_a_dpop_proof_is_accepted_once_across_validators_sharing_redis(redis_server: RedisServer) -> None:
    from jwtguard.stores import RedisStore

    clock = FakeClock(time.time())
    stores = [RedisStore(redis_server.url, prefix="replay:") for _ in range(2)]
    first, second = (make(clock, store=store) for store in stores)
    client = DPoPKey.generate(clock=clock)
    token = mint(clock, cnf=client.cnf)
    headers = client.headers("GET", URL, token)
    first.authenticate("GET", URL, headers)
    with pytest.raises(jwtguard.InvalidDPoPProofError) as caught:
        second.authenticate("GET", URL, headers)
    assert caught.value.code == "dpop_proof_replayed"
    again = client.headers("GET", URL, token)

    async def replay_through_the_asyncio_clients() -> None:
        await second.aauthenticate("GET", URL, again)
        with pytest.raises(jwtguard.InvalidDPoPProofError):
            await first.aauthenticate("GET", URL, again)
        for store in stores:
            await store.aclose()

    asyncio.run(replay_through_the_asyncio_clients())


def test_an_outage_keeps_revocations_and_closes_dpop_after_the_grace(tmp_path: Any) -> None:
    from jwtguard.stores import RedisStore

    with running_redis() as server:
        clock = FakeClock(time.time())
        store = RedisStore(server.url, socket_timeout=0.2)
        validator = make(clock, timer=clock, store=store, store_sync_interval=0.05)
        revoked, fine = mint(clock, jti="gone"), mint(clock, jti="fine")
        store.revoke_token("gone", expires_at=clock() + 3600)
        assert _refused_within(validator, revoked)
        client = DPoPKey.generate(clock=clock)
        bound = mint(clock, cnf=client.cnf)
        validator.authenticate("GET", URL, client.headers("GET", URL, bound))  # the store answered once
        server.stop()
        with pytest.raises(StoreUnavailableError):
            store.add_once("x", 1)
        assert refused_code(validator, revoked) == "token_revoked"  # the last copy keeps applying
        validator.validate(fine)
        validator.authenticate("GET", URL, client.headers("GET", URL, bound))  # within the grace: local replay cache
        clock.advance(6)  # past the 5 s grace
        with pytest.raises(jwtguard.ServiceUnavailableError) as caught:
            validator.authenticate("GET", URL, client.headers("GET", URL, bound))
        assert caught.value.status_code == 503
        assert "Retry-After" in caught.value.headers()


def _refused_within(validator: jwtguard.Validator, token: str, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _still_accepts(validator, token):
            return True
        time.sleep(0.01)  # the mirror thread polls Redis: bounded wait
    return False
