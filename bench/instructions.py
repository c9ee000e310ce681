"""Instructions per request, counted by callgrind: the HTTP targets without wall-clock noise.

Requests per second on a shared 2-core machine swing by ±20 % from one second
to the next; instructions do not. Each server of the HTTP benchmark (uvicorn +
Starlette, gunicorn + Flask, plus Flask behind the WSGI middleware) runs under
``valgrind --tool=callgrind``. After a warm-up (keys fetched, code paths hot,
tokens remembered), the counters are zeroed (``callgrind_control -z``), a fixed
number of requests is sent one after another from this process (outside
valgrind), and the counters are dumped (``callgrind_control -d``): the
server's instructions per request, everything included — the HTTP parser, the
event loop, the framework, jwtguard. What the server does while idle (uvicorn's
and gunicorn's timers) is measured the same way over a quiet interval and
subtracted in proportion to the time the requests took. A ratio is no-auth
instructions over the variant's: the throughput a CPU-bound server would keep.

Variants: the no-auth apps (sent the same ``Authorization`` header), one
repeated token, and ``users`` tokens sent in turn (round-robin) to the
default configuration, after two rounds (a token is remembered on its second
validation). Every answer must be a 200.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from jwtguard.testing import LocalIssuer

from .http_load import ROOT, _command
from .timing import Settings

AUDIENCE = "https://api.bench.example"
#: (framework, variant, BENCH_AUTH, tokens).
VARIANTS = (
    ("starlette", "no auth", "none", "repeated"),
    ("starlette", "jwtguard, repeated token", "jwtguard", "repeated"),
    ("starlette", "jwtguard, users in turn", "jwtguard", "users"),
    ("flask", "no auth", "none", "repeated"),
    ("flask", "jwtguard decorator, repeated token", "jwtguard", "repeated"),
    ("flask", "WSGI middleware, repeated token", "wsgi", "repeated"),
)
_SUMMARY = re.compile(r"^(?:summary|totals): (\d+)", re.MULTILINE)
_PID = re.compile(r"^PID (\d+):", re.MULTILINE)


def available() -> bool:
    """Whether valgrind and callgrind_control are installed."""
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


@dataclass
class Counted:
    """A server under callgrind: its process, the pid whose counters are read, where it dumps."""

    framework: str
    auth: str
    port: int
    process: subprocess.Popen[bytes]
    out: Path
    log: IO[bytes]
    pid: int = 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # its own session: only its processes
                self.process.wait(10)
        self.log.close()

    def log_tail(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-2000:].decode("utf-8", "replace")


def _start(framework: str, auth: str, env: dict[str, str], out: Path) -> Counted:
    """Start ``framework``'s app (``auth``) under callgrind on a free loopback port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        listener.set_inheritable(True)
        fd = listener.fileno()
        log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by Counted.stop
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.%p", "--dump-instr=no"]
        process = subprocess.Popen(
            [*valgrind, *_command(framework, fd)],
            pass_fds=(fd,),
            cwd=ROOT,
            env={**os.environ, **env, "BENCH_AUTH": auth, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return Counted(framework, auth, listener.getsockname()[1], process, out, log)
    finally:
        listener.close()


def _control(*args: str) -> str:
    done = subprocess.run(["callgrind_control", *args], capture_output=True, text=True, timeout=120, check=False)
    return done.stdout + done.stderr


def _dumped(server: Counted) -> int:
    """Dump the counters since the last zeroing; return the instructions."""
    before = set(server.out.glob(f"cg.{server.pid}.*"))
    if "OK" not in _control("-d", str(server.pid)):
        raise RuntimeError(f"callgrind_control could not dump {server.pid}")
    new = sorted(set(server.out.glob(f"cg.{server.pid}.*")) - before, key=lambda path: int(path.suffix[1:]))
    if not new:
        raise RuntimeError("callgrind wrote no dump")
    found = _SUMMARY.search(new[-1].read_text(errors="replace"))
    if found is None:
        raise RuntimeError(f"no instruction count in {new[-1].name}")
    return int(found.group(1))


def _zero(server: Counted) -> None:
    if "OK" not in _control("-z", str(server.pid)):
        raise RuntimeError(f"callgrind_control could not zero {server.pid}")


def _get(port: int, header: str, connection: http.client.HTTPConnection | None) -> http.client.HTTPConnection | None:
    """One ``GET /``; keep-alive when ``connection`` is given (uvicorn), a new connection otherwise."""
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("GET", "/", headers={"Authorization": header})
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"answered {response.status}, expected 200")
    if connection is None:
        conn.close()
        return None
    return conn


def _send(server: Counted, headers: Sequence[str]) -> float:
    """Send ``headers`` in turn, one request each; return the seconds it took."""
    keep = server.framework == "starlette"
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600) if keep else None
    start = time.monotonic()
    try:
        for header in headers:
            connection = _get(server.port, header, connection)
    finally:
        if connection is not None:
            connection.close()
    return time.monotonic() - start


def _counted(server: Counted, headers: Sequence[str], idle_per_second: float) -> float:
    """Instructions per request for ``headers`` (sent in turn), the idle timers' share taken out."""
    _zero(server)
    seconds = _send(server, headers)
    total = _dumped(server)
    return (total - idle_per_second * seconds) / len(headers)


def _idle_rate(server: Counted, seconds: float = 2.0) -> float:
    _zero(server)
    time.sleep(seconds)
    return _dumped(server) / seconds


def _wait_ready(server: Counted, header: str, deadline: float) -> None:
    while True:
        try:
            _send(server, [header])
            return
        except (OSError, http.client.HTTPException) as exc:
            if time.monotonic() > deadline or server.process.poll() is not None:
                raise RuntimeError(
                    f"{server.framework}/{server.auth} did not start ({exc}):\n{server.log_tail()}"
                ) from None
            time.sleep(1.0)


def _uvicorn(auth: str, env: dict[str, str], out: Path, plan: dict[str, Sequence[str]]) -> dict[str, float]:
    """Instructions per request of each list of headers in ``plan``, on one uvicorn server."""
    server = _start("starlette", auth, env, out)
    try:
        _wait_ready(server, plan["warm-up"][0], time.monotonic() + 600)
        server.pid = server.process.pid
        _send(server, plan["warm-up"])  # keys, code paths, the token remembered and indexed
        rate = _idle_rate(server)
        counts = {}
        for name, headers in plan.items():
            if name == "warm-up":
                continue
            if name == "users":
                _send(server, list(headers) * 2)  # recorded, then remembered (and indexed)
            counts[name] = _counted(server, headers, rate)
        return counts
    finally:
        server.stop()


def _worker_total(
    auth: str, env: dict[str, str], out: Path, warm: Sequence[str], measured: Sequence[str], idle: float = 0.0
) -> tuple[int, float]:
    """The gunicorn worker's instructions at exit, after ``warm`` then ``measured`` requests (or
    ``idle`` seconds of nothing), and the seconds the measured requests took."""
    scratch = Path(tempfile.mkdtemp(dir=out))
    server = _start("flask", auth, {**env, "PYTHONHASHSEED": "0"}, scratch)
    seconds = 0.0
    try:
        _wait_ready(server, warm[0], time.monotonic() + 600)
        _send(server, warm)
        if measured:
            seconds = _send(server, measured)
        time.sleep(idle)
    finally:
        server.stop()
    totals = {}
    for dump in scratch.glob("cg.*"):
        found = _SUMMARY.search(dump.read_text(errors="replace"))
        if found is not None and int(dump.name.split(".")[1]) != server.process.pid:
            totals[dump.name] = int(found.group(1))
    if len(totals) != 1:
        raise RuntimeError(f"expected one gunicorn worker's dump, found {sorted(totals)}:\n{server.log_tail()}")
    return next(iter(totals.values())), seconds


def run(settings: Settings) -> dict[str, Any]:
    """Instructions per request of every variant, and each one's ratio to its framework's no-auth app."""
    if not available():
        return {"skipped": "valgrind (callgrind) is not installed"}
    requests = settings.instructions_requests
    with LocalIssuer(audience=AUDIENCE) as issuer, tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        factory = issuer.factory()
        repeated = f"Bearer {factory.mint(scope='read:messages')}"
        users = [
            f"Bearer {factory.mint(scope='read:messages', sub=f'user-{n}')}" for n in range(settings.instructions_users)
        ]
        env = {"BENCH_ISSUER": issuer.issuer, "BENCH_AUDIENCE": AUDIENCE}  # the default token cache
        warm = [repeated] * 20
        counts: dict[tuple[str, str], float] = {}
        plain = _uvicorn("none", env, out, {"warm-up": warm, "repeated": [repeated] * requests})
        guarded = _uvicorn("jwtguard", env, out, {"warm-up": warm, "repeated": [repeated] * requests, "users": users})
        counts[("starlette", "no auth")] = plain["repeated"]
        counts[("starlette", "jwtguard, repeated token")] = guarded["repeated"]
        counts[("starlette", "jwtguard, users in turn")] = guarded["users"]
        for variant, auth in (
            ("no auth", "none"),
            ("jwtguard decorator, repeated token", "jwtguard"),
            ("WSGI middleware, repeated token", "wsgi"),
        ):
            # The worker wakes every second while idle: its idle rate, from a run that only waits,
            # is taken out in proportion to the time the requests took, as for uvicorn.
            # Many requests: what differs between two processes anyway is spread over all of them.
            many = settings.instructions_worker_requests
            base, _ = _worker_total(auth, env, out, warm, [])
            more, seconds = _worker_total(auth, env, out, warm, [repeated] * many)
            waited, _ = _worker_total(auth, env, out, warm, [], idle=seconds)
            counts[("flask", variant)] = (more - base - (waited - base)) / many
        rows = []
        for framework, variant, _, tokens in VARIANTS:
            baseline = counts[(framework, "no auth")]
            mine = counts[(framework, variant)]
            rows.append(
                {
                    "framework": framework,
                    "variant": variant,
                    "server": "uvicorn" if framework == "starlette" else "gunicorn, 1 sync worker",
                    "requests": len(users)
                    if tokens == "users"
                    else requests
                    if framework == "starlette"
                    else settings.instructions_worker_requests,
                    "instructions": mine,
                    "added": mine - baseline,
                    "ratio": baseline / mine,
                }
            )
        return {"requests": requests, "users": len(users), "jwks_fetches": issuer.jwks_fetches, "rows": rows}
