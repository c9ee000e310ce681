"""Every check of the Validator, and the tokens attackers send."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from fake_clock import FakeClock

import jwtguard
from jwtguard.testing import LocalServer, Response, SigningKey, TokenFactory
from jwtguard.testing.keys import b64url, b64url_json

ISSUER = "https://issuer.example.com/"
AUDIENCE = "https://api.example.com"
KEYS = {alg: SigningKey.generate(alg, kid=f"key-{alg}") for alg in ("RS256", "PS256", "ES256", "EdDSA")}
RSA = KEYS["RS256"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def factory(clock: FakeClock) -> TokenFactory:
    return TokenFactory(ISSUER, AUDIENCE, key=RSA, clock=clock)


def make(clock: FakeClock, **options: Any) -> jwtguard.Validator:
    options.setdefault("jwks", {"keys": [key.jwk for key in KEYS.values()]})
    options.setdefault("algorithms", list(KEYS))
    options.setdefault("audience", AUDIENCE)
    return jwtguard.Validator(issuer=ISSUER, clock=clock, **options)


def rejects(validator: jwtguard.Validator, token: str) -> jwtguard.AuthError:
    with pytest.raises(jwtguard.AuthError) as caught:
        validator.validate(token)
    assert not isinstance(caught.value, jwtguard.KeySetUnavailableError)
    return caught.value


# -- the happy path ---------------------------------------------------------------


@pytest.mark.parametrize("alg", list(KEYS))
def test_accepts_valid_tokens_of_every_algorithm(clock: FakeClock, alg: str) -> None:
    token = TokenFactory(ISSUER, AUDIENCE, key=KEYS[alg], clock=clock).mint(scope="read write")
    claims = make(clock).validate(token)
    assert claims["iss"] == ISSUER
    assert claims.scopes == {"read", "write"}
    assert claims.header["alg"] == alg


def test_avalidate_gives_the_same_answers(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock)
    assert asyncio.run(validator.avalidate(factory.mint(sub="x")))["sub"] == "x"
    with pytest.raises(jwtguard.ExpiredTokenError):
        asyncio.run(validator.avalidate(factory.mint(expires_in=-10)))


def test_validates_against_a_remote_issuer(issuer: Any, validator: jwtguard.Validator) -> None:
    assert validator.validate(issuer.token(sub="remote"))["sub"] == "remote"


# -- signature and algorithm (RFC 8725 §3.1-3.2) ----------------------------------------


def forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"sig") -> str:
    return f"{b64url_json(header)}.{b64url_json(payload)}.{b64url(signature)}"


def test_alg_none_is_rejected(clock: FakeClock, factory: TokenFactory) -> None:
    payload = factory.default_claims()
    for alg in ("none", "None", "NONE"):
        assert rejects(make(clock), forge({"alg": alg}, payload)).code == "alg_not_allowed"
        unsigned = f"{b64url_json({'alg': alg})}.{b64url_json(payload)}."
        assert rejects(make(clock), unsigned).code == "malformed_token"


def test_hs256_signed_with_the_rsa_public_key_is_rejected(clock: FakeClock, factory: TokenFactory) -> None:
    public_pem = RSA.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url_json({"alg": "HS256", "kid": RSA.kid})
    body = b64url_json(factory.default_claims())
    mac = hmac.HMAC(public_pem, hashes.SHA256())
    mac.update(f"{header}.{body}".encode())
    token = f"{header}.{body}.{b64url(mac.finalize())}"
    assert rejects(make(clock), token).code == "alg_not_allowed"
    # Even when HS256 is allowed alongside static keys, an RSA key never verifies HMAC.
    assert rejects(make(clock, algorithms=["RS256", "HS256"]), token).code == "unknown_key"


def test_algorithm_outside_the_allowlist(clock: FakeClock) -> None:
    token = TokenFactory(ISSUER, AUDIENCE, key=KEYS["ES256"], clock=clock).mint()
    assert rejects(make(clock, algorithms=["RS256"]), token).code == "alg_not_allowed"


def test_the_key_type_must_match_the_algorithm(clock: FakeClock, factory: TokenFactory) -> None:
    # An RS256 token naming the EC key's kid.
    token = factory.mint(headers={"kid": KEYS["ES256"].kid})
    assert rejects(make(clock), token).code == "unknown_key"


def test_a_tampered_payload_fails_the_signature(clock: FakeClock, factory: TokenFactory) -> None:
    header, _, signature = factory.mint(scope="read").split(".")
    tampered = f"{header}.{b64url_json(factory.default_claims() | {'scope': 'admin'})}.{signature}"
    assert rejects(make(clock), tampered).code == "bad_signature"


@pytest.mark.parametrize("alg", list(KEYS))
def test_a_signature_of_another_key_is_rejected(clock: FakeClock, alg: str) -> None:
    other = SigningKey.generate(alg, kid=KEYS[alg].kid)
    token = TokenFactory(ISSUER, AUDIENCE, key=other, clock=clock).mint()
    assert rejects(make(clock), token).code == "bad_signature"


@pytest.mark.parametrize("signature", [b"", b"\x00", b"\x00" * 64, b"\xff" * 600])
def test_garbage_signatures_are_bad_signatures(clock: FakeClock, factory: TokenFactory, signature: bytes) -> None:
    for key in KEYS.values():
        header = b64url_json({"alg": key.alg, "kid": key.kid})
        token = f"{header}.{b64url_json(factory.default_claims())}.{b64url(signature)}"
        assert rejects(make(clock), token).code in ("bad_signature", "malformed_token")


@pytest.fixture
def attacker() -> Iterator[LocalServer]:
    with LocalServer() as server:
        server.route("/jwks", lambda request: Response(200, {"keys": [RSA.jwk]}))
        yield server


def test_key_pointing_headers_are_never_followed(clock: FakeClock, attacker: LocalServer, issuer: Any) -> None:
    evil = SigningKey.generate("RS256", kid=issuer.signing_key.kid)
    for header in (
        {"jku": attacker.url + "/jwks"},
        {"x5u": attacker.url + "/cert"},
        {"jwk": evil.jwk},
        {"x5c": ["MIIB"]},
    ):
        token = issuer.factory().mint(key=evil, headers=header)
        assert rejects(issuer.validator(), token).code == "bad_signature"
    assert attacker.hits.total() == 0


def test_unknown_crit_is_rejected(clock: FakeClock, factory: TokenFactory) -> None:
    for crit in (["exp"], ["b64"], [], "b64"):
        assert rejects(make(clock), factory.mint(headers={"crit": crit})).code == "unsupported_crit"


def test_oversize_tokens_are_rejected_before_parsing(clock: FakeClock, factory: TokenFactory) -> None:
    token = factory.mint(padding="x" * 20_000)
    assert rejects(make(clock), token).code == "token_too_large"
    assert make(clock, max_token_size=64 * 1024).validate(token)["padding"]


@pytest.mark.parametrize(
    "token",
    ["", "Bearer", "a.b.c", "....", "eyJ.eyJ.eyJ", "x" * 100, "\u00e9.\u00e9.\u00e9", "a.b.c.d.e"],
)
def test_garbage_is_an_invalid_token(clock: FakeClock, token: str) -> None:
    assert rejects(make(clock), token).status_code == 401


# -- claims -----------------------------------------------------------------------------


def test_exp_is_required_and_enforced_with_leeway(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, leeway=5)
    token = factory.mint(expires_in=100)
    clock.advance(104)
    validator.validate(token)
    clock.advance(1)
    error = rejects(validator, token)
    assert isinstance(error, jwtguard.ExpiredTokenError)
    assert (error.code, error.claim) == ("token_expired", "exp")
    assert rejects(validator, factory.mint(exp=None)).code == "missing_claim"


def test_default_leeway_is_documented_and_applied(clock: FakeClock, factory: TokenFactory) -> None:
    token = factory.mint(expires_in=0)
    clock.advance(jwtguard.DEFAULT_LEEWAY - 1)
    make(clock).validate(token)


def test_nbf_in_the_future_is_rejected(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, leeway=0)
    assert rejects(validator, factory.mint(nbf=clock.now + 60)).code == "token_not_yet_valid"
    validator.validate(factory.mint(nbf=clock.now))


def test_iat_in_the_future_is_rejected(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, leeway=10)
    validator.validate(factory.mint(iat=clock.now + 10))
    assert rejects(validator, factory.mint(iat=clock.now + 11)).code == "iat_in_future"


def test_max_token_age(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, leeway=0, max_token_age=300)
    token = factory.mint()
    clock.advance(300)
    validator.validate(token)
    clock.advance(1)
    assert rejects(validator, token).code == "token_too_old"
    assert rejects(validator, factory.mint(iat=None)).code == "missing_claim"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "1800000000", True, None, [1], {}])
@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_dates_must_be_finite_numbers(clock: FakeClock, factory: TokenFactory, claim: str, value: Any) -> None:
    payload = factory.default_claims() | {claim: value}
    header = b64url_json({"alg": "RS256", "kid": RSA.kid})
    # json.dumps writes NaN/Infinity literally, as an attacker would.
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    signing_input = f"{header}.{body}".encode()
    from jwt.algorithms import get_default_algorithms

    signature = get_default_algorithms()["RS256"].sign(signing_input, RSA.private_key)
    error = rejects(make(clock), f"{header}.{body}.{b64url(signature)}")
    assert error.status_code == 401
    assert error.code in ("invalid_claim", "malformed_token")


def test_audience_any_of(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, audience=["https://a.example", AUDIENCE])
    validator.validate(factory.mint(aud=AUDIENCE))
    validator.validate(factory.mint(aud=["https://other.example", "https://a.example"]))
    assert rejects(validator, factory.mint(aud="https://other.example")).code == "audience_mismatch"
    assert rejects(validator, factory.mint(aud=[])).code == "audience_mismatch"
    assert rejects(validator, factory.mint(aud=None)).code == "missing_claim"
    assert rejects(validator, factory.mint(aud=7)).code == "invalid_claim"


def test_issuer_exact_match(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock)
    for iss in ("https://issuer.example.com", "https://ISSUER.example.com/", "https://issuer.example.com//", 42):
        assert rejects(validator, factory.mint(iss=iss)).claim == "iss"
    assert rejects(validator, factory.mint(iss=None)).code == "missing_claim"


def test_authorized_parties_check_azp_or_client_id(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, authorized_parties=["spa", "cli"])
    validator.validate(factory.mint(azp="spa"))
    validator.validate(factory.mint(azp=None, client_id="cli"))
    assert rejects(validator, factory.mint(azp="evil")).code == "unauthorized_party"
    assert rejects(validator, factory.mint(azp=None)).code == "missing_claim"
    make(clock).validate(factory.mint(azp="anyone"))  # not configured: not checked


def test_token_types(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock)
    for typ in (None, "JWT", "jwt", "at+jwt", "application/at+jwt", "AT+JWT"):
        validator.validate(factory.mint(headers={"typ": typ}))
    for typ in ("id_token", "dpop+jwt", 7):
        assert rejects(validator, factory.mint(headers={"typ": typ})).code == "invalid_typ"
    strict = make(clock, token_types=jwtguard.RFC9068_TOKEN_TYPES)
    strict.validate(factory.mint(headers={"typ": "at+jwt"}))
    for typ in (None, "JWT"):
        assert rejects(strict, factory.mint(headers={"typ": typ})).code == "invalid_typ"


def test_required_scopes(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, required_scopes=["read:messages"])
    validator.validate(factory.mint(scope="read:messages write:messages"))
    validator.validate(factory.mint(scope=None, permissions=["read:messages"]))
    validator.validate(factory.mint(scope=None, scp=["read:messages"]))
    error = rejects(validator, factory.mint(scope="write:messages"))
    assert isinstance(error, jwtguard.InsufficientScopeError)
    assert error.status_code == 403
    assert 'scope="read:messages"' in error.www_authenticate()


def test_require_scopes_lists_every_needed_scope(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock)
    claims = validator.validate(factory.mint(scope="a b"))
    validator.require_scopes(claims, "a", "b")
    with pytest.raises(jwtguard.InsufficientScopeError) as caught:
        validator.require_scopes(claims, "a", "c")
    assert caught.value.required_scopes == ("a", "c")


def test_a_single_required_claim_may_be_a_string(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, required_claims="sub")
    validator.validate(factory.mint())
    assert rejects(validator, factory.mint(sub=None)).claim == "sub"


def test_required_claims(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, required_claims=["sub", "jti"])
    validator.validate(factory.mint())
    error = rejects(validator, factory.mint(jti=None))
    assert (error.code, error.claim) == ("missing_claim", "jti")


def test_custom_claim_checks_add_and_replace(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(
        clock, claim_checks={"tid": lambda tid: tid == "tenant-1", "aud": lambda aud: aud.startswith("https://api.")}
    )
    validator.validate(factory.mint(tid="tenant-1", aud="https://api.other.example"))
    error = rejects(validator, factory.mint(tid="tenant-2"))
    assert (error.code, error.claim, error.reason) == ("invalid_claim", "tid", "rejected")
    assert rejects(validator, factory.mint()).code == "missing_claim"


def test_a_crashing_claim_check_rejects_instead_of_crashing(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, claim_checks={"tid": lambda tid: tid["nope"]})
    assert rejects(validator, factory.mint(tid="x")).code == "invalid_claim"


def test_optional_checks_can_be_removed_but_not_essential_ones(clock: FakeClock, factory: TokenFactory) -> None:
    make(clock, claim_checks={"nbf": None}).validate(factory.mint(nbf=clock.now + 3600))
    for essential in ("exp", "aud"):
        with pytest.raises(jwtguard.ConfigurationError):
            make(clock, claim_checks={essential: None})


# -- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"issuer": ""},
        {"issuer": []},
        {"issuer": None},
        {"audience": None},
        {"audience": [""]},
        {"algorithms": []},
        {"algorithms": ["none"]},
        {"algorithms": ["HS256"], "jwks": None},
        {"leeway": -1},
        {"leeway": float("nan")},
        {"leeway": "5"},
        {"max_token_age": -5},
        {"max_token_size": 10},
        {"timeout": 0},
        {"token_types": []},
        {"jwks": {"keys": []}},
        {"jwks": {"keys": "x"}},
        {"jwks": {"keys": [RSA.jwk]}, "jwks_uri": "https://issuer.example.com/jwks"},
        {"claim_checks": {"tid": "tenant"}},
        {"max_response_size": 0},
        {"max_response_size": "1MB"},
        {"jwks": {"keys": [{**RSA.jwk, "alg": ["RS256"]}]}},
        {"unknown_kid_cooldown": -1},
    ],
)
def test_bad_configuration_fails_at_construction(clock: FakeClock, options: dict[str, Any]) -> None:
    base: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "jwks": {"keys": [RSA.jwk]},
        "clock": clock,
    }
    base.update(options)
    if base.get("jwks") is None:
        base.pop("jwks")
    with pytest.raises(jwtguard.ConfigurationError):
        jwtguard.Validator(**base)


def test_hmac_with_static_keys(clock: FakeClock) -> None:
    secret = b"a-very-long-shared-secret-for-hs256!"
    jwk = {"kty": "oct", "k": b64url(secret), "kid": "hs"}
    validator = jwtguard.Validator(
        issuer=ISSUER, audience=AUDIENCE, algorithms=["HS256"], jwks={"keys": [jwk]}, clock=clock
    )
    from jwt.algorithms import get_default_algorithms

    header = b64url_json({"alg": "HS256", "kid": "hs"})
    body = b64url_json(TokenFactory(ISSUER, AUDIENCE, clock=clock).default_claims())
    signature = get_default_algorithms()["HS256"].sign(f"{header}.{body}".encode(), secret)
    assert validator.validate(f"{header}.{body}.{b64url(signature)}")["iss"] == ISSUER


# -- profiles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "domain",
    ["tenant.eu.auth0.com", "https://tenant.eu.auth0.com", "https://tenant.eu.auth0.com/", "tenant.eu.auth0.com/"],
)
def test_auth0_profile_builds_the_issuer_with_its_trailing_slash(domain: str) -> None:
    validator = jwtguard.profiles.auth0(domain, audience=AUDIENCE)
    assert validator.issuers == ("https://tenant.eu.auth0.com/",)
    assert validator.algorithms == ("RS256",)


@pytest.mark.parametrize("domain", ["", "http://tenant.auth0.com", "https://tenant.auth0.com/path", "a/b"])
def test_auth0_profile_rejects_bad_domains(domain: str) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        jwtguard.profiles.auth0(domain, audience=AUDIENCE)


def test_auth0_permissions_count_as_scopes(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, required_scopes=["read:messages"])
    assert validator.validate(factory.mint(scope="openid", permissions=["read:messages"])).scopes == {
        "openid",
        "read:messages",
    }


def test_rfc9068_profile_is_strict(clock: FakeClock, factory: TokenFactory) -> None:
    jwks = {"keys": [RSA.jwk]}
    validator = jwtguard.profiles.rfc9068(ISSUER, AUDIENCE, jwks=jwks, clock=clock)
    validator.validate(factory.mint(client_id="c", headers={"typ": "at+jwt"}))
    assert rejects(validator, factory.mint(client_id="c")).code == "invalid_typ"
    assert rejects(validator, factory.mint(headers={"typ": "at+jwt"})).claim == "client_id"


def test_oidc_profile_is_the_default_validator() -> None:
    validator = jwtguard.profiles.oidc("https://login.example.com/tenant/v2.0", "api://my-api")
    assert validator.issuers == ("https://login.example.com/tenant/v2.0",)


# -- correctness classes found by review ------------------------------------------------


@pytest.mark.parametrize("name", ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"])
def test_the_rfc9068_profile_requires_each_of_its_claims(clock: FakeClock, factory: TokenFactory, name: str) -> None:
    validator = jwtguard.profiles.rfc9068(ISSUER, AUDIENCE, jwks={"keys": [RSA.jwk]}, clock=clock)
    validator.validate(factory.mint(client_id="c", headers={"typ": "at+jwt"}))
    error = rejects(validator, factory.mint({"client_id": "c", name: None}, headers={"typ": "at+jwt"}))
    assert (error.code, error.claim) == ("missing_claim", name)


@pytest.mark.parametrize("name", ["iat", "nbf", "exp", "aud", "azp", "sub", "tid"])
def test_required_claims_require_every_named_claim(clock: FakeClock, factory: TokenFactory, name: str) -> None:
    # Some of these names also have a value check (dates, aud, azp): being required must still hold.
    validator = make(clock, required_claims=[name], authorized_parties=["spa"])
    token_claims = {"nbf": int(clock()) - 10, "tid": "t", "azp": "spa"}
    validator.validate(factory.mint(token_claims))
    missing = factory.mint({**token_claims, name: None}, client_id="spa" if name == "azp" else None)
    error = rejects(validator, missing)
    assert (error.code, error.claim) == ("missing_claim", name)


def test_required_claims_hold_beside_a_users_check(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, required_claims=["nbf"], claim_checks={"nbf": None})  # value check off, presence on
    assert rejects(validator, factory.mint()).claim == "nbf"
    validator.validate(factory.mint(not_before=3600))  # presence only: the date is no longer checked


def test_azp_and_client_id_must_both_be_authorized(clock: FakeClock, factory: TokenFactory) -> None:
    validator = make(clock, authorized_parties=["spa", "cli"])
    validator.validate(factory.mint(azp="spa", client_id="cli"))
    for azp, client_id in (("spa", "evil"), ("evil", "spa"), ("spa", 7), (None, ["cli"])):
        error = rejects(validator, factory.mint(azp=azp, client_id=client_id))
        assert error.code == "unauthorized_party"
        assert error.claim == ("client_id" if azp == "spa" else "azp" if azp else "client_id")


@pytest.mark.parametrize("member", [7, None, ["nested"], {"a": 1}, True])
def test_an_aud_list_must_hold_only_strings(clock: FakeClock, factory: TokenFactory, member: Any) -> None:
    error = rejects(make(clock), factory.mint(aud=[AUDIENCE, member]))
    assert (error.code, error.claim, error.reason) == ("invalid_claim", "aud", "wrong_type")


def _stripped_signature_token(alg: str, clock: FakeClock) -> tuple[str, str]:
    """A token whose RSA signature starts with a zero byte, and the same token with that byte dropped."""
    factory = TokenFactory(ISSUER, AUDIENCE, key=KEYS[alg], clock=clock)
    for _ in range(5000):
        token = factory.mint()
        head, _, signature = token.rpartition(".")
        raw = base64.urlsafe_b64decode(signature + "==")
        if raw[0] == 0:
            return token, f"{head}.{b64url(raw[1:])}"
    raise AssertionError("no signature with a leading zero byte")  # pragma: no cover - p < 1e-8


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_an_rsa_signature_has_exactly_the_modulus_length(clock: FakeClock, alg: str) -> None:
    validator = make(clock)
    token, stripped = _stripped_signature_token(alg, clock)
    validator.validate(token)
    assert rejects(validator, stripped).code == "bad_signature"


@pytest.mark.parametrize("alg", list(KEYS))
@pytest.mark.parametrize("change", ["prepend_zero", "append_zero", "drop_last"])
def test_every_signature_has_one_length(clock: FakeClock, alg: str, change: str) -> None:
    token = TokenFactory(ISSUER, AUDIENCE, key=KEYS[alg], clock=clock).mint()
    head, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    raw = {"prepend_zero": b"\0" + raw, "append_zero": raw + b"\0", "drop_last": raw[:-1]}[change]
    assert rejects(make(clock), f"{head}.{b64url(raw)}").code == "bad_signature"


def test_a_small_order_ed25519_key_in_a_key_set_cannot_forge_tokens(clock: FakeClock) -> None:
    identity = bytes([1]) + bytes(31)
    weak = {"kty": "OKP", "crv": "Ed25519", "x": b64url(identity), "kid": "weak"}
    validator = make(clock, jwks={"keys": [weak, RSA.jwk]}, algorithms=["EdDSA", "RS256"])
    claims = TokenFactory(ISSUER, AUDIENCE, clock=clock).default_claims() | {"sub": "admin", "scope": "admin"}
    head = f"{b64url_json({'alg': 'EdDSA', 'kid': 'weak'})}.{b64url_json(claims)}"
    forged = f"{head}.{b64url(identity + bytes(32))}"  # R = identity, S = 0: "valid" for any message
    assert rejects(validator, forged).code == "unknown_key"
    validator.validate(TokenFactory(ISSUER, AUDIENCE, key=RSA, clock=clock).mint())  # the rest of the set serves


def test_a_static_set_of_only_degenerate_keys_is_a_configuration_error(clock: FakeClock) -> None:
    weak = {"kty": "OKP", "crv": "Ed25519", "x": b64url(bytes([1]) + bytes(31)), "kid": "weak"}
    with pytest.raises(jwtguard.ConfigurationError):
        make(clock, jwks={"keys": [weak]}, algorithms=["EdDSA"])


def test_several_issuers_may_share_one_key_set(clock: FakeClock) -> None:
    with LocalServer() as server:
        fetches: list[str] = []

        def jwks(request: Any) -> Response:
            fetches.append(request.path)
            return Response(200, {"keys": [RSA.jwk]})

        server.route("/keys", jwks)
        v1, v2 = "https://sts.example.test/tenant/", "https://login.example.test/tenant/v2.0"
        validator = jwtguard.Validator(issuer=[v1, v2], audience=AUDIENCE, jwks_uri=server.url + "/keys", clock=clock)
        for iss in (v1, v2, v1):
            assert validator.validate(TokenFactory(iss, AUDIENCE, key=RSA, clock=clock).mint())["iss"] == iss
        assert fetches == ["/keys"]  # one fetch serves both issuers
        assert [status.issuer for status in validator.key_set_status()] == [v1, v2]
        assert all(status.loaded for status in validator.warm_up())
        assert len(fetches) == 2  # warming up refreshes the shared set once, not once per issuer
        other = SigningKey.generate("RS256", kid=RSA.kid)
        assert rejects(validator, TokenFactory(v2, AUDIENCE, key=other, clock=clock).mint()).code == "bad_signature"


def _option_defaults() -> dict[str, Any]:
    return {"issuer": ISSUER, "audience": AUDIENCE, "jwks": {"keys": [RSA.jwk]}}


WRONG_TYPES: list[Any] = [object(), b"bytes", {1: 2}, 3 + 4j, lambda: "not a number"]


@pytest.mark.parametrize("name", [name for name in inspect.signature(jwtguard.Validator).parameters])
@pytest.mark.parametrize("value", WRONG_TYPES, ids=["object", "bytes", "dict", "complex", "callable"])
def test_every_option_of_the_wrong_type_is_a_configuration_error(name: str, value: Any) -> None:
    options = _option_defaults()
    if name == "jwks_uri":
        options.pop("jwks")
    options[name] = value
    with pytest.raises(jwtguard.ConfigurationError):
        jwtguard.Validator(**options)
