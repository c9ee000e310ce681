"""The key-set freshness policy, driven with plain numbers for time (no I/O, no clock)."""

from __future__ import annotations

import pytest

import jwtguard
from jwtguard._algorithms import SPECS
from jwtguard._keycache import CachePolicy, KeyCache, Refresh
from jwtguard._keys import Key, KeySet
from jwtguard.testing import SigningKey

RS256 = SPECS["RS256"]
OLD = SigningKey.generate("RS256", kid="old")
NEW = SigningKey.generate("RS256", kid="new")
POLICY = CachePolicy(max_age=600, cooldown=30, max_stale=3600, retry_interval=5)


def keys(*signing: SigningKey) -> KeySet:
    return KeySet({"keys": [key.jwk for key in signing]}, ["RS256"])


def loaded(at: float = 0.0) -> KeyCache:
    cache = KeyCache(POLICY)
    cache.succeeded(keys(OLD), at)
    return cache


def test_a_cold_cache_asks_for_a_fetch() -> None:
    assert KeyCache(POLICY).plan("old", RS256, 0) == Refresh("cold")


def test_fresh_keys_are_served_without_a_fetch() -> None:
    step = loaded().plan("old", RS256, 599)
    assert isinstance(step, Key)
    assert step.kid == "old"


def test_keys_past_max_age_serve_at_once_and_ask_for_a_background_refresh() -> None:
    cache = loaded()
    step = cache.plan("old", RS256, 600)
    assert isinstance(step, Key)
    assert cache.ahead(600) == Refresh("expired")
    assert cache.ahead(600, fetching=True) is None  # single flight: one refresh at a time


def test_an_unknown_kid_right_after_start_up_refetches_at_once() -> None:
    cache = loaded(at=0)
    assert cache.plan("new", RS256, 1) == Refresh("unknown_kid")


def test_unknown_kids_refetch_at_most_once_per_cooldown() -> None:
    cache = loaded(at=0)
    cache.started(Refresh("unknown_kid"), 10)
    cache.succeeded(keys(OLD), 10.1)
    for now in (10.2, 25, 39.9):
        with pytest.raises(jwtguard.InvalidTokenError) as caught:
            cache.plan("random", RS256, now)
        assert caught.value.code == "unknown_key"
    assert cache.plan("random", RS256, 40) == Refresh("unknown_kid")


def test_an_unknown_kid_joins_a_fetch_under_way_even_in_the_cooldown() -> None:
    cache = loaded(at=0)
    cache.started(Refresh("unknown_kid"), 10)
    assert cache.plan("new", RS256, 11, fetching=True) == Refresh("unknown_kid")


def test_a_rotated_key_is_found_after_the_refetch() -> None:
    cache = loaded(at=0)
    cache.started(Refresh("unknown_kid"), 10)
    cache.succeeded(keys(OLD, NEW), 10.5)
    assert cache.settle("new", RS256, 10.5).kid == "new"


def test_a_failed_refresh_keeps_the_last_good_keys() -> None:
    cache = loaded(at=0)
    cache.failed("http_status", 600)
    assert cache.keys is not None
    assert cache.settle("old", RS256, 600).kid == "old"
    # while backing off, no new fetch is asked for: the stale keys answer
    step = cache.plan("old", RS256, 604)
    assert isinstance(step, Key)
    assert cache.ahead(604) is None
    # after the retry interval, a fetch is tried again, in the background
    assert isinstance(cache.plan("old", RS256, 605), Key)
    assert cache.ahead(605) == Refresh("expired")


def test_stale_keys_serve_only_up_to_max_stale() -> None:
    cache = loaded(at=0)
    cache.failed("timeout", 4200)
    assert cache.settle("old", RS256, 4200).kid == "old"  # 600 + 3600: the limit itself
    cache.failed("timeout", 4201)
    with pytest.raises(jwtguard.KeySetUnavailableError):
        cache.settle("old", RS256, 4201)


def test_nothing_cached_and_a_failure_is_an_outage_with_retry_after() -> None:
    cache = KeyCache(POLICY)
    cache.failed("network_error", 100)
    with pytest.raises(jwtguard.KeySetUnavailableError) as caught:
        cache.plan("old", RS256, 102)
    assert caught.value.retry_after == 3
    assert caught.value.reason == "network_error"
    assert cache.plan("old", RS256, 105) == Refresh("cold")


def test_no_unknown_kid_refetch_while_backing_off() -> None:
    cache = loaded(at=0)
    cache.failed("timeout", 100)
    with pytest.raises(jwtguard.InvalidTokenError):
        cache.plan("new", RS256, 101)


def test_success_clears_the_last_error() -> None:
    cache = loaded(at=0)
    cache.failed("timeout", 100)
    cache.succeeded(keys(OLD), 200)
    assert cache.last_error is None
    assert cache.failed_at is None


@pytest.mark.parametrize("field", ["max_age", "cooldown", "max_stale", "retry_interval"])
@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), True, "10"])
def test_policy_rejects_bad_numbers(field: str, value: object) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        CachePolicy(**{field: value})  # type: ignore[arg-type]


# -- refresh ahead, and the max age a response announces ---------------------------------------


def test_a_refresh_is_due_ahead_of_expiry_without_anyone_waiting() -> None:
    cache = loaded(at=0)  # max age 600, refresh ratio 0.8
    assert cache.ahead(479.9) is None
    assert isinstance(cache.plan("old", RS256, 480), Key)  # the request is answered at once ...
    assert cache.ahead(480) == Refresh("ahead")  # ... and a background refresh is due
    cache.started(Refresh("ahead"), 480)
    assert cache.ahead(481, fetching=True) is None


def test_a_failed_refresh_ahead_keeps_the_keys_and_retries_after_the_interval() -> None:
    cache = loaded(at=0)
    cache.failed("http_status", 480)
    assert cache.keys is not None
    assert isinstance(cache.plan("old", RS256, 481), Key)
    assert cache.fresh_keys(481) is cache.keys  # still fresh: the failure took nothing away
    assert cache.ahead(484.9) is None
    assert cache.ahead(485) == Refresh("ahead")


def test_a_refresh_that_succeeds_moves_the_refresh_point() -> None:
    cache = loaded(at=0)
    cache.succeeded(keys(OLD, NEW), 490)
    assert cache.ahead(969) is None
    assert cache.ahead(970) == Refresh("ahead")


def test_an_unknown_kid_in_keys_past_max_age_waits_for_the_refresh_due_anyway() -> None:
    cache = loaded(at=0)
    assert cache.plan("new", RS256, 700) == Refresh("expired")
    cache.failed("timeout", 700)
    with pytest.raises(jwtguard.InvalidTokenError):  # backing off: no wait, no fetch
        cache.plan("new", RS256, 701)


def test_keys_past_max_stale_make_requests_wait_again() -> None:
    cache = loaded(at=0)
    assert isinstance(cache.plan("old", RS256, 4200), Key)  # 600 + 3600: the limit itself
    assert cache.plan("old", RS256, 4201) == Refresh("expired")
    assert cache.ahead(4201) is None  # nothing usable to serve meanwhile: a waiting fetch, not a background one


@pytest.mark.parametrize(
    ("announced", "max_age"),
    [(None, 600), (3600, 3600), (0, 60), (5, 60), (59.5, 60), (10**9, 86400), (86400, 86400)],
)
def test_an_announced_max_age_is_honoured_within_the_bounds(announced: float | None, max_age: float) -> None:
    cache = KeyCache(CachePolicy(max_age=600, max_age_bounds=(60, 86400)))
    cache.succeeded(keys(OLD), 0, announced)
    assert cache.max_age == max_age
    assert cache.fresh_keys(max_age - 0.001) is not None
    assert cache.fresh_keys(max_age) is None
    assert cache.ahead(0.8 * max_age) == Refresh("ahead")


def test_the_bounds_are_configurable() -> None:
    policy = CachePolicy(max_age_bounds=(300, 300))  # announced max ages are then ignored
    assert {policy.lifetime(a) for a in (None, 0, 60, 10**6)} == {600, 300}


@pytest.mark.parametrize(
    "options",
    [
        {"max_age_bounds": (100, 10)},
        {"max_age_bounds": (-1, 10)},
        {"max_age_bounds": (1, float("inf"))},
        {"max_age_bounds": [1, 10]},
        {"refresh_ratio": 0},
        {"refresh_ratio": 1.5},
        {"refresh_ratio": float("nan")},
    ],
)
def test_policy_rejects_bad_bounds_and_ratios(options: dict[str, object]) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        CachePolicy(**options)  # type: ignore[arg-type]
