"""A fleet of worker processes sharing one Redis: DPoP replay is caught across workers, a
revocation made anywhere reaches every worker within the documented bound, the fleet fetches
each key set once per refresh, and a Redis outage leaves the workers answering from memory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import ProxyHandler, Request, build_opener

import pytest
from redis_server import RedisServer, running_redis

from jwtguard.stores import RedisStore
from jwtguard.testing import DPoPKey, LocalIssuer

TESTS = Path(__file__).resolve().parent
WORKERS = 4
PUBLIC_URL = "https://api.example.test/messages"
KEY_SET_MAX_AGE = 2.0  # the workers clamp the issuer's max-age to this: refreshes within a test's time
_OPENER = build_opener(ProxyHandler({}))  # loopback: never through a proxy from the environment


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    request = Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with _OPENER.open(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except HTTPError as error:  # an error status: its JSON body
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def fleet() -> Iterator[tuple[list[int], RedisServer, LocalIssuer]]:
    with LocalIssuer() as issuer, running_redis() as redis:  # the issuer of this fleet alone: its fetches count
        env = {
            **os.environ,
            "NO_PROXY": "*",
            "JWTGUARD_ISSUER": issuer.issuer,
            "JWTGUARD_AUDIENCE": issuer.audience,
            "JWTGUARD_JWKS_URI": issuer.jwks_uri,
            "JWTGUARD_ALGORITHMS": ",".join(sorted({key.alg for key in issuer.keys})),
            "JWTGUARD_CACHE_MAX_AGE_BOUNDS": f"{KEY_SET_MAX_AGE},{KEY_SET_MAX_AGE}",
            "FLEET_REDIS_URL": redis.url,
            "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        }
        ports = [_free_port() for _ in range(WORKERS)]
        logs = [tempfile.TemporaryFile() for _ in ports]  # noqa: SIM115 - closed below
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "fleet_app:app", "--port", str(port), "--log-level", "warning"],
                env=env,
                cwd=TESTS,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for port, log in zip(ports, logs, strict=True)
        ]
        try:
            deadline = time.monotonic() + 30
            for port in ports:
                while True:
                    try:
                        if _get(port, "/health")[0] == 200:
                            break
                    except OSError:
                        if time.monotonic() > deadline:
                            log = logs[ports.index(port)]
                            log.seek(0)
                            state = processes[ports.index(port)].poll()
                            raise RuntimeError(f"a worker did not start ({state}): {log.read()[-2000:]!r}") from None
                        time.sleep(0.05)  # the worker is starting: bounded by the deadline
            yield ports, redis, issuer
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=10)
            for log in logs:
                log.close()


def test_the_workers_are_separate_processes(fleet: Any) -> None:
    ports, _, _ = fleet
    assert len({_get(port, "/health")[1]["pid"] for port in ports}) == WORKERS


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _all_at_once(ports: list[int], token: str) -> list[int]:
    with ThreadPoolExecutor(len(ports)) as pool:
        return [status for status, _ in pool.map(lambda port: _get(port, "/messages", _bearer(token)), ports)]


def test_a_cold_fleet_fetches_the_key_set_once(fleet: Any) -> None:
    ports, _, issuer = fleet
    assert issuer.jwks_fetches == 0
    assert _all_at_once(ports, issuer.token()) == [200] * WORKERS  # four cold workers at once
    assert issuer.jwks_fetches == 1


def test_a_dpop_proof_replayed_to_another_worker_is_refused(fleet: Any) -> None:
    ports, _, issuer = fleet
    client = DPoPKey.generate()
    token = issuer.token(sub="dpop-user", cnf=client.cnf)
    headers = client.headers("GET", PUBLIC_URL, token)
    assert _get(ports[0], "/messages", headers) == (
        200,
        {"sub": "dpop-user", "pid": _get(ports[0], "/health")[1]["pid"]},
    )
    for port in ports[1:]:
        assert _get(port, "/messages", headers) == (401, {"error": "dpop_proof_replayed"})


def test_a_subject_revoked_anywhere_is_refused_by_every_worker_within_the_bound(fleet: Any) -> None:
    ports, redis, issuer = fleet
    token = issuer.token(sub="leaving-user")
    for port in ports:
        assert _get(port, "/messages", {"Authorization": f"Bearer {token}"})[0] == 200
        assert _get(port, "/messages", {"Authorization": f"Bearer {token}"})[0] == 200  # now a cache hit
    RedisStore(redis.url).revoke_subject("leaving-user", issued_before=time.time() + 1)
    revoked_at = time.monotonic()
    pending = set(ports)
    while pending and time.monotonic() - revoked_at < 5:
        pending = {p for p in pending if _get(p, "/messages", {"Authorization": f"Bearer {token}"})[0] == 200}
        time.sleep(0.02)  # the workers' mirrors poll Redis every 0.1 s: bounded wait
    assert not pending
    assert time.monotonic() - revoked_at < 2  # the documented bound: the sync interval plus a round trip
    for port in ports:
        assert _get(port, "/messages", {"Authorization": f"Bearer {token}"}) == (401, {"error": "token_revoked"})


def test_the_fleet_refreshes_a_key_set_with_one_fetch(fleet: Any) -> None:
    ports, _, issuer = fleet
    for _ in range(2):
        time.sleep(KEY_SET_MAX_AGE + 0.3)  # every worker's keys (and the stored set) past their max age
        before = issuer.jwks_fetches
        assert _all_at_once(ports, issuer.token()) == [200] * WORKERS  # stale keys answer; a refresh starts
        time.sleep(0.5)  # the background refreshes end (a fetch on loopback takes milliseconds)
        assert _all_at_once(ports, issuer.token()) == [200] * WORKERS
        assert issuer.jwks_fetches == before + 1


def test_the_workers_keep_answering_from_memory_while_redis_is_down(fleet: Any) -> None:
    ports, redis, issuer = fleet
    assert _all_at_once(ports, issuer.token()) == [200] * WORKERS
    redis.stop()
    try:
        before = issuer.jwks_fetches
        statuses: list[int] = []
        ends = time.monotonic() + KEY_SET_MAX_AGE + 1  # through a refresh of every worker's keys
        while time.monotonic() < ends:
            statuses += _all_at_once(ports, issuer.token())
            time.sleep(0.05)  # a steady trickle of requests, bounded by the deadline above
        assert set(statuses) == {200}
        assert before < issuer.jwks_fetches <= before + 2 * WORKERS  # each worker refreshed for itself
    finally:
        redis.start()
    assert _all_at_once(ports, issuer.token()) == [200] * WORKERS
