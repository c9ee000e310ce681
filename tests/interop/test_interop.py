"""Interoperability: tokens from a real, certified OpenID Provider (panva's oidc-provider).

The provider runs as a Node.js subprocess on 127.0.0.1 (``provider.mjs``); these
tests obtain tokens from it over HTTP and validate them with jwtguard, which
finds the keys through OIDC discovery at the provider's issuer URL. Without
Node.js the tests skip, except in CI (``CI`` set), where they fail instead.
See docs/interop.md.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fake_clock import OffsetClock
from interop_provider import (
    ALGORITHMS,
    API,
    CLIENT_FOR,
    EXAMPLE_PATHS,
    OTHER_API,
    SHORT_API,
    TEST_USER,
    Provider,
    call_example,
    example_url,
    running_provider,
    send_to_example,
    tamper,
)
from waiting import wait_until

import jwtguard
from jwtguard.testing import DPoPKey, LocalIssuer

pytestmark = pytest.mark.slow
SHORT_TTL = 2  # seconds: the lifetime of tokens for SHORT_API, waited out by the expiry tests


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider(SHORT_ACCESS_TOKEN_TTL=str(SHORT_TTL)) as running:
        yield running


@pytest.fixture(scope="module")
def second_provider() -> Iterator[Provider]:
    """Another provider on another port, whose keys the rotation test changes; long-lived tokens."""
    with running_provider(ACCESS_TOKEN_TTL="3600") as running:
        yield running


@pytest.fixture(scope="module")
def tokens(provider: Provider) -> dict[str, str]:
    """A ``read:messages`` token for API per algorithm, from ``client_credentials``."""
    return {alg: provider.client_credentials(CLIENT_FOR[alg]) for alg in ALGORITHMS}


def validator_for(provider: Provider, audience: str = API, **options: Any) -> jwtguard.Validator:
    """A validator with default settings: keys found by discovery at the provider's issuer URL."""
    return jwtguard.Validator(issuer=provider.issuer, audience=audience, algorithms=list(ALGORITHMS), **options)


def refusal(validator: jwtguard.Validator, token: str) -> jwtguard.AuthError | None:
    """The error ``validator`` refuses ``token`` with, or ``None`` when it accepts it."""
    try:
        validator.validate(token)
    except jwtguard.AuthError as error:
        return error
    return None


def header_of(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


# -- the core ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_client_credentials_token_validates(provider: Provider, tokens: dict[str, str], alg: str) -> None:
    token = tokens[alg]
    header = header_of(token)
    assert header["alg"] == alg
    assert header["typ"] == "at+jwt"  # RFC 9068
    client_id = CLIENT_FOR[alg]
    validator = validator_for(provider, authorized_parties=[client_id])

    claims = validator.validate(token)
    async_claims = asyncio.run(validator_for(provider, authorized_parties=[client_id]).avalidate(token))

    for got in (claims, async_claims):
        assert got["iss"] == provider.issuer
        assert got["aud"] == API  # a single string, not a list
        assert got["sub"] == client_id  # oidc-provider: a client's own token has sub = client_id
        assert got["client_id"] == client_id
        assert "azp" not in got  # authorized_parties matched through client_id
        assert got.scopes == frozenset({"read:messages"})
        assert got.header["kid"] == header["kid"]
    validator.require_scopes(claims, "read:messages")
    with pytest.raises(jwtguard.InsufficientScopeError):
        validator.require_scopes(claims, "write:messages")


def test_authorized_parties_rejects_another_client(provider: Provider, tokens: dict[str, str]) -> None:
    validator = validator_for(provider, authorized_parties=["some-other-client"])
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        validator.validate(tokens["ES256"])
    assert caught.value.status_code == 401


def test_one_key_set_fetch_serves_all_algorithms(provider: Provider, tokens: dict[str, str]) -> None:
    validator = validator_for(provider)
    before = provider.stats()["jwks"]
    for alg in ALGORITHMS:
        assert validator.validate(tokens[alg])["sub"] == CLIENT_FOR[alg]
    assert provider.stats()["jwks"] == before + 1


def test_wrong_audience_rejected(provider: Provider) -> None:
    token = provider.client_credentials(CLIENT_FOR["RS256"], resource=OTHER_API)
    validator = validator_for(provider)
    assert validator_for(provider, audience=OTHER_API).validate(token)["aud"] == OTHER_API
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        validator.validate(token)
    error = caught.value
    assert (error.status_code, error.error) == (401, "invalid_token")
    assert error.www_authenticate(realm="api").startswith('Bearer realm="api", error="invalid_token"')


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_tampered_payload_rejected(provider: Provider, tokens: dict[str, str], alg: str) -> None:
    validator = validator_for(provider)
    validator.validate(tokens[alg])  # the untouched token is fine
    for changes in ({"scope": "read:messages write:messages"}, {"sub": "someone-else"}):
        with pytest.raises(jwtguard.InvalidTokenError) as caught:
            validator.validate(tamper(tokens[alg], **changes))
        assert (caught.value.status_code, caught.value.error) == (401, "invalid_token")


def test_expired_token_rejected_after_its_real_lifetime(provider: Provider) -> None:
    token = provider.client_credentials(CLIENT_FOR["ES256"], resource=SHORT_API)
    # leeway=0: waiting out the default 5 s of allowed clock skew would only make the test slower.
    validator = validator_for(provider, audience=SHORT_API, leeway=0)
    claims = validator.validate(token)  # valid now...
    assert claims["exp"] - claims["iat"] == SHORT_TTL
    time.sleep(max(0.0, claims["exp"] - time.time()) + 0.05)  # ...and once its lifetime has run out:
    with pytest.raises(jwtguard.ExpiredTokenError) as caught:
        validator.validate(token)
    error = caught.value
    assert (error.status_code, error.error, error.code) == (401, "invalid_token", "token_expired")
    assert "expired" in error.description
    with pytest.raises(jwtguard.ExpiredTokenError):
        asyncio.run(validator_for(provider, audience=SHORT_API, leeway=0).avalidate(token))
    # the same answer through an adapter
    response = call_example("starlette", validator, token)
    assert response.status == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "expired" in response.body["error_description"]


def test_loopback_http_issuer_on_any_port(provider: Provider, second_provider: Provider) -> None:
    """Two providers on two free ports: discovery over plain http works with no opt-in, per issuer."""
    assert provider.port != second_provider.port
    for running in (provider, second_provider):
        assert running.issuer.startswith("http://127.0.0.1:")
        metadata = httpx.get(running.discovery_url, trust_env=False).json()
        assert metadata["issuer"] == running.issuer
        assert metadata["jwks_uri"].startswith(running.issuer + "/")
    first = validator_for(provider)  # allow_insecure_http is left False
    second = validator_for(second_provider)
    token = second_provider.client_credentials(CLIENT_FOR["EdDSA"])
    assert second.validate(token)["iss"] == second_provider.issuer
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        first.validate(token)  # another issuer's token, though the same audience
    assert caught.value.code == "unknown_issuer"
    # the opt-in exists, and is needed, for a plain-http issuer that is not loopback
    with pytest.raises(jwtguard.ConfigurationError, match="allow_insecure_http"):
        jwtguard.Validator(issuer="http://issuer.example.test", audience=API)


def test_signing_key_rotation(second_provider: Provider) -> None:
    """New key: one key-set fetch. Old key retired: rejected once our cached key set refreshes."""
    clock = OffsetClock()
    validator = validator_for(second_provider, clock=clock, timer=clock)  # default cache: keys fresh for 600 s
    old_token = second_provider.client_credentials(CLIENT_FOR["RS256"])
    validator.validate(old_token)
    fetches = second_provider.stats()["jwks"]

    rotated = second_provider.rotate_keys()
    new_token = second_provider.client_credentials(CLIENT_FOR["RS256"])
    assert header_of(new_token)["kid"] == rotated["kids"]["RS256"] != header_of(old_token)["kid"]
    assert validator.validate(new_token)["sub"] == CLIENT_FOR["RS256"]  # unknown kid: one refetch
    assert second_provider.stats()["jwks"] == fetches + 1
    assert validator.validate(old_token)  # still published, still valid
    assert validator.validate(new_token)
    assert second_provider.stats()["jwks"] == fetches + 1

    retired = second_provider.retire_old_keys()
    assert header_of(old_token)["kid"] not in retired["published"]
    assert validator.validate(old_token)  # our cached key set still holds the old key
    clock.advance(601)  # past the max age: the stale keys answer at once while a refresh runs behind
    assert validator.validate(old_token)
    assert wait_until(lambda: refusal(validator, old_token) is not None)  # the refreshed set lacks its key
    caught = refusal(validator, old_token)
    assert caught is not None
    assert (caught.status_code, caught.error) == (401, "invalid_token")
    assert second_provider.stats()["jwks"] >= fetches + 2
    assert validator.validate(new_token)["sub"] == CLIENT_FOR["RS256"]


# -- the adapters' example apps ---------------------------------------------------------


@pytest.mark.parametrize("app", list(EXAMPLE_PATHS))
@pytest.mark.parametrize("alg", ALGORITHMS)
def test_example_app_accepts_provider_token(provider: Provider, tokens: dict[str, str], app: str, alg: str) -> None:
    response = call_example(app, validator_for(provider), tokens[alg])
    assert response.status == 200, response.body
    assert response.body["sub"] == CLIENT_FOR[alg]


@pytest.mark.parametrize("app", list(EXAMPLE_PATHS))
def test_example_app_checks_provider_scopes(provider: Provider, app: str) -> None:
    token = provider.client_credentials(CLIENT_FOR["PS256"], scope="write:messages")
    response = call_example(app, validator_for(provider), token)
    assert response.status == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("app", list(EXAMPLE_PATHS))
def test_example_app_rejects_wrong_audience_and_tampering(provider: Provider, tokens: dict[str, str], app: str) -> None:
    other = provider.client_credentials(CLIENT_FOR["ES256"], resource=OTHER_API)
    for token in (other, tamper(tokens["ES256"], sub="someone-else")):
        response = call_example(app, validator_for(provider), token)
        assert response.status == 401
        assert response.headers["www-authenticate"].startswith('Bearer realm="api", error="invalid_token"')


# -- DPoP-bound access tokens from the provider (RFC 9449) ----------------------------------
#
# cc-es256 asks for a token with a DPoP proof for POST <token endpoint> made by jwtguard's test kit;
# oidc-provider binds the JWT it issues to the proof's key (cnf.jkt). The same client key then makes
# the proofs for the API, checked by validator.authenticate and by every example app.

DPOP_CLIENT = CLIENT_FOR["ES256"]
#: The request URL of the core tests (the example apps have their own: ``example_url``).
API_URL = API + "/messages"

Requests = Callable[[DPoPKey, str, str], list[dict[str, str]]]


@dataclass(frozen=True)
class DPoPCase:
    """Requests made with a bound token, and how the last one must be answered."""

    name: str
    requests: Requests  # (client key, bound token, request URL) -> the headers of each request, in order
    status: int = 401
    error: type[jwtguard.AuthError] = jwtguard.InvalidDPoPProofError
    code: str = "invalid_dpop_proof"  # the validator's error code (the answer carries only ``error``)
    reason: str | None = None


def _replayed(key: DPoPKey, token: str, url: str) -> list[dict[str, str]]:
    once = key.headers("GET", url, token)
    return [once, once]


def _proof(key: DPoPKey, token: str, method: str, url: str) -> list[dict[str, str]]:
    return [{"Authorization": f"DPoP {token}", "DPoP": key.proof(method, url, token)}]


DPOP_CASES = [
    DPoPCase("valid", lambda k, t, u: [k.headers("GET", u, t)], status=200),
    DPoPCase("replayed", _replayed, code="dpop_proof_replayed"),
    DPoPCase("wrong_htm", lambda k, t, u: _proof(k, t, "POST", u), reason="htm"),
    DPoPCase("wrong_htu", lambda k, t, u: _proof(k, t, "GET", u + "/other"), reason="htu"),
    DPoPCase("other_key", lambda k, t, u: _proof(DPoPKey.generate("ES256"), t, "GET", u), code="dpop_key_mismatch"),
    DPoPCase(
        "bound_as_bearer",
        lambda k, t, u: [{"Authorization": f"Bearer {t}"}],
        error=jwtguard.InvalidTokenError,
        code="dpop_bound_token",
    ),
]


@pytest.fixture
def dpop_key() -> DPoPKey:
    return DPoPKey.generate("ES256")


@pytest.fixture
def dpop_token(provider: Provider, dpop_key: DPoPKey) -> str:
    """A ``read:messages`` token for API from cc-es256, bound by the provider to ``dpop_key``."""
    return provider.client_credentials(DPOP_CLIENT, dpop=dpop_key)


def test_provider_issues_dpop_bound_jwt(provider: Provider, dpop_key: DPoPKey, dpop_token: str) -> None:
    metadata = httpx.get(provider.discovery_url, trust_env=False).json()
    assert "ES256" in metadata["dpop_signing_alg_values_supported"]
    assert header_of(dpop_token)["typ"] == "at+jwt"  # still an RFC 9068 JWT, through resourceIndicators
    claims = validator_for(provider, authorized_parties=[DPOP_CLIENT]).validate(dpop_token)
    assert claims["cnf"] == {"jkt": dpop_key.jkt}  # the RFC 7638 thumbprint, computed alike on both sides
    assert (claims["aud"], claims["sub"]) == (API, DPOP_CLIENT)
    assert claims.scopes == frozenset({"read:messages"})


def test_provider_judges_the_test_kits_token_request_proofs(provider: Provider, dpop_key: DPoPKey) -> None:
    """oidc-provider checks our proofs as we check its clients': a replayed or misdirected proof is refused."""
    proof = dpop_key.proof("POST", provider.token_endpoint)
    assert provider.token_request(DPOP_CLIENT, dpop_proof=proof).status_code == 200
    replayed = provider.token_request(DPOP_CLIENT, dpop_proof=proof)
    assert (replayed.status_code, replayed.json()["error"]) == (400, "invalid_grant")
    elsewhere = provider.token_request(DPOP_CLIENT, dpop_proof=dpop_key.proof("POST", provider.issuer + "/other"))
    assert (elsewhere.status_code, elsewhere.json()["error"]) == (400, "invalid_dpop_proof")
    wrong_method = provider.token_request(DPOP_CLIENT, dpop_proof=dpop_key.proof("GET", provider.token_endpoint))
    assert (wrong_method.status_code, wrong_method.json()["error"]) == (400, "invalid_dpop_proof")


@pytest.mark.parametrize("case", DPOP_CASES, ids=lambda case: case.name)
def test_dpop_bound_token_through_the_core(
    provider: Provider, dpop_key: DPoPKey, dpop_token: str, case: DPoPCase
) -> None:
    validator = validator_for(provider)
    *before, last = case.requests(dpop_key, dpop_token, API_URL)
    for headers in before:
        validator.authenticate("GET", API_URL, headers)
    if case.status == 200:
        claims = validator.authenticate("GET", API_URL, last)
        assert claims["cnf"]["jkt"] == dpop_key.jkt
        assert claims["sub"] == DPOP_CLIENT
        return
    with pytest.raises(case.error) as caught:
        validator.authenticate("GET", API_URL, last)
    error = caught.value
    assert type(error) is case.error
    assert (error.status_code, error.error, error.code) == (401, case.error.error, case.code)
    if case.reason is not None:
        assert error.reason == case.reason


@pytest.mark.parametrize("case", DPOP_CASES, ids=lambda case: case.name)
@pytest.mark.parametrize("app", list(EXAMPLE_PATHS))
def test_dpop_bound_token_through_the_example_apps(
    provider: Provider, dpop_key: DPoPKey, dpop_token: str, app: str, case: DPoPCase
) -> None:
    responses = send_to_example(app, validator_for(provider), case.requests(dpop_key, dpop_token, example_url(app)))
    assert [response.status for response in responses[:-1]] == [200] * (len(responses) - 1)
    response = responses[-1]
    assert response.status == case.status, response.body
    if case.status == 200:
        assert response.body["sub"] == DPOP_CLIENT
        return
    # RFC 9449 §7.1: one challenge per accepted scheme; the error on the scheme it concerns.
    bearer, _, dpop = response.headers["www-authenticate"].partition(", DPoP ")
    assert bearer.startswith('Bearer realm="api"')
    assert dpop.startswith('realm="api", algs="')
    mine, other = (dpop, bearer) if case.error is jwtguard.InvalidDPoPProofError else (bearer, dpop)
    assert f'error="{case.error.error}"' in mine
    assert "error=" not in other
    if app == "django-drf":  # DRF answers in its own format: {"detail": <description>}
        assert set(response.body) == {"detail"}
    else:
        assert response.body["error"] == case.error.error


# -- refresh-token rotation: the real provider and our local issuer, side by side ----------


def _local_login(issuer: LocalIssuer, http: httpx.Client) -> dict[str, Any]:
    response = http.post(
        issuer.token_endpoint,
        auth=("test-client", "test-secret"),
        data={
            "grant_type": "password",
            "username": "test-user",
            "password": "test-password",
            "scope": "openid offline_access read:messages",
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _refresh_scenario(
    login: dict[str, Any], refresh: Any, validator: jwtguard.Validator, subject: str
) -> list[tuple[str, int, str | None]]:
    """Log in, refresh, reuse the spent refresh token, then try its successor; record each outcome."""
    outcomes: list[tuple[str, int, str | None]] = []
    first = login["refresh_token"]
    assert validator.validate(login["access_token"])["sub"] == subject

    response = refresh(first)
    body = response.json()
    outcomes.append(("refresh", response.status_code, body.get("error")))
    second = body["refresh_token"]
    assert second != first  # rotated
    claims = validator.validate(body["access_token"])
    assert claims["sub"] == subject
    assert "read:messages" in claims.scopes

    response = refresh(first)  # the spent token again: refused...
    outcomes.append(("reuse", response.status_code, response.json().get("error")))
    response = refresh(second)  # ...and the whole family revoked, so its successor too
    outcomes.append(("successor", response.status_code, response.json().get("error")))
    return outcomes


EXPECTED_REFRESH = [("refresh", 200, None), ("reuse", 400, "invalid_grant"), ("successor", 400, "invalid_grant")]


def test_refresh_token_rotation_at_the_provider(provider: Provider) -> None:
    login = provider.login()
    assert login["id_token"]
    validator = validator_for(provider, authorized_parties=["web-app"])
    outcomes = _refresh_scenario(login, provider.refresh, validator, subject=TEST_USER)
    assert outcomes == EXPECTED_REFRESH


def test_refresh_token_rotation_at_the_local_issuer() -> None:
    with (
        LocalIssuer(audience=API, access_token_type="at+jwt") as issuer,
        httpx.Client(trust_env=False, timeout=10) as http,
    ):

        def refresh(token: str) -> httpx.Response:
            return http.post(
                issuer.token_endpoint,
                auth=("test-client", "test-secret"),
                data={"grant_type": "refresh_token", "refresh_token": token},
            )

        validator = issuer.validator(authorized_parties=["test-client"])
        outcomes = _refresh_scenario(
            _local_login(issuer, http), refresh, validator, subject=issuer.oauth.users["test-user"].sub
        )
    assert outcomes == EXPECTED_REFRESH


# -- introspection (RFC 7662) and revocation (RFC 7009) at the provider -----------------------

OPAQUE_API = "https://opaque.example.test"  # provider.mjs issues opaque access tokens for it


def _revoke_at_provider(provider: Provider, token: str, client_id: str, hint: str) -> None:
    response = provider.http.post(
        provider.issuer + "/token/revocation",
        auth=(client_id, f"{client_id}-secret"),
        data={"token": token, "token_type_hint": hint},
    )
    assert response.status_code == 200, response.text


def test_opaque_tokens_introspected_at_the_provider_and_revoked_there(provider: Provider) -> None:
    token = provider.client_credentials(CLIENT_FOR["RS256"], resource=OPAQUE_API)
    assert token.count(".") == 0  # opaque: nothing to verify locally
    introspecting = validator_for(
        provider,
        OPAQUE_API,
        introspection="opaque",  # the endpoint from the provider's discovery document
        introspection_client=(CLIENT_FOR["ES256"], f"{CLIENT_FOR['ES256']}-secret"),  # the API's own client
        introspection_cache_ttl=0,
        required_scopes=["read:messages"],
        authorized_parties=[CLIENT_FOR["RS256"]],
    )
    claims = introspecting.validate(token)
    assert (claims["iss"], claims["aud"], claims["client_id"]) == (provider.issuer, OPAQUE_API, "cc-rs256")
    assert claims["token_type"] == "Bearer"
    assert claims["exp"] > time.time()
    assert asyncio.run(introspecting.avalidate(token))["client_id"] == "cc-rs256"
    # the provider's JWT access tokens never leave the API: validated locally as before
    assert introspecting.options.introspection == "opaque"
    assert refusal(validator_for(provider, OPAQUE_API), token).code == "malformed_token"  # type: ignore[union-attr]

    _revoke_at_provider(provider, token, CLIENT_FOR["RS256"], "access_token")
    error = refusal(introspecting, token)
    assert error is not None
    assert (error.status_code, error.code) == (401, "token_inactive")


def test_a_refresh_token_revoked_at_the_provider_introspects_inactive(provider: Provider) -> None:
    login = provider.login()
    introspecting = validator_for(
        provider, introspection="opaque", introspection_client=("web-app", "web-app-secret"), introspection_cache_ttl=0
    )
    sent_as_access_token = refusal(introspecting, login["refresh_token"])
    assert sent_as_access_token is not None  # active at the provider, but no API audience: never an access token
    assert sent_as_access_token.code == "missing_claim"
    _revoke_at_provider(provider, login["refresh_token"], "web-app", "refresh_token")
    assert refusal(introspecting, login["refresh_token"]).code == "token_inactive"  # type: ignore[union-attr]
    assert provider.refresh(login["refresh_token"]).json()["error"] == "invalid_grant"
