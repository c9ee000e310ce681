"""Timing helpers shared by the benchmark parts: settings, timed passes, summaries."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")


@dataclass
class Settings:
    """How long and how hard each part runs; :meth:`full` and :meth:`quick` are the presets."""

    quick: bool = False
    algorithms: tuple[str, ...] = ALGORITHMS
    # micro
    micro_rounds: int = 64
    micro_chunks: int = 8  # the fresh pool is walked a chunk per round
    fresh_pool: int | None = None  # None: one more than the validator's token cache
    micro_cache_size: int | None = 1024  # None: the Validator's default (a miss costs the same)
    repeated_calls: int = 5_000
    # http
    http_rounds: int = 5
    http_duration: float = 4.0
    http_warmup: float = 2.0
    http_token_pool: int = 8_200  # more than the default token cache: every request misses
    http_cache_size: int | None = None  # None: the Validator's default in the apps
    http_connections: dict[str, int] = field(default_factory=lambda: {"starlette": 32, "flask": 8})
    load: str = "auto"  # "auto", "wrk" or "python"
    # in-process (apps called without a server)
    inprocess_rounds: int = 64
    inprocess_calls: int = 128
    # DPoP-bound against bearer requests (authenticate, token cache warm)
    dpop_rounds: int = 64
    dpop_calls: int = 128
    # shared store: cached authenticate() with the store in memory or on Redis
    stores_rounds: int = 64
    stores_calls: int = 512
    redis_url: str | None = None  # None: a redis-server from the PATH, started and stopped by the part
    # key set
    flood_size: int = 500
    cold_callers: int = 64
    # profile
    profile_calls: int = 2_000
    # the token cache at scale (memory, GC pause, hits with many cached tokens)
    cache_tokens: int = 100_000
    cache_memory_tokens: int = 10_000
    # instructions per request under callgrind (HTTP servers)
    instructions: bool = True
    instructions_requests: int = 300
    instructions_worker_requests: int = 2_000  # gunicorn's worker is counted by difference: more requests
    instructions_users: int = 2_000

    @classmethod
    def full(cls) -> Settings:
        return cls()

    @classmethod
    def quick_preset(cls) -> Settings:
        return cls(
            quick=True,
            micro_rounds=3,
            micro_chunks=1,
            fresh_pool=40,
            micro_cache_size=16,
            repeated_calls=500,
            http_rounds=1,
            http_duration=0.1,
            http_warmup=0.0,
            http_token_pool=48,
            http_cache_size=16,
            http_connections={"starlette": 4, "flask": 2},
            inprocess_rounds=3,
            inprocess_calls=8,
            dpop_rounds=3,
            dpop_calls=8,
            stores_rounds=3,
            stores_calls=64,
            flood_size=40,
            cold_callers=8,
            profile_calls=50,
            cache_tokens=2_000,
            cache_memory_tokens=500,
            instructions=False,
            instructions_requests=20,
            instructions_worker_requests=20,
            instructions_users=20,
        )


def timed_pass(fn: Callable[[Any], object], batch: Sequence[Any]) -> float:
    """Call ``fn`` on every item of ``batch`` with the GC off; return µs per call."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for item in batch:
            fn(item)
        elapsed = time.perf_counter_ns() - start
    finally:
        if enabled:
            gc.enable()
    return elapsed / len(batch) / 1000.0


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max and the quartiles of ``values``."""
    ordered = sorted(values)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "q1": q1,
        "q3": q3,
        "n": len(ordered),
    }


def rotated(items: Sequence[Any], shift: int) -> list[Any]:
    """``items`` rotated left by ``shift``: each round starts with a different variant."""
    if not items:
        return []
    shift %= len(items)
    return [*items[shift:], *items[:shift]]
