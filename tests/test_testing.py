"""The test kit: token factory options, key rotation, request counts, server lifecycle."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from fake_clock import FakeClock as Clock

import jwtguard
from jwtguard.testing import SUPPORTED_ALGORITHMS, LocalIssuer, LocalServer, Request, Response, SigningKey, TokenFactory
from jwtguard.testing.tokens import WRONG_AUDIENCE

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def issuer(clock: Clock) -> Iterator[LocalIssuer]:
    """An issuer on a fixed clock, for the tests that only mint and validate."""
    with LocalIssuer(clock=clock) as running:
        yield running


@pytest.fixture(scope="module")
def validator(issuer: LocalIssuer) -> jwtguard.Validator:
    return issuer.validator(leeway=0)


def rejection(validator: jwtguard.Validator, token: str) -> jwtguard.AuthError:
    with pytest.raises(jwtguard.AuthError) as refused:
        validator.validate(token)
    return refused.value


# -- the factory ---------------------------------------------------------------------------


def test_default_claims_are_auth0_shaped(issuer: LocalIssuer, validator: jwtguard.Validator, clock: Clock) -> None:
    claims = validator.validate(issuer.token())
    assert set(claims) == {"iss", "sub", "aud", "iat", "exp", "azp", "jti", "scope"}
    assert claims["iss"] == issuer.issuer
    assert claims["iss"].endswith("/")
    assert claims["aud"] == issuer.audience
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] == int(clock.now) + 3600
    assert claims.header == {"alg": "RS256", "kid": issuer.signing_key.kid, "typ": "JWT"}


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_every_issuer_algorithm_round_trips(alg: str) -> None:
    with LocalIssuer(algorithm=alg) as issuer:
        claims = issuer.validator().validate(issuer.token(scope="read:messages"))
        assert claims.header["alg"] == alg
        assert issuer.jwks()["keys"][0]["alg"] == alg


def test_supported_algorithms_make_keys() -> None:
    assert {"RS256", "PS256", "ES256", "EdDSA"} <= set(SUPPORTED_ALGORITHMS)
    with pytest.raises(ValueError, match="cannot generate"):
        SigningKey.generate("HS256")


def test_expired(issuer: LocalIssuer, validator: jwtguard.Validator, clock: Clock) -> None:
    token = issuer.factory().expired(seconds_ago=30)
    claims = TokenFactory.claims_of(token)
    assert claims["exp"] == int(clock.now) - 30
    assert claims["iat"] == claims["exp"] - 3600
    assert isinstance(rejection(validator, token), jwtguard.ExpiredTokenError)
    assert isinstance(rejection(validator, issuer.token(expires_in=-1)), jwtguard.ExpiredTokenError)


def test_not_yet_valid(issuer: LocalIssuer, validator: jwtguard.Validator, clock: Clock) -> None:
    token = issuer.factory().not_yet_valid(seconds_ahead=120)
    assert TokenFactory.claims_of(token)["nbf"] == int(clock.now) + 120
    assert rejection(validator, token).code == "token_not_yet_valid"
    assert TokenFactory.claims_of(issuer.token(not_before=-5))["nbf"] == int(clock.now) - 5
    validator.validate(issuer.token(not_before=-5))


def test_wrong_audience(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    token = issuer.factory().wrong_audience()
    assert TokenFactory.claims_of(token)["aud"] == WRONG_AUDIENCE
    assert rejection(validator, token).code == "audience_mismatch"
    assert rejection(validator, issuer.token(aud="https://elsewhere.test")).code == "audience_mismatch"


def test_missing_scope(issuer: LocalIssuer) -> None:
    token = issuer.factory().missing_scope()
    assert "scope" not in TokenFactory.claims_of(token)
    strict = issuer.validator(required_scopes=["read:messages"])
    assert isinstance(rejection(strict, token), jwtguard.InsufficientScopeError)
    assert strict.validate(issuer.token(scope="read:messages write:messages")).scopes >= {"read:messages"}


def test_other_key(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    same_kid = issuer.factory().other_key()
    assert TokenFactory.header_of(same_kid)["kid"] == issuer.signing_key.kid
    assert rejection(validator, same_kid).code == "bad_signature"
    other_kid = issuer.factory().other_key(same_kid=False)
    assert TokenFactory.header_of(other_kid)["kid"] != issuer.signing_key.kid
    assert rejection(validator, other_kid).code == "unknown_key"


def test_id_token(issuer: LocalIssuer, clock: Clock) -> None:
    token = issuer.factory(client_id="my-spa").id_token(nonce="n-1", email="a@example.test")
    claims = TokenFactory.claims_of(token)
    assert claims["aud"] == "my-spa"
    assert claims["nonce"] == "n-1"
    assert claims["auth_time"] == int(clock.now)
    assert claims["email"] == "a@example.test"
    assert not {"scope", "azp", "jti"} & set(claims)
    assert issuer.validator(audience="my-spa").validate(token)["sub"] == "user-123"
    assert rejection(issuer.validator(), token).code == "audience_mismatch"


def test_overrides_headers_and_dropped_claims(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    token = issuer.token(sub="user-7", jti=None, headers={"typ": "at+jwt", "x-test": "1"}, claims={"key": "value"})
    claims = validator.validate(token)
    assert claims["sub"] == "user-7"
    assert claims["key"] == "value"
    assert "jti" not in claims
    assert claims.header["typ"] == "at+jwt"
    assert claims.header["x-test"] == "1"
    assert "typ" not in TokenFactory.header_of(issuer.token(headers={"typ": None}))
    assert rejection(validator, issuer.token(headers={"typ": "id_token+jwt"})).code == "invalid_typ"


def test_factory_options() -> None:
    factory = TokenFactory(
        "https://issuer.test/",
        ["https://a.test", "https://b.test"],
        subject="svc",
        client_id="cli",
        lifetime=60,
        token_type="at+jwt",
        clock=lambda: 1000.0,
    )
    token = factory.mint()
    claims = factory.claims_of(token)
    assert (claims["aud"], claims["sub"], claims["azp"], claims["exp"]) == (
        ["https://a.test", "https://b.test"],
        "svc",
        "cli",
        1060,
    )
    assert factory.header_of(token)["typ"] == "at+jwt"
    assert factory.key.alg == "RS256"


def test_issuer_factory_follows_access_token_settings(clock: Clock) -> None:
    with LocalIssuer(algorithm="ES256", clock=clock, access_token_lifetime=90, access_token_type="at+jwt") as issuer:
        token = issuer.token()
        claims = TokenFactory.claims_of(token)
        assert claims["exp"] - claims["iat"] == 90
        assert TokenFactory.header_of(token)["typ"] == "at+jwt"
        assert TokenFactory.claims_of(issuer.factory(lifetime=10).mint())["exp"] == int(clock.now) + 10


# -- keys, rotation and request counts ----------------------------------------------------------


def test_rotate_and_retire() -> None:
    with LocalIssuer(algorithm="ES256") as issuer:
        old_kid = issuer.signing_key.kid
        old_token = issuer.token()
        validator = issuer.validator()
        validator.validate(old_token)
        assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)

        new_key = issuer.rotate(kid="second")
        assert issuer.signing_key is new_key
        assert [key.kid for key in issuer.keys] == [old_kid, "second"]
        new_token = issuer.token()
        assert TokenFactory.header_of(new_token)["kid"] == "second"
        validator.validate(new_token)  # unknown kid: one refetch finds it
        assert issuer.jwks_fetches == 2
        validator.validate(old_token)  # the old key is still published
        assert issuer.jwks_fetches == 2

        issuer.retire(old_kid)
        assert [key["kid"] for key in issuer.jwks()["keys"]] == ["second"]
        fresh = issuer.validator()
        assert rejection(fresh, old_token).code == "unknown_key"
        fresh.validate(new_token)
        issuer.retire("never-existed")  # harmless


def test_rotate_to_another_algorithm() -> None:
    with LocalIssuer(algorithm="ES256") as issuer:
        issuer.rotate("EdDSA")
        assert sorted(key.alg for key in issuer.keys) == ["ES256", "EdDSA"]
        assert issuer.validator().validate(issuer.token()).header["alg"] == "EdDSA"


def test_jwks_is_served_with_public_keys_only(issuer: LocalIssuer) -> None:
    with _OPENER.open(issuer.jwks_uri, timeout=5) as response:
        assert response.headers["Cache-Control"] == "max-age=600"
        document = json.loads(response.read())
    (key,) = document["keys"]
    assert key["kid"] == issuer.signing_key.kid
    assert key["use"] == "sig"
    assert "d" not in key  # never the private part


# -- lifecycle --------------------------------------------------------------------------------


def test_context_manager_starts_stops_and_frees_the_port() -> None:
    issuer = LocalIssuer(algorithm="ES256")
    with pytest.raises(RuntimeError):
        _ = issuer.url  # not started yet
    with issuer as running:
        assert running is issuer
        port = int(issuer.url.rsplit(":", 1)[1])
        with _OPENER.open(issuer.url + "/.well-known/openid-configuration", timeout=5) as response:
            assert json.loads(response.read())["issuer"] == issuer.issuer
    with pytest.raises(RuntimeError):
        _ = issuer.url
    with pytest.raises(urllib.error.URLError):
        _OPENER.open(f"http://127.0.0.1:{port}/.well-known/jwks.json", timeout=5)
    with LocalServer(port=port) as again:  # the port is free again: a new server binds it
        assert again.url == f"http://127.0.0.1:{port}"
    issuer.stop()  # stopping twice is harmless
    with issuer:  # and it can start again
        assert issuer.validator().validate(issuer.token())


def test_fixed_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with LocalIssuer(algorithm="ES256", port=port) as issuer:
        assert issuer.issuer == f"http://127.0.0.1:{port}/"


# -- the server ---------------------------------------------------------------------------------


def _raw(
    server: LocalServer, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.putrequest(method, path)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_local_server_routes_hits_and_errors() -> None:
    seen: list[Request] = []

    def echo(request: Request) -> Response:
        seen.append(request)
        return Response(201, {"form": request.form(), "type": request.header("CONTENT-TYPE")})

    def broken(request: Request) -> Response:
        raise RuntimeError("boom")

    with LocalServer() as server:
        server.route("/echo", echo, "POST")
        server.route("/broken", broken)
        status, body = _raw(
            server,
            "POST",
            "/echo?x=1",
            b"a=1&b=2",
            {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "7"},
        )
        assert (status, json.loads(body)) == (
            201,
            {"form": {"a": "1", "b": "2"}, "type": "application/x-www-form-urlencoded"},
        )
        assert seen[0].query == {"x": ["1"]}
        assert _raw(server, "GET", "/echo")[0] == 404  # the route is POST only
        assert _raw(server, "GET", "/broken") == (500, b'{"error": "server_error"}')  # no traceback leaks
        assert _raw(server, "POST", "/echo", b"", {"Content-Length": "abc"})[0] == 400
        assert _raw(server, "POST", "/echo", b"", {"Content-Length": str(10**9)})[0] == 413
        assert server.hits["/echo"] == 2
        assert server.hits["/broken"] == 1
