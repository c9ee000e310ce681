"""Properties that hold for every input: the header parser, the token parser, the validator, the challenges.

The per-module tests (test_bearer.py, test_jose.py, test_errors.py) pin the
known cases; here hypothesis searches for the unknown ones. Each test keeps its
example count modest so the file runs in seconds; ``fuzz/`` runs the same
questions for minutes.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import pytest
from bounds import deadline
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jwt.algorithms import HMACAlgorithm

import jwtguard
from jwtguard._challenge import render_challenge
from jwtguard._jose import b64url_decode, parse
from jwtguard.bearer import MAX_HEADER_LENGTH, extract_bearer
from jwtguard.errors import DESCRIPTIONS
from jwtguard.testing import SigningKey
from jwtguard.testing.keys import b64url, b64url_json
from jwtguard.validator import DEFAULT_MAX_TOKEN_SIZE

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
b64tokens = st.builds(
    str.__add__, st.text(alphabet=B64URL + ".~+/", min_size=1, max_size=40), st.sampled_from(["", "=", "=="])
)
blanks = st.text(alphabet=" \t", max_size=3)

# -- RFC 6750 §3 challenges, parsed back ---------------------------------------------------

VALUE_CHARS = r"[\x20\x21\x23-\x5b\x5d-\x7e]"
CHALLENGE = re.compile(rf'Bearer(?: [a-z_]+="{VALUE_CHARS}*"(?:, [a-z_]+="{VALUE_CHARS}*")*)?')
PARAM = re.compile(rf'(?:^Bearer |, )([a-z_]+)="({VALUE_CHARS}*)"')
SCOPE_VALUE = re.compile(r"(?:[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*)?")


def parse_challenge(challenge: str) -> dict[str, str]:
    """Parse a rendered challenge; fail unless every character is one RFC 6750 allows."""
    assert CHALLENGE.fullmatch(challenge), challenge
    params = PARAM.findall(challenge)
    names = [name for name, _ in params]
    assert len(names) == len(set(names)), challenge
    return dict(params)


def allowed(text: str) -> str:
    return "".join(char for char in text if re.fullmatch(VALUE_CHARS, char))


# -- the Authorization header --------------------------------------------------------------


@FAST
@given(
    scheme=st.tuples(*(st.sampled_from((c, c.upper())) for c in "bearer")).map("".join),
    token=b64tokens,
    before=blanks,
    between=st.integers(1, 3),
    after=blanks,
)
def test_a_well_formed_header_yields_exactly_its_token(
    scheme: str, token: str, before: str, between: int, after: str
) -> None:
    assert extract_bearer([f"{before}{scheme}{' ' * between}{token}{after}"]) == token


# Headers built from the characters that matter to the grammar, and raw bytes as servers pass them.
grammar_text = st.text(alphabet=' \t,="\\Bb EeAaRr.~+/-_x9\x00\x7f\xe9', max_size=60)
latin1_text = st.binary(max_size=200).map(lambda raw: raw.decode("latin-1"))


@FAST
@given(st.lists(grammar_text | latin1_text, max_size=3))
def test_the_outcome_is_a_b64token_of_the_one_header_or_a_400_or_401(values: list[str]) -> None:
    try:
        token = extract_bearer(values)
    except (jwtguard.MissingTokenError, jwtguard.InvalidRequestError) as caught:
        error: jwtguard.AuthError = caught
    else:
        assert B64TOKEN.fullmatch(token)
        assert len(values) == 1
        assert token in values[0]
        return
    assert error.status_code in (400, 401)
    parse_challenge(error.www_authenticate("api"))


@FAST
@given(first=b64tokens, second=b64tokens, separator=st.builds("{},{}".format, blanks, blanks))
def test_a_second_bearer_token_is_always_a_duplicate(first: str, second: str, separator: str) -> None:
    for values in ([f"Bearer {first}", f"Bearer {second}"], [f"Bearer {first}{separator}bearer {second}"]):
        with pytest.raises(jwtguard.InvalidRequestError) as caught:
            extract_bearer(values)
        assert caught.value.code == "duplicate_token"


@FAST
@given(scheme=st.text(alphabet=B64URL[:52] + "-", min_size=1, max_size=12), token=b64tokens)
def test_another_scheme_never_yields_a_token(scheme: str, token: str) -> None:
    assume(scheme.lower() != "bearer")
    with pytest.raises(jwtguard.MissingTokenError):
        extract_bearer([f"{scheme} {token}"])


# -- the token parser (RFC 7515 §7.1 compact serialization) ---------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=6)


@FAST
@given(st.binary(max_size=200))
def test_base64url_round_trips(data: bytes) -> None:
    assert b64url_decode(b64url(data)) == data


@FAST
@given(st.text(alphabet=B64URL, max_size=40))
def test_each_byte_string_has_exactly_one_accepted_encoding(segment: str) -> None:
    # Canonical decoding: no two segments decode to the same bytes, so a token cannot be
    # re-encoded into another string that carries the same signature (RFC 4648 §3.5).
    try:
        data = b64url_decode(segment)
    except ValueError:
        return
    assert b64url(data) == segment


@SLOW
@given(header=json_objects, payload=json_objects, signature=st.binary(min_size=1, max_size=80))
def test_any_json_header_and_payload_frame_and_parse_back(
    header: dict[str, Any], payload: dict[str, Any], signature: bytes
) -> None:
    token = f"{b64url_json(header)}.{b64url_json(payload)}.{b64url(signature)}"
    parsed = parse(token, 1 << 20)
    assert (parsed.header, parsed.payload, parsed.signature) == (header, payload, signature)
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode()


@FAST
@given(st.lists(st.text(alphabet=B64URL + "=+/ ~%", max_size=12), min_size=1, max_size=7).map(".".join))
def test_any_dotted_string_parses_or_is_malformed_or_encrypted(token: str) -> None:
    try:
        parse(token, 16384)
    except jwtguard.InvalidTokenError as caught:
        code = caught.code
    else:
        return
    assert code in ("malformed_token", "encrypted_token")
    if code == "encrypted_token":
        assert token.count(".") == 4


# -- the validator: random claims behind good signatures, and mutated tokens ----------------------

ISSUER = "https://issuer.example.com/"
AUDIENCE = "https://api.example.com"
NOW = 1_800_000_000.0
LEEWAY = 5.0
HMAC_SECRET = bytes(range(64))
KEYS = {alg: SigningKey.generate(alg, kid=f"key-{alg}") for alg in ("ES256", "EdDSA", "RS256")}
JWKS = {
    "keys": [
        *(key.jwk for key in KEYS.values()),
        {"kty": "oct", "k": b64url(HMAC_SECRET), "kid": "key-HS256", "alg": "HS256", "use": "sig"},
    ]
}
VALIDATOR = jwtguard.Validator(
    issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256", "EdDSA", "RS256", "HS256"], jwks=JWKS, clock=lambda: NOW
)
GOOD_CLAIMS = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": NOW - 10, "exp": NOW + 600, "scope": "read"}


def sign(alg: str, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """Sign with the right key; ``header`` adds to (``None``: drops from) ``alg``, ``kid``, ``typ``."""
    if alg in KEYS:
        return KEYS[alg].sign(payload, header)
    merged = {"alg": "HS256", "kid": "key-HS256", "typ": "JWT", **header}
    protected = {name: value for name, value in merged.items() if value is not None}
    signing_input = f"{b64url_json(protected)}.{b64url_json(payload)}"
    mac = HMACAlgorithm(HMACAlgorithm.SHA256).sign(signing_input.encode(), HMAC_SECRET)
    return f"{signing_input}.{b64url(mac)}"


GOOD_PAYLOADS = {alg: {**GOOD_CLAIMS, "jti": alg} for alg in ("ES256", "EdDSA", "RS256", "HS256")}
GOOD_TOKENS = {alg: sign(alg, {}, payload) for alg, payload in GOOD_PAYLOADS.items()}


def outcome(token: str) -> tuple[str, Any]:
    """``("ok", claims)`` or ``("error", code)``; any other exception fails the test."""
    try:
        return "ok", dict(VALIDATOR.validate(token))
    except jwtguard.KeySetUnavailableError:  # static keys: never an outage
        raise
    except jwtguard.AuthError as caught:
        error = caught
    assert error.status_code in (401, 403)
    assert error.code in DESCRIPTIONS
    return "error", error.code


def test_the_good_tokens_are_accepted() -> None:
    # The properties below mutate these; they must start out valid.
    for alg, token in GOOD_TOKENS.items():
        assert outcome(token) == ("ok", GOOD_PAYLOADS[alg])


# Claim values across JSON's types; integers stay within float range (see test_fuzz_regressions.py).
numbers = st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([NOW, -0.0])
claim_values = st.none() | st.booleans() | numbers | st.text(max_size=10) | st.lists(st.text(max_size=6), max_size=3)
claim_names = st.sampled_from(["iss", "aud", "exp", "nbf", "iat", "sub", "azp", "scope", "scp", "permissions", "x"])
header_params = st.fixed_dictionaries(
    {},
    optional={
        "typ": st.sampled_from(["JWT", "at+jwt", "application/at+jwt", "JOSE", "", 1]),
        "kid": st.sampled_from(["key-ES256", "key-RS256", "nope", 7]) | st.none(),
        "crit": st.just(["exp"]),
        "jku": st.just("https://attacker.example/jwks"),
        "cty": st.text(max_size=5),
    },
)


@SLOW
@given(
    alg=st.sampled_from(sorted(GOOD_TOKENS)),
    header=header_params,
    changes=st.dictionaries(claim_names, claim_values, max_size=4),
    also=st.sampled_from([{}, {"aud": [AUDIENCE, "other"]}, {"exp": NOW + 0.5}, {"nbf": NOW + LEEWAY}]),
)
def test_random_claims_signed_with_the_right_key_are_claims_or_an_auth_error(
    alg: str, header: dict[str, Any], changes: dict[str, Any], also: dict[str, Any]
) -> None:
    payload = {**GOOD_CLAIMS, **also, **changes}
    token = sign(alg, header, payload)
    result = outcome(token)
    try:
        again: tuple[str, Any] = ("ok", dict(asyncio.run(VALIDATOR.avalidate(token))))
    except jwtguard.AuthError as error:
        again = ("error", error.code)
    assert again == result
    if result[0] == "ok":
        # Accepted: every rule holds, checked here independently of the validator.
        claims = result[1]
        assert claims == payload
        assert claims["iss"] == ISSUER
        assert claims["aud"] == AUDIENCE or (isinstance(claims["aud"], list) and AUDIENCE in claims["aud"])
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if value is not None or name == "exp":
                assert isinstance(value, (int, float))
                assert not isinstance(value, bool)
                assert math.isfinite(value)
        assert claims["exp"] > NOW - LEEWAY
        assert claims.get("nbf", NOW) <= NOW + LEEWAY
        assert claims.get("iat", NOW) <= NOW + LEEWAY
        assert "crit" not in header
        assert header.get("typ", "JWT") in ("JWT", "at+jwt", "application/at+jwt")


@FAST
@given(alg=st.sampled_from(sorted(GOOD_TOKENS)), where=st.floats(0, 1, exclude_max=True), char=st.sampled_from(B64URL))
def test_any_single_character_change_is_rejected(alg: str, where: float, char: str) -> None:
    good = GOOD_TOKENS[alg]
    index = int(where * len(good))
    assume(good[index] != char)
    mutated = good[:index] + char + good[index + 1 :]
    assert outcome(good)[0] == "ok"  # the original is cached: the mutation must not ride on it
    assert outcome(mutated)[0] == "error"


@FAST
@given(picks=st.tuples(*(st.sampled_from(sorted(GOOD_TOKENS)) for _ in range(3))), order=st.permutations([0, 1, 2]))
def test_segments_of_valid_tokens_combine_only_into_themselves(picks: tuple[str, str, str], order: list[int]) -> None:
    segments = [GOOD_TOKENS[alg].split(".")[part] for part, alg in enumerate(picks)]
    token = ".".join(segments[i] for i in order)
    accepted = outcome(token)[0] == "ok"
    assert accepted == (len(set(picks)) == 1 and order == [0, 1, 2])


@FAST
@given(st.text(alphabet=B64URL + ".", max_size=300) | st.text(max_size=100))
def test_random_text_is_an_invalid_token(token: str) -> None:
    assert outcome(token)[0] == "error"


# -- challenges ---------------------------------------------------------------------------------

optional_text = st.none() | st.text(max_size=40)


@FAST
@given(
    realm=optional_text,
    error=optional_text,
    description=optional_text,
    scope=optional_text,
    resource_metadata=optional_text,
)
def test_rendered_challenges_parse_back_to_the_parameters_given(
    realm: str | None, error: str | None, description: str | None, scope: str | None, resource_metadata: str | None
) -> None:
    rendered = render_challenge(
        realm, error=error, description=description, scope=scope, resource_metadata=resource_metadata
    )
    params = parse_challenge(rendered)
    expected = {
        "realm": None if realm is None else allowed(realm),
        "error": None if error is None else allowed(error),
        "error_description": allowed(description) if description else None,
        "resource_metadata": None if resource_metadata is None else allowed(resource_metadata),
    }
    assert list(params) == [
        name for name in ("realm", "error", "error_description", "scope", "resource_metadata") if name in params
    ]
    assert {name: value for name, value in params.items() if name != "scope"} == {
        name: value for name, value in expected.items() if value is not None
    }
    if scope:
        assert SCOPE_VALUE.fullmatch(params["scope"])
        kept = [allowed(token).replace(" ", "") for token in scope.split(" ")]
        assert params["scope"] == " ".join(token for token in kept if token)
    else:
        assert "scope" not in params


ERROR_CLASSES: list[Callable[[str], jwtguard.AuthError]] = [
    jwtguard.MissingTokenError,
    jwtguard.InvalidRequestError,
    jwtguard.InvalidTokenError,
    jwtguard.ExpiredTokenError,
    lambda code: jwtguard.InsufficientScopeError(["read:messages", 'we"ird\\scope\r\n'], code=code),
]


@FAST
@given(
    make=st.sampled_from(ERROR_CLASSES),
    code=st.sampled_from(sorted(DESCRIPTIONS)) | st.text(max_size=10),
    realm=optional_text,
    resource_metadata=optional_text,
)
def test_every_error_renders_a_parseable_challenge(
    make: Callable[[str], jwtguard.AuthError], code: str, realm: str | None, resource_metadata: str | None
) -> None:
    error = make(code)
    params = parse_challenge(error.www_authenticate(realm, resource_metadata=resource_metadata))
    names = ["realm"] if realm is not None else []
    if error.error is not None:
        names += ["error", "error_description"]
        assert params["error"] == error.error
        assert params["error_description"] == error.description
    if isinstance(error, jwtguard.InsufficientScopeError):
        names.append("scope")
        assert params["scope"] == "read:messages weirdscope"
    if resource_metadata is not None:
        names.append("resource_metadata")
    assert list(params) == names
    (value,) = error.headers(realm, resource_metadata=resource_metadata).values()
    assert value.isascii()
    assert value.isprintable()
    assert set(json.loads(json.dumps(error.body()))) == {"error", "error_description"}


@FAST
@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_retry_after_is_always_a_positive_integer(seconds: float) -> None:
    headers = jwtguard.KeySetUnavailableError(seconds).headers("api")
    assert list(headers) == ["Retry-After"]
    assert re.fullmatch(r"[1-9][0-9]*", headers["Retry-After"])


# -- bounded time for bounded input ---------------------------------------------------------------
# The worst inputs we can build for the regular expressions in _jose.py and bearer.py, sized at
# the limits the code enforces. Linear parsing takes milliseconds; the bound only catches
# catastrophic backtracking. A timer interrupts a runaway match so the test fails instead of hanging.

BOUND = 0.5


def bounded(action: Callable[[], object]) -> float:
    """Run ``action`` (an ``AuthError`` is a fine outcome); return the seconds it took."""
    started = time.perf_counter()
    with deadline(BOUND), suppress(jwtguard.AuthError):
        action()
    return time.perf_counter() - started


N = DEFAULT_MAX_TOKEN_SIZE
THIRD = N // 3 - 1
LONG_NUMBER = b'{"exp":1' + b"0" * 4200 + b"}"  # just under CPython's 4300-digit int parsing limit
TOKENS = {
    "one-long-segment": "a" * N,
    "long-segment-bad-end": "a" * (N - 1) + "!",
    "all-dots": "." * N,
    "dot-pairs": "a." * (N // 2),
    "three-segments-bad-end": f"{'a' * THIRD}.{'a' * THIRD}.{'a' * (THIRD - 1)}!",
    "five-segments-repeated": "a.a.a.a." * (N // 8),
    "jwe-then-garbage": "a...." + "a" * (N - 6) + "!",
    "deep-json": f"{b64url(b'[' * (N // 2))}.{b64url(b'{}')}.{b64url(b'x')}"[:N],
    "long-number": f"{b64url_json({'alg': 'ES256'})}.{b64url(LONG_NUMBER)}.AA",
    "one-over": "a" * (N + 1),
}


@pytest.mark.parametrize("token", list(TOKENS.values()), ids=list(TOKENS))
def test_token_parsing_is_bounded(token: str) -> None:
    assert bounded(lambda: parse(token, N)) < BOUND
    assert bounded(lambda: VALIDATOR.validate(token)) < BOUND


M = MAX_HEADER_LENGTH
HEADERS = [
    pytest.param("Bearer " + "a" * (M - 7), id="long-token"),
    pytest.param("Bearer " + "a" * (M - 8) + "!", id="long-token-bad-end"),
    pytest.param("Bearer " + "=" * (M - 7), id="all-padding"),
    pytest.param(", " * (M // 2), id="comma-space-pairs"),
    pytest.param(",bearer" * (M // 7), id="joined-bearers"),
    pytest.param(", bearer x" * (M // 10), id="joined-bearer-tokens"),
    pytest.param(" " * M, id="blanks"),
    pytest.param("Bearer" + " " * (M - 7) + "a", id="blanks-before-token"),
    pytest.param(" \t" * (M // 4) + "," + " \t" * (M // 4), id="blanks-around-comma"),
]


@pytest.mark.parametrize("value", HEADERS)
def test_header_parsing_is_bounded(value: str) -> None:
    assert bounded(lambda: extract_bearer([value])) < BOUND
    assert bounded(lambda: extract_bearer([value, value])) < BOUND


def test_challenge_rendering_is_bounded() -> None:
    hostile = '"\\\r\n\x00é, a="' * (M // 10)
    for _ in range(3):
        assert bounded(lambda: render_challenge(hostile, error=hostile, description=hostile, scope=hostile)) < BOUND
