"""The same apps as the HTTP benchmark, called in-process: µs per request, no sockets, no server.

This isolates what jwtguard adds to a request (bearer extraction, the adapter,
validation, the claims in the request) from the server and the network, and is
far less sensitive to a busy machine than req/s: the HTTP ratios follow from it.
The ASGI app is awaited with a prepared scope; the Flask app is called as WSGI
with a prepared environ. Variants run in interleaved rounds like the micro
benchmark; every response must be a 200.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import io
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import jwtguard
from jwtguard.bearer import extract_bearer
from jwtguard.testing import SigningKey, TokenFactory
from jwtguard.validator import DEFAULT_TOKEN_CACHE_SIZE

from . import profiling
from .apps import SCOPE, flask_app, starlette_app
from .timing import Settings, summarize, timed_pass

ISSUER = "https://issuer.bench.example/"
AUDIENCE = "https://api.bench.example"
VARIANTS = ("no auth", "jwtguard, repeated token", "jwtguard, distinct tokens")


def _asgi_runner(app: Any) -> Callable[[Sequence[bytes]], float]:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    def scope(authorization: bytes) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/",
            "raw_path": b"/",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1"), (b"authorization", authorization)],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }

    async def loop(headers: Sequence[bytes]) -> float:
        scopes = [scope(header) for header in headers]  # built outside the timed loop, fresh per call
        statuses.clear()
        enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter_ns()
            for one in scopes:
                await app(one, receive, send)
            elapsed = time.perf_counter_ns() - start
        finally:
            if enabled:
                gc.enable()
        if statuses.count(200) != len(headers):
            raise RuntimeError(f"the ASGI app answered {sorted(set(statuses))}, expected only 200")
        return elapsed / len(headers) / 1000.0

    event_loop = asyncio.new_event_loop()  # one loop for the whole benchmark; closed by run.close

    def run(headers: Sequence[bytes]) -> float:
        return event_loop.run_until_complete(loop(headers))

    run.close = event_loop.close  # type: ignore[attr-defined]
    return run


def _wsgi_runner(app: Any) -> Callable[[Sequence[bytes]], float]:
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    def environ(authorization: bytes) -> dict[str, Any]:
        return {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": "/",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": authorization.decode("ascii"),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }

    def run(headers: Sequence[bytes]) -> float:
        environs = [environ(header) for header in headers]
        statuses.clear()
        enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter_ns()
            for one in environs:
                body = app(one, start_response)
                for _ in body:
                    pass
                if hasattr(body, "close"):
                    body.close()
            elapsed = time.perf_counter_ns() - start
        finally:
            if enabled:
                gc.enable()
        if any(not status.startswith("200") for status in statuses) or len(statuses) != len(headers):
            raise RuntimeError(f"the WSGI app answered {sorted(set(statuses))}, expected only 200")
        return elapsed / len(headers) / 1000.0

    return run


def run(settings: Settings) -> dict[str, Any]:
    """µs per request of each framework's app without auth and with jwtguard, in-process."""
    key = SigningKey.generate("RS256", kid="bench-inprocess")
    factory = TokenFactory(ISSUER, AUDIENCE, key=key)
    cache_size = DEFAULT_TOKEN_CACHE_SIZE if settings.http_cache_size is None else settings.http_cache_size
    pool = [f"Bearer {factory.mint(scope=SCOPE)}".encode("ascii") for _ in range(cache_size + 1)]
    calls = settings.inprocess_calls
    chunk = max(1, min(calls, len(pool)))
    chunks = [pool[start : start + chunk] for start in range(0, len(pool), chunk)]
    # The repeated token is not in the pool: only the distinct walk inserts into the cache.
    repeated = [f"Bearer {factory.mint(scope=SCOPE)}".encode("ascii")] * calls

    def checker() -> jwtguard.Validator:
        return jwtguard.Validator(
            issuer=ISSUER, audience=AUDIENCE, jwks={"keys": [key.jwk]}, token_cache_size=cache_size
        )

    runners = {
        "starlette": (_asgi_runner(starlette_app.create_app(None)), _asgi_runner(starlette_app.create_app(checker()))),
        "flask": (_wsgi_runner(flask_app.create_app(None)), _wsgi_runner(flask_app.create_app(checker()))),
    }
    samples: dict[tuple[str, str], list[float]] = {(f, v): [] for f in runners for v in VARIANTS}
    validator_hit = checker()
    try:
        for plain, guarded in runners.values():  # warm-up, and the guarded app's cache sees the pool once
            plain(repeated)
            guarded(repeated)
            for part in chunks:
                guarded(part)
        order = [(framework, variant) for framework in runners for variant in VARIANTS]
        shuffle = random.Random(7)
        for round_number in range(settings.inprocess_rounds):
            shuffle.shuffle(order)
            # Distinct tokens walk the pool in order, a chunk per round: every call misses the cache.
            distinct = chunks[round_number % len(chunks)]
            for framework, variant in order:
                plain, guarded = runners[framework]
                if variant == "no auth":
                    samples[(framework, variant)].append(plain(distinct))
                elif variant == "jwtguard, repeated token":
                    samples[(framework, variant)].append(guarded(repeated[: len(distinct)]))
                else:
                    samples[(framework, variant)].append(guarded(distinct))
        profiles = []
        for framework, (_, guarded) in runners.items():
            measured = profiling.profile_all(functools.partial(guarded, repeated), len(repeated))
            profiles.append({"case": f"{framework.capitalize()} with jwtguard, repeated token", **measured})
    finally:
        for plain, guarded in runners.values():
            for runner in (plain, guarded):
                close = getattr(runner, "close", None)
                if close is not None:
                    close()
    header = repeated[0].decode("ascii")
    token = header[len("Bearer ") :]
    validator_hit.validate(token)  # now cached
    pieces = {
        "extract_bearer": statistics.median(
            timed_pass(lambda value: extract_bearer([value]), [header] * calls) for _ in range(9)
        ),
        "validate_cached": statistics.median(timed_pass(validator_hit.validate, [token] * calls) for _ in range(9)),
    }
    rows = []
    for framework in runners:
        baseline = samples[(framework, "no auth")]
        for variant in VARIANTS:
            values = samples[(framework, variant)]
            rows.append(
                {
                    "framework": framework,
                    "variant": variant,
                    "us": summarize(values),
                    "added_us": summarize([a - b for a, b in zip(values, baseline, strict=True)]),
                }
            )
    return {
        "rounds": settings.inprocess_rounds,
        "calls": chunk,
        "distinct_tokens": len(pool),
        "rows": rows,
        "pieces_us": pieces,
        "profiles": profiles,
    }
