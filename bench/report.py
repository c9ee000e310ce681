"""Turn the benchmark results into ``docs/performance.md`` (tables, targets, profile) and a chart."""

# The page is typeset: the multiplication sign, dashes and the minus sign are meant.
# ruff: noqa: RUF001

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# -- targets -----------------------------------------------------------------------------------

#: A fresh token ÷ (b) minimal parse + verify, at most, by the JSON decoder of jwtguard's framing.
FRESH_VS_MINIMAL = {"orjson": 1.0, "json": 1.1}
_DECODER_NAMES = {"orjson": "with orjson", "json": "without"}
JWKS_CLIENT_SPEEDUP = 3.0
REPEATED_US = 1.5
CACHE_HIT_US = 1.5
GC_PAUSE_MS = 50.0
#: Instructions per request (callgrind): no-auth ÷ variant, at least.
INSTRUCTION_TARGETS = {
    ("starlette", "jwtguard, repeated token"): 0.95,
    ("starlette", "jwtguard, users in turn"): 0.90,
    ("flask", "jwtguard decorator, repeated token"): 0.97,
    ("flask", "WSGI middleware, repeated token"): 0.97,
}
HTTP_TARGETS = {
    ("starlette", "jwtguard, repeated token"): 0.93,
    ("flask", "jwtguard, repeated token"): 0.95,
    ("starlette", "jwtguard, distinct tokens"): 0.5,
}


def _spread(summary: dict[str, float], fmt: str, unit: str = "", *, iqr: bool = False) -> str:
    low, high = (summary["q1"], summary["q3"]) if iqr else (summary["min"], summary["max"])
    return f"{summary['median']:{fmt}}{unit} ({low:{fmt}}–{high:{fmt}})"


def _us(summary: dict[str, float] | None, *, iqr: bool = True) -> str:
    """Micro results: median and interquartile range."""
    if summary is None:
        return "—"
    fmt = ".2f" if summary["median"] < 10 else ".1f"
    return _spread(summary, fmt, iqr=iqr)


def _times(summary: dict[str, float] | None, *, iqr: bool = True) -> str:
    return "—" if summary is None else _spread(summary, ".2f", "×", iqr=iqr)


def _met(ok: bool) -> str:
    return "✅ met" if ok else "❌ not met"


def targets(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) rows for every target the results cover."""
    rows: list[tuple[str, str, str]] = []
    micro = results.get("micro")
    if micro:
        rows += [_fresh_target(alg) for alg in micro["algorithms"]]
        for alg in micro["algorithms"]:
            speedup = alg["ratios"].get("jwks_client_vs_remote")
            if speedup is not None:
                static = alg["ratios"]["jwks_client_vs_fresh"]["median"]
                rows.append(
                    (
                        f"{alg['alg']} ≥ {JWKS_CLIENT_SPEEDUP:g}× faster than PyJWT + `PyJWKClient`",
                        f"{_times(speedup)} (static keys: {static:.2f}×)",
                        _met(speedup["median"] >= JWKS_CLIENT_SPEEDUP),
                    )
                )
        for alg in micro["algorithms"]:
            repeated = alg["us"]["jwtguard_repeated"]
            rows.append(
                (
                    f"{alg['alg']} repeated token ≤ {REPEATED_US} µs",
                    _us(repeated) + " µs",
                    _met(repeated["median"] <= REPEATED_US),
                )
            )
    cache = results.get("cache")
    if cache:
        rows.append(
            (
                f"cache hit ≤ {CACHE_HIT_US} µs with {cache['tokens']:,} cached tokens",
                f"{cache['hit_us']:.2f} µs (`validate`), {cache['index_hit_us']:.2f} µs (the adapters' index)",
                _met(max(cache["hit_us"], cache["index_hit_us"]) <= CACHE_HIT_US),
            )
        )
        rows.append(
            (
                f"no GC pause over {GC_PAUSE_MS:g} ms with {cache['tokens']:,} cached tokens",
                f"{cache['gc_pause_ms']:.0f} ms (a full `gc.collect()`, median of 7); "
                f"{cache['gc_pause_ms_frozen']:.1f} ms after `gc.freeze()`",
                _met(cache["gc_pause_ms"] <= GC_PAUSE_MS),
            )
        )
    counted = results.get("instructions")
    if counted and "rows" in counted:
        for (framework, variant), floor in INSTRUCTION_TARGETS.items():
            row = next(r for r in counted["rows"] if r["framework"] == framework and r["variant"] == variant)
            rows.append(
                (
                    f"{framework.capitalize()}, {variant}: ≥ {floor}× of no auth in instructions per request",
                    f"{row['ratio']:.3f}× (+{row['added']:,.0f} instructions)",
                    _met(row["ratio"] >= floor),
                )
            )
    http = results.get("http")
    if http:
        for (framework, variant), floor in HTTP_TARGETS.items():
            row = next(r for r in http["rows"] if r["framework"] == framework and r["variant"] == variant)
            rows.append(
                (
                    f"{framework.capitalize()}, {variant.removeprefix('jwtguard, ')}: ≥ {floor}× of no auth",
                    _times(row["ratio"], iqr=False) + " ᵐ",
                    _met(row["ratio"]["median"] >= floor),
                )
            )
    return rows


def _fresh_ratios(alg: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Fresh ÷ minimal by JSON decoder (results without per-decoder variants: the one decoder that ran)."""
    if "decoders" in alg:
        return {name: decoder["ratios"]["fresh_vs_minimal"] for name, decoder in alg["decoders"].items()}
    return {alg.get("decoder", "json"): alg["ratios"]["fresh_vs_minimal"]}


def _fresh_target(alg: dict[str, Any]) -> tuple[str, str, str]:
    """One row per algorithm, every decoder against its bound (one not installed is not met)."""
    ratios = _fresh_ratios(alg)
    bounds = ", ".join(f"≤ {bound}× {_DECODER_NAMES[name]}" for name, bound in FRESH_VS_MINIMAL.items())
    measured = "; ".join(
        f"{name}: {_times(ratios[name]) if name in ratios else 'not installed'}" for name in FRESH_VS_MINIMAL
    )
    ok = all(name in ratios and ratios[name]["median"] <= bound for name, bound in FRESH_VS_MINIMAL.items())
    return (f"{alg['alg']} fresh token ÷ (b) minimal parse + verify: {bounds} orjson", measured, _met(ok))


# -- markdown -------------------------------------------------------------------------------


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _machine(results: dict[str, Any]) -> list[str]:
    machine = results["machine"]
    versions = machine["versions"]
    load = machine.get("load_average_at_start")
    rows = [
        ("date", machine["date"]),
        ("CPU", f"{machine['cpu']}, {machine['cores']} cores ({machine['system']})"),
        ("Python", machine["python"]),
        ("cryptography", f"{versions['cryptography']} ({machine['openssl']})"),
        ("PyJWT", versions["PyJWT"]),
        ("jwtguard", versions["jwtguard"]),
        (
            "servers",
            f"uvicorn {versions['uvicorn']} ({machine['uvicorn_stack']}), starlette {versions['starlette']}, "
            f"gunicorn {versions['gunicorn']}, Flask {versions['Flask']}",
        ),
        (
            "load generator",
            results.get("http", {}).get("load_generator", "—")
            + (
                f" ({machine['wrk']})"
                if machine.get("wrk") and results.get("http", {}).get("load_generator") == "wrk"
                else ""
            ),
        ),
        ("load average before the run", ", ".join(str(value) for value in load) if load else "—"),
    ]
    for part, share in results.get("foreign_cpu", {}).items():
        if share is not None:
            rows.append((f"other processes' CPU during {part}", f"{share:.0%} of all cores"))
    return _table(("", ""), rows)


def _noise_note(results: dict[str, Any]) -> list[str]:
    shares = [share for share in results.get("foreign_cpu", {}).values() if share is not None]
    busy = max(shares, default=0.0)
    if busy < 0.1:
        return []
    return [
        f"> **Noisy machine.** Other processes used up to {busy:.0%} of the CPU during this run (the machine is "
        "shared with other jobs). Ratios are taken within a round, so both sides of a ratio see the same load, "
        "but absolute µs and req/s are pessimistic and the spreads wide. Re-run on a quiet machine for "
        "publishable absolute numbers.",
        "",
    ]


def _micro(micro: dict[str, Any]) -> list[str]:
    rows = []
    for alg in micro["algorithms"]:
        us, ratios = alg["us"], alg["ratios"]
        rows.append(
            (
                alg["alg"],
                _us(us["floor"]),
                _us(us["minimal"]),
                f"**{_us(us['jwtguard_fresh'])}**",
                _times(ratios["fresh_vs_floor"]),
                _times(ratios["fresh_vs_minimal"]),
                _us(us["pyjwt"]),
                _times(ratios["pyjwt_vs_fresh"]),
                f"**{_us(us['jwtguard_repeated'])}**",
            )
        )
    lines = [
        f"µs per call, median of {micro['rounds']} interleaved rounds (interquartile range in brackets). "
        f"Fresh: a pool of {micro['algorithms'][0]['fresh_tokens']} distinct tokens, walked in order, "
        f"1/{micro.get('chunks', 1)} of it per round, each signature verified (every call misses the "
        f"{micro['algorithms'][0]['token_cache_size']}-entry token cache, checked before timing); repeated: "
        f"one token {micro['repeated_calls']} times per round.",
        "",
        *_table(
            (
                "alg",
                "(a) floor",
                "(b) minimal",
                "jwtguard fresh",
                "÷ (a)",
                "÷ (b)",
                "(c) PyJWT",
                "PyJWT ÷ jwtguard",
                "jwtguard repeated",
            ),
            rows,
        ),
    ]
    lines += _by_decoder(micro)
    jwks_rows = []
    for alg in micro["algorithms"]:
        us, ratios = alg["us"], alg["ratios"]
        if "pyjwt_jwks_client" in us:
            jwks_rows.append(
                (
                    alg["alg"],
                    _us(us["pyjwt_jwks_client"]),
                    _us(us["jwtguard_remote"]),
                    _times(ratios["jwks_client_vs_remote"]),
                    _times(ratios["remote_vs_minimal"]),
                )
            )
    if jwks_rows:
        lines += [
            "Keys from a JWKS URL (a `LocalServer` on 127.0.0.1), steady state: PyJWT's `PyJWKClient` "
            "(JWK set cached) + `jwt.decode` against a `Validator(jwks_uri=…)`. "
            f"JWKS requests while timing: {micro['jwks_fetches_while_timing']}.",
            "",
            *_table(
                ("alg", "PyJWT + PyJWKClient", "jwtguard, remote keys", "PyJWKClient ÷ jwtguard", "jwtguard ÷ (b)"),
                jwks_rows,
            ),
        ]
    return lines


def _by_decoder(micro: dict[str, Any]) -> list[str]:
    """The fresh path and the framing with each JSON decoder, in the same rounds as (b)."""
    names = [name for name in FRESH_VS_MINIMAL if any(name in alg.get("decoders", {}) for alg in micro["algorithms"])]
    if not names:
        return []
    rows = []
    for alg in micro["algorithms"]:
        decoders = alg.get("decoders", {})
        cells: list[str] = [alg["alg"], _us(alg["us"]["minimal"])]
        for name in names:
            decoder = decoders.get(name)
            if decoder is None:
                cells += ["—"] * 3
                continue
            cells += [
                _us(decoder["us"]["fresh"]),
                f"**{_times(decoder['ratios']['fresh_vs_minimal'])}**",
                _us(decoder["us"]["parse"]),
            ]
        rows.append(cells)
    header = ["alg", "(b) minimal"]
    for name in names:
        header += [f"fresh, {name}", f"÷ (b), {name} (≤ {FRESH_VS_MINIMAL[name]}×)", f"framing, {name}"]
    missing = [name for name in FRESH_VS_MINIMAL if name not in names]
    return [
        "The fresh path by the JSON decoder of jwtguard's framing (`jwtguard._json`), each forced for its "
        'pass and timed in the same rounds as (b): orjson (`pip install "jwtguard[orjson]"`), whose answer '
        "stands only where the standard library's could not differ, and the standard library's `json`. "
        "Framing: `_jose.parse` alone (split, base64url, JSON)."
        + (f" Not installed, so not measured: {', '.join(missing)}." if missing else ""),
        "",
        *_table(header, rows),
    ]


def _generator(name: str) -> str:
    if name == "wrk":
        return "`wrk -t1` (one thread: the server has the other core) with `bench/wrk_rotate.lua`"
    return (
        "the Python fallback (keep-alive sockets in threads; slower than the servers, so these ratios "
        "understate jwtguard's cost — install wrk)"
    )


def _http(http: dict[str, Any]) -> list[str]:
    rows = [
        (
            f"{row['framework'].capitalize()} ({row['server']}, {row['connections']} connections)",
            row["variant"],
            _spread(row["rps"], ",.0f"),
            _times(row["ratio"], iqr=False) if row["variant"] != "no auth" else "1×",
        )
        for row in http["rows"]
    ]
    return [
        f"Requests per second, median of {http['rounds']} interleaved rounds of {http['duration']} s each "
        f"(min–max), load generator: {_generator(http['load_generator'])}. "
        f"Distinct tokens: a pool of {http['distinct_tokens']} tokens, more than the validator's cache, sent "
        "in turn so every request verifies a signature. Every response was a 2xx; each guarded server first "
        "answered 401 to no token and to a forged one. The issuer saw "
        f"{http['issuer_jwks_fetches']} JWKS fetches in all (one per guarded server process). gunicorn's sync "
        "worker closes the connection after each response, so every Flask request also pays a TCP handshake.",
        "",
        *_table(("server", "variant", "req/s", "× no auth"), rows),
    ]


def _cache(cache: dict[str, Any]) -> list[str]:
    memory = cache["memory"]
    rounds = ", ".join(f"{share:.0%}" for share in cache["round_robin"]["hit_share_by_round"])
    rows = [
        ("cached tokens", f"{cache['tokens']:,}"),
        (
            "memory per entry",
            f"{memory['bytes_per_entry']:,.0f} bytes for a {memory['token_chars']:,.0f}-character token: "
            f"{memory['strings_bytes']:,.0f} the token and its indexed `Authorization` value, "
            f"{memory['claims_and_index_bytes']:,.0f} the decoded claims and the dict slots",
        ),
        ("objects the cyclic GC tracks per entry", f"{cache['tracked_objects_per_entry']:.2f}"),
        ("full collection (`gc.collect()`), median of 7", f"{cache['gc_pause_ms']:.1f} ms"),
        ("the same after `gc.freeze()`", f"{cache['gc_pause_ms_frozen']:.2f} ms"),
        (
            "the same once the validator is gone (the rest of the process)",
            f"{cache['gc_pause_ms_without_cache']:.1f} ms",
        ),
        ("cache hit, `validate(token)`", f"{cache['hit_us']:.2f} µs"),
        ("cache hit, the adapters' index (`Authorization` bytes)", f"{cache['index_hit_us']:.2f} µs"),
        (
            f"{cache['round_robin']['users']:,} users in turn, default configuration "
            f"({cache['round_robin']['cache_size']:,} tokens): hits by round",
            rounds,
        ),
    ]
    return [
        f"A validator holding {cache['tokens']:,} tokens of about {memory['token_chars']:,.0f} characters (an "
        "RFC 9068 access token with three arrays, a nested object and some padding; HS256, so that filling is "
        "quick — the algorithm plays no part here), each validated twice and its `Authorization` value indexed "
        "as the adapters index it. Memory by `tracemalloc` over a fresh validator of "
        f"{cache['memory'].get('tokens', 10_000):,} tokens; the strings the cache keeps alive are added.",
        "",
        *_table(("", ""), rows),
    ]


def _instructions(counted: dict[str, Any]) -> list[str]:
    if "rows" not in counted:
        return [f"Not measured: {counted.get('skipped', 'no results')}.", ""]
    rows = [
        (
            f"{row['framework'].capitalize()} ({row['server']})",
            row["variant"],
            f"{row['requests']:,}",
            f"{row['instructions']:,.0f}",
            "—" if row["variant"] == "no auth" else f"+{row['added']:,.0f}",
            "1×" if row["variant"] == "no auth" else f"{row['ratio']:.3f}×",
        )
        for row in counted["rows"]
    ]
    return [
        "Instructions the server process executes per request, counted by `valgrind --tool=callgrind` "
        "(repeatable where wall-clock time is not): after a warm-up, the counters are zeroed, a fixed number of "
        "requests is sent one after another, and the counters are dumped (uvicorn; its idle timers' share taken "
        "out); gunicorn's forked worker is measured by difference, runs with and without the requests (and "
        "one that only waits as long, for its idle wake-ups). "
        f"Users in turn: {counted['users']:,} tokens sent round-robin to the default configuration, after two "
        "rounds. The ratio is no-auth instructions over the variant's: the throughput a CPU-bound server keeps.",
        "",
        *_table(("server", "variant", "requests", "instructions per request", "added", "× no auth"), rows),
    ]


def _keyset(keyset: dict[str, Any]) -> list[str]:
    rows = [
        (
            row["scenario"],
            row["callers"],
            ", ".join(f"{count} {outcome}" for outcome, count in sorted(row["outcomes"].items())),
            row["jwks_fetches"],
            row["discovery_fetches"],
            f"{row['seconds'] * 1000:.0f} ms",
        )
        for row in keyset["rows"]
    ]
    return [
        "Fetches counted by the `LocalIssuer` itself. Cold start: a validator holding no keys gets all callers "
        "at once. Flood: tokens naming random `kid`s hit a warmed-up validator (unknown-`kid` refetches are "
        "rate-limited by `unknown_kid_cooldown`, 30 s by default; PyJWT's `PyJWKClient` has a 30 s "
        "`cooldown_duration` counted from its last fetch, here the warm-up).",
        "",
        *_table(("scenario", "callers", "outcome", "JWKS fetches", "discovery fetches", "wall time"), rows),
    ]


def _breakdown(alg: dict[str, Any]) -> list[tuple[str, str, str]]:
    us = {name: summary["median"] for name, summary in alg["us"].items()}
    diffs = {name: summary["median"] for name, summary in alg.get("differences_us", {}).items()}
    fresh = us["jwtguard_fresh"]

    def row(label: str, value: float | None) -> tuple[str, str, str]:
        if value is None:
            return (label, "—", "—")
        return (label, f"{value:.1f}", f"{value / fresh:.0%}")

    parse = us.get("jwtguard_parse")
    cache = diffs.get("cache_insert")
    rest = None
    if parse is not None and "jwtguard_nocache" in us:
        rest = us["jwtguard_nocache"] - us["pyjwt_alg"] - parse
    decoder = alg.get("decoder", "json")
    others = [
        row(f"  the same framing with {name}", other["us"]["parse"]["median"])
        for name, other in alg.get("decoders", {}).items()
        if name != decoder
    ]
    return [
        row("(a) signature verify in `cryptography` (the floor)", us["floor"]),
        row("PyJWT's algorithm object around it (jwtguard verifies through it)", diffs.get("pyjwt_alg_overhead")),
        row(f"jwtguard framing: strict split, base64url, JSON with {decoder} (`_jose.parse`)", parse),
        *others,
        ("for comparison: minimal framing, (b) − (a)", f"{diffs.get('minimal_framing', 0.0):.1f}", "—"),
        row("header and claim checks, key lookup, `Claims` (the rest, by difference)", rest),
        row("remembering the token (validated-token cache insert)", cache),
        row("jwtguard fresh, total", fresh),
    ]


def _profile(micro: dict[str, Any]) -> list[str]:
    profile = micro.get("profile")
    rs256 = next((alg for alg in micro["algorithms"] if alg["alg"] == "RS256"), None)
    lines: list[str] = []
    if rs256 is not None:
        lines += [
            "Medians of the same run, RS256, fresh token (differences paired within each round):",
            "",
            *_table(("step", "µs", "share of jwtguard fresh"), _breakdown(rs256)),
        ]
    if profile:
        lines += [
            f"cProfile of `Validator.validate()` over {profile['calls']} fresh {profile['alg']} tokens, top "
            f"functions by own time, per `validate()` call ({profile['us_per_call_unprofiled']:.1f} µs unprofiled, "
            f"{profile['us_per_call_profiled']:.1f} µs under the profiler, which inflates small Python functions: "
            "read the shares, not the absolute µs).",
            "",
            *_profile_table(profile),
        ]
    return lines


def _profile_table(profile: dict[str, Any]) -> list[str]:
    rows = [
        (
            f"`{row['function']}`",
            f"{row['calls_per_op']:.2g}",
            f"{row['own_us']:.2f}",
            f"{row['cumulative_us']:.2f}",
            f"{row['own_share']:.0%}",
        )
        for row in profile["top"]
    ]
    return _table(("function", "calls", "own µs", "cumulative µs", "own share"), rows)


def _budget(http: dict[str, Any] | None, framework: str, variant: str) -> str:
    """µs per request jwtguard may add and still meet the HTTP target, at the measured no-auth rate."""
    target = HTTP_TARGETS.get((framework, variant))
    if not http or target is None:
        return "—"
    plain = next(row for row in http["rows"] if row["framework"] == framework and row["variant"] == "no auth")
    per_request_us = 1e6 / plain["rps"]["median"]
    return f"≤ {per_request_us * (1 / target - 1):.1f} (≥ {target}× at {plain['rps']['median']:,.0f} req/s)"


def _inprocess(section: dict[str, Any], http: dict[str, Any] | None) -> list[str]:
    rows = []
    baseline = {row["framework"]: row["us"]["median"] for row in section["rows"] if row["variant"] == "no auth"}
    for row in section["rows"]:
        plain = row["variant"] == "no auth"
        rows.append(
            (
                row["framework"].capitalize(),
                row["variant"],
                _us(row["us"]),
                "—" if plain else _us(row["added_us"]),
                "—" if plain else _budget(http, row["framework"], row["variant"]),
                "1×" if plain else f"{baseline[row['framework']] / row['us']['median']:.2f}×",
            )
        )
    pieces = section.get("pieces_us", {})
    lines = [
        "The same apps called in-process (an awaited ASGI scope, a WSGI environ): no server, no sockets, "
        f"so the cost jwtguard adds per request shows without network noise. Median of {section['rounds']} "
        f"interleaved rounds of {section['calls']} requests (interquartile range); distinct tokens walk a pool "
        f"of {section['distinct_tokens']}, more than the cache. *Budget*: what jwtguard may add per request "
        "and still meet the HTTP target, given the server's measured no-auth rate above (a faster server "
        "leaves less). The last column is the ratio for an app alone, without any server cost.",
        "",
        *_table(
            ("app", "variant", "µs per request", "added by jwtguard, µs", "budget, µs", "app alone × no auth"), rows
        ),
    ]
    if pieces:
        lines += [
            f"Of which, per request with the repeated token: `extract_bearer()` on its `Authorization` header "
            f"{pieces['extract_bearer']:.2f} µs, `validate()` answered from the cache "
            f"{pieces['validate_cached']:.2f} µs (medians of 9 passes).",
            "",
        ]
    for profile in section.get("profiles", []):
        lines += [
            f"cProfile of {profile['case']} ({profile['calls']} requests, "
            f"{profile['us_per_call_unprofiled']:.1f} µs per request unprofiled), top functions by own time:",
            "",
            *_profile_table(profile),
        ]
    return lines


def _dpop(section: dict[str, Any]) -> list[str]:
    us = section["us"]
    refused = [f"{what} (`{code}`)" for what, code in section["refusals"].items()]
    refusals = ", ".join(refused[:-1]) + " and " + refused[-1] if len(refused) > 1 else "".join(refused)
    rows = [
        ("`Authorization: Bearer <token>`", _us(us["bearer"]), "1×"),
        (
            f"`Authorization: DPoP <bound token>` and a fresh {section['proof_alg']} `DPoP` proof",
            f"**{_us(us['dpop'])}**",
            f"**{_times(section['ratio'])}**",
        ),
        (f"the proof's {section['proof_alg']} signature check alone (`cryptography`)", _us(us["proof_floor"]), "—"),
    ]
    lines = [
        "What RFC 9449 adds to a request: µs per `validator.authenticate()` with the token cache warm (the "
        f"access token's {section['token_alg']} signature is not checked again), median of {section['rounds']} "
        f"interleaved rounds of {section['calls']} calls (interquartile range; ratios and differences paired "
        "within each round). The bearer request sends one token again and again; the DPoP request sends a "
        "bound token (`cnf.jkt`) with a new proof every call, as a client does; each round's proofs are made "
        "before its timed passes.",
        "",
        *_table(("request", "µs per `authenticate()`", "× bearer"), rows),
        f"A DPoP-bound request costs {_us(section['added_us'])} µs more than a bearer one; "
        f"{_us(section['beyond_floor_us'])} µs of that is beyond the proof's signature check: parsing the "
        "proof, loading its `jwk` as a key and taking its thumbprint, the `htm`, `htu`, `iat`, `jti` and `ath` "
        f"checks, and the replay check. The validator refused, with the code in brackets, {refusals}.",
        "",
    ]
    profile = section.get("profile")
    if profile:
        lines += [
            f"cProfile of the {profile['case']} ({profile['calls']} requests, "
            f"{profile['us_per_call_unprofiled']:.1f} µs per request unprofiled), top functions by own time:",
            "",
            *_profile_table(profile),
        ]
    return lines


def _fetches(count: int) -> str:
    return f"{count} JWKS fetch" + ("" if count == 1 else "es")


def _stores(section: dict[str, Any]) -> list[str]:
    us, ratio = section["us"], section["ratio"]
    revoked = f"{section['revoked_tokens']:,} tokens and {section['revoked_subjects']:,} subjects revoked"
    labels = {
        "memory": "`MemoryStore` (the default), nothing revoked",
        "memory, revocations": f"`MemoryStore`, {revoked}",
        "redis": "`RedisStore`, nothing revoked",
        "redis, revocations": f"`RedisStore`, {revoked}",
    }
    rows = [(labels[name], _us(us[name]), _times(ratio[name])) for name in section["variants"]]
    lines = [
        "µs per `validator.authenticate()` of a bearer token answered from the token cache, the store in "
        "this process or on a local `redis-server`, with revocations present or not; median of "
        f"{section['rounds']} interleaved rounds of {section['calls']} calls (interquartile range; ratios "
        "paired within each round). The timed token's `jti` and `sub` are not revoked, so both look-ups run; "
        "each validator first refused a revoked token and a token of a revoked subject.",
        "",
        *_table(("store", "µs per `authenticate()`", "× `MemoryStore`, nothing revoked"), rows),
    ]
    if not section["redis"]:
        return [*lines, "No `redis-server` was found: the Redis rows were skipped.", ""]
    commands = section["redis_commands_while_timing"]
    counted = ", ".join(f"{count} `{name.upper()}`" for name, count in commands.items()) or "none"
    total = sum(commands.values())
    lines += [
        f"Redis commands the server counted (`INFO commandstats`) while the {section['redis_requests_timed']:,} "
        f"Redis requests were timed ({section['redis_seconds_timed']:.1f} s): {counted} — "
        f"{total / max(1, section['redis_requests_timed']):.4f} per request. A revocation check costs no round "
        "trip: the only commands a validator sends are its mirror's background polls, one `GET` of the "
        f"version every {section['sync_interval']:g} s, wherever they fall.",
        "",
    ]
    fleet = section.get("fleet")
    if fleet:
        lines += [
            f"Key sets shared by a fleet: {fleet['validators']} validators starting cold at once against one "
            f"`LocalIssuer` cost it {_fetches(fleet['jwks_fetches_shared'])} sharing a `RedisStore`, "
            f"{_fetches(fleet['jwks_fetches_alone'])} without a store.",
            "",
        ]
    return lines


def markdown(results: dict[str, Any], chart: str | None) -> str:
    """The whole ``docs/performance.md`` page."""
    lines = [
        "# Performance",
        "",
        "<!-- Generated by `python3 -m bench`: edit bench/report.py, not this file. -->",
        "",
        "How much a `jwtguard.Validator` costs per request, against the cryptographic floor, the least any "
        "validator must do, PyJWT, and a framework serving requests without authentication. Run it yourself "
        "(about ten minutes on 2 cores, half of it counting instructions under valgrind; `--quick` is a smoke "
        "run of a few seconds):",
        "",
        "```sh",
        'pip install -e ".[bench]"        # the servers (uvicorn[standard], gunicorn) and matplotlib for the chart',
        "python3 -m bench                # writes docs/performance.md and docs/performance.png",
        "python3 -m bench --quick        # smoke run: prints the tables, writes nothing",
        "```",
        "",
        "Options: `--parts micro,inprocess,dpop,http,keyset,stores,cache,instructions`, "
        "`--algorithms RS256,ES256`, `--load wrk|python`, "
        "`--output PATH`, `--no-chart`, `--json PATH` (raw results), `--render JSON` (rebuild this page from "
        "them). See `bench/README.md`. Absolute numbers depend on the machine and on what else runs on it: "
        "compare the ratios.",
        "",
    ]
    if results["settings"]["quick"]:
        lines += ["> **Quick (smoke) run**: a few calls per variant; the numbers mean nothing.", ""]
    lines += ["## Machine", "", *_machine(results), *_noise_note(results)]
    rows = targets(results)
    if rows:
        lines += [
            "## Targets",
            "",
            *_table(("target", "measured: median (interquartile range; ᵐ min–max)", ""), rows),
        ]
    micro = results.get("micro")
    if micro:
        lines += [
            "## Validation cost per token",
            "",
            "(a) floor: `cryptography`'s verify on the signing input with a loaded public key (PKCS#1 v1.5; "
            "PSS with a digest-length salt; ECDSA after converting the raw `r||s` to DER; Ed25519). "
            "(b) minimal: (a) plus `split('.')`, `base64.urlsafe_b64decode` with the padding fixed, and "
            "`json.loads` of header and payload — no checks at all. (c) PyJWT: `jwt.decode` with a loaded key "
            "object and the same checks (`iss`, `aud`, required `exp`, `nbf`, `iat`, 5 s leeway).",
            "",
            *_micro(micro),
        ]
    if results.get("instructions"):
        lines += ["## Instructions per request", "", *_instructions(results["instructions"])]
    if results.get("cache"):
        lines += ["## The token cache at scale", "", *_cache(results["cache"])]
    if results.get("http"):
        lines += ["## HTTP throughput", "", *_http(results["http"])]
    if results.get("inprocess"):
        lines += ["## What jwtguard adds to a request", "", *_inprocess(results["inprocess"], results.get("http"))]
    if results.get("dpop"):
        lines += ["## DPoP-bound requests", "", *_dpop(results["dpop"])]
    if results.get("keyset"):
        lines += ["## Key-set fetches under load", "", *_keyset(results["keyset"])]
    if results.get("stores"):
        lines += ["## A shared store: Redis against memory", "", *_stores(results["stores"])]
    if chart:
        lines += ["## Chart", "", f"![Validation cost and HTTP throughput ratios]({chart})", ""]
    lines += _gaps(results)
    if micro:
        lines += ["## Where the time goes", "", *_profile(micro)]
    lines += [
        "## Method",
        "",
        "- Micro: every variant runs once per round over its batch, in a shuffled order that changes every "
        "round, with the garbage collector off during a pass and after one warm-up pass; times from "
        "`time.perf_counter_ns`. Ratios are computed within each round, then the median is taken.",
        "- Before timing, every variant must accept a valid token and reject one carrying another token's "
        "signature, so each one really verifies.",
        "- HTTP: four server processes (two frameworks × with/without jwtguard) on listening sockets bound "
        "by the benchmark; the guarded apps get their keys from a local issuer by OIDC discovery, "
        "once. The no-auth app gets the same `Authorization` header, so requests are alike byte for byte.",
        "- In-process: the HTTP benchmark's own app modules (`bench/apps/`), called directly in interleaved "
        "rounds; every response must be a 200.",
        "- Numbers from another machine or another run are not comparable: compare the ratios.",
        "",
    ]
    return "\n".join(lines)


# Why a target is not met, by a phrase of its row (written from the profiles of the runs so far);
# the page lists only the targets the run did not meet.
_WHY = {
    "fresh token ÷": (
        "**Fresh tokens (≤ 1.0× of minimal parsing with orjson, ≤ 1.1× without).** jwtguard's framing "
        "now costs less than the minimal one: per RS256 token, ~54,700 instructions with orjson and ~61,000 "
        "with the standard library (callgrind), against ~97,000 for (b)'s `split`, three "
        "`urlsafe_b64decode` and two `json.loads` — one `bytes.translate` checks the whole token's alphabet "
        "and readies it for `a2b_base64`, the header segment an issuer's tokens share is decoded once, and "
        "the payload goes to orjson. What (b) skips is the rest, ~50,000 instructions of Python: the claim "
        "table (`exp`, `nbf`, `iat`, `aud`: four closures, each through `_date` and `as_number`) ~13,000; "
        "`Claims._adopt` ~9,600; the header checks and the issuer look-up in `_frame` ~7,000; the key "
        "look-up (`KeySet.find`, `Key.fits` over the candidates) ~6,300, counted before `KeySet` remembered its "
        "answer per `kid` and algorithm (the run above has that memo); the token cache's miss ~6,100; the "
        "generator driving the flow ~4,000; revocation and the cache's record ~4,000. PyJWT's algorithm "
        "objects add their own, above the floor: new padding and hash objects per call (~2,800 instructions "
        "for RS256, more for PS256), the DER conversion and an ABC `isinstance` for ES256. In instructions "
        "the fresh path is 1.00–1.03× of (b) with orjson and 1.01–1.05× without; interpreted Python runs at "
        "about half the instructions per cycle of (b)'s C loops and of the signature arithmetic, which is why "
        "the wall-clock ratios above are higher. Meeting the targets takes that rest out of the validator's "
        "flow (`validator.py`, `_checks.py`, `claims.py`, `_keys.py`), not more framing."
    ),
    "PyJWKClient": (
        "**RS256 against PyJWT + `PyJWKClient` (≥ 3×).** jwtguard with remote keys costs what it costs with "
        "static keys plus the key set's freshness check (under a microsecond); the ratio is PyJWT's own cost "
        "over ours and sits at the 3× line on this machine (2.96–3.6× across runs): what moves it is PyJWT."
    ),
    "GC pause": (
        "**The collector's pause with 100,000 cached tokens (≤ 50 ms).** A cached token is one object the "
        "cyclic GC tracks (its `Claims`), down from nine, and the pause of a full collection fell from ~440 ms "
        "to the figure above (the rest of the process accounts for the row below it). What remains is memory "
        "latency, not instructions: a full collection walks every tracked object in three passes and reads "
        "the header of each object it refers to. Counted with callgrind's cache simulation over one "
        "`gc.collect()` at 50,000 entries, each entry costs about 19 first-level misses: the `Claims` itself "
        "in each pass (reached from the cache's dicts, then traversed), its payload dict (about 2), and, for "
        "ASGI, the raw-bytes key of its header index (about 2: bytes keys, unlike text, are visited; decoding "
        "them instead would cost every hit ~500 instructions). Shared referents (key set, window, header, "
        "scope sets) stay in cache. Only exact tuples and dicts can be untracked, so the pause goes below "
        "50 ms only if entries stop being `Claims` objects — and a hit then builds one, ~2,000 instructions "
        "on every request, which the HTTP targets above cannot afford. A process with a large, steady cache "
        "that cannot afford the pause calls `gc.freeze()` after its warm-up (measured above: the frozen "
        "entries cost nothing; entries cached later are scanned as usual), or sets a smaller `token_cache_size`."
    ),
    "WSGI middleware": (
        "**The WSGI middleware (≥ 0.97× in instructions).** Behind it, a trivial WSGI app costs ~15,500 "
        "instructions more per request in-process: the path decision, the header index look-up and the "
        "checks a hit re-applies (window, key set, revocation), the claims in the environ, and the "
        "`start_response` wrapper that lets the middleware still answer an `AuthError` the app raises. The "
        "rest is the app's own use of the claims through Flask: the `request` proxy to reach the environ, "
        "`get_claims`, `require_scopes`. The ratio sits on the line: gunicorn's worker, counted by "
        "difference between processes, moves by a few thousand instructions between runs."
    ),
    "jwtguard, repeated token: ≥ 0.95": (
        "**Starlette under uvicorn with uvloop and httptools (≥ 0.95× in instructions).** With uvloop and "
        "httptools a no-auth request costs uvicorn and Starlette only ~213,000 instructions, so 0.95× leaves "
        "~11,200 for everything jwtguard adds, the endpoint's own use of the claims included. Counted piece "
        "by piece (callgrind, the same Starlette app driven in-process, 1,000 requests and 3,000, the "
        "difference taken): a middleware that only passes the request on ~2,400; the `send` wrapper that "
        "knows whether the response started, so that an `AuthError` from the endpoint can still be answered "
        "(and a 500 held back) ~4,600; finding the one `Authorization` header among the raw ASGI headers "
        "~2,500; the index look-up with every check a hit re-applies (validity window, key set, revocation) "
        "~4,500; the route decision, the claims, user and validator in the scope ~4,900; the endpoint's "
        '`get_claims` ~700, `require_scopes` ~2,800 and `claims["sub"]` ~1,100: ~23,500 in all, down from '
        "~35,000 (and ~97,000 before the header index). A pass-through middleware and the `send` wrapper "
        "alone take 7,000 of the 11,200: the rest of the work would have to cost 4,200, about ten Python "
        "calls on this interpreter. Under the pure-Python `h11` parser (~727,000 instructions a request) "
        "the same work is well within 0.95×."
    ),
    "jwtguard decorator": (
        "**Flask decorator (≥ 0.97× in instructions).** The decorator adds ~26,000–28,000 instructions "
        "against a ~28,000 budget (a no-auth Flask request under gunicorn costs ~910,000): the ratio sits on "
        "the line, and gunicorn's worker, counted by difference between processes, moves by a few thousand "
        "between runs."
    ),
    "of no auth |": (
        "**HTTP req/s (wall-clock ratios).** With uvloop and httptools, uvicorn and Starlette answer "
        "a no-auth request in ~41 µs of CPU, so 0.93× leaves ~3 µs and 0.5× ~41 µs. A repeated token adds "
        "the work the instruction counts above itemise; a distinct token pays a "
        "signature verify (~20 µs for RS256 here), the parsing and checks, and the adapter's full path "
        "(headers, URL, certificate): ~60 µs. Flask under gunicorn, at ~3,600 req/s, has room for both. "
        "On this shared 2-core machine a round's req/s also moves by ±10 %: the instruction counts are the "
        "measure of record for the repeated-token paths."
    ),
}

_WHY["users in turn"] = _WHY["jwtguard, repeated token: ≥ 0.95"]  # if the users' row is missed too


def _gaps(results: dict[str, Any]) -> list[str]:
    """Why each target this run did not meet is not met."""
    missed = [target for target, _, verdict in targets(results) if "not met" in verdict]
    notes = []
    for phrase, why in _WHY.items():
        if any(phrase in target + " |" for target in missed) and why not in notes:
            notes.append(why)
    if not notes:
        return []
    return ["## The targets not met, and why", "", *(f"- {note}" for note in notes), ""]
