"""A cProfile of one hot path, as a short table of where the time goes (no machine paths)."""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable, Sequence
from typing import Any

TOP = 15


def _where(filename: str, line: int, function: str) -> str:
    """A function's place, shortened to its package path: never an absolute path."""
    if filename == "~":  # C functions: "<method 'verify' of '...' objects>", "<built-in method ...>"
        return function
    parts = filename.replace("\\", "/").split("/")
    for anchor in ("jwtguard", "jwt", "cryptography", "starlette", "flask", "werkzeug", "json", "base64", "bench"):
        if anchor in parts[:-1]:
            index = len(parts) - 1 - parts[::-1].index(anchor)
            return f"{'/'.join(parts[index:])}:{line} {function}"
    if "site-packages" in parts:
        index = parts.index("site-packages")
        return f"{'/'.join(parts[index + 1 :])}:{line} {function}"
    return f"{parts[-1]}:{line} {function}"


def profile(fn: Callable[[Any], object], batch: Sequence[Any], top: int = TOP) -> dict[str, Any]:
    """Profile ``fn`` over ``batch``; return the top functions by own time, per call of ``fn``.

    Times are under the profiler (which inflates small Python functions): read
    them as shares, not as absolute costs.
    """

    def run_all() -> None:
        for item in batch:
            fn(item)

    return profile_all(run_all, len(batch), top)


def profile_all(run_all: Callable[[], object], calls: int, top: int = TOP) -> dict[str, Any]:
    """Profile ``run_all()``, which makes ``calls`` operations; the top functions per operation."""
    start = time.perf_counter_ns()
    run_all()
    plain_us = (time.perf_counter_ns() - start) / calls / 1000.0
    profiler = cProfile.Profile()
    profiler.enable()
    run_all()
    profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values())
    rows = []
    for (filename, line, function), (_, ncalls, tottime, cumtime, _callers) in stats.items():
        if function == "<method 'disable' of '_lsprof.Profiler' objects>":
            continue
        rows.append(
            {
                "function": _where(filename, line, function),
                "calls_per_op": ncalls / calls,
                "own_us": tottime / calls * 1e6,
                "cumulative_us": cumtime / calls * 1e6,
                "own_share": tottime / total if total else 0.0,
            }
        )
    rows.sort(key=lambda row: row["own_us"], reverse=True)
    return {
        "calls": calls,
        "us_per_call_unprofiled": plain_us,
        "us_per_call_profiled": total / calls * 1e6,
        "top": rows[:top],
    }
