"""The benchmark harness works: every part runs in ``--quick`` mode and reports what it should.

These tests assert structure and correctness of the measurement (each variant
really verifies, the fresh pool misses the cache, servers stop, wrk rotates the
tokens), never timings.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature

from jwtguard.testing import LocalServer, Request, Response, SigningKey

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is a top-level directory of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from bench import __main__ as bench_main  # noqa: E402
from bench import chart, http_load, loadgen, micro, report, stores  # noqa: E402
from bench.timing import ALGORITHMS, Settings  # noqa: E402

MICRO_VARIANTS = {
    "floor",
    "minimal",
    "pyjwt_alg",
    "jwtguard_fresh",
    "jwtguard_nocache",
    "jwtguard_repeated",
    "jwtguard_parse",
    "pyjwt",
}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``python3 -m bench --quick`` run (Python load generator), its page and its servers."""
    out = tmp_path_factory.mktemp("bench")
    started: list[http_load.Server] = []
    real_start = http_load.start_server

    def recording_start(*args: Any) -> http_load.Server:
        server = real_start(*args)
        started.append(server)
        return server

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(http_load, "start_server", recording_start)
        results = bench_main.main(
            [
                "--quick",
                "--load",
                "python",
                "--no-chart",
                "--output",
                str(out / "perf.md"),
                "--json",
                str(out / "r.json"),
            ]
        )
    return {
        "results": results,
        "page": (out / "perf.md").read_text(encoding="utf-8"),
        "json": json.loads((out / "r.json").read_text(encoding="utf-8")),
        "servers": started,
    }


def test_micro_measures_every_algorithm_and_variant(quick: dict[str, Any]) -> None:
    results = quick["results"]["micro"]
    assert [alg["alg"] for alg in results["algorithms"]] == list(ALGORITHMS)
    for alg in results["algorithms"]:
        expected = MICRO_VARIANTS | ({"pyjwt_jwks_client", "jwtguard_remote"} if alg["alg"] == "RS256" else set())
        assert set(alg["us"]) == expected
        for summary in alg["us"].values():
            assert summary["n"] == results["rounds"]
            assert 0 < summary["min"] <= summary["median"] <= summary["max"]
        assert {"fresh_vs_floor", "fresh_vs_minimal", "pyjwt_vs_fresh"} <= set(alg["ratios"])
        assert {"cache_insert", "pyjwt_alg_overhead", "minimal_framing"} <= set(alg["differences_us"])
        assert alg["cache_hits_in_fresh_probe"] == 0
        assert alg["fresh_tokens"] > alg["token_cache_size"]
    assert results["jwks_fetches_while_timing"] == 0  # steady state: both JWKS clients answer from memory
    profile = results["profile"]
    assert profile["top"]
    assert any(row["function"].startswith("jwtguard/") for row in profile["top"])


def test_http_measures_both_frameworks_with_real_auth(quick: dict[str, Any]) -> None:
    http = quick["results"]["http"]
    assert [(row["framework"], row["variant"]) for row in http["rows"]] == [
        (framework, variant) for framework in http_load.FRAMEWORKS for variant in http_load.VARIANTS
    ]
    for row in http["rows"]:
        assert row["requests"] > 0
        if row["variant"] == "no auth":
            assert row["ratio"]["median"] == 1.0
    for name, statuses in http["checks"].items():
        if name.endswith("/jwtguard"):
            assert statuses == {"valid token": 200, "no token": 401, "forged token": 401}
        else:
            assert statuses == {"valid token": 200}
    assert http["issuer_jwks_fetches"] == 2  # one per guarded server process, none per request
    assert http["distinct_tokens"] > quick["results"]["settings"]["http_cache_size"]


def test_inprocess_measures_what_jwtguard_adds(quick: dict[str, Any]) -> None:
    section = quick["results"]["inprocess"]
    assert [(row["framework"], row["variant"]) for row in section["rows"]] == [
        (framework, variant) for framework in ("starlette", "flask") for variant in http_load.VARIANTS
    ]
    for row in section["rows"]:
        assert row["us"]["n"] == section["rounds"]
        if row["variant"] == "no auth":
            assert row["added_us"]["median"] == 0.0
    assert section["distinct_tokens"] > quick["results"]["settings"]["http_cache_size"]
    assert set(section["pieces_us"]) == {"extract_bearer", "validate_cached"}
    assert [profile["case"].split()[0] for profile in section["profiles"]] == ["Starlette", "Flask"]
    assert all(profile["calls"] > 0 and profile["top"] for profile in section["profiles"])


def test_dpop_measures_bound_against_bearer_requests(quick: dict[str, Any]) -> None:
    section = quick["results"]["dpop"]
    assert set(section["us"]) == {"bearer", "dpop", "proof_floor"}
    for summary in section["us"].values():
        assert summary["n"] == section["rounds"] == quick["results"]["settings"]["dpop_rounds"]
        assert 0 < summary["min"] <= summary["median"] <= summary["max"]
    assert section["ratio"]["n"] == section["added_us"]["n"] == section["rounds"]
    assert section["ratio"]["median"] > 0
    assert section["cache_misses_in_probe"] == 0  # both tokens answered from the token cache
    assert section["refusals"] == {
        "a replayed proof": "dpop_proof_replayed",
        "a proof made by another key": "dpop_key_mismatch",
        "the bound token sent as Bearer": "dpop_bound_token",
        "a timed proof sent again": "dpop_proof_replayed",
    }
    profile = section["profile"]
    assert profile["calls"] > 0
    assert any(row["function"].startswith("jwtguard/") for row in profile["top"])
    assert quick["json"]["dpop"]["proof_alg"] == "ES256"


def test_http_servers_are_stopped(quick: dict[str, Any]) -> None:
    servers = quick["servers"]
    assert len(servers) == 4
    assert all(server.process.poll() is not None for server in servers)


def test_keyset_counts_fetches(quick: dict[str, Any]) -> None:
    rows = quick["results"]["keyset"]["rows"]
    cold = [row for row in rows if row["scenario"].startswith("cold start")]
    flood = [row for row in rows if row["scenario"].startswith("unknown-kid flood")]
    assert len(cold) == 3
    assert len(flood) == 3
    for row in cold:
        assert set(row["outcomes"]) == {"ok"}
        assert row["jwks_fetches"] == 1  # single flight: threads and tasks share one fetch
    for row in flood:
        assert set(row["outcomes"]) == {"unknown_key"}
        if "jwtguard" in row["scenario"]:
            assert row["jwks_fetches"] <= 1


def test_stores_cost_no_redis_round_trip_per_request() -> None:
    from redis_server import running_redis

    with running_redis() as server:
        settings = Settings.quick_preset()
        settings.redis_url = server.url
        section = stores.run(settings)
    assert section["variants"] == list(stores.VARIANTS)
    for name in stores.VARIANTS:
        assert section["us"][name]["n"] == section["ratio"][name]["n"] == settings.stores_rounds
    assert section["ratio"]["memory"]["median"] == 1.0
    for name in ("memory, revocations", "redis, revocations"):
        assert section["refusals"][name] == {
            "a revoked token": "token_revoked",
            "a token of a revoked subject": "token_revoked",
        }
    assert section["redis_requests_timed"] == 2 * settings.stores_rounds * settings.stores_calls
    # Only the mirrors' background polls (a GET of the version per second and validator), none per request.
    polls = 2 * (section["redis_seconds_timed"] / section["sync_interval"] + 2)
    assert set(section["redis_commands_while_timing"]) <= {"get"}
    assert sum(section["redis_commands_while_timing"].values()) <= polls
    assert section["fleet"] == {
        "validators": stores.FLEET,
        "jwks_fetches_shared": 1,
        "jwks_fetches_alone": stores.FLEET,
    }
    assert any("per request" in line for line in report._stores(section))


def test_the_cache_part_measures_one_tracked_object_per_token(quick: dict[str, Any]) -> None:
    section = quick["results"]["cache"]
    assert section["tokens"] == quick["results"]["settings"]["cache_tokens"]
    assert section["tracked_objects_per_entry"] < 1.1  # a Claims, nothing else the collector must visit
    assert section["memory"]["bytes_per_entry"] > section["memory"]["token_chars"]
    assert section["round_robin"]["hit_share_by_round"][2:] == [1.0, 1.0]  # users in turn hit from round 3
    assert set(quick["results"]["instructions"]) == {"skipped"}  # minutes under valgrind: full runs only


def test_page_has_every_section_and_target(quick: dict[str, Any]) -> None:
    page = quick["page"]
    for heading in ("## Machine", "## Targets", "## Validation cost per token", "## HTTP throughput"):
        assert heading in page
    for heading in ("## What jwtguard adds to a request", "## DPoP-bound requests", "## Key-set fetches under load"):
        assert heading in page
    for heading in ("## Where the time goes", "## A shared store: Redis against memory"):
        assert heading in page
    assert "Quick (smoke) run" in page
    verdicts = [line for line in page.splitlines() if line.endswith(("✅ met |", "❌ not met |"))]
    # micro (4 + 1 + 4), the token cache at scale (2), HTTP (3); a quick run counts no instructions
    assert len(verdicts) == len(report.targets(quick["results"])) == 4 + 1 + 4 + 2 + 3
    assert "## The token cache at scale" in page
    assert str(ROOT) not in page  # no machine paths in a committed file
    assert quick["json"]["micro"]["algorithms"][0]["alg"] == "RS256"


@pytest.mark.slow
def test_chart_is_a_png(quick: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "chart.png"
    assert chart.draw(quick["results"], path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def token_server() -> Iterator[tuple[LocalServer, Counter[str]]]:
    """A loopback server counting the bearer tokens it sees; it refuses the token ``bad``."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def handler(request: Request) -> Response:
        token = (request.header("Authorization") or "").removeprefix("Bearer ")
        with lock:
            seen[token] += 1
        return Response(401 if token == "bad" else 200, {"ok": True})

    with LocalServer() as server:
        server.route("/", handler)
        yield server, seen


def _port(server: LocalServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_rotates_tokens_and_counts_refusals(token_server: Any, tmp_path: Path) -> None:
    server, seen = token_server
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("one\ntwo\nbad\n")
    load = loadgen.run_wrk(_port(server), tokens, connections=2, duration=1)
    assert load.requests > 0
    assert set(seen) == {"one", "two", "bad"}
    # wrk stops at the deadline: a request in flight then reaches the server but is not counted.
    assert 0 < seen["bad"] - 2 <= load.bad_status <= seen["bad"]


def test_python_load_rotates_tokens_and_counts_refusals(token_server: Any) -> None:
    server, seen = token_server
    load = loadgen.run_python(_port(server), ["one", "two", "bad"], connections=2, duration=0.2)
    assert load.requests > 0
    assert load.errors == 0
    assert set(seen) == {"one", "two", "bad"}
    assert load.bad_status == seen["bad"] > 0


def test_servers_stop_when_the_benchmark_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_load, "FRAMEWORKS", ("flask",))
    env = {"BENCH_ISSUER": "http://127.0.0.1:9/", "BENCH_AUDIENCE": "https://api.bench.example"}
    processes: list[Any] = []

    def fail_while_serving() -> None:
        with http_load.servers(env) as running:
            processes.extend(server.process for server in running.values())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_while_serving()
    assert len(processes) == 2
    assert all(process.poll() is not None for process in processes)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_floor_verifier_rejects_a_wrong_signature(alg: str) -> None:
    key = SigningKey.generate(alg)
    signature, message = micro._split(key.sign({"sub": "a"}))
    other, _ = micro._split(key.sign({"sub": "b"}))
    verify = micro.floor_verifier(alg, key.private_key.public_key())
    verify(signature, message)
    with pytest.raises(InvalidSignature):
        verify(other, message)
