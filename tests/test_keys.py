"""Which JWKs become verification keys, and which key a token gets."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ed448 as ed448_module
from cryptography.hazmat.primitives.asymmetric import ed25519 as ed25519_module
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import RSAAlgorithm

import jwtguard
from jwtguard._algorithms import SPECS, compile_allowlist
from jwtguard._keys import KeySet
from jwtguard.testing import SigningKey
from jwtguard.testing.keys import b64url

RSA = SigningKey.generate("RS256", kid="rsa")
EC = SigningKey.generate("ES256", kid="ec")
ED = SigningKey.generate("EdDSA", kid="ed")
ALL = ["RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256"]


def keyset(*jwks: dict[str, object], algorithms: list[str] = ALL, symmetric_ok: bool = False) -> KeySet:
    return KeySet({"keys": list(jwks)}, algorithms, symmetric_ok=symmetric_ok)


def test_keeps_signature_keys_of_every_family() -> None:
    keys = keyset(RSA.jwk, EC.jwk, ED.jwk)
    assert keys.kids == {"rsa", "ec", "ed"}
    assert keys.find("rsa", SPECS["RS256"]).kty == "RSA"
    assert keys.find("ec", SPECS["ES256"]).crv == "P-256"
    assert keys.find("ed", SPECS["EdDSA"]).crv == "Ed25519"


@pytest.mark.parametrize(
    "change",
    [
        {"use": "enc"},
        {"key_ops": ["encrypt"]},
        {"key_ops": "verify"},
        {"kid": 7},
        {"alg": "RS512"},  # an algorithm outside the allowlist
        {"alg": ["RS256"]},
        {"alg": {"RS256": 1}},
        {"n": "not base64!"},
        {"kty": "unknown"},
    ],
)
def test_drops_keys_unfit_for_verification(change: dict[str, object]) -> None:
    assert len(keyset({**RSA.jwk, **change})) == 0


def test_drops_symmetric_keys_from_fetched_sets() -> None:
    oct_key = {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", "kid": "hmac"}
    assert len(keyset(oct_key)) == 0
    assert len(keyset(oct_key, symmetric_ok=True)) == 1


def test_drops_short_rsa_keys() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(weak.public_key())), "kid": "weak"}
    assert len(keyset(jwk)) == 0


def test_a_published_private_key_only_verifies() -> None:
    private_jwk = {**json.loads(RSAAlgorithm.to_jwk(RSA.private_key)), "kid": "priv"}
    del private_jwk["key_ops"]  # ["sign"]: such a key would be dropped
    key = keyset(private_jwk).find("priv", SPECS["RS256"])
    assert isinstance(key.key, rsa.RSAPublicKey)


def test_key_type_must_match_the_algorithm() -> None:
    keys = keyset(RSA.jwk, EC.jwk)
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        keys.find("ec", SPECS["RS256"])
    assert caught.value.reason == "type_mismatch"
    with pytest.raises(jwtguard.InvalidTokenError):
        keys.find("ec", SPECS["ES384"])  # right kty, wrong curve


def test_the_keys_own_alg_must_equal_the_tokens() -> None:
    keys = keyset({**RSA.jwk, "alg": "RS256"})
    with pytest.raises(jwtguard.InvalidTokenError):
        keys.find("rsa", SPECS["PS256"])


def test_a_token_without_kid_needs_exactly_one_fitting_key() -> None:
    assert keyset(RSA.jwk).find(None, SPECS["RS256"]).kid == "rsa"
    other = SigningKey.generate("RS256", kid="other")
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        keyset(RSA.jwk, other.jwk).find(None, SPECS["RS256"])
    assert caught.value.reason == "ambiguous"


def test_unknown_kid_is_reported_as_not_found() -> None:
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        keyset(RSA.jwk).find("nope", SPECS["RS256"])
    assert (caught.value.code, caught.value.reason) == ("unknown_key", "not_found")


@pytest.mark.parametrize("document", [[], {"keys": {}}, {"nokeys": []}, "keys"])
def test_a_document_that_is_not_a_jwks_is_refused(document: object) -> None:
    with pytest.raises(ValueError, match="JWKS"):
        KeySet(document, ["RS256"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("algorithms", "remote"),
    [([], True), (["none"], False), (["NONE"], True), (["HS256"], True), (["RS257"], True), ("RS256", True)],
)
def test_bad_allowlists_are_configuration_errors(algorithms: list[str], remote: bool) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        compile_allowlist(algorithms, remote=remote)


def test_hmac_is_allowed_with_static_keys() -> None:
    assert list(compile_allowlist(["HS256"], remote=False)) == ["HS256"]


# -- degenerate keys (RFC 8725 §3.4) ------------------------------------------------

P25519 = 2**255 - 19
P448 = 2**448 - 2**224 - 1
# Every point of order 1, 2, 4 or 8 on edwards25519 (the identity, (0, -1), (±sqrt(-1), 0) and four
# of order 8), their encodings with the sign bit flipped, and non-canonical spellings (y >= p).
SMALL_ORDER_25519 = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    (P25519 + 1).to_bytes(32, "little").hex(),  # the identity again, y not reduced
    (2).to_bytes(32, "little").hex(),  # y = 2: no x puts it on the curve
]
SMALL_ORDER_448 = [
    (1).to_bytes(57, "little").hex(),  # the identity
    (P448 - 1).to_bytes(57, "little").hex(),  # (0, -1)
    bytes(56).hex() + "80",  # (1, 0): order 4
    bytes(57).hex(),  # (-1, 0): order 4
    (P448 + 1).to_bytes(57, "little").hex(),  # the identity, y not reduced
]


def okp(curve: str, public: str, kid: str = "weak") -> dict[str, object]:
    return {"kty": "OKP", "crv": curve, "x": b64url(bytes.fromhex(public)), "kid": kid}


@pytest.mark.parametrize(
    ("curve", "public"),
    [("Ed25519", x) for x in SMALL_ORDER_25519] + [("Ed448", x) for x in SMALL_ORDER_448],
)
def test_small_order_and_off_curve_edwards_keys_are_refused_and_the_rest_kept(curve: str, public: str) -> None:
    keys = keyset(okp(curve, public), RSA.jwk, ED.jwk)
    assert keys.kids == {"rsa", "ed"}


def test_honest_edwards_keys_of_both_curves_are_kept() -> None:
    for _ in range(20):
        raw = ed448_module.Ed448PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        other = SigningKey.generate("EdDSA", kid="ed2")
        assert keyset(ED.jwk, other.jwk, okp("Ed448", raw.hex(), "ed448")).kids == {"ed", "ed2", "ed448"}


@pytest.mark.parametrize("public", SMALL_ORDER_25519[:1])
def test_the_identity_key_forgery_verifies_without_the_check(public: str) -> None:
    # Why the rule exists: with this key, R = identity and S = 0 verify any message at all.
    identity = bytes.fromhex(public)
    key = ed25519_module.Ed25519PublicKey.from_public_bytes(identity)
    key.verify(identity + bytes(32), b"any message whatsoever")  # does not raise


def test_a_found_key_is_remembered_per_kid_and_algorithm_and_nothing_else_is() -> None:
    pinned = {**RSA.jwk, "alg": "RS256"}  # usable for RS256 only
    other = SigningKey.generate("RS256", kid="other")
    keys = keyset(pinned, EC.jwk, other.jwk)
    first = keys.find("rsa", SPECS["RS256"])
    assert keys.find("rsa", SPECS["RS256"]) is first
    for _ in range(2):  # a refusal is decided afresh every time, never remembered as an answer
        for kid, alg, reason in (
            ("rsa", "PS256", "type_mismatch"),  # the key remembered for RS256 does not answer PS256
            ("missing", "RS256", "not_found"),
            (None, "RS256", "ambiguous"),  # two RSA keys: a token without kid gets neither
        ):
            with pytest.raises(jwtguard.InvalidTokenError) as refused:
                keys.find(kid, SPECS[alg])
            assert refused.value.reason == reason
    assert keys.find(None, SPECS["ES256"]) is keys.find("ec", SPECS["ES256"])
