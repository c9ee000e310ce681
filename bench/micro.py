"""Micro benchmark: µs per ``Validator.validate()`` against the crypto floor, minimal parsing and PyJWT.

For each algorithm one pool of distinct tokens is minted. Every round runs every
variant once over the next chunk of the pool (a few milliseconds: a burst of
other work on the machine spoils one sample, not a whole result), in a new
shuffled order, with the GC off; the result is the median over rounds, with the
spread, and each ratio is taken within a round, on the same tokens:

* ``floor`` — ``cryptography``'s verify on the signing input with a loaded key;
* ``minimal`` — the floor plus ``split``, base64url decoding and ``json.loads``;
* ``pyjwt_alg`` — the floor through PyJWT's algorithm object (what jwtguard calls);
* ``jwtguard_fresh`` — ``validate()`` of tokens it has not seen (signature verified);
* ``jwtguard_nocache`` — the same with ``token_cache_size=0`` (the cost of remembering);
* ``jwtguard_repeated`` — ``validate()`` of one token again and again (cache hit);
* ``jwtguard_parse`` — jwtguard's strict framing alone (split, base64url, JSON);
* ``fresh_<decoder>`` and ``parse_<decoder>`` — the fresh path and the framing with each
  JSON decoder this interpreter has (``json``, and ``orjson`` with the ``jwtguard[orjson]``
  extra), forced for the pass; reported apart (``decoders``), as ratios to ``minimal``;
* ``pyjwt`` — ``jwt.decode`` with a loaded key and the same claim checks;
* RS256 only: ``pyjwt_jwks_client`` (``PyJWKClient`` + ``jwt.decode``) and
  ``jwtguard_remote`` (keys fetched from a ``jwks_uri``), both from the same
  loopback JWKS endpoint, in their steady state.

The fresh pool holds more tokens than the validator's token cache and is walked
in order, so no token is ever remembered and every fresh call misses;
:func:`_check_misses` proves it before timing.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import jwtguard
from jwtguard import _jose, _json
from jwtguard.hooks import Hooks
from jwtguard.testing import LocalServer, Response, SigningKey, TokenFactory
from jwtguard.validator import DEFAULT_MAX_TOKEN_SIZE, DEFAULT_TOKEN_CACHE_SIZE

from . import profiling
from .timing import Settings, summarize, timed_pass

ISSUER = "https://issuer.bench.example/"
AUDIENCE = "https://api.bench.example"
LEEWAY = 5
_HASHES: dict[int, type[hashes.HashAlgorithm]] = {256: hashes.SHA256, 384: hashes.SHA384, 512: hashes.SHA512}
_EC_SIZES = {256: 32, 384: 48, 512: 66}

Verify = Callable[[bytes, bytes], None]


def floor_verifier(alg: str, public: Any) -> Verify:
    """``verify(signature, signing_input)`` straight on ``cryptography``; raises ``InvalidSignature``."""
    verify = public.verify
    if alg == "EdDSA":
        return lambda signature, message: verify(signature, message)
    bits = int(alg[2:])
    digest = _HASHES[bits]()
    if alg.startswith("RS"):
        pkcs1 = padding.PKCS1v15()
        return lambda signature, message: verify(signature, message, pkcs1, digest)
    if alg.startswith("PS"):
        # JWS PS256: MGF1 with the same hash, salt as long as the digest (RFC 7518 §3.5).
        pss = padding.PSS(mgf=padding.MGF1(_HASHES[bits]()), salt_length=digest.digest_size)
        return lambda signature, message: verify(signature, message, pss, digest)
    if alg.startswith("ES"):
        size = _EC_SIZES[bits]
        ecdsa = ec.ECDSA(digest)

        def verify_ecdsa(signature: bytes, message: bytes) -> None:
            # JWS carries raw r||s (RFC 7518 §3.4); cryptography wants DER.
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            verify(encode_dss_signature(r, s), message, ecdsa)

        return verify_ecdsa
    raise ValueError(f"no floor verifier for {alg}")


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def minimal_validator(verify: Verify) -> Callable[[str], dict[str, Any]]:
    """Split, decode, ``json.loads`` and verify: the least any validator must do."""

    def validate(token: str) -> dict[str, Any]:
        header_b64, payload_b64, signature_b64 = token.split(".")
        json.loads(_b64(header_b64))
        payload: dict[str, Any] = json.loads(_b64(payload_b64))
        verify(_b64(signature_b64), f"{header_b64}.{payload_b64}".encode("ascii"))
        return payload

    return validate


def pyjwt_decoder(alg: str, key: Any = None, client: jwt.PyJWKClient | None = None) -> Callable[[str], Any]:
    """``jwt.decode`` with the checks jwtguard makes: iss, aud, exp (required), nbf, iat."""
    options: Any = {"require": ["exp", "iss", "aud"]}

    def decode(token: str) -> Any:
        verifying_key = client.get_signing_key_from_jwt(token).key if client is not None else key
        return jwt.decode(
            token, verifying_key, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER, leeway=LEEWAY, options=options
        )

    return decode


class _CountingHooks(Hooks):
    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0

    def on_validated(self, claims: jwtguard.Claims, *, cached: bool) -> None:
        if cached:
            self.hits += 1
        else:
            self.misses += 1


@dataclass
class Variant:
    name: str
    fn: Callable[[Any], object]
    batch: Sequence[Any]
    chunked: bool = True  # fresh-token variants walk the pool a chunk per round
    verifies: bool = True  # False: framing only, no signature to reject
    decoder: str | None = None  # the JSON decoder forced while it runs (None: the default one)
    samples: list[float] = field(default_factory=list)
    chunks: list[Sequence[Any]] = field(default_factory=list)

    def split(self, count: int) -> None:
        """Cut the batch into ``count`` consecutive chunks (in order: the token cache sees the pool cyclically)."""
        if not self.chunked or count <= 1:
            self.chunks = [self.batch]
            return
        size = -(-len(self.batch) // count)
        self.chunks = [self.batch[start : start + size] for start in range(0, len(self.batch), size)]

    def measure(self, round_number: int) -> None:
        with _decoder(self.decoder):
            self.samples.append(timed_pass(self.fn, self.chunks[round_number % len(self.chunks)]))


@contextmanager
def _decoder(name: str | None) -> Iterator[None]:
    """Decode the JSON of tokens with ``name`` meanwhile (``None``: leave the default)."""
    if name is None:
        yield
        return
    previous = _json.use(name)
    try:
        yield
    finally:
        _json.use(previous)


@dataclass
class Case:
    alg: str
    key: SigningKey
    tokens: list[str]
    validator_options: dict[str, Any]
    variants: list[Variant] = field(default_factory=list)
    decoder_variants: list[Variant] = field(default_factory=list)  # fresh_<decoder>, parse_<decoder>
    cache_hits_in_fresh: int = -1

    def every_variant(self) -> list[Variant]:
        return [*self.variants, *self.decoder_variants]


def _cache_size(settings: Settings) -> int:
    if settings.micro_cache_size is not None:
        return settings.micro_cache_size
    return DEFAULT_TOKEN_CACHE_SIZE


def _tampered(tokens: Sequence[str]) -> str:
    """The first token's header and payload with the second one's signature."""
    return tokens[0].rsplit(".", 1)[0] + "." + tokens[1].rsplit(".", 1)[1]


def _split(token: str) -> tuple[bytes, bytes]:
    signing_input, _, signature = token.rpartition(".")
    return _b64(signature), signing_input.encode("ascii")


def _must_reject(name: str, fn: Callable[[Any], object], bad: Any) -> None:
    try:
        result = fn(bad)
    except (InvalidSignature, jwt.InvalidTokenError, jwtguard.AuthError):
        return
    if result is False:  # PyJWT's algorithm objects answer False
        return
    raise AssertionError(f"{name} accepted a token with a wrong signature: the benchmark would measure nothing")


def _check_misses(case: Case, settings: Settings) -> int:
    """Run the fresh pool twice through a validator like the measured one; count cache hits."""
    hooks = _CountingHooks()
    probe = jwtguard.Validator(**case.validator_options, hooks=hooks)
    for _ in range(2):
        for token in case.tokens:
            probe.validate(token)
    return hooks.hits


def build_case(alg: str, settings: Settings, jwks_server: LocalServer | None = None) -> Case:
    """Mint the token pool for ``alg`` and set up every variant."""
    key = SigningKey.generate(alg, kid=f"bench-{alg.lower()}")
    factory = TokenFactory(ISSUER, AUDIENCE, key=key)
    cache_size = _cache_size(settings)
    # More than the cache: a validator remembers a token on its second full validation, and its
    # record of tokens seen once is cleared when it holds as many as the cache; a pool larger than
    # that, walked in order, never comes back to a recorded token (twice the cache: as before).
    pool = settings.fresh_pool or 2 * cache_size + 1
    tokens = [factory.mint(scope="read:messages") for _ in range(pool)]
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "algorithms": [alg],
        "jwks": {"keys": [key.jwk]},
        "leeway": LEEWAY,
        "token_cache_size": cache_size,
    }
    case = Case(alg, key, tokens, options)
    public = key.private_key.public_key()
    verify = floor_verifier(alg, public)
    pyjwt_alg = jwt.get_algorithm_by_name(alg)
    prepared = pyjwt_alg.prepare_key(public)
    split = [_split(token) for token in tokens]
    repeated_validator = jwtguard.Validator(**options)
    case.variants = [
        Variant("floor", lambda item: verify(item[0], item[1]), split),
        Variant("minimal", minimal_validator(verify), tokens),
        Variant("pyjwt_alg", lambda item: pyjwt_alg.verify(item[1], prepared, item[0]), split),
        Variant("jwtguard_fresh", jwtguard.Validator(**options).validate, tokens),
        Variant("jwtguard_nocache", jwtguard.Validator(**{**options, "token_cache_size": 0}).validate, tokens),
        Variant("jwtguard_repeated", repeated_validator.validate, [tokens[0]] * settings.repeated_calls, False),
        Variant("pyjwt", pyjwt_decoder(alg, key=public), tokens),
    ]
    parse = getattr(_jose, "parse", None)  # jwtguard's framing alone, for the breakdown (a private function)
    size = DEFAULT_MAX_TOKEN_SIZE
    if parse is not None:
        case.variants.append(Variant("jwtguard_parse", lambda token: parse(token, size), tokens, verifies=False))
    for decoder in _json.available():  # the same two with each JSON decoder, each validator its own
        case.decoder_variants += [
            Variant(f"fresh_{decoder}", jwtguard.Validator(**options).validate, tokens, decoder=decoder),
            Variant(
                f"parse_{decoder}", lambda token: _jose.parse(token, size), tokens, verifies=False, decoder=decoder
            ),
        ]
    if jwks_server is not None:
        jwks_server.route(f"/{alg}/jwks.json", lambda request: Response(200, {"keys": [key.jwk]}), "GET")
        jwks_uri = f"{jwks_server.url}/{alg}/jwks.json"
        client = jwt.PyJWKClient(jwks_uri, cache_jwk_set=True)
        remote = jwtguard.Validator(**{**options, "jwks": None, "jwks_uri": jwks_uri})
        case.variants += [
            Variant("pyjwt_jwks_client", pyjwt_decoder(alg, client=client), tokens),
            Variant("jwtguard_remote", remote.validate, tokens),
        ]
    bad_split = _split(_tampered(tokens))
    for variant in case.every_variant():
        variant.split(settings.micro_chunks)
        sample = variant.batch[0]
        with _decoder(variant.decoder):
            if variant.fn(sample) is False:
                raise AssertionError(f"{variant.name} rejected a valid token")
            if variant.verifies:
                bad = bad_split if isinstance(sample, tuple) else _tampered(tokens)
                _must_reject(variant.name, variant.fn, bad)
    case.cache_hits_in_fresh = _check_misses(case, settings)
    if case.cache_hits_in_fresh:
        raise AssertionError("the fresh-token pool hit the token cache: fresh timings would be cache hits")
    return case


_DIFFERENCES = {
    # name: (minuend, subtrahend), µs per call, paired within a round
    "cache_insert": ("jwtguard_fresh", "jwtguard_nocache"),
    "pyjwt_alg_overhead": ("pyjwt_alg", "floor"),
    "minimal_framing": ("minimal", "floor"),
    "fresh_over_floor": ("jwtguard_fresh", "floor"),
}

_RATIOS = {
    # name: (numerator, denominator)
    "fresh_vs_floor": ("jwtguard_fresh", "floor"),
    "fresh_vs_minimal": ("jwtguard_fresh", "minimal"),
    "minimal_vs_floor": ("minimal", "floor"),
    "pyjwt_vs_fresh": ("pyjwt", "jwtguard_fresh"),
    "pyjwt_vs_minimal": ("pyjwt", "minimal"),
    "jwks_client_vs_remote": ("pyjwt_jwks_client", "jwtguard_remote"),
    "jwks_client_vs_fresh": ("pyjwt_jwks_client", "jwtguard_fresh"),
    "remote_vs_minimal": ("jwtguard_remote", "minimal"),
}


def _ratio(top: list[float], bottom: list[float]) -> dict[str, float]:
    return summarize([a / b for a, b in zip(top, bottom, strict=True)])


def _by_decoder(case: Case) -> dict[str, Any]:
    """Per JSON decoder: µs of the fresh path and the framing, and the fresh path ÷ minimal and ÷ floor."""
    samples = {variant.name: variant.samples for variant in case.every_variant()}
    decoders: dict[str, Any] = {}
    for decoder in _json.available():
        fresh, parse = samples[f"fresh_{decoder}"], samples[f"parse_{decoder}"]
        decoders[decoder] = {
            "us": {"fresh": summarize(fresh), "parse": summarize(parse)},
            "ratios": {
                "fresh_vs_minimal": _ratio(fresh, samples["minimal"]),
                "fresh_vs_floor": _ratio(fresh, samples["floor"]),
            },
            "differences_us": {
                "fresh_over_minimal": summarize([a - b for a, b in zip(fresh, samples["minimal"], strict=True)]),
            },
        }
    return decoders


def _summaries(case: Case) -> dict[str, Any]:
    samples = {variant.name: variant.samples for variant in case.variants}
    ratios = {
        name: summarize([a / b for a, b in zip(samples[top], samples[bottom], strict=True)])
        for name, (top, bottom) in _RATIOS.items()
        if top in samples and bottom in samples
    }
    differences = {
        name: summarize([a - b for a, b in zip(samples[top], samples[bottom], strict=True)])
        for name, (top, bottom) in _DIFFERENCES.items()
        if top in samples and bottom in samples
    }
    return {
        "alg": case.alg,
        "differences_us": differences,
        "fresh_tokens": len(case.tokens),
        "token_cache_size": case.validator_options["token_cache_size"],
        "cache_hits_in_fresh_probe": case.cache_hits_in_fresh,
        "us": {name: summarize(values) for name, values in samples.items()},
        "ratios": ratios,
        "decoder": _json.current(),  # the one the variants above ran with
        "decoders": _by_decoder(case),
    }


def run(settings: Settings, *, profile: bool = True) -> dict[str, Any]:
    """Run the micro benchmark for ``settings.algorithms``; return the results (and an RS256 profile)."""
    with LocalServer() as jwks_server:
        cases = [build_case(alg, settings, jwks_server if alg == "RS256" else None) for alg in settings.algorithms]
        for case in cases:  # warm-up: caches filled, code paths hot
            for variant in case.every_variant():
                with _decoder(variant.decoder):
                    timed_pass(variant.fn, variant.batch)
        fetches_before = jwks_server.hits.copy()
        order = [variant for case in cases for variant in case.every_variant()]
        shuffle = random.Random(5)
        for round_number in range(settings.micro_rounds):
            # A new order every round: no variant always follows the same neighbour.
            shuffle.shuffle(order)
            for variant in order:
                variant.measure(round_number)
        fetches_during = sum((jwks_server.hits - fetches_before).values())
    results: dict[str, Any] = {
        "rounds": settings.micro_rounds,
        "chunks": settings.micro_chunks,
        "repeated_calls": settings.repeated_calls,
        "jwks_fetches_while_timing": fetches_during,
        "algorithms": [_summaries(case) for case in cases],
    }
    rs256 = next((case for case in cases if case.alg == "RS256"), None)
    if profile and rs256 is not None:
        validator = jwtguard.Validator(**rs256.validator_options)
        # Whole passes over the pool only: a partial pass would leave its tokens cached for the next one.
        batch = rs256.tokens * max(1, round(settings.profile_calls / len(rs256.tokens)))
        results["profile"] = {"alg": "RS256", "case": "fresh token", **profiling.profile(validator.validate, batch)}
    return results
