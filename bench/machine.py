"""What the benchmark ran on, and how busy the machine was with other work meanwhile."""

from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import os
import platform
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PACKAGES = ("jwtguard", "cryptography", "PyJWT", "starlette", "uvicorn", "Flask", "gunicorn")


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _openssl() -> str:
    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        return str(backend.openssl_version_text())
    except Exception:  # an exotic cryptography build: the version is a nicety
        return "unknown"


def _wrk() -> str | None:
    if shutil.which("wrk") is None:
        return None
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def describe() -> dict[str, Any]:
    """Date, CPU, cores, Python and library versions, load generator, load average."""
    uvicorn_stack = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    uvicorn_stack += " + " + ("httptools" if importlib.util.find_spec("httptools") else "h11")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.machine()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "openssl": _openssl(),
        "versions": {name: _version(name) for name in _PACKAGES},
        "uvicorn_stack": uvicorn_stack,
        "wrk": _wrk(),
        "load_average_at_start": _load_average(),
    }


@dataclass
class CpuSnapshot:
    """Whole-machine busy CPU time and this process tree's own CPU time, in seconds."""

    wall: float
    machine_busy: float | None
    ours: float

    @classmethod
    def take(cls) -> CpuSnapshot:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for servers and wrk runs
        ours = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
        return cls(time.monotonic(), _machine_busy(), ours)

    def foreign_share(self, later: CpuSnapshot) -> float | None:
        """The share of all cores that other processes used between ``self`` and ``later``."""
        if self.machine_busy is None or later.machine_busy is None:
            return None
        capacity = (later.wall - self.wall) * (os.cpu_count() or 1)
        if capacity <= 0:
            return None
        foreign = (later.machine_busy - self.machine_busy) - (later.ours - self.ours)
        return min(1.0, max(0.0, foreign / capacity))


def _machine_busy() -> float | None:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    ticks = [int(value) for value in fields[1:9]]  # user nice system idle iowait irq softirq steal
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")
