"""The token cache at scale: memory per entry, the garbage collector's pause, hits among many tokens.

A validator with a cache large enough is filled with ``cache_tokens`` distinct
tokens of about 1.2 KB (an RFC 9068 access token with the usual claims, three
arrays, a nested object and some padding; HS256 with a static key, so that
filling is quick: the algorithm plays no part in what is measured). Each token
is validated twice (it is remembered on its second full validation) and its
``Authorization`` value indexed as the adapters index it. Then:

* memory per entry: ``tracemalloc`` around the filling of ``cache_memory_tokens``
  tokens into a fresh validator (the token strings themselves are allocated
  before, but the cache keeps them alive: their size is added);
* objects the cyclic garbage collector tracks per entry, after a collection;
* the pause of a full collection (``gc.collect()``), median of 7, with the
  cache full, and again after ``gc.freeze()`` (the alternative for a process
  that cannot afford it);
* µs per cache hit among them: ``validate(token)``, and the adapters' index
  (``_fast_path`` with the raw ``Authorization`` bytes);
* users in turn: 2,000 tokens sent round-robin to a validator with the
  default configuration, the share of requests answered from the cache once
  every user has been seen twice.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import hmac
import json
import statistics
import time
import tracemalloc
from typing import Any

import jwtguard
from jwtguard.validator import DEFAULT_TOKEN_CACHE_SIZE

from .timing import Settings, timed_pass

ISSUER = "https://issuer.bench.example/"
AUDIENCE = "https://api.bench.example"
_SECRET = b"bench-cache-secret-bench-cache-secret"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_JWK = {"kty": "oct", "k": _b64(_SECRET), "kid": "bench-cache", "alg": "HS256"}
_HEADER = _b64(json.dumps({"alg": "HS256", "kid": "bench-cache", "typ": "at+jwt"}, separators=(",", ":")).encode())


def mint(n: int, now: int) -> str:
    """A ~1.2 KB access token for user ``n``."""
    payload = {
        "iss": ISSUER,
        "sub": f"user-{n:07d}",
        "aud": [AUDIENCE, "https://other.bench.example"],
        "iat": now,
        "exp": now + 3600,
        "azp": "web-client",
        "client_id": "web-client",
        "jti": f"{n:012d}-{hashlib.sha256(str(n).encode()).hexdigest()[:20]}",
        "scope": "openid profile email read:messages write:messages",
        "roles": ["reader", "writer"],
        "realm_access": {"roles": ["user"]},
        "email": f"user-{n}@example.com",
        "name": "Some User Name",
        "sid": hashlib.sha256(f"sid{n}".encode()).hexdigest(),
        "auth_time": now - 60,
        "acr": "urn:mace:incommon:iap:silver",
        "amr": ["pwd", "mfa"],
        "tenant": "00000000-0000-0000-0000-000000000000",
        "pad": "x" * 180,
    }
    signing_input = f"{_HEADER}.{_b64(json.dumps(payload, separators=(',', ':')).encode())}"
    signature = hmac.new(_SECRET, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _validator(size: int) -> jwtguard.Validator:
    return jwtguard.Validator(
        issuer=ISSUER, audience=AUDIENCE, algorithms=["HS256"], jwks={"keys": [_JWK]}, token_cache_size=size
    )


def _fill(validator: jwtguard.Validator, tokens: list[str], headers: list[bytes]) -> None:
    for _ in range(2):
        for token in tokens:
            validator.validate(token)
    for token, header in zip(tokens, headers, strict=True):
        validator._learn(header, validator.validate(token))


def _pause_ms(rounds: int = 7) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        gc.collect()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _memory(settings: Settings, now: int) -> dict[str, float]:
    count = settings.cache_memory_tokens
    tokens = [mint(n, now) for n in range(count)]
    headers = [f"Bearer {token}".encode("ascii") for token in tokens]
    validator = _validator(2 * count)
    gc.collect()
    tracemalloc.start()
    try:
        _fill(validator, tokens, headers)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    strings = sum(len(token) + 49 for token in tokens) + sum(len(header) + 33 for header in headers)
    return {
        "tokens": count,
        "token_chars": statistics.mean(len(token) for token in tokens),
        "bytes_per_entry": (held + strings) / count,
        "claims_and_index_bytes": held / count,
        "strings_bytes": strings / count,
    }


def _round_robin(users: int, now: int) -> dict[str, Any]:
    """Users sending their tokens in turn to a default validator: the share of cache hits."""
    hits: list[bool] = []

    class Counting(jwtguard.hooks.Hooks):
        def on_validated(self, claims: jwtguard.Claims, *, cached: bool) -> None:
            hits.append(cached)

    validator = jwtguard.Validator(
        issuer=ISSUER, audience=AUDIENCE, algorithms=["HS256"], jwks={"keys": [_JWK]}, hooks=Counting()
    )
    tokens = [mint(n, now) for n in range(users)]
    rounds = []
    for _ in range(4):
        hits.clear()
        for token in tokens:
            validator.validate(token)
        rounds.append(sum(hits) / len(hits))
    return {"users": users, "hit_share_by_round": rounds, "cache_size": DEFAULT_TOKEN_CACHE_SIZE}


def run(settings: Settings) -> dict[str, Any]:
    """Memory per entry, GC pause and hit cost with ``settings.cache_tokens`` cached tokens."""
    now = int(time.time())
    memory = _memory(settings, now)
    count = settings.cache_tokens
    tokens = [mint(n, now) for n in range(count)]
    headers = [f"Bearer {token}".encode("ascii") for token in tokens]
    validator = _validator(2 * count)
    gc.collect()
    baseline = len(gc.get_objects())
    _fill(validator, tokens, headers)
    assert validator._token_cache is not None
    if len(validator._token_cache) != count:
        raise AssertionError(f"{len(validator._token_cache)} tokens cached, not {count}")
    probe = tokens[count // 2]
    header = headers[count // 2]
    if validator._fast_path(header) is not validator.validate(probe):
        raise AssertionError("the index did not answer an indexed Authorization value")
    del tokens, headers  # the cache keeps what it needs; the lists are not part of it
    for _ in range(3):
        gc.collect()  # tuples, then the dicts holding only them, are untracked as collections see them
    tracked = (len(gc.get_objects()) - baseline) / count
    pause = _pause_ms()
    calls = max(1000, settings.repeated_calls)
    hit_us = statistics.median(timed_pass(validator.validate, [probe] * calls) for _ in range(9))
    index_us = statistics.median(timed_pass(validator._fast_path, [header] * calls) for _ in range(9))
    gc.freeze()
    try:
        frozen_pause = _pause_ms()
    finally:
        gc.unfreeze()
    del validator
    gc.collect()
    empty_pause = _pause_ms()
    return {
        "tokens": count,
        "memory": memory,
        "tracked_objects_per_entry": tracked,
        "gc_pause_ms": pause,
        "gc_pause_ms_frozen": frozen_pause,
        "gc_pause_ms_without_cache": empty_pause,
        "hit_us": hit_us,
        "index_hit_us": index_us,
        "round_robin": _round_robin(settings.instructions_users if settings.quick else 2000, now),
    }
