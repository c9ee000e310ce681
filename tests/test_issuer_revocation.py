"""The local issuer's revocation (RFC 7009) and introspection (RFC 7662) endpoints, over real HTTP."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from fake_clock import FakeClock as Clock
from test_oauth_endpoint import _OPENER, Answer, assert_error, basic, login, refresh

import jwtguard
from jwtguard.stores import MemoryStore, Revocations, Store, StoreUnavailableError
from jwtguard.testing import LocalClient, LocalIssuer, OAuthError, TokenFactory

CLIENTS = [
    LocalClient("test-client", "test-secret"),
    LocalClient("other-client", "other-secret"),
    LocalClient("spa", None),
]


def send(
    url: str,
    form: Mapping[str, str],
    *,
    auth: tuple[str, str] | None = ("test-client", "test-secret"),
    method: str = "POST",
) -> Answer:
    from urllib.parse import urlencode

    request = urllib.request.Request(url, data=urlencode(form).encode() if method == "POST" else None, method=method)
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    if auth is not None:
        request.add_header("Authorization", basic(*auth))
    try:
        with _OPENER.open(request, timeout=5) as response:
            return Answer(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, dict(error.headers.items()), error.read())


def revoke(issuer: LocalIssuer, token: str, **extra: Any) -> Answer:
    auth = extra.pop("auth", ("test-client", "test-secret"))
    return send(issuer.revocation_endpoint, {"token": token, **extra}, auth=auth)


def introspect(issuer: LocalIssuer, token: str, **extra: Any) -> dict[str, Any]:
    auth = extra.pop("auth", ("test-client", "test-secret"))
    answer = send(issuer.introspection_endpoint, {"token": token, **extra}, auth=auth)
    assert answer.status == 200, answer.body
    assert answer.headers["cache-control"] == "no-store"
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def issuer(clock: Clock, store: MemoryStore) -> Iterator[LocalIssuer]:
    with LocalIssuer(algorithm="ES256", clock=clock, clients=CLIENTS, store=store) as running:
        yield running


def tokens_of(issuer: LocalIssuer, **form: str) -> dict[str, Any]:
    answer = login(issuer, **form)
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.json()
    return body


# -- discovery --------------------------------------------------------------------------


def test_discovery_names_both_endpoints(issuer: LocalIssuer) -> None:
    with _OPENER.open(issuer.url + "/.well-known/openid-configuration", timeout=5) as response:
        document = json.loads(response.read())
    assert document["revocation_endpoint"] == issuer.revocation_endpoint == issuer.url + "/oauth/revoke"
    assert document["introspection_endpoint"] == issuer.introspection_endpoint == issuer.url + "/oauth/introspect"
    assert "client_secret_basic" in document["introspection_endpoint_auth_methods_supported"]
    assert "none" not in document["introspection_endpoint_auth_methods_supported"]


# -- introspection ----------------------------------------------------------------------------


def test_introspecting_an_access_token_gives_its_claims(issuer: LocalIssuer, clock: Clock) -> None:
    access = tokens_of(issuer, scope="openid offline_access read:messages")["access_token"]
    body = introspect(issuer, access, token_type_hint="access_token")
    claims = TokenFactory.claims_of(access)
    assert body["active"] is True
    assert body["token_type"] == "Bearer"
    assert body["client_id"] == "test-client"
    for name in ("scope", "sub", "exp", "iat", "aud", "iss", "jti"):
        assert body[name] == claims[name]
    assert body["scope"] == "openid offline_access read:messages"
    assert issuer.introspection_requests == 1


def test_introspecting_a_refresh_token_gives_no_audience(issuer: LocalIssuer, clock: Clock) -> None:
    tokens = tokens_of(issuer)
    body = introspect(issuer, tokens["refresh_token"], token_type_hint="refresh_token")
    assert body["active"] is True
    assert body["sub"] == "user-123"
    assert body["client_id"] == "test-client"
    assert body["iat"] == int(clock())
    assert "aud" not in body  # never mistaken for an API's access token
    assert "token_type" not in body
    # the hint only orders the look-ups: a wrong one still finds the token
    assert introspect(issuer, tokens["refresh_token"], token_type_hint="access_token")["active"] is True
    assert introspect(issuer, tokens["access_token"], token_type_hint="refresh_token")["active"] is True


@pytest.mark.parametrize("kind", ["unknown", "expired", "id_token", "other_issuer", "not_a_token"])
def test_introspection_says_inactive_and_nothing_else(issuer: LocalIssuer, clock: Clock, kind: str) -> None:
    tokens = tokens_of(issuer)
    token = {
        "unknown": "an-opaque-string-never-issued",
        "expired": issuer.token(expires_in=-1),
        "id_token": tokens["id_token"],
        "other_issuer": TokenFactory("https://else.example.test/", issuer.audience, key=issuer.signing_key).mint(),
        "not_a_token": "a.b.c",
    }[kind]
    assert introspect(issuer, token) == {"active": False}


def test_an_access_token_dies_at_its_expiry(issuer: LocalIssuer, clock: Clock) -> None:
    access = issuer.token(expires_in=60)
    assert issuer.introspect(access)["active"] is True
    clock.advance(60)
    assert issuer.introspect(access) == {"active": False}


def test_introspection_needs_a_confidential_client(issuer: LocalIssuer) -> None:
    access = issuer.token()
    assert_error(send(issuer.introspection_endpoint, {"token": access}, auth=None), 401, "invalid_client")
    assert_error(
        send(issuer.introspection_endpoint, {"token": access, "client_id": "spa"}, auth=None), 401, "invalid_client"
    )
    answer = send(issuer.introspection_endpoint, {"token": access}, auth=("test-client", "wrong"))
    assert_error(answer, 401, "invalid_client")
    assert answer.headers["www-authenticate"].startswith("Basic")
    # client_secret_post works as at the token endpoint; another client may introspect any token
    form = {"token": access, "client_id": "other-client", "client_secret": "other-secret"}
    assert send(issuer.introspection_endpoint, form, auth=None).json()["active"] is True


def test_requests_must_be_post_forms_with_a_token(issuer: LocalIssuer) -> None:
    for url in (issuer.introspection_endpoint, issuer.revocation_endpoint):
        answer = send(url, {}, method="GET")
        assert answer.status == 405
        assert answer.headers["allow"] == "POST"
        assert_error(send(url, {}), 400, "invalid_request")
        assert_error(send(url, {"token_type_hint": "access_token"}), 400, "invalid_request")


def test_a_dpop_bound_token_introspects_with_its_confirmation(issuer: LocalIssuer) -> None:
    from jwtguard.testing import DPoPKey

    key = DPoPKey.generate()
    access = issuer.token(cnf={"jkt": key.jkt})
    body = issuer.introspect(access)
    assert body["token_type"] == "DPoP"
    assert body["cnf"] == {"jkt": key.jkt}


# -- revocation -----------------------------------------------------------------------------


def test_revoking_an_access_token_records_and_publishes_its_jti(
    issuer: LocalIssuer, store: MemoryStore, clock: Clock
) -> None:
    tokens = tokens_of(issuer)
    access = tokens["access_token"]
    claims = TokenFactory.claims_of(access)
    validator = issuer.validator(store=store)
    assert validator.validate(access)["sub"] == "user-123"
    answer = revoke(issuer, access, token_type_hint="access_token")
    assert answer.status == 200
    assert answer.json() == {}
    assert answer.headers["cache-control"] == "no-store"
    assert store.revocations().tokens == {claims["jti"]: claims["exp"]}
    assert not store.revocations().subjects  # only that token
    assert introspect(issuer, access) == {"active": False}
    with pytest.raises(jwtguard.InvalidTokenError) as refused:
        validator.validate(access)
    assert refused.value.code == "token_revoked"
    assert introspect(issuer, tokens["refresh_token"])["active"] is True  # the session lives on
    assert refresh(issuer, tokens["refresh_token"]).status == 200


def test_revoking_a_refresh_token_ends_the_family_and_the_session(
    issuer: LocalIssuer, store: MemoryStore, clock: Clock
) -> None:
    tokens = tokens_of(issuer)
    validator = issuer.validator(store=store)
    validator.validate(tokens["access_token"])
    clock.advance(1)
    answer = revoke(issuer, tokens["refresh_token"], token_type_hint="refresh_token")
    assert answer.status == 200
    assert store.revocations().subjects == {"user-123": clock()}
    assert_error(refresh(issuer, tokens["refresh_token"]), 400, "invalid_grant")
    assert introspect(issuer, tokens["refresh_token"]) == {"active": False}
    assert introspect(issuer, tokens["access_token"]) == {"active": False}
    with pytest.raises(jwtguard.InvalidTokenError) as refused:
        validator.validate(tokens["access_token"])  # unexpired, and refused
    assert refused.value.code == "token_revoked"
    # a new login after the logout is a new session
    clock.advance(1)
    fresh = tokens_of(issuer)
    assert validator.validate(fresh["access_token"])["sub"] == "user-123"
    assert introspect(issuer, fresh["refresh_token"])["active"] is True


def test_revocation_answers_200_for_what_it_does_not_know(issuer: LocalIssuer, store: MemoryStore) -> None:
    for token in ("never-issued", "a.b.c", issuer.token(expires_in=-10)):
        answer = revoke(issuer, token)
        assert answer.status == 200
    assert revoke(issuer, issuer.token(), token_type_hint="something_else").status == 200  # unknown hint: ignored
    assert len(store.revocations().tokens) == 1
    assert store.revocations().subjects == {}


def test_a_client_may_revoke_only_its_own_tokens(issuer: LocalIssuer, store: MemoryStore) -> None:
    tokens = tokens_of(issuer)
    other = ("other-client", "other-secret")
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert_error(revoke(issuer, token, auth=other), 400, "invalid_request")
    assert_error(revoke(issuer, tokens["access_token"], auth=("test-client", "bad")), 401, "invalid_client")
    assert store.revocations() == Revocations(0)
    assert introspect(issuer, tokens["refresh_token"])["active"] is True


def test_a_public_client_revokes_its_refresh_token(clock: Clock, store: MemoryStore) -> None:
    with LocalIssuer(clock=clock, clients=CLIENTS, store=store) as issuer:
        tokens = issuer.login(client_id="spa")
        answer = send(issuer.revocation_endpoint, {"token": tokens["refresh_token"], "client_id": "spa"}, auth=None)
        assert answer.status == 200
        assert "user-123" in store.revocations().subjects


def test_logout_revokes_every_session_of_the_user(issuer: LocalIssuer, store: MemoryStore, clock: Clock) -> None:
    first, second = issuer.login(), issuer.login()
    clock.advance(1)
    issuer.logout("user-123")
    for tokens in (first, second):
        assert issuer.introspect(tokens["refresh_token"]) == {"active": False}
        assert issuer.introspect(tokens["access_token"]) == {"active": False}
    assert store.revocations().subjects == {"user-123": clock()}


class BrokenStore(Store):
    def revoke_token(self, jti: str, *, expires_at: float) -> None:
        raise StoreUnavailableError("down")

    def revoke_subject(self, sub: str, *, issued_before: float, expires_at: float | None = None) -> None:
        raise StoreUnavailableError("down")

    def version(self) -> int:
        return 0

    def revocations(self) -> Revocations:
        return Revocations()

    def add_once(self, key: str, ttl: float) -> bool | None:
        return True


def test_a_store_outage_is_a_503_the_client_may_retry(clock: Clock) -> None:
    with LocalIssuer(clock=clock, store=BrokenStore()) as issuer:
        tokens = issuer.login()
        answer = send(issuer.revocation_endpoint, {"token": tokens["access_token"]})
        assert_error(answer, 503, "temporarily_unavailable")
        with pytest.raises(OAuthError) as failed:
            issuer.logout()
        assert failed.value.status == 503
        # the issuer's own records are updated all the same
        assert issuer.introspect(tokens["access_token"]) == {"active": False}


def test_the_store_must_be_a_store() -> None:
    with pytest.raises(ValueError, match="store"):
        LocalIssuer(store=object())  # type: ignore[arg-type]


# -- opaque access tokens ----------------------------------------------------------------------


def test_opaque_access_tokens_are_known_only_by_introspection(clock: Clock, store: MemoryStore) -> None:
    with LocalIssuer(clock=clock, access_token_format="opaque", store=store) as issuer:
        tokens = tokens_of(issuer, scope="openid offline_access read:messages")
        access = tokens["access_token"]
        assert "." not in access
        body = introspect(issuer, access)
        assert body["active"] is True
        assert (body["sub"], body["aud"], body["client_id"]) == ("user-123", issuer.audience, "test-client")
        assert body["scope"] == "openid offline_access read:messages"
        assert body["exp"] == int(clock()) + 3600
        minted = issuer.opaque_token(scope="read:messages", sub="svc")
        assert issuer.introspect(minted)["sub"] == "svc"
        assert revoke(issuer, access).status == 200
        assert introspect(issuer, access) == {"active": False}
        assert body["jti"] in store.revocations().tokens
        # after a refresh, the new access token is opaque as well
        new = refresh(issuer, tokens["refresh_token"]).json()["access_token"]
        assert introspect(issuer, new)["active"] is True


def test_an_unknown_token_format_is_refused() -> None:
    with pytest.raises(ValueError, match="access_token_format"):
        LocalIssuer(access_token_format="jwe")
