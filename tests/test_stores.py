"""Shared state: revocations (cache hits included), DPoP replay and key sets, in memory and on a real Redis."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fake_clock import FakeClock
from redis_server import RedisServer, running_redis
from waiting import wait_until

import jwtguard
from jwtguard._jwks import RemoteKeySource
from jwtguard._shared_keys import Record, SharedKeySets
from jwtguard.stores import MemoryStore, Revocations, Store, StoreUnavailableError
from jwtguard.testing import DPoPKey, LocalIssuer, SigningKey, TokenFactory

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


# -- key sets shared by a fleet ------------------------------------------------------------


def _fleet_of(issuer: LocalIssuer, store: Store, clock: FakeClock, size: int = 4) -> list[jwtguard.Validator]:
    return [issuer.validator(store=store, timer=clock, jwks_uri=issuer.jwks_uri) for _ in range(size)]


def _validate_all_at_once(validators: list[jwtguard.Validator], token: str) -> None:
    with ThreadPoolExecutor(len(validators)) as pool:
        list(pool.map(lambda validator: validator.validate(token), validators))


def _sources(validators: list[jwtguard.Validator]) -> list[RemoteKeySource]:
    return [source for v in validators for source in v._sources.values() if isinstance(source, RemoteKeySource)]


def _idle(validators: list[jwtguard.Validator]) -> bool:
    return all(source._inflight is None for source in _sources(validators))


def test_validators_sharing_a_store_fetch_each_key_set_once(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    store = MemoryStore(timer=clock, clock=clock)
    fleet = _fleet_of(own_issuer, store, clock)
    _validate_all_at_once(fleet, own_issuer.token())  # a cold start of four validators at once
    assert own_issuer.jwks_fetches == 1
    assert sum(source.store_reads for source in _sources(fleet)) == 3
    clock.advance(500)  # past the refresh point (80 % of the issuer's max-age=600)
    token = own_issuer.token()
    _validate_all_at_once(fleet, token)  # answered from memory at once; each starts a background refresh
    assert wait_until(lambda: _idle(fleet))
    assert own_issuer.jwks_fetches == 2  # one refresh for all four
    clock.advance(100)  # 600 s after the first fetch, 100 s after the refresh: the refreshed keys serve
    for validator in fleet:
        validator.validate(own_issuer.token())
    assert own_issuer.jwks_fetches == 2
    assert all(status.age == pytest.approx(100) for v in fleet for status in v.key_set_status())


def test_a_rotated_key_costs_the_fleet_one_fetch(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    store = MemoryStore(timer=clock, clock=clock)
    fleet = _fleet_of(own_issuer, store, clock)
    _validate_all_at_once(fleet, own_issuer.token())
    own_issuer.rotate()
    _validate_all_at_once(fleet, own_issuer.token())  # an unknown kid on every validator
    for validator in fleet:  # one by one: a later one finds the new key set in the store
        validator.validate(own_issuer.token())
    assert own_issuer.jwks_fetches == 2


def test_a_key_set_in_the_store_from_another_url_is_ignored(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    store = MemoryStore(timer=clock, clock=clock)
    forger = SigningKey.generate("RS256", kid=own_issuer.signing_key.kid)
    shared = SharedKeySets(store, own_issuer.issuer, own_issuer.jwks_uri, max_bytes=1 << 20)
    for url, keys in (("https://attacker.example/jwks.json", [forger.jwk]), (own_issuer.jwks_uri, [])):
        forged = Record("forged", own_issuer.issuer, url, clock(), 600, {"keys": keys})
        shared.publish(forged, 600)
        validator = _fleet_of(own_issuer, store, clock, 1)[0]
        validator.validate(own_issuer.token())  # fetched from the issuer itself
        forged_token = TokenFactory(own_issuer.issuer, own_issuer.audience, key=forger, clock=clock).mint()
        assert refused_code(validator, forged_token) == "bad_signature"
    assert own_issuer.jwks_fetches == 2


def test_an_hmac_key_in_the_store_is_never_used(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    store = MemoryStore(timer=clock, clock=clock)
    secret = {"kty": "oct", "kid": "shared-secret", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I"}
    shared = SharedKeySets(store, own_issuer.issuer, own_issuer.jwks_uri, max_bytes=1 << 20)
    document = {"keys": [*own_issuer.jwks()["keys"], secret]}
    shared.publish(Record("r", own_issuer.issuer, own_issuer.jwks_uri, clock(), 600, document), 600)
    validator = own_issuer.validator(store=store, timer=clock, jwks_uri=own_issuer.jwks_uri, algorithms=["RS256"])
    validator.validate(own_issuer.token())
    assert own_issuer.jwks_fetches == 0  # the stored document served, parsed with every key rule
    assert [status.key_count for status in validator.key_set_status()] == [1]


class _BrokenStore(MemoryStore):
    def get_document(self, key: str) -> bytes | None:
        raise StoreUnavailableError("ConnectionError")

    def try_lock(self, key: str, ttl: float, owner: str) -> bool:
        raise StoreUnavailableError("ConnectionError")


class _OwnStore(Store):
    """An application's own store written before key sets were shared: only the abstract methods."""

    def revoke_token(self, jti: str, *, expires_at: float) -> None: ...
    def revoke_subject(self, sub: str, *, issued_before: float, expires_at: float | None = None) -> None: ...
    def version(self) -> int:
        return 0

    def revocations(self) -> Revocations:
        return Revocations()

    def add_once(self, key: str, ttl: float) -> bool | None:
        return True


@pytest.mark.parametrize("store_class", [_BrokenStore, _OwnStore])
def test_without_a_working_shared_store_each_validator_fetches_for_itself(
    own_issuer: LocalIssuer, clock: FakeClock, store_class: type[Store]
) -> None:
    store = store_class()
    fleet = _fleet_of(own_issuer, store, clock, 2)
    for validator in fleet:
        validator.validate(own_issuer.token())
    assert own_issuer.jwks_fetches == 2


def test_a_waiting_validator_fetches_itself_when_the_winner_fails(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    store = MemoryStore(timer=clock, clock=clock)
    shared = SharedKeySets(store, own_issuer.issuer, own_issuer.jwks_uri, max_bytes=1 << 20)
    assert shared.try_lock("a-worker-that-dies", 3600)  # held, and never released: only its TTL would end it
    validator = _fleet_of(own_issuer, store, clock, 1)[0]
    started = time.monotonic()
    threading.Timer(0.2, shared.unlock, ["a-worker-that-dies"]).start()  # its fetch failed: released, no document
    validator.validate(own_issuer.token())
    assert own_issuer.jwks_fetches == 1
    assert time.monotonic() - started < 1


def test_redis_shares_key_sets_and_an_outage_costs_nothing(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    from jwtguard.stores import RedisStore

    with running_redis() as server:
        clock.now = time.time()
        alone = _fleet_of(own_issuer, RedisStore(server.url, prefix="keys:", share_key_sets=False), clock, 2)
        _validate_all_at_once(alone, own_issuer.token())
        assert own_issuer.jwks_fetches == 2  # opted out: each fetches, nothing published
        fleet = _fleet_of(own_issuer, RedisStore(server.url, prefix="keys:"), clock)
        _validate_all_at_once(fleet, own_issuer.token())
        assert own_issuer.jwks_fetches == 3  # one for the four
        server.stop()
        for validator in fleet:  # keys in memory: Redis is never asked
            validator.validate(own_issuer.token())
        late = own_issuer.validator(store=RedisStore(server.url, prefix="keys:"), timer=clock)
        late.validate(own_issuer.token())  # a cold validator fetches for itself
        clock.advance(500)
        for validator in fleet:  # due for a refresh: each fetches for itself, nobody waits
            validator.validate(own_issuer.token())
        assert wait_until(lambda: _idle(fleet))
        assert own_issuer.jwks_fetches == 4 + len(fleet)
