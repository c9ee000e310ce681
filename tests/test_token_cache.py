"""The validated-token cache: a hit can never accept what a full validation would reject."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fake_clock import FakeClock
from waiting import wait_until

import jwtguard
from jwtguard.asgi import JWTGuardMiddleware
from jwtguard.hooks import Hooks
from jwtguard.testing import DPoPKey, LocalIssuer, SigningKey, TokenFactory
from jwtguard.wsgi import JWTGuardMiddleware as WSGIMiddleware

ISSUER = "https://issuer.example.com/"
AUDIENCE = "https://api.example.com"
KEY = SigningKey.generate("ES256", kid="k1")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def factory(clock: FakeClock) -> TokenFactory:
    return TokenFactory(ISSUER, AUDIENCE, key=KEY, clock=clock)


def make(clock: FakeClock, **options: Any) -> jwtguard.Validator:
    return jwtguard.Validator(
        issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"], jwks={"keys": [KEY.jwk]}, clock=clock, **options
    )


def cached(validator: jwtguard.Validator, token: str) -> jwtguard.Claims:
    """Validate ``token`` until it is answered from the cache (remembered on its second validation)."""
    validator.validate(token)
    remembered = validator.validate(token)
    assert validator.validate(token) is remembered
    return remembered


def test_a_repeated_token_is_answered_from_the_cache(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock)
    token = factory.mint()
    first = validator.validate(token)
    second = validator.validate(token)
    assert second is not first  # the first validation only records the token ...
    assert validator.validate(token) is second  # ... the second remembers it


def test_distinct_tokens_are_only_recorded(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock)
    for n in range(5):
        validator.validate(factory.mint(sub=f"user-{n}"))
    assert validator._token_cache is not None
    assert len(validator._token_cache) == 0


def test_the_cache_can_be_turned_off(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, token_cache_size=0)
    token = factory.mint()
    results = [validator.validate(token) for _ in range(3)]  # kept alive, so their ids cannot be reused
    assert len({id(claims) for claims in results}) == 3


def test_expiry_between_hits(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, leeway=5)
    token = factory.mint(expires_in=60)
    hit = cached(validator, token)
    clock.advance(64.9)
    assert validator.validate(token) is hit
    clock.advance(0.1)
    with pytest.raises(jwtguard.ExpiredTokenError):
        validator.validate(token)


def test_max_token_age_between_hits(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, leeway=0, max_token_age=100)
    token = factory.mint()
    hit = cached(validator, token)
    clock.advance(99)
    assert validator.validate(token) is hit
    clock.advance(2)
    with pytest.raises(jwtguard.InvalidTokenError):
        validator.validate(token)


def test_a_not_yet_valid_token_is_rejected_then_accepted(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, leeway=0)
    token = factory.mint(nbf=clock.now + 10)
    with pytest.raises(jwtguard.InvalidTokenError):
        validator.validate(token)
    clock.advance(10)
    assert validator.validate(token)["sub"]


def test_a_token_differing_by_one_character_is_validated_in_full(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock)
    token = factory.mint()
    cached(validator, token)
    head, payload, signature = token.split(".")
    flipped = "A" if signature[0] != "A" else "B"
    for other in (f"{head}.{payload}.{flipped}{signature[1:]}", token + "A", token[:-1]):
        with pytest.raises(jwtguard.InvalidTokenError):
            validator.validate(other)


def test_decisions_are_not_shared_between_validators(clock: FakeClock, factory: TokenFactory) -> None:
    token = factory.mint(scope="read")
    cached(make(clock), token)
    with pytest.raises(jwtguard.InsufficientScopeError):
        make(clock, required_scopes=["write"]).validate(token)
    with pytest.raises(jwtguard.InvalidTokenError):
        jwtguard.Validator(
            issuer=ISSUER, audience="https://other.example", jwks={"keys": [KEY.jwk]}, algorithms=["ES256"], clock=clock
        ).validate(token)


def test_failures_are_not_cached(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, required_scopes=["read"])
    token = factory.mint(scope="write")
    for _ in range(2):
        with pytest.raises(jwtguard.InsufficientScopeError):
            validator.validate(token)


def test_the_cache_is_bounded(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, token_cache_size=2)
    tokens = [factory.mint(sub=f"user-{n}") for n in range(5)]
    for token in tokens:
        cached(validator, token)
    assert validator._token_cache is not None
    assert len(validator._token_cache) == 2
    assert len(validator._token_cache._seen) <= 2
    cached(validator, tokens[-1])


def test_a_custom_time_check_disables_the_cache(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, claim_checks={"exp": lambda exp: exp > time.time()})
    token = factory.mint(exp=time.time() + 3600)
    results = [validator.validate(token) for _ in range(3)]  # kept alive, so their ids cannot be reused
    assert len({id(claims) for claims in results}) == 3


@pytest.fixture
def rotating(clock: FakeClock) -> Iterator[LocalIssuer]:
    with LocalIssuer(clock=clock) as issuer:
        yield issuer


def test_a_removed_key_ends_its_cached_tokens(rotating: LocalIssuer, clock: FakeClock) -> None:
    validator = rotating.validator()
    old_kid = rotating.signing_key.kid
    old_token = rotating.token()
    cached(validator, old_token)
    rotating.rotate()
    rotating.retire(old_kid)
    validator.validate(rotating.token())  # an unknown kid: the key set is refetched, without the old key
    assert rotating.jwks_fetches == 2
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        validator.validate(old_token)
    assert caught.value.code == "unknown_key"


def test_cached_tokens_go_back_to_full_validation_when_keys_age(rotating: LocalIssuer, clock: FakeClock) -> None:
    validator = rotating.validator(cache_max_age=600)
    token = rotating.token()
    first = cached(validator, token)
    clock.advance(600)
    assert validator.validate(token) is not first  # a full validation ran, and refreshed the keys behind it
    assert wait_until(lambda: rotating.jwks_fetches == 2)


def test_user_predicates_run_again_on_every_hit(clock: FakeClock, factory: TokenFactory) -> None:
    revoked: set[str] = set()
    validator = make(clock, claim_checks={"jti": lambda jti: jti not in revoked})
    token = factory.mint(jti="token-1")
    cached(validator, token)
    revoked.add("token-1")
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        validator.validate(token)
    assert (caught.value.code, caught.value.claim) == ("invalid_claim", "jti")


# -- the index from the raw Authorization value (the adapters' fast path) -------------------------


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def asgi_status(app: Any, headers: list[tuple[bytes, bytes]], **scope: Any) -> int:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    base = {"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b""}
    asyncio.run(app({**base, **scope}, receive, send))
    status: int = messages[0]["status"]
    return status


def wsgi_status(app: Any, **environ: Any) -> int:
    statuses: list[str] = []
    base = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "api", "SERVER_PORT": "80"}
    app({**base, **environ}, lambda status, headers, exc_info=None: statuses.append(status))
    return int(statuses[0].split()[0])


def _wsgi_ok(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b"ok"]


def test_a_repeated_bearer_header_is_answered_from_the_index(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock)
    token = factory.mint()
    header = f"Bearer {token}"
    assert validator._fast_path(header) is None
    claims = None
    for _ in range(3):  # recorded, remembered, then a cache hit
        claims = validator.authenticate("GET", "https://api.example.com/", {"Authorization": header})
        validator._learn(header, claims)
    assert validator._fast_path(header) is claims
    assert validator._fast_path(header.encode()) is None  # indexed as text only
    validator._learn(header.encode(), claims)
    assert validator._fast_path(header.encode()) is claims
    changed = "B" if token.endswith("A") else "A"
    for other in (
        f"bearer {token}",
        f"Bearer  {token}",
        f"Bearer {token[:-1]}{changed}",
        f"Bearer {token}A",
        header[1:],
    ):
        assert validator._fast_path(other) is None  # only the exact value is indexed


def test_the_index_rechecks_what_a_cache_hit_does(clock: FakeClock, factory: TokenFactory) -> None:
    revoked: set[str] = set()
    validator = make(clock, leeway=0, claim_checks={"jti": lambda jti: jti not in revoked})
    guard = JWTGuardMiddleware(_ok, validator=validator)
    token = factory.mint(jti="token-1", expires_in=60)
    headers = [(b"authorization", f"Bearer {token}".encode())]
    for _ in range(3):
        assert asgi_status(guard, headers) == 200
    assert validator._fast_path(headers[0][1]) is not None
    revoked.add("token-1")
    assert validator._fast_path(headers[0][1]) is None
    assert asgi_status(guard, headers) == 401
    revoked.clear()
    for _ in range(3):
        assert asgi_status(guard, headers) == 200
    assert validator._fast_path(headers[0][1]) is not None
    clock.advance(60)
    assert validator._fast_path(headers[0][1]) is None
    assert asgi_status(guard, headers) == 401


def test_a_revoked_token_is_refused_on_the_fast_path(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock)
    guard = JWTGuardMiddleware(_ok, validator=validator)
    token = factory.mint(jti="token-2")
    headers = [(b"authorization", f"Bearer {token}".encode())]
    for _ in range(3):
        assert asgi_status(guard, headers) == 200
    store = validator._store
    store.revoke_token("token-2", expires_at=clock.now + 3600)
    assert asgi_status(guard, headers) == 401


def test_sender_constrained_tokens_never_take_the_fast_path(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock)
    dpop = DPoPKey.generate(clock=clock)
    bound = factory.mint(cnf=dpop.cnf)
    url = "https://api.example.com/"
    for _ in range(3):
        headers = {"Authorization": f"DPoP {bound}", "DPoP": dpop.proof("GET", url, bound)}
        claims = validator.authenticate("GET", url, headers)
        validator._learn(headers["Authorization"], claims)
        validator._learn(f"Bearer {bound}", claims)
    assert validator._fast_path(f"DPoP {bound}") is None
    assert validator._fast_path(f"Bearer {bound}") is None
    certified = factory.mint(cnf={"x5t#S256": "A" * 43})
    guard = JWTGuardMiddleware(_ok, validator=validator)
    headers = [(b"authorization", f"Bearer {certified}".encode())]
    for _ in range(3):
        assert asgi_status(guard, headers) == 401  # no certificate: never accepted, never indexed
    assert validator._fast_path(headers[0][1]) is None


def test_the_asgi_fast_path_needs_exactly_one_authorization_and_no_dpop(
    clock: FakeClock, factory: TokenFactory
) -> None:
    validator = make(clock)
    guard = JWTGuardMiddleware(_ok, validator=validator)
    token = factory.mint()
    value = f"Bearer {token}".encode()
    for _ in range(3):
        assert asgi_status(guard, [(b"authorization", value)]) == 200
    assert validator._fast_path(value) is not None
    assert asgi_status(guard, [(b"authorization", value), (b"authorization", value)]) == 400
    assert asgi_status(guard, [(b"authorization", value), (b"Authorization", value)]) == 400
    assert asgi_status(guard, [(b"authorization", value), (b"dpop", b"x")]) == 200  # unbound: the proof is unused


def test_the_wsgi_fast_path(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, leeway=0)
    guard = WSGIMiddleware(_wsgi_ok, validator=validator)
    token = factory.mint(expires_in=30)
    for _ in range(3):
        assert wsgi_status(guard, HTTP_AUTHORIZATION=f"Bearer {token}") == 200
    assert validator._fast_path(f"Bearer {token}") is not None
    assert wsgi_status(guard, HTTP_AUTHORIZATION=f"Bearer {token}, Bearer {token}") == 400
    clock.advance(30)
    assert wsgi_status(guard, HTTP_AUTHORIZATION=f"Bearer {token}") == 401


def test_round_robin_users_hit_a_cache_of_the_right_size(clock: FakeClock, factory: TokenFactory) -> None:
    hits: list[bool] = []

    class Counting(Hooks):
        def on_validated(self, claims: jwtguard.Claims, *, cached: bool) -> None:
            hits.append(cached)

    validator = make(clock, token_cache_size=64, hooks=Counting())
    tokens = [factory.mint(sub=f"user-{n}") for n in range(32)]
    for _ in range(2):  # recorded, then remembered
        for token in tokens:
            validator.validate(token)
    hits.clear()
    for _ in range(3):
        for token in tokens:
            validator.validate(token)
    assert all(hits)
    assert len(hits) == 96
    assert len(validator._token_cache or ()) == 32


def test_a_cached_token_costs_the_collector_one_object(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock)
    token = factory.mint(aud=[AUDIENCE, "other"], roles=["a", "b"], realm_access={"roles": ["c"]})
    claims = cached(validator, token)
    assert claims.roles == {"a", "b", "c"}
    for _ in range(3):  # tuples, then the dicts holding them, are untracked as collections see them
        gc.collect()
    assert not gc.is_tracked(claims._payload)
    assert claims["aud"] == [AUDIENCE, "other"]
    assert claims["realm_access"] == {"roles": ["c"]}


def test_the_index_follows_the_key_set(clock: FakeClock) -> None:
    with LocalIssuer(clock=clock) as issuer:
        validator = issuer.validator(cache_max_age=60, cache_max_age_bounds=(60, 60))
        header = f"Bearer {issuer.token()}"
        for _ in range(3):
            claims = validator.authenticate("GET", "https://api.example.com/", {"Authorization": header})
            validator._learn(header, claims)
        assert validator._fast_path(header) is claims
        clock.advance(61)  # the keys are past their max age: a hit would trust keys a refresh may drop
        assert validator._fast_path(header) is None
        again = validator.authenticate("GET", "https://api.example.com/", {"Authorization": header})
        assert again is not claims  # verified again, with the keys as they are now


def test_a_cached_token_shares_one_read_only_user(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock)
    users: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        users.append(scope["user"])
        await _ok(scope, receive, send)

    guard = JWTGuardMiddleware(app, validator=validator)
    first, second = factory.mint(sub="alice"), factory.mint(sub="bob")
    for _ in range(4):
        for token in (first, second):
            assert asgi_status(guard, [(b"authorization", f"Bearer {token}".encode())]) == 200
    alice, bob = users[-2], users[-1]
    assert (alice.identity, bob.identity) == ("alice", "bob")
    assert users[-4] is alice  # hits hand out the entry's user
    assert users[-3] is bob
    assert alice.claims is validator.validate(first)
    with pytest.raises(AttributeError):
        alice.claims = bob.claims
    with pytest.raises(AttributeError):
        alice.extra = 1


def test_require_scopes_decides_the_same_every_time(clock: FakeClock, factory: TokenFactory) -> None:
    refused: list[str] = []

    class Counting(Hooks):
        def on_rejected(self, error: jwtguard.AuthError) -> None:
            refused.append(error.code)

    validator = make(clock, hooks=Counting())
    reader = validator.validate(factory.mint(scope="read"))
    writer = validator.validate(factory.mint(scope="write"))
    for _ in range(3):  # the first call builds the requirement, the next ones take the inline check
        validator.require_scopes(reader, "read")
        validator.require_scopes(writer, "read", "write", any_of=True)
        with pytest.raises(jwtguard.InsufficientScopeError):
            validator.require_scopes(writer, "read")
        with pytest.raises(jwtguard.InsufficientScopeError):
            validator.require_scopes(reader, "admin", "write", any_of=True)
        with pytest.raises(jwtguard.MissingTokenError):
            validator.require_scopes(None, "read")  # type: ignore[arg-type]
    assert refused == ["insufficient_scope", "insufficient_scope", "missing_token"] * 3
