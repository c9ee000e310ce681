"""HTTP load generators: ``wrk`` with a token-rotating Lua script, or a bounded Python fallback.

Both send ``GET /`` with an ``Authorization: Bearer`` header taken in turn from
a token list, for a fixed duration, and count completed requests, socket
errors and non-2xx answers.
"""

from __future__ import annotations

import itertools
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).resolve().parent / "wrk_rotate.lua"


@dataclass
class Load:
    requests: int
    seconds: float
    errors: int  # socket errors and timeouts
    bad_status: int  # responses outside 2xx

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


_WRK_LINE = re.compile(r"^BENCH (.*)$", re.MULTILINE)


def run_wrk(port: int, token_file: Path, connections: int, duration: float) -> Load:
    """``wrk`` for ``duration`` (whole seconds, at least one) rotating through ``token_file``."""
    seconds = max(1, round(duration))
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        f"http://127.0.0.1:{port}/",
        "--",
        str(token_file),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    match = _WRK_LINE.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    fields = {key: int(value) for key, value in (item.split("=") for item in match.group(1).split())}
    errors = fields["connect"] + fields["read"] + fields["write"] + fields["timeout"]
    return Load(fields["requests"], fields["duration_us"] / 1e6, errors, fields["status"])


def _read_response(sock: socket.socket, buffer: bytes) -> tuple[int, bool, bytes]:
    """Read one response; return its status, whether the server closes, and what follows it."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
        elif name == b"transfer-encoding":
            raise ConnectionError("chunked responses are not supported by the Python load generator")
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a body")
        rest += chunk
    return status, close, rest[length:]


def run_python(port: int, tokens: Sequence[str], connections: int, duration: float) -> Load:
    """A bounded keep-alive load: ``connections`` threads, each one socket, for ``duration`` seconds."""
    requests = [
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode("ascii")
        for token in tokens
    ]
    counter = itertools.count()  # next() on it is atomic: the threads share the rotation
    totals = {"requests": 0, "errors": 0, "bad_status": 0}
    lock = threading.Lock()
    barrier = threading.Barrier(connections + 1)
    deadline = [0.0]

    def worker() -> None:
        done = errors = bad = 0
        sock: socket.socket | None = None
        buffer = b""
        barrier.wait()
        while time.perf_counter() < deadline[0]:
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    buffer = b""
                sock.sendall(requests[next(counter) % len(requests)])
                status, close, buffer = _read_response(sock, buffer)
                done += 1
                bad += not 200 <= status < 300
                if close:
                    sock.close()
                    sock = None
            except OSError:
                errors += 1
                if sock is not None:
                    sock.close()
                sock = None
        if sock is not None:
            sock.close()
        with lock:
            totals["requests"] += done
            totals["errors"] += errors
            totals["bad_status"] += bad

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    deadline[0] = start + duration
    barrier.wait()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    return Load(totals["requests"], seconds, totals["errors"], totals["bad_status"])


def choose_load(requested: str) -> str:
    """``"wrk"`` or ``"python"``; ``"auto"``: wrk when it is on the PATH."""
    if requested == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if requested == "wrk" and not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install wrk), use --load python")
    if requested not in ("wrk", "python"):
        raise ValueError(f"unknown load generator {requested!r}")
    return requested
