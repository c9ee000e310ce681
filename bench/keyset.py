"""Key-set behaviour under load: how many fetches an unknown-``kid`` flood and a cold start cause.

Every scenario runs against a real :class:`~jwtguard.testing.LocalIssuer` on
127.0.0.1 and reads its request counters (``jwks_fetches``,
``discovery_fetches``): the numbers are what an identity provider would see.

* cold start — many threads call ``validate()`` and many asyncio tasks call
  ``avalidate()`` at the same moment on a validator that holds no keys yet;
* unknown-``kid`` flood — a warmed-up validator receives tokens naming random
  ``kid``\\ s (what an attacker can send for free), from threads and from tasks;
  PyJWT's ``PyJWKClient`` gets the same flood for comparison.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt

import jwtguard
from jwtguard.testing import LocalIssuer
from jwtguard.testing.keys import b64url_json

from .timing import Settings


def _outcome(call: Callable[[], object]) -> str:
    try:
        call()
    except jwtguard.AuthError as error:
        return error.code
    except jwt.PyJWKClientError:
        return "unknown_key"
    return "ok"


def _with_kid(token: str, kid: str) -> str:
    """``token`` with its header's ``kid`` replaced (the signature no longer matters: no key has that kid)."""
    header = jwt.get_unverified_header(token)
    _, payload, signature = token.split(".")
    return f"{b64url_json({**header, 'kid': kid})}.{payload}.{signature}"


class _Counts:
    def __init__(self, issuer: LocalIssuer) -> None:
        self.issuer = issuer
        self.jwks = issuer.jwks_fetches
        self.discovery = issuer.discovery_fetches

    def delta(self) -> dict[str, int]:
        return {
            "jwks_fetches": self.issuer.jwks_fetches - self.jwks,
            "discovery_fetches": self.issuer.discovery_fetches - self.discovery,
        }


def _threads(count: int, call: Callable[[], object]) -> Counter[str]:
    """``count`` threads released at once by a barrier, each making one call."""
    barrier = threading.Barrier(count)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        result = _outcome(call)
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


async def _tasks(count: int, call: Callable[[], Any]) -> Counter[str]:
    async def one() -> str:
        try:
            await call()
        except jwtguard.AuthError as error:
            return error.code
        return "ok"

    return Counter(await asyncio.gather(*(one() for _ in range(count))))


def _measure(scenario: str, callers: str, issuer: LocalIssuer, fn: Callable[[], Counter[str]]) -> dict[str, Any]:
    """Run ``fn`` and report its outcomes with the fetches the issuer saw meanwhile."""
    counts = _Counts(issuer)
    start = time.perf_counter()
    outcomes = fn()
    seconds = time.perf_counter() - start
    return {"scenario": scenario, "callers": callers, "outcomes": dict(outcomes), **counts.delta(), "seconds": seconds}


def _cold_start(issuer: LocalIssuer, n: int) -> list[dict[str, Any]]:
    token = issuer.token(scope="read:messages")

    def threads() -> Counter[str]:
        validator = issuer.validator()  # holds no keys yet
        return _threads(n, lambda: validator.validate(token))

    def tasks() -> Counter[str]:
        validator = issuer.validator()
        return asyncio.run(_tasks(n, lambda: validator.avalidate(token)))

    def both() -> Counter[str]:
        validator = issuer.validator()
        with ThreadPoolExecutor(1) as pool:
            threaded = pool.submit(_threads, n, lambda: validator.validate(token))
            outcomes = asyncio.run(_tasks(n, lambda: validator.avalidate(token)))
            return outcomes + threaded.result()

    scenario = "cold start, jwtguard"
    return [
        _measure(scenario, f"{n} threads", issuer, threads),
        _measure(scenario, f"{n} asyncio tasks", issuer, tasks),
        _measure(scenario, f"{n} threads + {n} asyncio tasks", issuer, both),
    ]


def _flood(issuer: LocalIssuer, size: int) -> list[dict[str, Any]]:
    token = issuer.token(scope="read:messages")
    bad = [_with_kid(token, secrets.token_hex(8)) for _ in range(size)]
    warm = issuer.validator()
    warm.warm_up()
    warm_async = issuer.validator()
    warm_async.warm_up()
    client = jwt.PyJWKClient(issuer.jwks_uri, cache_jwk_set=True)
    client.get_signing_key_from_jwt(token)  # warm: the key set is cached

    def threads(call: Callable[[str], object]) -> Callable[[], Counter[str]]:
        def flood() -> Counter[str]:
            with ThreadPoolExecutor(8) as pool:
                return Counter(pool.map(lambda bad_token: _outcome(lambda: call(bad_token)), bad))

        return flood

    def tasks() -> Counter[str]:
        queue = iter(bad)
        return asyncio.run(_tasks(size, lambda: warm_async.avalidate(next(queue))))

    return [
        _measure("unknown-kid flood, jwtguard", f"{size} tokens, 8 threads", issuer, threads(warm.validate)),
        _measure("unknown-kid flood, jwtguard", f"{size} asyncio tasks", issuer, tasks),
        _measure(
            "unknown-kid flood, PyJWT PyJWKClient",
            f"{size} tokens, 8 threads",
            issuer,
            threads(client.get_signing_key_from_jwt),
        ),
    ]


def run(settings: Settings) -> dict[str, Any]:
    """Run the cold-start and flood scenarios; return one row per scenario."""
    with LocalIssuer(algorithm="RS256") as issuer:
        rows = _cold_start(issuer, settings.cold_callers) + _flood(issuer, settings.flood_size)
    return {"rows": rows}
