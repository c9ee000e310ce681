"""Certificate-bound tokens (RFC 8705), step-up (RFC 9470), roles and any-of scopes."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from fake_clock import FakeClock

import jwtguard
from jwtguard._binding import certificate_thumbprint
from jwtguard.testing import SigningKey, TokenFactory

ISSUER = "https://issuer.example.test/"
AUDIENCE = "https://api.example.test"
URL = "https://api.example.test/messages"
KEY = SigningKey.generate("RS256", kid="k")


def certificate(name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


CLIENT, OTHER = certificate("client"), certificate("other")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(clock: FakeClock, **options: Any) -> jwtguard.Validator:
    return jwtguard.Validator(issuer=ISSUER, audience=AUDIENCE, jwks={"keys": [KEY.jwk]}, clock=clock, **options)


def token(clock: FakeClock, **claims: Any) -> str:
    return TokenFactory(ISSUER, AUDIENCE, key=KEY, clock=clock).mint(**claims)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.mark.parametrize(
    "presented",
    [CLIENT, CLIENT.public_bytes(Encoding.DER), CLIENT.public_bytes(Encoding.PEM).decode()],
    ids=["object", "der", "pem"],
)
def test_a_certificate_bound_token_needs_its_certificate(clock: FakeClock, presented: Any) -> None:
    validator = make(clock)
    bound = token(clock, cnf={"x5t#S256": certificate_thumbprint(CLIENT)})
    assert validator.authenticate("GET", URL, bearer(bound), presented)
    for wrong, code in (
        (None, "certificate_required"),
        (OTHER, "certificate_mismatch"),
        (b"junk", "certificate_mismatch"),
    ):
        with pytest.raises(jwtguard.InvalidTokenError) as caught:
            validator.authenticate("GET", URL, bearer(bound), wrong)
        assert caught.value.code == code


def test_an_unbound_token_ignores_the_certificate(clock: FakeClock) -> None:
    assert make(clock).authenticate("GET", URL, bearer(token(clock)), OTHER)


def test_step_up_checks_acr_and_auth_time(clock: FakeClock) -> None:
    validator = make(clock)
    now = int(clock())
    strong = validator.validate(token(clock, acr="mfa", auth_time=now - 100))
    validator.require_authentication(strong, acr_values=("mfa", "hwk"), max_age=300)
    weak = validator.validate(token(clock, acr="pwd", auth_time=now - 100))
    with pytest.raises(jwtguard.InsufficientUserAuthenticationError) as caught:
        validator.require_authentication(weak, acr_values=("mfa",), max_age=300)
    error = caught.value
    assert error.status_code == 401
    assert error.www_authenticate("api") == (
        'Bearer realm="api", error="insufficient_user_authentication", '
        'error_description="A stronger or more recent user authentication is required", '
        'acr_values="mfa", max_age="300", DPoP realm="api", algs="ES256 ES384 ES512 RS256 PS256 EdDSA"'
    )
    clock.advance(400)
    with pytest.raises(jwtguard.InsufficientUserAuthenticationError) as old:
        validator.require_authentication(strong, max_age=300)
    assert old.value.www_authenticate().startswith('Bearer error="insufficient_user_authentication"')
    assert 'max_age="300"' in old.value.www_authenticate()
    assert "acr_values" not in old.value.www_authenticate()
    no_time = validator.validate(token(clock, acr="mfa"))
    with pytest.raises(jwtguard.InsufficientUserAuthenticationError):
        validator.require_authentication(no_time, max_age=300)


def test_roles_from_every_usual_claim_and_from_configured_paths(clock: FakeClock) -> None:
    claims = make(clock).validate(
        token(clock, roles=["Admin"], groups=["g1", 7], **{"cognito:groups": ["c"]}, realm_access={"roles": ["kc"]})
    )
    assert claims.roles == {"Admin", "g1", "c", "kc"}
    custom = make(clock, role_claims=["resource_access.api.roles", "https://example.com/roles"])
    claims = custom.validate(
        token(
            clock,
            roles=["ignored"],
            resource_access={"api": {"roles": ["editor"]}},
            **{"https://example.com/roles": ["x"]},
        )
    )
    assert claims.roles == {"editor", "x"}


def test_require_roles_all_or_any(clock: FakeClock) -> None:
    validator = make(clock)
    claims = validator.validate(token(clock, roles=["reader", "writer"]))
    validator.require_roles(claims, "reader", "writer")
    validator.require_roles(claims, "admin", "writer", any_of=True)
    with pytest.raises(jwtguard.InsufficientRoleError) as caught:
        validator.require_roles(claims, "admin")
    error = caught.value
    assert (error.status_code, error.error, error.code, error.required_roles) == (
        403,
        "insufficient_scope",
        "insufficient_role",
        ("admin",),
    )
    assert "scope=" not in error.www_authenticate()


def test_any_of_scopes(clock: FakeClock) -> None:
    validator = make(clock)
    claims = validator.validate(token(clock, scope="read"))
    validator.require_scopes(claims, "admin", "read", any_of=True)
    with pytest.raises(jwtguard.InsufficientScopeError) as caught:
        validator.require_scopes(claims, "admin", "write", any_of=True)
    assert 'scope="admin write"' in caught.value.www_authenticate()


@pytest.mark.parametrize(
    "options",
    [{"roles": [""]}, {"acr_values": [""]}, {"max_age": -1}, {"roles_any_of": True}, {"max_age": "soon"}],
)
def test_bad_requirements_fail_when_built(options: dict[str, Any]) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        jwtguard.Requirement.of(**options)
