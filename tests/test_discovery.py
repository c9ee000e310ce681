"""Finding an issuer's keys: OIDC discovery, then RFC 8414 metadata, then jwks.json; keys as X.509 certificates."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from fake_clock import FakeClock

import jwtguard
from jwtguard._discovery import authority, metadata_urls
from jwtguard.testing import LocalServer, Request, Response, SigningKey, TokenFactory

AUDIENCE = "https://api.example.test"
OIDC = "/.well-known/openid-configuration"
RFC8414 = "/.well-known/oauth-authorization-server"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


def recorder(server: LocalServer) -> list[str]:
    """Every path requested, in order (a catch-all over the routes the test adds)."""
    seen: list[str] = []
    original = server.routes

    class Recording(dict[Any, Any]):
        def get(self, key: Any, default: Any = None) -> Any:
            if key[0] == "GET":
                seen.append(key[1])
            return dict.get(self, key, default)

    server.routes = Recording(original)
    return seen


@pytest.mark.parametrize(
    ("issuer", "oidc", "rfc8414"),
    [
        (
            "https://host.example/tenant1",
            "https://host.example/tenant1" + OIDC,
            "https://host.example" + RFC8414 + "/tenant1",
        ),
        ("https://host.example/a/b/", "https://host.example/a/b" + OIDC, "https://host.example" + RFC8414 + "/a/b"),
        ("https://host.example/", "https://host.example" + OIDC, "https://host.example" + RFC8414),
        ("https://host.example", "https://host.example" + OIDC, "https://host.example" + RFC8414),
        ("http://127.0.0.1:8080/t", "http://127.0.0.1:8080/t" + OIDC, "http://127.0.0.1:8080" + RFC8414 + "/t"),
    ],
)
def test_metadata_urls_follow_each_rule(issuer: str, oidc: str, rfc8414: str) -> None:
    assert metadata_urls(issuer) == (oidc, rfc8414)


def test_authority_drops_default_ports() -> None:
    assert authority("https://Host.Example:443/x") == "host.example"
    assert authority("http://127.0.0.1:8080/x") == "127.0.0.1:8080"
    assert authority("https://host.example:8443") == "host.example:8443"


def test_rfc8414_metadata_is_tried_after_oidc_discovery_fails(server: LocalServer, clock: FakeClock) -> None:
    key = SigningKey.generate("RS256")
    issuer = server.url + "/tenant1"
    document = {"issuer": issuer, "jwks_uri": server.url + "/keys/tenant1"}
    server.route(RFC8414 + "/tenant1", lambda request: Response(200, document))
    server.route("/keys/tenant1", lambda request: Response(200, {"keys": [key.jwk]}))
    seen = recorder(server)
    validator = jwtguard.Validator(issuer=issuer, audience=AUDIENCE, clock=clock)
    validator.validate(TokenFactory(issuer, AUDIENCE, key=key, clock=clock).mint())
    assert seen == ["/tenant1" + OIDC, RFC8414 + "/tenant1", "/keys/tenant1"]


def test_oidc_discovery_wins_when_it_answers(server: LocalServer, clock: FakeClock) -> None:
    key = SigningKey.generate("RS256")
    issuer = server.url + "/tenant1"
    server.route("/tenant1" + OIDC, lambda request: Response(200, {"issuer": issuer, "jwks_uri": server.url + "/k"}))
    server.route("/k", lambda request: Response(200, {"keys": [key.jwk]}))
    seen = recorder(server)
    jwtguard.Validator(issuer=issuer, audience=AUDIENCE, clock=clock).validate(
        TokenFactory(issuer, AUDIENCE, key=key, clock=clock).mint()
    )
    assert seen == ["/tenant1" + OIDC, "/k"]


def test_rfc8414_metadata_must_name_the_same_issuer(server: LocalServer, clock: FakeClock) -> None:
    issuer = server.url + "/tenant1"
    document = {"issuer": server.url + "/tenant2", "jwks_uri": server.url + "/keys"}
    server.route(RFC8414 + "/tenant1", lambda request: Response(200, document))
    validator = jwtguard.Validator(issuer=issuer, audience=AUDIENCE, clock=clock)
    with pytest.raises(jwtguard.KeySetUnavailableError) as caught:
        validator.validate(TokenFactory(issuer, AUDIENCE, clock=clock).mint())
    assert caught.value.reason == "discovery_issuer_mismatch"
    assert server.hits["/keys"] == 0


def test_jwks_json_is_the_last_resort(server: LocalServer, clock: FakeClock) -> None:
    key = SigningKey.generate("RS256")
    issuer = server.url + "/tenant1"
    server.route("/tenant1/.well-known/jwks.json", lambda request: Response(200, {"keys": [key.jwk]}))
    seen = recorder(server)
    jwtguard.Validator(issuer=issuer, audience=AUDIENCE, clock=clock).validate(
        TokenFactory(issuer, AUDIENCE, key=key, clock=clock).mint()
    )
    assert seen == ["/tenant1" + OIDC, RFC8414 + "/tenant1", "/tenant1/.well-known/jwks.json"]


def test_an_outage_of_oidc_discovery_is_not_a_reason_to_try_elsewhere(clock: FakeClock) -> None:
    issuer = "http://127.0.0.1:9/tenant1"  # nothing listens on the discard port
    validator = jwtguard.Validator(issuer=issuer, audience=AUDIENCE, clock=clock, timeout=1)
    status = validator.warm_up()[0]
    assert (status.loaded, status.last_error) == (False, "network_error")


# -- keys published as X.509 certificates ({kid: PEM}), as Google and Firebase do -----------------------


def certificate(key: SigningKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system.gserviceaccount.com")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    public = key.private_key.public_key()
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key.private_key, hashes.SHA256())
    )
    return built.public_bytes(serialization.Encoding.PEM).decode("ascii")


def test_a_certificate_map_is_read_as_a_key_set(server: LocalServer, clock: FakeClock) -> None:
    keys = [SigningKey.generate("RS256"), SigningKey.generate("ES256"), SigningKey.generate("ES384")]
    server.route("/x509", lambda request: Response(200, {key.kid: certificate(key) for key in keys}))
    issuer = "https://securetoken.google.com/project"
    validator = jwtguard.Validator(
        issuer=issuer, audience=AUDIENCE, jwks_uri=server.url + "/x509", algorithms=["RS256", "ES256", "ES384"]
    )
    for key in keys:  # certificates long expired: only their keys count
        assert validator.validate(TokenFactory(issuer, AUDIENCE, key=key, clock=clock).mint())["iss"] == issuer
    other = SigningKey(keys[0].alg, keys[0].kid, SigningKey.generate("RS256").private_key)
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        validator.validate(TokenFactory(issuer, AUDIENCE, key=other, clock=clock).mint())
    assert caught.value.code == "bad_signature"
    assert server.hits["/x509"] == 1


def test_a_certificate_map_obeys_max_keys(server: LocalServer) -> None:
    keys = [SigningKey.generate("ES256") for _ in range(3)]
    parsed: list[str] = []

    def serve(request: Request) -> Response:
        parsed.append(request.path)
        return Response(200, {key.kid: certificate(key) for key in keys})

    server.route("/x509", serve)
    validator = jwtguard.Validator(
        issuer="https://i.example/", audience=AUDIENCE, jwks_uri=server.url + "/x509", algorithms=["ES256"], max_keys=2
    )
    status = validator.warm_up()[0]
    assert (status.loaded, status.key_count, status.dropped_keys) == (True, 2, 1)


@pytest.mark.parametrize(
    "document",
    [
        {"kid": "not a certificate"},
        {"kid": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
        {},
        {"kid": 1},
    ],
)
def test_a_broken_certificate_map_is_an_outage_not_a_crash(server: LocalServer, document: dict[str, Any]) -> None:
    server.route("/x509", lambda request: Response(200, document))
    validator = jwtguard.Validator(issuer="https://i.example/", audience=AUDIENCE, jwks_uri=server.url + "/x509")
    status = validator.warm_up()[0]
    assert not status.loaded
    assert status.last_error in ("invalid_jwks", "no_usable_keys")
