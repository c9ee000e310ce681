"""What a DPoP-bound request costs against a bearer one: µs per ``Validator.authenticate()``, in-process.

Both tokens are in the validator's token cache (warmed, and proven warm,
before timing), so the difference is what RFC 9449 adds to a request: reading
the ``DPoP`` header, the proof's own ES256 signature (its public JWK loaded
from its header), the ``htm``, ``htu``, ``iat``, ``jti`` and ``ath`` checks,
the thumbprint against ``cnf.jkt``, and the replay-cache insert. Every DPoP
call carries a fresh proof, as a client makes one per request; each round's
proofs are made before its timed passes, never inside them. Variants:

* ``bearer`` — ``Authorization: Bearer <token>``;
* ``dpop`` — ``Authorization: DPoP <bound token>`` and ``DPoP: <fresh ES256 proof>``;
* ``proof_floor`` — ``cryptography``'s ECDSA verify of the same proofs alone: the
  part of the DPoP cost no implementation avoids.

Rounds interleave the variants in a shuffled order with the GC off during a
pass, like the micro benchmark; the ratio and the difference are taken within
a round. Before timing, the validator must refuse a replayed proof, a proof
made by another key and the bound token sent as ``Bearer``, and after timing a
timed proof sent again, so the DPoP variant really checks what it should.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import jwtguard
from jwtguard.hooks import Hooks
from jwtguard.testing import DPoPKey, SigningKey, TokenFactory

from . import profiling
from .micro import _split, floor_verifier
from .timing import Settings, summarize, timed_pass

ISSUER = "https://issuer.bench.example/"
AUDIENCE = "https://api.bench.example"
URL = AUDIENCE + "/messages"
METHOD = "GET"
TOKEN_ALG = "RS256"  # the access token's; cached, so its algorithm hardly matters
PROOF_ALG = "ES256"  # the proof's: the most common DPoP algorithm
VARIANTS = ("bearer", "dpop", "proof_floor")

Headers = dict[str, str]


class _CountingHooks(Hooks):
    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0

    def on_validated(self, claims: jwtguard.Claims, *, cached: bool) -> None:
        if cached:
            self.hits += 1
        else:
            self.misses += 1


def _refused(validator: jwtguard.Validator, headers: Headers) -> str:
    """The code of the error ``validator`` answers ``headers`` with; fails if it accepts them."""
    try:
        validator.authenticate(METHOD, URL, headers)
    except jwtguard.AuthError as error:
        return error.code
    raise AssertionError("the validator accepted a request it must refuse: the benchmark would measure nothing")


def _warm(validator: jwtguard.Validator, tokens: Sequence[str]) -> None:
    """Put ``tokens`` in the token cache (a token is remembered on its second full validation)."""
    for _ in range(3):
        for token in tokens:
            validator.validate(token)


def run(settings: Settings) -> dict[str, Any]:
    """µs per ``authenticate()`` of a cached bearer token and of a cached DPoP-bound token with a fresh proof."""
    signing = SigningKey.generate(TOKEN_ALG, kid="bench-dpop")
    factory = TokenFactory(ISSUER, AUDIENCE, key=signing)
    client = DPoPKey.generate(PROOF_ALG)
    bearer_token = factory.mint(scope="read:messages")
    bound_token = factory.mint(scope="read:messages", cnf=client.cnf)
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "algorithms": [TOKEN_ALG],
        "jwks": {"keys": [signing.jwk]},
    }
    calls = settings.dpop_calls
    rounds = settings.dpop_rounds

    def fresh_proofs(count: int) -> list[Headers]:
        return [client.headers(METHOD, URL, bound_token) for _ in range(count)]

    # The warm-up procedure is proven on a validator with counting hooks: every timed call is a cache hit.
    hooks = _CountingHooks()
    probe = jwtguard.Validator(**options, hooks=hooks)
    _warm(probe, [bearer_token, bound_token])
    hooks.hits = hooks.misses = 0
    probe.authenticate(METHOD, URL, {"Authorization": f"Bearer {bearer_token}"})
    for headers in fresh_proofs(2):
        probe.authenticate(METHOD, URL, headers)
    if hooks.misses:
        raise AssertionError("a warmed token missed the token cache: the timings would include its signature")

    validator = jwtguard.Validator(**options)
    _warm(validator, [bearer_token, bound_token])
    once = client.headers(METHOD, URL, bound_token)
    validator.authenticate(METHOD, URL, once)
    stranger = DPoPKey.generate(PROOF_ALG)
    refusals = {
        "a replayed proof": _refused(validator, once),
        "a proof made by another key": _refused(
            validator, {"Authorization": f"DPoP {bound_token}", "DPoP": stranger.proof(METHOD, URL, bound_token)}
        ),
        "the bound token sent as Bearer": _refused(validator, {"Authorization": f"Bearer {bound_token}"}),
    }

    bearer_batch = [{"Authorization": f"Bearer {bearer_token}"}] * calls
    public = client.key.private_key.public_key()
    verify = floor_verifier(PROOF_ALG, public)

    def authenticate(headers: Headers) -> object:
        return validator.authenticate(METHOD, URL, headers)

    def floor(item: tuple[bytes, bytes]) -> None:
        verify(item[0], item[1])

    functions: dict[str, Callable[[Any], object]] = {"bearer": authenticate, "dpop": authenticate, "proof_floor": floor}
    # warm-up: code paths hot, the replay cache past its first inserts
    timed_pass(authenticate, bearer_batch)
    warm_proofs = fresh_proofs(calls)
    timed_pass(authenticate, warm_proofs)
    timed_pass(floor, [_split(headers["DPoP"]) for headers in warm_proofs])

    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    order = list(VARIANTS)
    shuffle = random.Random(9449)
    for _ in range(rounds):
        proofs = fresh_proofs(calls)  # made outside the timed passes; used once each
        batches: dict[str, Sequence[Any]] = {
            "bearer": bearer_batch,
            "dpop": proofs,
            "proof_floor": [_split(headers["DPoP"]) for headers in proofs],
        }
        shuffle.shuffle(order)
        for name in order:
            samples[name].append(timed_pass(functions[name], batches[name]))
    # A profile of the DPoP request: profile_all runs its callable twice (unprofiled, then profiled),
    # and a proof is good once, so each run takes its own batch.
    profiled = max(1, settings.profile_calls)
    profile_batches = iter([fresh_proofs(profiled), fresh_proofs(profiled)])

    def run_profiled() -> None:
        for headers in next(profile_batches):
            authenticate(headers)

    profile = profiling.profile_all(run_profiled, profiled)
    # Every timed proof was checked and recorded against replay: the last one is refused when sent again.
    refusals["a timed proof sent again"] = _refused(validator, batches["dpop"][-1])

    bearer, dpop, proof = samples["bearer"], samples["dpop"], samples["proof_floor"]
    return {
        "rounds": rounds,
        "calls": calls,
        "token_alg": TOKEN_ALG,
        "proof_alg": PROOF_ALG,
        "us": {name: summarize(values) for name, values in samples.items()},
        "ratio": summarize([d / b for d, b in zip(dpop, bearer, strict=True)]),
        "added_us": summarize([d - b for d, b in zip(dpop, bearer, strict=True)]),
        "beyond_floor_us": summarize([d - b - f for d, b, f in zip(dpop, bearer, proof, strict=True)]),
        "cache_misses_in_probe": hooks.misses,
        "refusals": refusals,
        "profile": {"case": f"DPoP-bound request, fresh {PROOF_ALG} proof", **profile},
    }
