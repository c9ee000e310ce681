"""The validated-token cache: a hit can never accept what a full validation would reject."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fake_clock import FakeClock
from waiting import wait_until

import jwtguard
from jwtguard.testing import LocalIssuer, SigningKey, TokenFactory

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
