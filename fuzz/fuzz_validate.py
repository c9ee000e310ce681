#!/usr/bin/env python3
"""Fuzz ``Validator.validate`` / ``avalidate`` with a fixed static key set.

Run (see fuzz/README.md)::

    python fuzz/fuzz_validate.py -max_total_time=60 fuzz/corpus/validate

Input layout: the first byte picks a mode.

* even: the rest is the token itself (UTF-8; invalid bytes become lone surrogates);
* odd: the rest is ``header JSON`` NUL ``payload JSON``, base64url-encoded and
  signed here with the key chosen by the second byte, so that the fuzzer reaches
  every claim check behind a good signature. With bit 1 of the first byte set,
  ``alg`` and ``kid`` in the header are forced to the chosen key's.

Every input goes through four validators that must agree (a cached one twice,
an uncached one, ``avalidate``), and a strict one. A crash is any exception
other than :class:`jwtguard.AuthError`, or a broken promise
(:class:`_harness.InvariantError`): an accepted token that fails a check an
independent verifier (PyJWT's JWS layer) or the claim rules would catch, or an
error with an unknown code, a leaking description or a malformed challenge; a
token that, repeated up to the size limit, takes longer than :data:`TIME_BUDGET`
to frame.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from typing import Any

import _harness as h  # fuzz/ is on sys.path: run as a script, or added by the tests
import jwt
from jwt.algorithms import get_default_algorithms

import jwtguard
from jwtguard import _jose
from jwtguard.testing.keys import b64url

VALIDATORS = h.validators()
_ALGS = get_default_algorithms()
_SIGNERS: dict[str, Any] = {"HS256": h.HMAC_KEY, **{alg: key.private_key for alg, key in h.KEYS.items()}}
_KIDS = {"HS256": "fuzz-hs256", **{alg: key.kid for alg, key in h.KEYS.items()}}
_VERIFIERS: dict[str, Any] = {"HS256": h.HMAC_KEY, **{alg: key.private_key.public_key() for alg, key in h.KEYS.items()}}
_LEEWAY = 5.0
#: Seconds framing a token of the maximum size may take; it is linear, so microseconds.
TIME_BUDGET = 0.25


def make_token(alg: str, header: bytes, payload: bytes, *, force_key: bool) -> str:
    """Sign raw header and payload bytes with the harness key for ``alg``."""
    if force_key:
        try:
            parsed = json.loads(header)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, dict):
            parsed.update(alg=alg, kid=_KIDS[alg])
            header = json.dumps(parsed).encode()
    signing_input = f"{b64url(header)}.{b64url(payload)}".encode("ascii")
    signature = _ALGS[alg].sign(signing_input, _SIGNERS[alg])
    return f"{signing_input.decode('ascii')}.{b64url(signature)}"


def token_of(data: bytes) -> str:
    """Turn a fuzz input into the token to validate (see the module docstring)."""
    if not data:
        return ""
    mode, rest = data[0], data[1:]
    if mode % 2 == 0:
        return rest.decode("utf-8", "surrogateescape")
    alg = h.ALGORITHMS[rest[0] % len(h.ALGORITHMS)] if rest else "HS256"
    header, _, payload = rest[1:].partition(b"\x00")
    return make_token(alg, header, payload, force_key=bool(mode & 2))


def _outcome(validator: jwtguard.Validator, token: str, *, use_async: bool = False) -> tuple[Any, ...]:
    try:
        claims = h.run_sync(validator.avalidate(token)) if use_async else validator.validate(token)
    except jwtguard.AuthError as error:
        h.check_error(error)
        return ("rejected", type(error).__name__, error.code)
    return ("accepted", json.dumps(h.claims_dict(claims), sort_keys=True), json.dumps(dict(claims.header)))


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def check_accepted(token: str, claims: dict[str, Any], header: dict[str, Any], *, strict: bool) -> None:
    """Re-check an accepted token with rules written independently of the validator."""
    alg = header.get("alg")
    h.expect(alg in h.ALGORITHMS, f"accepted alg {alg!r}")
    h.expect("crit" not in header, "accepted a crit header")
    # An independent JWS implementation must agree the signature is ours.
    try:
        decoded = jwt.PyJWS().decode_complete(token, key=_VERIFIERS[str(alg)], algorithms=[str(alg)])
    except jwt.PyJWTError as exc:
        raise h.InvariantError(f"accepted, but PyJWT rejects the signature: {exc}") from None
    h.expect(json.loads(decoded["payload"]) == claims, "PyJWT reads another payload")
    h.expect(claims.get("iss") == h.ISSUER, "accepted another issuer")
    aud = claims.get("aud")
    h.expect(aud == h.AUDIENCE or (isinstance(aud, list) and h.AUDIENCE in aud), "accepted another audience")
    exp = _number(claims.get("exp"))
    h.expect(exp is not None and exp > h.NOW - _LEEWAY, "accepted an expired token or a bad exp")
    for name in ("nbf", "iat"):
        if name in claims:
            value = _number(claims[name])
            h.expect(value is not None and value <= h.NOW + _LEEWAY, f"accepted a future or bad {name}")
    if strict:
        h.expect(claims.get("azp", claims.get("client_id")) == h.CLIENT, "strict: accepted another client")
        h.expect(claims.get("sub") is not None, "strict: accepted a token without sub")
        iat = _number(claims.get("iat"))
        h.expect(iat is not None and h.NOW - iat <= 3600 + _LEEWAY, "strict: accepted an old token")
        h.expect(str(header.get("typ")).lower() in ("at+jwt", "application/at+jwt"), "strict: accepted a JWT typ")


def check_bounded(token: str) -> None:
    """Bounded input, bounded time: the token repeated up to the size limit must frame as fast."""
    if not token:
        return
    limit = VALIDATORS["cached"].max_token_size
    filled = (token * (limit // len(token) + 1))[:limit]
    started = time.perf_counter()
    with contextlib.suppress(jwtguard.InvalidTokenError):
        _jose.parse(filled, limit)
    elapsed = time.perf_counter() - started
    h.expect(elapsed < TIME_BUDGET, f"framing {limit} characters took {elapsed:.2f} s")


def one_input(data: bytes) -> None:
    """The fuzz target: raise on any finding, return quietly otherwise."""
    token = token_of(data)
    check_bounded(token)
    cached = VALIDATORS["cached"]
    outcomes = {
        _outcome(cached, token),
        _outcome(cached, token),  # the second time may come from the validated-token cache
        _outcome(VALIDATORS["uncached"], token),
        _outcome(VALIDATORS["uncached"], token, use_async=True),
    }
    h.expect(len(outcomes) == 1, f"validators disagree: {sorted(outcomes)}")
    (outcome,) = outcomes
    if outcome[0] == "accepted":
        check_accepted(token, json.loads(outcome[1]), json.loads(outcome[2]), strict=False)
    strict = _outcome(VALIDATORS["strict"], token)
    if strict[0] == "accepted":
        h.expect(outcome[0] == "accepted", "strict accepted what the default rejected")
        check_accepted(token, json.loads(strict[1]), json.loads(strict[2]), strict=True)


def main() -> None:
    import atheris  # type: ignore  # untyped, and optional

    h.instrument(atheris)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
