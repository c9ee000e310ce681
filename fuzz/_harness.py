"""What both fuzz targets share: a fixed key set, the validators under test, the oracles.

Nothing here imports atheris, so the test suite can replay inputs through the
same code (``tests/test_fuzz_regressions.py``). The keys are derived from fixed
seeds, so a token signed once (in the seed corpus, in a reproducer) stays valid
for every run; only the RSA key is fresh per process (deriving one is slow).
"""

from __future__ import annotations

import gc
import hashlib
import re
import types
from collections.abc import Coroutine, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

import jwtguard
from jwtguard.errors import DESCRIPTIONS
from jwtguard.testing import SigningKey
from jwtguard.testing.keys import b64url

__all__ = [
    "ALGORITHMS",
    "AUDIENCE",
    "CLIENT",
    "HMAC_KEY",
    "ISSUER",
    "KEYS",
    "NOW",
    "KNOWN_CLAIMS",
    "InvariantError",
    "check_challenge",
    "check_error",
    "claims_dict",
    "expect",
    "instrument",
    "jwks",
    "run_sync",
    "validators",
]

ISSUER = "https://issuer.fuzz.test/"
AUDIENCE = "https://api.fuzz.test"
CLIENT = "fuzz-client"
#: The validators' clock: fixed, so the corpus tokens never expire.
NOW = 1_800_000_000.0
ALGORITHMS = ("HS256", "ES256", "EdDSA", "RS256")

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _seed(label: str) -> bytes:
    return hashlib.sha256(f"jwtguard-fuzz-{label}".encode()).digest()


HMAC_KEY = _seed("hs256-a") + _seed("hs256-b")  # 64 bytes: RFC 7518 §3.2 wants >= 32
KEYS: dict[str, SigningKey] = {
    "ES256": SigningKey(
        "ES256",
        "fuzz-es256",
        ec.derive_private_key(int.from_bytes(_seed("es256"), "big") % (_P256_ORDER - 1) + 1, ec.SECP256R1()),
    ),
    "EdDSA": SigningKey("EdDSA", "fuzz-eddsa", ed25519.Ed25519PrivateKey.from_private_bytes(_seed("eddsa"))),
    "RS256": SigningKey.generate("RS256", "fuzz-rs256"),
}


def jwks() -> dict[str, Any]:
    """The static key set every fuzzed validator trusts (one key per algorithm)."""
    oct_key = {"kty": "oct", "k": b64url(HMAC_KEY), "kid": "fuzz-hs256", "alg": "HS256", "use": "sig"}
    return {"keys": [oct_key, *(key.jwk for key in KEYS.values())]}


def validators() -> dict[str, jwtguard.Validator]:
    """The configurations under test, by name.

    ``cached`` and ``uncached`` differ only in the validated-token cache, so
    they must always agree; ``strict`` turns every optional check on.
    """
    common: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "algorithms": list(ALGORITHMS),
        "jwks": jwks(),
        "clock": lambda: NOW,
    }
    return {
        "cached": jwtguard.Validator(**common),
        "uncached": jwtguard.Validator(**common, token_cache_size=0),
        "strict": jwtguard.Validator(
            **common,
            token_cache_size=0,
            authorized_parties=[CLIENT],
            required_scopes=["read"],
            max_token_age=3600,
            required_claims=["sub"],
            token_types=["at+jwt"],
        ),
    }


class InvariantError(AssertionError):
    """The code under test broke one of its promises (a finding, like a crash)."""


def expect(condition: object, message: str) -> None:
    """Raise :class:`InvariantError` unless ``condition`` holds (``assert`` vanishes under ``-O``)."""
    if not condition:
        raise InvariantError(message)


def run_sync(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends (static keys: nothing to wait for) and return its value."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise InvariantError("the coroutine suspended although nothing had to be awaited")


# RFC 6750 §3 / RFC 9110 §11.6.1: Bearer [ auth-param *( "," SP auth-param ) ], every value a
# quoted string of %x20-21 / %x23-5B / %x5D-7E (scope: scope-tokens separated by single spaces).
_VALUE = r'"[\x20\x21\x23-\x5b\x5d-\x7e]*"'
# RFC 9449 §7.1: a DPoP challenge may follow the Bearer one, in the same header value.
_ONE = rf"(?:Bearer|DPoP)(?: [a-z_]+={_VALUE}(?:, [a-z_]+={_VALUE})*)?"
_CHALLENGE = re.compile(rf"{_ONE}(?:, {_ONE})*")
_ONE_RE = re.compile(_ONE)
_PARAM = re.compile(rf"(?:^(?:Bearer|DPoP) |, )([a-z_]+)=({_VALUE})")
_SCOPE = re.compile(r'"(?:[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*)?"')
_WORD = re.compile(r"[a-z][a-z0-9_]*")
#: The claim (or header parameter) names an error may name for the validators above.
KNOWN_CLAIMS = frozenset({"alg", "crit", "typ", "kid", "iss", "exp", "nbf", "iat", "aud", "azp", "scope", "sub"})


def check_challenge(challenge: str) -> list[str]:
    """Check a ``WWW-Authenticate`` value against RFC 6750 §3; return its parameter names."""
    expect(_CHALLENGE.fullmatch(challenge), f"challenge outside RFC 6750: {challenge!r}")
    names: list[str] = []
    for one in _ONE_RE.finditer(challenge):
        params = _PARAM.findall(one.group(0))
        own = [name for name, _ in params]
        expect(len(own) == len(set(own)), f"a parameter appears twice: {challenge!r}")
        for name, value in params:
            if name == "scope":
                expect(_SCOPE.fullmatch(value), f"scope value outside RFC 6750: {value!r}")
        names.extend(name for name in own if name not in names)
    return names


def check_error(error: BaseException, *, realm: str | None = "api") -> None:
    """Check what a request-time failure promises: a known code, safe text, a valid challenge."""
    expect(isinstance(error, jwtguard.AuthError), f"not an AuthError: {error!r}")
    assert isinstance(error, jwtguard.AuthError)  # for type checkers
    expect(not isinstance(error, jwtguard.KeySetUnavailableError), "static keys can never be unavailable")
    expect(error.status_code in (400, 401, 403), f"unexpected status {error.status_code}")
    expect(error.code in DESCRIPTIONS, f"unknown code {error.code!r}")
    expect(error.description == DESCRIPTIONS[error.code], "description is not the fixed one")
    expect(error.claim is None or error.claim in KNOWN_CLAIMS, f"unexpected claim name {error.claim!r}")
    expect(error.reason is None or _WORD.fullmatch(error.reason), f"unexpected reason {error.reason!r}")
    text = str(error)
    expect(text.isascii() and text.isprintable(), f"log text not printable ASCII: {text!r}")
    names = check_challenge(error.www_authenticate(realm))
    if error.error is not None:
        expect(names[:3] == ["realm", "error", "error_description"], f"parameters {names}")


def claims_dict(claims: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict of a :class:`~jwtguard.Claims` (for comparing outcomes)."""
    return dict(claims)


def instrument(atheris: Any, packages: tuple[str, ...] = ("jwtguard", "jwt", "_harness")) -> int:
    """Add coverage instrumentation to the loaded functions of ``packages``; return how many.

    ``atheris.instrument_all()`` would instrument the whole standard library too,
    which takes minutes; the code under test takes well under a second.
    """
    functions = [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, types.FunctionType) and str(getattr(obj, "__module__", "")).split(".")[0] in packages
    ]
    for function in functions:
        atheris.instrument_func(function)
    return len(functions)
