"""DPoP (RFC 9449) through validator.authenticate: proofs, binding, replay, nonces, modes."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from fake_clock import FakeClock

import jwtguard
from jwtguard._dpop import ReplayCache, normalize_htu
from jwtguard.testing import DPoPKey, SigningKey, TokenFactory

ISSUER = "https://issuer.example.test/"
AUDIENCE = "https://api.example.test"
URL = "https://api.example.test/messages"
KEY = SigningKey.generate("RS256", kid="k")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> DPoPKey:
    return DPoPKey.generate(clock=clock)


def make(clock: FakeClock, **options: Any) -> jwtguard.Validator:
    return jwtguard.Validator(issuer=ISSUER, audience=AUDIENCE, jwks={"keys": [KEY.jwk]}, clock=clock, **options)


def bound_token(clock: FakeClock, client: DPoPKey, **claims: Any) -> str:
    return TokenFactory(ISSUER, AUDIENCE, key=KEY, clock=clock).mint(cnf=client.cnf, **claims)


def refused(validator: jwtguard.Validator, headers: Any, method: str = "GET", url: str = URL) -> jwtguard.AuthError:
    with pytest.raises(jwtguard.AuthError) as caught:
        validator.authenticate(method, url, headers)
    return caught.value


def test_a_bound_token_with_its_proof_is_accepted_sync_and_async(clock: FakeClock, client: DPoPKey) -> None:
    validator = make(clock)
    token = bound_token(clock, client, sub="alice")
    assert validator.authenticate("GET", URL, client.headers("GET", URL, token))["sub"] == "alice"
    headers = client.headers("POST", URL + "?page=2", token)
    assert asyncio.run(validator.aauthenticate("POST", URL + "?page=2", headers))["sub"] == "alice"
    for _ in range(3):  # cache hits still check a fresh proof each time
        assert validator.authenticate("GET", URL, client.headers("GET", URL, token))["sub"] == "alice"


@pytest.mark.parametrize("mode", ["disabled", "allowed", "required"])
def test_a_bound_token_sent_as_bearer_is_refused_in_every_mode(clock: FakeClock, client: DPoPKey, mode: str) -> None:
    validator = make(clock, dpop=mode)
    token = bound_token(clock, client)
    for _ in range(3):  # also once the token is cached
        error = refused(validator, {"Authorization": f"Bearer {token}"})
        assert isinstance(error, jwtguard.InvalidTokenError)
        assert error.code == "dpop_bound_token"


def test_allowed_mode_accepts_plain_bearer_tokens_and_names_both_schemes(clock: FakeClock) -> None:
    validator = make(clock)
    token = TokenFactory(ISSUER, AUDIENCE, key=KEY, clock=clock).mint()
    assert validator.authenticate("GET", URL, {"Authorization": f"Bearer {token}"})
    challenge = refused(validator, {}).www_authenticate("api")
    assert challenge == 'Bearer realm="api", DPoP realm="api", algs="ES256 ES384 ES512 RS256 PS256 EdDSA"'


def test_required_mode_names_only_dpop_and_refuses_unbound_tokens(clock: FakeClock, client: DPoPKey) -> None:
    validator = make(clock, dpop="required", dpop_algorithms=["ES256"])
    assert refused(validator, {}).www_authenticate("api") == 'DPoP realm="api", algs="ES256"'
    unbound = TokenFactory(ISSUER, AUDIENCE, key=KEY, clock=clock).mint()
    assert refused(validator, {"Authorization": f"Bearer {unbound}"}).code == "dpop_required"
    error = refused(validator, client.headers("GET", URL, unbound))
    assert error.code == "not_dpop_bound"
    assert error.www_authenticate("api").startswith('DPoP realm="api", algs="ES256", error="invalid_token"')


def test_disabled_mode_treats_the_dpop_scheme_as_no_credentials(clock: FakeClock, client: DPoPKey) -> None:
    validator = make(clock, dpop="disabled")
    error = refused(validator, client.headers("GET", URL, bound_token(clock, client)))
    assert isinstance(error, jwtguard.MissingTokenError)
    assert error.www_authenticate("api") == 'Bearer realm="api"'


def _proof_cases() -> list[tuple[str, Any]]:
    other = DPoPKey.generate()
    return [
        ("no proof", lambda c, t: {"Authorization": f"DPoP {t}"}),
        (
            "two proofs",
            lambda c, t: [
                ("Authorization", f"DPoP {t}"),
                ("DPoP", c.proof("GET", URL, t)),
                ("DPoP", c.proof("GET", URL, t)),
            ],
        ),
        ("garbage", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": "not.a.proof"}),
        ("oversize", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": c.proof("GET", URL, t, pad="x" * 9000)}),
        ("wrong htm", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": c.proof("POST", URL, t)}),
        ("wrong htu", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": c.proof("GET", URL + "/other", t)}),
        (
            "other host",
            lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": c.proof("GET", "https://evil.example/messages", t)},
        ),
        ("no ath", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": c.proof("GET", URL)}),
        ("wrong ath", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": c.proof("GET", URL, t + "x")}),
        ("no jti", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": c.proof("GET", URL, t, jti="")}),
        ("old iat", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": c.proof("GET", URL, t, iat=c.clock() - 400)}),
        ("future iat", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": c.proof("GET", URL, t, iat=c.clock() + 60)}),
        ("string iat", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": c.proof("GET", URL, t, iat="now")}),
        ("another key", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": other.proof("GET", URL, t)}),
        ("jwk of another key", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": _swap_jwk(c, other, t)}),
        ("typ JWT", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": _with_header(c, t, typ="JWT")}),
        (
            "private jwk",
            lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": _with_header(c, t, jwk={**c.public_jwk, "d": "AAAA"})},
        ),
        (
            "symmetric jwk",
            lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": _with_header(c, t, jwk={"kty": "oct", "k": "AAAA"})},
        ),
        ("no jwk", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": _with_header(c, t, jwk=None)}),
        ("alg none", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": _with_header(c, t, alg="none")}),
        ("alg HS256", lambda c, t: {"Authorization": f"DPoP {t}", "DPoP": _with_header(c, t, alg="HS256")}),
    ]


def _with_header(client: DPoPKey, token: str, **header: Any) -> str:
    from jwtguard._dpop import token_hash

    claims = {"htm": "GET", "htu": URL, "iat": int(client.clock()), "jti": "j", "ath": token_hash(token)}
    merged = {"typ": "dpop+jwt", "kid": None, "jwk": client.public_jwk, **header}
    return client.key.sign(claims, merged)


def _swap_jwk(client: DPoPKey, other: DPoPKey, token: str) -> str:
    # Signed by `other`, but naming the client's public key: the signature cannot verify.
    from jwtguard._dpop import token_hash

    claims = {"htm": "GET", "htu": URL, "iat": int(client.clock()), "jti": "j", "ath": token_hash(token)}
    return other.key.sign(claims, {"typ": "dpop+jwt", "kid": None, "jwk": client.public_jwk})


@pytest.mark.parametrize(("name", "headers"), _proof_cases(), ids=[name for name, _ in _proof_cases()])
def test_every_bad_proof_is_an_invalid_dpop_proof(clock: FakeClock, client: DPoPKey, name: str, headers: Any) -> None:
    validator = make(clock)
    token = bound_token(clock, client)
    error = refused(validator, headers(client, token))
    assert isinstance(error, jwtguard.InvalidDPoPProofError), (name, error.code)
    assert (error.status_code, error.error) == (401, "invalid_dpop_proof")
    assert error.description in jwtguard.errors.DESCRIPTIONS.values()
    challenge = error.www_authenticate("api")
    assert challenge.startswith('Bearer realm="api", DPoP realm="api", algs="')
    assert 'error="invalid_dpop_proof"' in challenge.split("DPoP ", 1)[1]
    validator.authenticate("GET", URL, client.headers("GET", URL, token))  # the real client still gets in


@pytest.mark.parametrize(
    "same",
    [
        "https://API.example.test/messages",
        "HTTPS://api.example.test:443/messages",
        "https://api.example.test/messages?other=query#frag",
        "https://api.example.test/%6Dessages",
        "https://api.example.test/a/../messages",
    ],
)
def test_htu_is_compared_after_rfc3986_normalisation(clock: FakeClock, client: DPoPKey, same: str) -> None:
    validator = make(clock)
    token = bound_token(clock, client)
    headers = {"Authorization": f"DPoP {token}", "DPoP": client.proof("GET", same, token)}
    assert validator.authenticate("GET", URL, headers)
    assert normalize_htu(same) == normalize_htu(URL)


def test_a_replayed_proof_is_refused_even_across_threads(clock: FakeClock, client: DPoPKey) -> None:
    validator = make(clock)
    token = bound_token(clock, client)
    headers = client.headers("GET", URL, token)
    results: list[str] = []

    def call() -> None:
        try:
            validator.authenticate("GET", URL, headers)
            results.append("ok")
        except jwtguard.AuthError as error:
            results.append(error.code)

    threads = [threading.Thread(target=call) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["dpop_proof_replayed"] * 31 + ["ok"]
    assert validator.authenticate("GET", URL, client.headers("GET", URL, token))  # a new proof is fine


def test_a_replay_is_caught_until_the_proof_could_no_longer_be_accepted(clock: FakeClock, client: DPoPKey) -> None:
    validator = make(clock, dpop_max_age=60, leeway=5)
    token = bound_token(clock, client)
    headers = client.headers("GET", URL, token)
    validator.authenticate("GET", URL, headers)
    clock.advance(65)
    assert refused(validator, headers).code == "dpop_proof_replayed"
    clock.advance(1)
    assert refused(validator, headers).code == "invalid_dpop_proof"  # too old now: refused for its iat


def test_a_full_replay_cache_refuses_with_503_instead_of_forgetting(clock: FakeClock, client: DPoPKey) -> None:
    validator = make(clock, dpop_replay_cache_size=2, timer=clock)  # replay entries age on the timer
    token = bound_token(clock, client)
    for _ in range(2):
        validator.authenticate("GET", URL, client.headers("GET", URL, token))
    error = refused(validator, client.headers("GET", URL, token))
    assert isinstance(error, jwtguard.ServiceUnavailableError)
    assert error.status_code == 503
    assert "Retry-After" in error.headers()
    clock.advance(400)  # the remembered proofs expired: room again
    validator.authenticate("GET", URL, client.headers("GET", URL, token))


def test_replay_cache_is_bounded_and_expires() -> None:
    from jwtguard._dpop import Proof

    cache = ReplayCache(3)
    for n in range(3):
        assert cache.add(Proof("k", f"j{n}", 0), expires_at=10 + n, now=0) is True
    assert cache.add(Proof("k", "j0", 0), expires_at=10, now=1) is False
    assert cache.add(Proof("k", "j3", 0), expires_at=20, now=1) is None
    assert cache.add(Proof("k", "j3", 0), expires_at=20, now=11) is True
    assert len(cache) == 2


def test_server_nonces(clock: FakeClock, client: DPoPKey) -> None:
    validator = make(clock, dpop_nonce=True, dpop_nonce_secret="a shared secret of the fleet")
    token = bound_token(clock, client)
    error = refused(validator, client.headers("GET", URL, token))
    assert isinstance(error, jwtguard.UseDPoPNonceError)
    nonce = error.headers("api")["DPoP-Nonce"]
    assert 'error="use_dpop_nonce"' in error.headers("api")["WWW-Authenticate"]
    assert validator.authenticate("GET", URL, client.headers("GET", URL, token, nonce=nonce))
    twin = make(clock, dpop_nonce=True, dpop_nonce_secret="a shared secret of the fleet")
    assert twin.authenticate("GET", URL, client.headers("GET", URL, token, nonce=nonce))  # another worker
    assert refused(validator, client.headers("GET", URL, token, nonce="forged")).code == "use_dpop_nonce"
    clock.advance(700)  # two windows later
    stale = refused(validator, client.headers("GET", URL, token, nonce=nonce))
    assert isinstance(stale, jwtguard.UseDPoPNonceError)
    assert stale.nonce != nonce


@pytest.mark.parametrize(
    "options",
    [
        {"dpop": "sometimes"},
        {"dpop_algorithms": ["HS256"]},
        {"dpop_algorithms": []},
        {"dpop_nonce": "yes"},
        {"dpop_nonce_secret": "short"},
        {"dpop_replay_cache_size": 0},
        {"dpop_max_age": -1},
    ],
)
def test_bad_dpop_options_fail_at_construction(clock: FakeClock, options: dict[str, Any]) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        make(clock, **options)


def test_an_unknown_confirmation_method_refuses_the_token(clock: FakeClock) -> None:
    validator = make(clock)
    for cnf in ({"jwk": {"kty": "EC"}}, {"kid": "x"}, "jkt", {}):
        token = TokenFactory(ISSUER, AUDIENCE, key=KEY, clock=clock).mint(cnf=cnf)
        assert refused(validator, {"Authorization": f"Bearer {token}"}).code == "unsupported_binding"


def test_the_local_issuer_binds_tokens_to_the_proof_key(clock: FakeClock) -> None:
    import http.client
    import json
    import urllib.parse

    from jwtguard.testing import LocalIssuer

    with LocalIssuer(clock=clock) as issuer:
        client = DPoPKey.generate(clock=clock)
        endpoint = issuer.token_endpoint
        parts = urllib.parse.urlsplit(endpoint)
        form = urllib.parse.urlencode(
            {"grant_type": "client_credentials", "client_id": "test-client", "client_secret": "test-secret"}
        )

        def post(proof: str | None) -> tuple[int, dict[str, Any]]:
            connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            if proof is not None:
                headers["DPoP"] = proof
            try:
                connection.request("POST", parts.path, body=form, headers=headers)
                answer = connection.getresponse()
                return answer.status, json.loads(answer.read())
            finally:
                connection.close()

        status, body = post(client.proof("POST", endpoint))
        assert (status, body["token_type"]) == (200, "DPoP")
        validator = issuer.validator()
        claims = validator.authenticate("GET", URL, client.headers("GET", URL, body["access_token"]))
        assert claims["cnf"] == {"jkt": client.jkt}
        assert post(None)[1]["token_type"] == "Bearer"
        assert post(client.proof("GET", endpoint)) == (
            400,
            {"error": "invalid_dpop_proof", "error_description": "The DPoP proof is invalid"},
        )
