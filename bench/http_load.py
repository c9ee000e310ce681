"""HTTP benchmark: requests per second with and without jwtguard, behind real servers.

Four server processes run side by side on 127.0.0.1, each on a listening socket
the benchmark binds (a free port) and hands over (:mod:`bench.apps.serve_uvicorn`,
gunicorn's ``fd://``): Starlette under uvicorn and Flask under gunicorn (one sync worker;
the load generator needs the other core), each without authentication and with
jwtguard. The guarded apps get their keys from a :class:`LocalIssuer` in this
process by OIDC discovery, once per process.

For each framework three variants run in interleaved rounds (the order rotates
each round): no auth, jwtguard with one repeated token, and jwtguard with a pool
of distinct tokens larger than the validator's token cache, sent in turn so
every request misses the cache. The no-auth app receives the same
``Authorization`` header (the repeated token), so requests are byte for byte
alike. A variant counts only if every response was a 2xx; before timing, each
guarded server must answer 401 to no token and to a forged one.

The load generator is ``wrk`` (with :file:`wrk_rotate.lua`) when installed,
else a bounded Python generator (keep-alive sockets in threads), which is slower
than the servers it measures: its ratios understate jwtguard's share.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from jwtguard.testing import LocalIssuer
from jwtguard.validator import DEFAULT_TOKEN_CACHE_SIZE

from .loadgen import Load, choose_load, run_python, run_wrk
from .timing import Settings, rotated, summarize

ROOT = Path(__file__).resolve().parent.parent
AUDIENCE = "https://api.bench.example"
FRAMEWORKS = ("starlette", "flask")
VARIANTS = ("no auth", "jwtguard, repeated token", "jwtguard, distinct tokens")


# -- servers --------------------------------------------------------------------------


def _gunicorn_flags() -> list[str]:
    try:
        from gunicorn.config import KNOWN_SETTINGS  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - gunicorn is required for this part
        return []
    known = {flag for setting in KNOWN_SETTINGS for flag in (setting.cli or ())}
    # gunicorn >= 24 opens a control socket in the home directory unless told not to.
    return ["--no-control-socket"] if "--no-control-socket" in known else []


def _command(framework: str, fd: int) -> list[str]:
    if framework == "starlette":
        return [sys.executable, "-m", "bench.apps.serve_uvicorn", str(fd), "bench.apps.starlette_app:app"]
    if framework == "flask":
        app = "bench.apps.flask_app:app"
        flags = ["-b", f"fd://{fd}", "-w", "1", "-k", "sync", "--log-level", "warning", *_gunicorn_flags()]
        return [sys.executable, "-m", "gunicorn", *flags, app]
    raise ValueError(f"unknown framework {framework!r}")


@dataclass
class Server:
    """One server process on a loopback port; stopped by its pid."""

    framework: str
    auth: str
    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def name(self) -> str:
        return f"{self.framework}/{self.auth}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM to the server (gunicorn's master stops its worker)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # its own session: only its processes
                self.process.wait(10)
        self.log.close()

    def log_tail(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-2000:].decode("utf-8", "replace")


def start_server(framework: str, auth: str, env: dict[str, str]) -> Server:
    """Bind a free loopback port, start ``framework``'s app on it, return at once.

    The socket already listens, so requests queue until the app is up: no polling.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        listener.set_inheritable(True)
        fd = listener.fileno()
        log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by Server.stop
        process = subprocess.Popen(
            _command(framework, fd),
            pass_fds=(fd,),
            cwd=ROOT,
            env={**os.environ, **env, "BENCH_AUTH": auth, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return Server(framework, auth, listener.getsockname()[1], process, log)
    finally:
        listener.close()


def probe(server: Server, token: str | None, timeout: float = 30.0) -> int:
    """One request with ``token`` (or none); return the status."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request("GET", "/", headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError as exc:
        raise RuntimeError(f"{server.name} did not answer ({exc}); its log:\n{server.log_tail()}") from None
    finally:
        connection.close()


# -- the benchmark --------------------------------------------------------------------


@contextlib.contextmanager
def servers(env: dict[str, str]) -> Iterator[dict[tuple[str, str], Server]]:
    """Every framework with and without jwtguard, all stopped on exit (also on error)."""
    started: dict[tuple[str, str], Server] = {}
    try:
        for framework in FRAMEWORKS:
            for auth in ("none", "jwtguard"):
                started[(framework, auth)] = start_server(framework, auth, env)
        yield started
    finally:
        for server in started.values():
            server.stop()


def _check(server: Server, good: str, forged: str) -> dict[str, int]:
    statuses = {"valid token": probe(server, good)}
    if server.auth == "jwtguard":
        statuses["no token"] = probe(server, None)
        statuses["forged token"] = probe(server, forged)
    expected = {"valid token": 200, "no token": 401, "forged token": 401}
    for what, status in statuses.items():
        if status != expected[what]:
            raise RuntimeError(f"{server.name} answered {status} to a {what}; its log:\n{server.log_tail()}")
    return statuses


def run(settings: Settings) -> dict[str, Any]:
    """Run the HTTP benchmark; return per-variant req/s and ratios to no auth."""
    load = choose_load(settings.load)
    cache_size = DEFAULT_TOKEN_CACHE_SIZE if settings.http_cache_size is None else settings.http_cache_size
    if settings.http_token_pool <= cache_size:
        # A token is remembered on its second full validation; the record of tokens seen once is
        # cleared when it holds as many as the cache: a larger pool, walked in order, never returns
        # to a recorded token.
        raise ValueError("the distinct-token pool must exceed the token cache, or requests would hit it")
    with LocalIssuer(audience=AUDIENCE) as issuer, tempfile.TemporaryDirectory() as scratch:
        factory = issuer.factory()
        repeated = factory.mint(scope="read:messages")
        distinct = [factory.mint(scope="read:messages") for _ in range(settings.http_token_pool)]
        forged = repeated.rsplit(".", 1)[0] + "." + distinct[0].rsplit(".", 1)[1]
        files = {"repeated": Path(scratch, "repeated.txt"), "distinct": Path(scratch, "distinct.txt")}
        files["repeated"].write_text(repeated + "\n")
        files["distinct"].write_text("\n".join(distinct) + "\n")
        pools = {"repeated": [repeated], "distinct": distinct}
        env = {"BENCH_ISSUER": issuer.issuer, "BENCH_AUDIENCE": AUDIENCE}
        if settings.http_cache_size is not None:
            env["BENCH_TOKEN_CACHE_SIZE"] = str(settings.http_cache_size)

        def measure(server: Server, pool: str, duration: float, generator: str = load) -> Load:
            connections = settings.http_connections[server.framework]
            if generator == "wrk":
                return run_wrk(server.port, files[pool], connections, duration)
            return run_python(server.port, pools[pool], connections, duration)

        with servers(env) as running:
            checks = {server.name: _check(server, repeated, forged) for server in running.values()}
            plan = {
                "no auth": ("none", "repeated"),
                "jwtguard, repeated token": ("jwtguard", "repeated"),
                "jwtguard, distinct tokens": ("jwtguard", "distinct"),
            }
            for framework in FRAMEWORKS:  # warm-up (wrk runs whole seconds): keys fetched, code hot
                for auth, pool in plan.values():
                    if settings.http_warmup > 0:
                        measure(running[(framework, auth)], pool, settings.http_warmup, "python")
            samples: dict[tuple[str, str], list[Load]] = {(f, v): [] for f in FRAMEWORKS for v in VARIANTS}
            for round_number in range(settings.http_rounds):
                for framework in FRAMEWORKS:
                    for variant in rotated(VARIANTS, round_number):
                        auth, pool = plan[variant]
                        result = measure(running[(framework, auth)], pool, settings.http_duration)
                        if result.bad_status or result.errors:
                            raise RuntimeError(
                                f"{framework} / {variant}: {result.bad_status} non-2xx answers and "
                                f"{result.errors} socket errors out of {result.requests} requests"
                            )
                        samples[(framework, variant)].append(result)
        rows = []
        for framework in FRAMEWORKS:
            baseline = [load_.rps for load_ in samples[(framework, "no auth")]]
            for variant in VARIANTS:
                loads = samples[(framework, variant)]
                rps = [load_.rps for load_ in loads]
                rows.append(
                    {
                        "framework": framework,
                        "server": "uvicorn" if framework == "starlette" else "gunicorn, 1 sync worker",
                        "variant": variant,
                        "connections": settings.http_connections[framework],
                        "requests": sum(load_.requests for load_ in loads),
                        "rps": summarize(rps),
                        "ratio": summarize([a / b for a, b in zip(rps, baseline, strict=True)]),
                    }
                )
        return {
            "load_generator": load,
            "rounds": settings.http_rounds,
            "duration": max(1, round(settings.http_duration)) if load == "wrk" else settings.http_duration,
            "distinct_tokens": len(distinct),
            "checks": checks,
            "issuer_jwks_fetches": issuer.jwks_fetches,
            "issuer_discovery_fetches": issuer.discovery_fetches,
            "rows": rows,
        }
