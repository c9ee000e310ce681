"""What a shared store costs a request: µs per ``Validator.authenticate()``, in-process, store in memory or on Redis.

Four variants, all a bearer token answered from the warm token cache (the
common case, and the one where a revocation check must stay cheap):

* ``memory`` — the default store (:class:`~jwtguard.stores.MemoryStore`), nothing revoked;
* ``memory, revocations`` — the same with :data:`REVOKED_TOKENS` tokens and
  :data:`REVOKED_SUBJECTS` subjects revoked;
* ``redis`` and ``redis, revocations`` — the same on a
  :class:`~jwtguard.stores.RedisStore` (a real ``redis-server`` on 127.0.0.1).

The timed token carries a ``jti`` and a ``sub`` that are not revoked, so both
look-ups happen. Before timing, each validator must refuse a revoked token and a
token of a revoked subject (so its mirror really holds the revocations). During
the timed Redis passes the server's own ``INFO commandstats`` is read before and
after: a revocation check must cost no round trip, so the commands counted are
only the mirror's background polls (one ``GET`` per ``store_sync_interval``),
never one per request.

The part also counts the fetches a :class:`~jwtguard.testing.LocalIssuer` sees
when :data:`FLEET` validators sharing one Redis start cold at once (key sets
shared by a fleet: one), against the same validators without a store.

Redis: ``--redis-url``, else a ``redis-server`` from the ``PATH`` started on a
free loopback port and stopped at the end; without either the Redis variants
are skipped (the page says so).
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwtguard
from jwtguard.stores import MemoryStore, Store
from jwtguard.testing import LocalIssuer, SigningKey, TokenFactory

from .timing import Settings, summarize, timed_pass

ISSUER = "https://issuer.bench.example/"
AUDIENCE = "https://api.bench.example"
URL = AUDIENCE + "/messages"
VARIANTS = ("memory", "memory, revocations", "redis", "redis, revocations")
REVOKED_TOKENS = 1_000
REVOKED_SUBJECTS = 100
FLEET = 8

Headers = dict[str, str]


# -- redis-server ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def redis_server(url: str | None) -> Iterator[str | None]:
    """``url``, or a redis-server of our own on a free loopback port (``None`` when none is installed)."""
    if url is not None:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as directory:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = subprocess.Popen([*command, "--dir", directory], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2) as connection:
                        connection.sendall(b"PING\r\n")
                        if connection.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.02)  # starting: poll, bounded by the deadline
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


def _commands(client: Any) -> dict[str, int]:
    """Calls per command since the server started (``INFO commandstats``), ``INFO`` itself left out."""
    stats = client.info("commandstats")
    return {name: int(row["calls"]) for name, row in stats.items() if name != "cmdstat_info"}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    delta = {name.removeprefix("cmdstat_"): after[name] - before.get(name, 0) for name in after}
    return {name: count for name, count in sorted(delta.items()) if count}


# -- the measured validators -------------------------------------------------------------------


def _refused(validator: jwtguard.Validator, token: str) -> str:
    try:
        validator.authenticate("GET", URL, {"Authorization": f"Bearer {token}"})
    except jwtguard.AuthError as error:
        return error.code
    raise AssertionError("the validator accepted a revoked token: the benchmark would measure nothing")


def _revoke(store: Store, now: float) -> None:
    for index in range(REVOKED_TOKENS):
        store.revoke_token(f"revoked-{index}", expires_at=now + 3600)
    for index in range(REVOKED_SUBJECTS):
        store.revoke_subject(f"gone-{index}", issued_before=now + 60)


def _ready(validator: jwtguard.Validator, factory: TokenFactory, revoked: bool, headers: Headers) -> dict[str, str]:
    """Warm ``validator`` (token cache, mirror); prove it refuses revoked tokens when it should."""
    deadline = time.monotonic() + 10
    for _ in range(3):
        validator.authenticate("GET", URL, headers)
    refusals: dict[str, str] = {}
    if revoked:
        while True:  # a Redis mirror reads the store in its own thread: wait for it, bounded
            try:
                refusals = {
                    "a revoked token": _refused(validator, factory.mint(jti=f"revoked-{REVOKED_TOKENS - 1}")),
                    "a token of a revoked subject": _refused(validator, factory.mint(sub="gone-0")),
                }
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
    return refusals


def _fleet_fetches(store_for: Callable[[], Store | None]) -> int:
    """JWKS fetches a local issuer sees when :data:`FLEET` validators start cold at once."""
    with LocalIssuer(audience=AUDIENCE) as issuer:
        validators = [issuer.validator(jwks_uri=issuer.jwks_uri, store=store_for()) for _ in range(FLEET)]
        token = issuer.token()
        with ThreadPoolExecutor(FLEET) as pool:
            list(pool.map(lambda validator: validator.validate(token), validators))
        return issuer.jwks_fetches


def run(settings: Settings) -> dict[str, Any]:
    """µs per cached ``authenticate()`` with each store, revocations present or not; Redis commands counted."""
    key = SigningKey.generate("RS256", kid="bench-stores")
    factory = TokenFactory(ISSUER, AUDIENCE, key=key)
    headers = {"Authorization": f"Bearer {factory.mint(sub='present-user', jti='present-token')}"}
    options: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "jwks": {"keys": [key.jwk]}}
    calls, rounds = settings.stores_calls, settings.stores_rounds
    with redis_server(settings.redis_url) as url:
        stores: dict[str, Store] = {"memory": MemoryStore(), "memory, revocations": MemoryStore()}
        client: Any = None
        if url is not None:
            import redis

            from jwtguard.stores import RedisStore

            prefix = f"bench-{random.randrange(1 << 30)}:"
            stores["redis"] = RedisStore(url, prefix=prefix + "none:")
            stores["redis, revocations"] = RedisStore(url, prefix=prefix + "revoked:")
            client = redis.Redis.from_url(url)
        variants = [name for name in VARIANTS if name in stores]
        now = time.time()
        for name in variants:
            if name.endswith("revocations"):
                _revoke(stores[name], now)
        validators = {name: jwtguard.Validator(**options, store=stores[name]) for name in variants}
        refusals = {name: _ready(validators[name], factory, name.endswith("revocations"), headers) for name in variants}
        batch = [headers] * calls

        def caller(validator: jwtguard.Validator) -> Callable[[Headers], object]:
            return lambda one: validator.authenticate("GET", URL, one)

        if client is not None:  # the counter must see a single command, or its zero would prove nothing
            before = _commands(client)
            stores["redis"].version()
            if _delta(before, _commands(client)).get("get", 0) < 1:
                raise AssertionError("INFO commandstats did not count a GET: the command count would prove nothing")
        functions = {name: caller(validators[name]) for name in variants}
        for name in variants:
            timed_pass(functions[name], batch)  # warm-up
        samples: dict[str, list[float]] = {name: [] for name in variants}
        commands: dict[str, int] = {}
        redis_requests = 0
        redis_seconds = 0.0
        order = list(variants)
        shuffle = random.Random(6379)
        for _ in range(rounds):
            shuffle.shuffle(order)
            for name in order:
                if name.startswith("redis"):
                    before, started = _commands(client), time.perf_counter()
                    samples[name].append(timed_pass(functions[name], batch))
                    redis_seconds += time.perf_counter() - started
                    for command, count in _delta(before, _commands(client)).items():
                        commands[command] = commands.get(command, 0) + count
                    redis_requests += calls
                else:
                    samples[name].append(timed_pass(functions[name], batch))
        base = samples["memory"]
        result: dict[str, Any] = {
            "rounds": rounds,
            "calls": calls,
            "revoked_tokens": REVOKED_TOKENS,
            "revoked_subjects": REVOKED_SUBJECTS,
            "variants": variants,
            "redis": url is not None,
            "us": {name: summarize(values) for name, values in samples.items()},
            "ratio": {
                name: summarize([v / b for v, b in zip(values, base, strict=True)]) for name, values in samples.items()
            },
            "refusals": refusals,
            "redis_requests_timed": redis_requests,
            "redis_commands_while_timing": commands,
            "redis_seconds_timed": redis_seconds,
            "sync_interval": validators["memory"].options.store_sync_interval,
        }
        if url is not None:
            from jwtguard.stores import RedisStore

            fleet_prefix = prefix + "fleet:"
            result["fleet"] = {
                "validators": FLEET,
                "jwks_fetches_shared": _fleet_fetches(lambda: RedisStore(url, prefix=fleet_prefix)),
                "jwks_fetches_alone": _fleet_fetches(lambda: None),
            }
            client.close()
        for store in stores.values():
            store.close()
    return result
