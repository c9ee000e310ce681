"""The remote key set against real HTTP servers on 127.0.0.1, counting their requests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import threading
import time
import warnings

import pytest
from fake_clock import FakeClock
from waiting import wait_until

import jwtguard
from jwtguard._discovery import discovery_flow
from jwtguard._http import FetchError, HttpSettings
from jwtguard.testing import LocalIssuer, LocalServer, Request, Response

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/.well-known/jwks.json"


def expect_error(validator: jwtguard.Validator, token: str) -> jwtguard.AuthError:
    with pytest.raises(jwtguard.AuthError) as caught:
        validator.validate(token)
    return caught.value


def test_discovery_then_keys_once_for_many_validations(own_issuer: LocalIssuer) -> None:
    validator = own_issuer.validator()
    for _ in range(20):
        validator.validate(own_issuer.token())
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)


def test_discovery_must_name_the_same_issuer(own_issuer: LocalIssuer) -> None:
    document = {**own_issuer.discovery_document(), "issuer": "https://attacker.example/"}
    own_issuer.server.route(DISCOVERY, lambda request: Response(200, document))
    error = expect_error(own_issuer.validator(), own_issuer.token())
    assert isinstance(error, jwtguard.KeySetUnavailableError)
    assert error.reason == "discovery_issuer_mismatch"
    assert own_issuer.jwks_fetches == 0


def test_falls_back_to_jwks_json_without_discovery(own_issuer: LocalIssuer) -> None:
    own_issuer.server.route(DISCOVERY, lambda request: Response(404, "no discovery"))
    own_issuer.validator().validate(own_issuer.token())
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)


def test_an_explicit_jwks_uri_skips_discovery(own_issuer: LocalIssuer) -> None:
    own_issuer.validator(jwks_uri=own_issuer.jwks_uri).validate(own_issuer.token())
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (0, 1)


def test_a_rotated_key_is_accepted_after_exactly_one_fetch(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    validator = own_issuer.validator()
    validator.validate(own_issuer.token())
    clock.advance(1)
    own_issuer.rotate()
    validator.validate(own_issuer.token())
    validator.validate(own_issuer.token())
    assert own_issuer.jwks_fetches == 2


def test_a_retired_key_is_rejected_once_the_cache_refreshes(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    validator = own_issuer.validator()
    old_token = own_issuer.token()
    old_kid = own_issuer.signing_key.kid
    validator.validate(old_token)
    own_issuer.rotate()
    own_issuer.retire(old_kid)
    validator.validate(old_token)  # still cached
    clock.advance(600)
    validator.validate(old_token)  # keys past their max age answer at once, and refresh in the background
    assert wait_until(lambda: refreshed(validator))
    assert expect_error(validator, old_token).code == "unknown_key"


def test_a_flood_of_unknown_kids_costs_one_fetch_per_cooldown(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    validator = own_issuer.validator(unknown_kid_cooldown=30)
    validator.validate(own_issuer.token())
    factory = own_issuer.factory()
    for _ in range(50):
        token = factory.mint(headers={"kid": secrets.token_hex(8)})
        assert expect_error(validator, token).code == "unknown_key"
    assert own_issuer.jwks_fetches == 2
    clock.advance(30)
    expect_error(validator, factory.mint(headers={"kid": "another"}))
    assert own_issuer.jwks_fetches == 3


def test_an_unknown_issuer_causes_no_request(own_issuer: LocalIssuer) -> None:
    validator = own_issuer.validator()
    assert expect_error(validator, own_issuer.token(iss="https://elsewhere.example/")).code == "unknown_issuer"
    assert own_issuer.server.hits.total() == 0


def slow_jwks(issuer: LocalIssuer, delay: float) -> None:
    def handler(request: Request) -> Response:
        time.sleep(delay)
        return Response(200, issuer.jwks())

    issuer.server.route(JWKS, handler)


def test_32_threads_share_one_fetch(own_issuer: LocalIssuer) -> None:
    slow_jwks(own_issuer, 0.2)
    validator = own_issuer.validator(jwks_uri=own_issuer.jwks_uri)
    token = own_issuer.token()
    barrier = threading.Barrier(32)
    results: list[object] = []

    def worker() -> None:
        barrier.wait()
        results.append(validator.validate(token)["sub"])

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["user-123"] * 32
    assert own_issuer.jwks_fetches == 1


def test_200_tasks_share_one_fetch(own_issuer: LocalIssuer) -> None:
    slow_jwks(own_issuer, 0.2)
    validator = own_issuer.validator(jwks_uri=own_issuer.jwks_uri)
    token = own_issuer.token()

    async def main() -> list[jwtguard.Claims]:
        return await asyncio.gather(*(validator.avalidate(token) for _ in range(200)))

    assert len(asyncio.run(main())) == 200
    assert own_issuer.jwks_fetches == 1


def test_a_fetch_never_blocks_the_event_loop(own_issuer: LocalIssuer) -> None:
    slow_jwks(own_issuer, 0.3)
    validator = own_issuer.validator(jwks_uri=own_issuer.jwks_uri)
    token = own_issuer.token()

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        await validator.avalidate(token)
        task.cancel()
        return ticks

    assert asyncio.run(main()) >= 10


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (Response(500, "down"), "http_status"),
        (Response(200, "<html>not json</html>"), "invalid_json"),
        (Response(200, {"keys": []}), "no_usable_keys"),
        (Response(200, {"keys": "nope"}), "invalid_jwks"),
        (Response(200, [1, 2]), "invalid_jwks"),
        (Response(200, b"[" + b"0," * 5_000_000 + b"0]"), "response_too_large"),
        (Response(302, "", {"Location": "http://localhost:1/elsewhere"}), "redirect_to_other_origin"),
    ],
    ids=["500", "not-json", "no-keys", "keys-not-a-list", "not-an-object", "10MB", "cross-origin-redirect"],
)
def test_a_broken_key_set_endpoint_is_an_outage(own_issuer: LocalIssuer, response: Response, reason: str) -> None:
    own_issuer.server.route(JWKS, lambda request: response)
    error = expect_error(own_issuer.validator(jwks_uri=own_issuer.jwks_uri), own_issuer.token())
    assert isinstance(error, jwtguard.KeySetUnavailableError)
    assert error.status_code == 503
    assert error.reason == reason


def test_a_same_origin_redirect_is_followed(own_issuer: LocalIssuer) -> None:
    own_issuer.server.route("/moved", lambda request: Response(301, "", {"Location": JWKS}))
    own_issuer.validator(jwks_uri=own_issuer.url + "/moved").validate(own_issuer.token())
    assert own_issuer.jwks_fetches == 1


def test_a_hanging_endpoint_costs_at_most_the_timeout(own_issuer: LocalIssuer) -> None:
    slow_jwks(own_issuer, 3)
    validator = own_issuer.validator(jwks_uri=own_issuer.jwks_uri, timeout=0.3)
    started = time.monotonic()
    error = expect_error(validator, own_issuer.token())
    assert time.monotonic() - started < 2
    assert isinstance(error, jwtguard.KeySetUnavailableError)
    # The failure is remembered: the next request fails fast instead of waiting again.
    started = time.monotonic()
    expect_error(validator, own_issuer.token())
    assert time.monotonic() - started < 0.2


def refreshed(validator: jwtguard.Validator) -> bool:
    """Whether the key set was fetched at the timer's present reading (a fake timer stands still)."""
    (status,) = validator.key_set_status()
    return status.age == 0


def failed(validator: jwtguard.Validator) -> bool:
    (status,) = validator.key_set_status()
    return status.last_error is not None


def test_good_keys_survive_a_failed_refresh(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    validator = own_issuer.validator(jwks_uri=own_issuer.jwks_uri, max_stale=3600)
    validator.validate(own_issuer.token())
    own_issuer.server.route(JWKS, lambda request: Response(500, "down"))
    clock.advance(600)
    validator.validate(own_issuer.token())  # answered by the last good keys; the refresh fails behind it
    assert wait_until(lambda: failed(validator))
    validator.validate(own_issuer.token())
    (status,) = validator.key_set_status()
    assert status.loaded
    assert status.stale
    assert status.last_error == "http_status"
    assert own_issuer.jwks_fetches == 2
    clock.advance(3601)
    assert isinstance(expect_error(validator, own_issuer.token()), jwtguard.KeySetUnavailableError)


def test_an_outage_then_recovery(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    own_issuer.server.route(JWKS, lambda request: Response(503, "down"))
    validator = own_issuer.validator(jwks_uri=own_issuer.jwks_uri)
    error = expect_error(validator, own_issuer.token())
    assert isinstance(error, jwtguard.KeySetUnavailableError)
    assert error.retry_after >= 1
    own_issuer.server.route(JWKS, lambda request: Response(200, own_issuer.jwks()))
    expect_error(validator, own_issuer.token())  # still backing off: no new fetch yet
    assert own_issuer.jwks_fetches == 1
    clock.advance(5)
    validator.validate(own_issuer.token())
    assert own_issuer.jwks_fetches == 2


def test_each_issuer_verifies_only_with_its_own_keys(clock: FakeClock) -> None:
    with LocalIssuer(clock=clock) as first, LocalIssuer(clock=clock) as second:
        validator = jwtguard.Validator(issuer=[first.issuer, second.issuer], audience=first.audience, clock=clock)
        validator.validate(first.token())
        validator.validate(second.token())
        # A token claiming the first issuer but signed with the second's key (and kid).
        forged = second.factory().mint(iss=first.issuer)
        assert expect_error(validator, forged).code == "unknown_key"
        assert second.jwks_fetches == 1


def test_warm_up_and_status(own_issuer: LocalIssuer) -> None:
    validator = own_issuer.validator()
    (before,) = validator.key_set_status()
    assert not before.loaded
    assert before.age is None
    (after,) = validator.warm_up()
    assert after.loaded
    assert after.key_count == 1
    assert after.source == own_issuer.jwks_uri
    validator.validate(own_issuer.token())
    assert own_issuer.jwks_fetches == 1


def test_async_warm_up(own_issuer: LocalIssuer) -> None:
    validator = own_issuer.validator()
    (status,) = asyncio.run(validator.awarm_up())
    assert status.loaded
    assert own_issuer.jwks_fetches == 1


def test_warm_up_reports_an_outage_without_raising(broken_server: LocalServer) -> None:
    validator = jwtguard.Validator(issuer=broken_server.url + "/", audience="x")
    (status,) = validator.warm_up()
    assert not status.loaded
    assert status.last_error == "http_status"


@pytest.mark.parametrize(
    "options",
    [
        {"issuer": "http://issuer.example.com/"},
        {"issuer": "https://issuer.example.com/", "jwks_uri": "http://keys.example.com/jwks"},
        {"issuer": "ftp://issuer.example.com/"},
        {"issuer": "issuer.example.com"},
    ],
)
def test_plain_http_only_for_loopback(options: dict[str, str]) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        jwtguard.Validator(audience="x", **options)


def test_plain_http_elsewhere_needs_an_explicit_opt_in() -> None:
    jwtguard.Validator(issuer="http://issuer.example.com/", audience="x", allow_insecure_http=True)
    jwtguard.Validator(issuer="http://localhost:8080/", audience="x")
    jwtguard.Validator(issuer="http://[::1]:8080/", audience="x")


def drive(flow: object, documents: dict[str, object]) -> tuple[object, str]:
    """Run a discovery flow against a dict of URL -> document (or FetchError)."""
    url = next(flow)  # type: ignore[call-overload]
    while True:
        answer = documents.get(url, FetchError("http_status", 404))
        try:
            url = flow.throw(answer) if isinstance(answer, FetchError) else flow.send(answer)  # type: ignore[attr-defined]
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def test_discovery_flow_without_network() -> None:
    settings = HttpSettings()
    issuer = "https://tenant.example.com/"
    meta = {"issuer": issuer, "jwks_uri": "https://keys.example.com/jwks"}
    keys = {"keys": []}
    documents = {"https://tenant.example.com/.well-known/openid-configuration": meta, meta["jwks_uri"]: keys}
    assert drive(discovery_flow(issuer, None, settings), documents) == (keys, meta["jwks_uri"])
    fallback = {"https://tenant.example.com/.well-known/jwks.json": keys}
    assert drive(discovery_flow(issuer, None, settings), fallback)[1].endswith("/.well-known/jwks.json")
    insecure = {
        **documents,
        "https://tenant.example.com/.well-known/openid-configuration": {**meta, "jwks_uri": "http://keys.example.com/"},
    }
    with pytest.raises(FetchError, match="discovery_jwks_uri_refused"):
        drive(discovery_flow(issuer, None, settings), insecure)


def test_a_server_trickling_its_headers_is_cut_at_the_deadline(own_issuer: LocalIssuer) -> None:
    # Each byte arrives well within the socket timeout; only a deadline over the whole fetch stops it.
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
                if stop.wait(0.05):
                    return
                with contextlib.suppress(OSError):
                    conn.sendall(bytes([byte]))

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    fetches: list[tuple[bool, str | None, float]] = []

    class Hooks(jwtguard.hooks.Hooks):
        def on_key_set_fetch(self, issuer: str, *, ok: bool, reason: str | None, duration: float) -> None:
            fetches.append((ok, reason, duration))

    validator = own_issuer.validator(jwks_uri=f"http://127.0.0.1:{port}/jwks", timeout=0.5, hooks=Hooks())
    try:
        assert isinstance(expect_error(validator, own_issuer.token()), jwtguard.KeySetUnavailableError)
        deadline = time.monotonic() + 3
        while not fetches and time.monotonic() < deadline:
            time.sleep(0.01)
        ((ok, reason, duration),) = fetches
        assert (ok, reason) == (False, "timeout")
        assert duration < 1.5  # the fetch itself ended, not only the wait for it
    finally:
        stop.set()
        listener.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_fetches_on_its_own(own_issuer: LocalIssuer) -> None:
    validator = own_issuer.validator()
    validator.warm_up()
    slow_jwks(own_issuer, 0.3)
    lock = validator._sources[own_issuer.issuer]._lock  # type: ignore[attr-defined]
    lock.acquire()  # as if another thread held it at the moment of the fork
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork of a threaded process
        pid = os.fork()
    if pid == 0:  # the child: its copy of the held lock was replaced, and it can fetch
        statuses = validator.warm_up()
        os._exit(0 if statuses[0].loaded and statuses[0].last_error is None else 1)
    lock.release()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


# -- durations are measured on the monotonic timer, token dates on the wall clock -------------


@pytest.mark.parametrize("step", [-3600, 3600])
def test_a_wall_clock_step_neither_freezes_nor_hastens_a_recovery(
    own_issuer: LocalIssuer, clock: FakeClock, step: float
) -> None:
    timer = FakeClock(1000.0)
    own_issuer.server.route(JWKS, lambda request: Response(503, "down"))
    validator = own_issuer.validator(jwks_uri=own_issuer.jwks_uri, timer=timer)
    error = expect_error(validator, own_issuer.token())
    assert isinstance(error, jwtguard.KeySetUnavailableError)
    own_issuer.server.route(JWKS, lambda request: Response(200, own_issuer.jwks()))
    clock.advance(step)  # NTP steps the wall clock; no real time passes
    error = expect_error(validator, own_issuer.token())
    assert isinstance(error, jwtguard.KeySetUnavailableError)  # still backing off: the timer did not move
    assert error.retry_after <= 5
    assert own_issuer.jwks_fetches == 1
    timer.advance(5)
    validator.validate(own_issuer.token())  # recovered after the back-off, whatever the wall clock did
    assert own_issuer.jwks_fetches == 2


def test_after_a_backward_step_a_rotated_key_is_found_after_the_cooldown(
    own_issuer: LocalIssuer, clock: FakeClock
) -> None:
    timer = FakeClock(1000.0)
    validator = own_issuer.validator(timer=timer, unknown_kid_cooldown=30)
    validator.validate(own_issuer.token())
    expect_error(validator, own_issuer.factory().mint(headers={"kid": "unknown"}))  # spends the refetch
    own_issuer.rotate()
    clock.advance(-3600)
    assert expect_error(validator, own_issuer.token()).code == "unknown_key"  # inside the cooldown
    assert own_issuer.jwks_fetches == 2
    timer.advance(30)
    validator.validate(own_issuer.token())  # the rotated-in key: the cooldown ended on the timer
    assert own_issuer.jwks_fetches == 3


def test_a_forward_wall_clock_step_does_not_age_the_keys(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    timer = FakeClock(1000.0)
    validator = own_issuer.validator(timer=timer)
    validator.validate(own_issuer.token())
    clock.advance(7200)
    validator.validate(own_issuer.token())  # a token minted at the new wall time, keys still fresh
    assert own_issuer.jwks_fetches == 1
    timer.advance(600)
    validator.validate(own_issuer.token())  # past the max age on the timer: a refresh starts
    assert wait_until(lambda: refreshed(validator))
    assert own_issuer.jwks_fetches == 2


# -- freshness: the max age the response announces, refresh ahead, stale while revalidating ----------


def held_jwks(issuer: LocalIssuer) -> tuple[threading.Event, threading.Event]:
    """Make the JWKS endpoint block until the test releases it; return (entered, release)."""
    entered, release = threading.Event(), threading.Event()

    def handler(request: Request) -> Response:
        entered.set()
        release.wait(10)
        return Response(200, issuer.jwks())

    issuer.server.route(JWKS, handler)
    return entered, release


def test_refresh_ahead_answers_every_request_from_the_cache(own_issuer: LocalIssuer) -> None:
    timer = FakeClock(1000.0)
    validator = own_issuer.validator(jwks_uri=own_issuer.jwks_uri, timer=timer)
    token = own_issuer.token()
    validator.validate(token)
    entered, release = held_jwks(own_issuer)
    timer.advance(480)  # 80 % of the 600 s max age
    try:
        for _ in range(50):  # each answered while the refresh is held: none of them waited for it
            assert validator.validate(token)["sub"] == "user-123"

        async def many() -> list[jwtguard.Claims]:
            return await asyncio.gather(*(validator.avalidate(token) for _ in range(50)))

        assert len(asyncio.run(many())) == 50
        assert entered.wait(5)
        assert own_issuer.jwks_fetches == 2  # one background refresh for all of them
        assert not refreshed(validator)
    finally:
        release.set()
    assert wait_until(lambda: refreshed(validator))
    assert own_issuer.jwks_fetches == 2


@pytest.mark.parametrize("past", [480, 600, 600 + 86400])
def test_requests_never_wait_for_the_refresh_of_usable_keys(own_issuer: LocalIssuer, past: float) -> None:
    timer = FakeClock(1000.0)
    validator = own_issuer.validator(jwks_uri=own_issuer.jwks_uri, timer=timer, timeout=30)
    token = own_issuer.token()
    validator.validate(token)
    entered, release = held_jwks(own_issuer)
    timer.advance(past)
    try:
        started = time.monotonic()
        validator.validate(token)
        assert entered.wait(5)
        validator.validate(token)
        assert time.monotonic() - started < 5  # far below the 30 s the held endpoint could make a waiter wait
        assert own_issuer.jwks_fetches == 2
    finally:
        release.set()
    assert wait_until(lambda: refreshed(validator))


def test_a_failed_refresh_ahead_keeps_the_old_keys(own_issuer: LocalIssuer) -> None:
    timer = FakeClock(1000.0)
    validator = own_issuer.validator(jwks_uri=own_issuer.jwks_uri, timer=timer, token_cache_size=0)
    token = own_issuer.token()
    validator.validate(token)
    own_issuer.server.route(JWKS, lambda request: Response(503, "down"))
    timer.advance(480)
    validator.validate(token)
    assert wait_until(lambda: failed(validator))
    (status,) = validator.key_set_status()
    assert (status.loaded, status.stale, status.last_error) == (True, False, "http_status")
    validator.validate(token)
    timer.advance(4)
    validator.validate(token)  # within the retry interval: no new attempt
    assert own_issuer.jwks_fetches == 2
    own_issuer.server.route(JWKS, lambda request: Response(200, own_issuer.jwks()))
    timer.advance(1)
    validator.validate(token)  # the interval is over: one more background attempt, which succeeds
    assert wait_until(lambda: refreshed(validator))
    assert own_issuer.jwks_fetches == 3
    assert validator.key_set_status()[0].last_error is None


@pytest.mark.parametrize(
    ("headers", "bounds", "max_age"),
    [
        ({}, None, 600),
        ({"Cache-Control": "public, max-age=3600"}, None, 3600),
        ({"Cache-Control": "max-age=3600", "Age": "600"}, None, 3000),
        ({"Cache-Control": "max-age=15, stale-while-revalidate=15"}, None, 60),
        ({"Cache-Control": "no-store"}, None, 60),
        ({"Cache-Control": "max-age=31536000, immutable"}, None, 86400),
        ({"Cache-Control": "max-age=3600"}, (10, 100), 100),
        ({"Cache-Control": "max-age=5"}, (10, 100), 10),
        ({"Cache-Control": "max-age=oops"}, None, 600),
    ],
)
def test_the_max_age_the_key_set_response_announces_is_honoured_within_bounds(
    own_issuer: LocalIssuer,
    clock: FakeClock,
    headers: dict[str, str],
    bounds: tuple[float, float] | None,
    max_age: float,
) -> None:
    own_issuer.server.route(JWKS, lambda request: Response(200, own_issuer.jwks(), headers))
    options = {} if bounds is None else {"cache_max_age_bounds": bounds}
    timer = FakeClock(1000.0)
    # every request needs a key: repeated tokens answered by the validated-token cache would not
    validator = own_issuer.validator(jwks_uri=own_issuer.jwks_uri, timer=timer, token_cache_size=0, **options)
    token = own_issuer.token()
    validator.validate(token)
    timer.advance(0.8 * max_age - 0.5)
    validator.validate(token)
    assert not validator.key_set_status()[0].stale
    assert own_issuer.jwks_fetches == 1
    timer.advance(0.5)  # the refresh point of that max age
    validator.validate(token)
    assert wait_until(lambda: refreshed(validator))
    assert own_issuer.jwks_fetches == 2


def test_cache_max_age_bounds_from_the_environment() -> None:
    environ = {
        "JWTGUARD_ISSUER": "https://i.example/",
        "JWTGUARD_AUDIENCE": "a",
        "JWTGUARD_CACHE_MAX_AGE_BOUNDS": "30 600",
    }
    assert jwtguard.Validator.from_env(environ).options.cache_max_age_bounds == (30.0, 600.0)


@pytest.mark.parametrize("bounds", [(600, 60), (1,), "60,600", (-1, 60), ("a", "b"), (1, float("nan"))])
def test_bad_cache_max_age_bounds_are_configuration_errors(bounds: object) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        jwtguard.Validator(issuer="https://i.example/", audience="a", cache_max_age_bounds=bounds)  # type: ignore[arg-type]


# -- key sets larger than max_keys ---------------------------------------------------------------


def test_keys_beyond_max_keys_are_counted_and_logged_once(
    own_issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    jwk = own_issuer.signing_key.jwk
    filler = [{**jwk, "kid": f"filler-{index}"} for index in range(149)]
    own_issuer.server.route(JWKS, lambda request: Response(200, {"keys": [*filler, jwk]}))
    timer = FakeClock(1000.0)
    validator = own_issuer.validator(jwks_uri=own_issuer.jwks_uri, timer=timer)
    caplog.set_level(logging.WARNING, logger="jwtguard")
    (status,) = validator.warm_up()
    assert (status.key_count, status.dropped_keys) == (100, 50)
    assert expect_error(validator, own_issuer.token()).code == "unknown_key"  # the real key came 150th
    timer.advance(600)
    validator.warm_up()
    warnings_logged = [r for r in caplog.records if "max_keys" in r.getMessage()]
    assert len(warnings_logged) == 1
    assert warnings_logged[0].levelno == logging.WARNING
    assert "50 keys beyond max_keys=100" in warnings_logged[0].getMessage()

    larger = own_issuer.validator(jwks_uri=own_issuer.jwks_uri, max_keys=150)
    (status,) = larger.warm_up()
    assert (status.key_count, status.dropped_keys) == (150, 0)
    larger.validate(own_issuer.token())


def test_static_keys_beyond_max_keys_are_counted(issuer: LocalIssuer) -> None:
    jwk = issuer.signing_key.jwk
    keys = {"keys": [{**jwk, "kid": f"k{index}"} for index in range(12)]}
    validator = jwtguard.Validator(issuer=issuer.issuer, audience="a", jwks=keys, max_keys=10)
    (status,) = validator.key_set_status()
    assert (status.key_count, status.dropped_keys) == (10, 2)


@pytest.mark.parametrize("value", [0, -1, 1.5, "10", True])
def test_max_keys_must_be_a_positive_integer(value: object) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        jwtguard.Validator(issuer="https://i.example/", audience="a", max_keys=value)  # type: ignore[arg-type]
