"""The local issuer's token endpoint: every grant and error over real HTTP, rotation, reuse detection, lifetimes."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import pytest
from fake_clock import FakeClock as Clock

import jwtguard
from jwtguard.testing import LocalClient, LocalIssuer, LocalUser, OAuthError, TokenFactory
from jwtguard.testing._refresh import Grant, RefreshTokenError, RefreshTokens

DAY = 86400.0
CLIENT = ("test-client", "test-secret")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Answer:
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = {name.lower(): value for name, value in headers.items()}
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def post(
    issuer: LocalIssuer,
    form: Mapping[str, str] | None = None,
    *,
    auth: tuple[str, str] | None = CLIENT,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
) -> Answer:
    data = body if body is not None else urlencode(form or {}).encode()
    request = urllib.request.Request(issuer.token_endpoint, data=data if method == "POST" else None, method=method)
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    if auth is not None:
        request.add_header("Authorization", basic(*auth))
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with _OPENER.open(request, timeout=5) as response:
            return Answer(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, dict(error.headers.items()), error.read())


def login(issuer: LocalIssuer, **form: str) -> Answer:
    return post(issuer, {"grant_type": "password", "username": "test-user", "password": "test-password", **form})


def refresh(issuer: LocalIssuer, token: str, **form: str) -> Answer:
    return post(issuer, {"grant_type": "refresh_token", "refresh_token": token, **form})


def assert_error(answer: Answer, status: int, error: str) -> None:
    assert answer.status == status, answer.body
    assert answer.json()["error"] == error
    assert set(answer.json()) == {"error", "error_description"}
    assert answer.json()["error_description"]
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-type"] == "application/json"


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    """A default issuer (real clock) for the tests that need no special configuration."""
    clients = [
        LocalClient("test-client", "test-secret"),
        LocalClient("reader", "reader-secret", scopes=["read:messages", "read:users"]),
        LocalClient("one-api", "one-secret", audiences=["https://one.example.test"]),
        LocalClient("spa", None),
        LocalClient("machine-only", "m-secret", grant_types=["client_credentials"]),
        LocalClient("odd id", "p@ss:wörd"),
    ]
    users = [LocalUser("test-user", "test-password", "user-123", {"name": "Test User", "email": "t@example.test"})]
    with LocalIssuer(algorithm="ES256", clients=clients, users=users) as running:
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock()


def clocked_issuer(clock: Clock, **options: Any) -> LocalIssuer:
    return LocalIssuer(algorithm="ES256", clock=clock, **options)


# -- discovery and client credentials --------------------------------------------------


def test_discovery_names_the_token_endpoint(issuer: LocalIssuer) -> None:
    with _OPENER.open(issuer.url + "/.well-known/openid-configuration", timeout=5) as response:
        document = json.loads(response.read())
    assert document["token_endpoint"] == issuer.token_endpoint == issuer.url + "/oauth/token"
    assert document["grant_types_supported"] == ["client_credentials", "password", "refresh_token"]
    assert "client_secret_basic" in document["token_endpoint_auth_methods_supported"]


def test_client_credentials_with_basic_auth(issuer: LocalIssuer) -> None:
    answer = post(issuer, {"grant_type": "client_credentials", "scope": "read:messages"})
    assert answer.status == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["pragma"] == "no-cache"
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}  # no refresh token (RFC 6749 §4.4.3)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "read:messages"
    claims = issuer.validator(required_scopes=["read:messages"]).validate(body["access_token"])
    assert claims["sub"] == "test-client@clients"
    assert claims["azp"] == "test-client"
    assert claims["gty"] == "client-credentials"
    assert claims["aud"] == issuer.audience
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["jti"]
    assert claims.header["typ"] == "JWT"


def test_client_credentials_with_form_auth(issuer: LocalIssuer) -> None:
    form = {"grant_type": "client_credentials", "client_id": "test-client", "client_secret": "test-secret"}
    answer = post(issuer, form, auth=None)
    assert answer.status == 200
    assert issuer.validator().validate(answer.json()["access_token"])["azp"] == "test-client"


def test_basic_credentials_are_form_urlencoded_first(issuer: LocalIssuer) -> None:
    # RFC 6749 §2.3.1: the id and secret are form-urlencoded, then base64.
    answer = post(issuer, {"grant_type": "client_credentials"}, auth=("odd+id", "p%40ss%3Aw%C3%B6rd"))
    assert answer.status == 200
    assert TokenFactory.claims_of(answer.json()["access_token"])["azp"] == "odd id"


def test_client_credentials_without_scope_gets_every_allowed_scope(issuer: LocalIssuer) -> None:
    answer = post(issuer, {"grant_type": "client_credentials"}, auth=("reader", "reader-secret"))
    assert answer.json()["scope"] == "read:messages read:users"
    claims = issuer.validator().validate(answer.json()["access_token"])
    assert claims.scopes == {"read:messages", "read:users"}


def test_a_scope_the_client_may_not_have_is_invalid_scope(issuer: LocalIssuer) -> None:
    answer = post(
        issuer, {"grant_type": "client_credentials", "scope": "write:messages"}, auth=("reader", "reader-secret")
    )
    assert_error(answer, 400, "invalid_scope")


def test_a_malformed_scope_is_invalid_scope(issuer: LocalIssuer) -> None:
    assert_error(post(issuer, {"grant_type": "client_credentials", "scope": 'read "x'}), 400, "invalid_scope")


def test_the_audience_parameter_sets_aud(issuer: LocalIssuer) -> None:
    answer = post(issuer, {"grant_type": "client_credentials", "audience": "https://other.example.test"})
    assert TokenFactory.claims_of(answer.json()["access_token"])["aud"] == "https://other.example.test"


def test_an_audience_the_client_may_not_reach_is_invalid_target(issuer: LocalIssuer) -> None:
    auth = ("one-api", "one-secret")
    assert (
        post(issuer, {"grant_type": "client_credentials", "audience": "https://one.example.test"}, auth=auth).status
        == 200
    )
    assert_error(post(issuer, {"grant_type": "client_credentials"}, auth=auth), 400, "invalid_target")


def test_at_jwt_access_tokens(clock: Clock) -> None:
    with clocked_issuer(clock, access_token_type="at+jwt") as issuer:
        token = post(issuer, {"grant_type": "client_credentials"}).json()["access_token"]
        claims = issuer.validator(token_types=jwtguard.RFC9068_TOKEN_TYPES).validate(token)
        assert claims.header["typ"] == "at+jwt"
        assert claims["client_id"] == "test-client"  # RFC 9068 §2.2
        assert TokenFactory.header_of(issuer.token())["typ"] == "at+jwt"  # the factory follows the setting


# -- password grant and login() ----------------------------------------------------------


def test_password_grant_returns_id_access_and_refresh_tokens(issuer: LocalIssuer) -> None:
    answer = login(issuer, scope="openid profile email offline_access read:messages", nonce="n-123")
    assert answer.status == 200
    body = answer.json()
    assert set(body) == {"access_token", "id_token", "refresh_token", "token_type", "expires_in", "scope"}
    access = issuer.validator(required_scopes=["read:messages"]).validate(body["access_token"])
    assert access["sub"] == "user-123"
    assert access["azp"] == "test-client"
    id_claims = issuer.validator(audience="test-client").validate(body["id_token"])
    assert id_claims["aud"] == "test-client"
    assert id_claims["nonce"] == "n-123"
    assert id_claims["name"] == "Test User"
    assert id_claims["email"] == "t@example.test"
    assert id_claims["auth_time"] == id_claims["iat"]
    assert "scope" not in id_claims
    # An ID token is not an access token: the API's validator refuses it.
    with pytest.raises(jwtguard.InvalidTokenError) as refused:
        issuer.validator().validate(body["id_token"])
    assert refused.value.code == "audience_mismatch"
    # The refresh token is an opaque random string, never a JWT.
    assert "." not in body["refresh_token"]
    assert len(body["refresh_token"]) >= 40


def test_the_default_login_scope_brings_all_three_tokens(issuer: LocalIssuer) -> None:
    body = login(issuer).json()
    assert body["scope"] == "openid profile email offline_access"
    assert {"id_token", "refresh_token"} <= set(body)


def test_scopes_decide_which_tokens_come_back(issuer: LocalIssuer) -> None:
    assert set(login(issuer, scope="read:messages").json()) == {"access_token", "token_type", "expires_in", "scope"}
    assert "refresh_token" not in login(issuer, scope="openid").json()
    assert "id_token" not in login(issuer, scope="offline_access").json()
    profile_only = issuer.validator(audience="test-client").validate(
        login(issuer, scope="openid profile").json()["id_token"]
    )
    assert "name" in profile_only
    assert "email" not in profile_only


@pytest.mark.parametrize(
    ("username", "password"), [("test-user", "wrong"), ("nobody", "test-password")], ids=["password", "user"]
)
def test_wrong_user_credentials_are_invalid_grant(issuer: LocalIssuer, username: str, password: str) -> None:
    answer = post(issuer, {"grant_type": "password", "username": username, "password": password})
    assert_error(answer, 400, "invalid_grant")


def test_a_user_login_may_use_a_public_client(issuer: LocalIssuer) -> None:
    form = {"grant_type": "password", "username": "test-user", "password": "test-password", "client_id": "spa"}
    answer = post(issuer, form, auth=None)
    assert answer.status == 200
    form = {"grant_type": "refresh_token", "refresh_token": answer.json()["refresh_token"], "client_id": "spa"}
    assert post(issuer, form, auth=None).status == 200


def test_login_without_http(clock: Clock) -> None:
    with clocked_issuer(clock) as issuer:
        tokens = issuer.login(scope="openid offline_access read:messages", nonce="abc")
        assert issuer.token_requests == 0
        assert issuer.validator().validate(tokens["access_token"]).scopes == {
            "openid",
            "offline_access",
            "read:messages",
        }
        assert TokenFactory.claims_of(tokens["id_token"])["nonce"] == "abc"
        assert refresh(issuer, tokens["refresh_token"]).status == 200  # the same store as the HTTP endpoint
        assert TokenFactory.claims_of(issuer.login("someone")["access_token"])["sub"] == "someone"
        alice = LocalUser("alice", "pw", "auth0|alice", {"email": "alice@example.test"})
        assert TokenFactory.claims_of(issuer.login(alice)["id_token"])["email"] == "alice@example.test"
        with pytest.raises(OAuthError) as refused:
            issuer.login(client_id="unknown")
        assert refused.value.error == "invalid_client"


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "auth", "status", "error"),
    [
        ({}, CLIENT, 400, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "x"}, CLIENT, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, ("test-client", "wrong"), 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, ("unknown", "test-secret"), 401, "invalid_client"),
        (
            {"grant_type": "client_credentials", "client_id": "unknown", "client_secret": "x"},
            None,
            401,
            "invalid_client",
        ),
        ({"grant_type": "client_credentials", "client_secret": "test-secret"}, CLIENT, 400, "invalid_request"),
        ({"grant_type": "client_credentials", "client_id": "other"}, CLIENT, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "spa"}, None, 400, "unauthorized_client"),
        ({"grant_type": "password", "client_id": "spa", "client_secret": "x"}, None, 401, "invalid_client"),
        (
            {"grant_type": "password", "username": "test-user", "password": "x"},
            ("machine-only", "m-secret"),
            400,
            "unauthorized_client",
        ),
        ({"grant_type": "password", "username": "test-user"}, CLIENT, 400, "invalid_request"),
        ({"grant_type": "refresh_token"}, CLIENT, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "not-a-real-one"}, CLIENT, 400, "invalid_grant"),
    ],
    ids=[
        "no_grant_type",
        "unsupported_grant_type",
        "no_client_credentials",
        "wrong_secret",
        "unknown_client_basic",
        "unknown_client_form",
        "two_authentication_methods",
        "basic_and_form_ids_differ",
        "public_client_credentials",
        "public_client_with_secret",
        "grant_not_allowed_for_client",
        "password_missing",
        "refresh_token_missing",
        "refresh_token_unknown",
    ],
)
def test_errors_follow_rfc6749_5_2(
    issuer: LocalIssuer, form: dict[str, str], auth: tuple[str, str] | None, status: int, error: str
) -> None:
    answer = post(issuer, form, auth=auth)
    assert_error(answer, status, error)
    if status == 401:
        assert answer.headers["www-authenticate"].startswith("Basic ")


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"grant_type": "client_credentials"}', {"Content-Type": "application/json"}),
        (b"grant_type=client_credentials&grant_type=password", {}),
        (b"grant_type=client_credentials&scope=\xff", {}),
    ],
    ids=["json_body", "repeated_parameter", "not_utf8"],
)
def test_malformed_requests_are_invalid_request(issuer: LocalIssuer, body: bytes, headers: dict[str, str]) -> None:
    answer = post(issuer, body=body, headers=headers)
    assert_error(answer, 400, "invalid_request")


def test_a_malformed_basic_header_is_invalid_client(issuer: LocalIssuer) -> None:
    for value in ("Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Bearer abc"):
        request = urllib.request.Request(
            issuer.token_endpoint,
            data=b"grant_type=client_credentials",
            method="POST",
            headers={"Authorization": value},
        )
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        with pytest.raises(urllib.error.HTTPError) as answer:
            _OPENER.open(request, timeout=5)
        assert answer.value.code == 401
        assert json.loads(answer.value.read())["error"] == "invalid_client"
        answer.value.close()


def test_only_post_is_accepted(issuer: LocalIssuer) -> None:
    answer = post(issuer, method="GET")
    assert answer.status == 405
    assert answer.headers["allow"] == "POST"
    assert answer.json()["error"] == "invalid_request"


def test_error_descriptions_never_echo_the_request(issuer: LocalIssuer) -> None:
    marker = "<script>marker</script>"
    reader = ("reader", "reader-secret")
    for form, auth in (
        ({"grant_type": marker}, CLIENT),
        ({"grant_type": "client_credentials", "scope": marker}, reader),
        ({"grant_type": "password", "username": marker, "password": marker}, CLIENT),
        ({"grant_type": "refresh_token", "refresh_token": marker}, CLIENT),
        ({"grant_type": "client_credentials"}, (marker, marker)),
    ):
        answer = post(issuer, form, auth=auth)
        assert answer.status in (400, 401)
        assert "marker" not in answer.body.decode()
        assert all("marker" not in value for value in answer.headers.values())


# -- refresh tokens: rotation, reuse detection, lifetimes ---------------------------------------


def test_rotate_issues_a_new_refresh_token_and_spends_the_old(clock: Clock) -> None:
    with clocked_issuer(clock) as issuer:
        first = login(issuer).json()
        clock.advance(60)
        renewed = refresh(issuer, first["refresh_token"])
        assert renewed.status == 200
        body = renewed.json()
        assert body["refresh_token"] != first["refresh_token"]
        assert body["access_token"] != first["access_token"]
        assert body["scope"] == first["scope"]
        claims = issuer.validator().validate(body["access_token"])
        assert claims["iat"] == int(clock.now)
        id_claims = TokenFactory.claims_of(body["id_token"])
        assert id_claims["auth_time"] == int(clock.now - 60)  # the login time, kept across refreshes
        assert "nonce" not in id_claims
        assert refresh(issuer, body["refresh_token"]).status == 200


def test_reuse_revokes_the_whole_family_and_only_it(clock: Clock) -> None:
    with clocked_issuer(clock) as issuer:
        other_session = login(issuer).json()["refresh_token"]
        first = login(issuer).json()["refresh_token"]
        second = refresh(issuer, first).json()["refresh_token"]
        third = refresh(issuer, second).json()["refresh_token"]
        assert issuer.oauth.refresh_tokens.active(clock.now) == 2

        replay = refresh(issuer, first)
        assert_error(replay, 400, "invalid_grant")
        assert "already used" in replay.json()["error_description"]
        # Every token descending from the replayed one is revoked, the legitimate client's latest too.
        for descendant in (second, third):
            answer = refresh(issuer, descendant)
            assert_error(answer, 400, "invalid_grant")
        assert "revoked" in refresh(issuer, third).json()["error_description"]
        assert refresh(issuer, other_session).status == 200  # another login is another family


def test_rotate_keeps_the_family_absolute_expiry(clock: Clock) -> None:
    with clocked_issuer(clock, refresh_token_rotation="rotate") as issuer:
        token = login(issuer).json()["refresh_token"]
        clock.advance(20 * DAY)
        token = refresh(issuer, token).json()["refresh_token"]
        clock.advance(9 * DAY)
        token = refresh(issuer, token).json()["refresh_token"]
        clock.advance(1 * DAY)  # 30 days after the login: the family ends however recently it rotated
        answer = refresh(issuer, token)
        assert_error(answer, 400, "invalid_grant")
        assert answer.json()["error_description"] == "The refresh token expired"


def test_rotate_sliding_gives_each_new_token_a_full_lifetime(clock: Clock) -> None:
    with clocked_issuer(clock, refresh_token_rotation="rotate-sliding") as issuer:
        token = login(issuer).json()["refresh_token"]
        clock.advance(20 * DAY)
        token = refresh(issuer, token).json()["refresh_token"]
        clock.advance(29 * DAY)  # 49 days after the login, 29 after the last use
        answer = refresh(issuer, token)
        assert answer.status == 200
        token = answer.json()["refresh_token"]
        clock.advance(30 * DAY)  # an inactivity lifetime: 30 days unused ends it
        assert_error(refresh(issuer, token), 400, "invalid_grant")


def test_rotation_none_reuses_the_same_token_until_its_absolute_expiry(clock: Clock) -> None:
    with clocked_issuer(clock, refresh_token_rotation="none", refresh_token_lifetime=DAY) as issuer:
        token = login(issuer).json()["refresh_token"]
        for _ in range(3):
            clock.advance(DAY / 4)
            answer = refresh(issuer, token)
            assert answer.status == 200
            assert "refresh_token" not in answer.json()  # RFC 6749 §6: the client keeps the one it has
        clock.advance(DAY / 4)
        assert_error(refresh(issuer, token), 400, "invalid_grant")


def test_a_refresh_token_works_only_for_its_client(issuer: LocalIssuer) -> None:
    token = login(issuer).json()["refresh_token"]
    answer = post(issuer, {"grant_type": "refresh_token", "refresh_token": token}, auth=("reader", "reader-secret"))
    assert_error(answer, 400, "invalid_grant")
    assert refresh(issuer, token).status == 200  # refusing another client's attempt does not spend it


def test_refresh_may_narrow_the_scope_but_never_widen_it(issuer: LocalIssuer) -> None:
    token = login(issuer, scope="openid offline_access read:messages write:messages").json()["refresh_token"]
    narrowed = refresh(issuer, token, scope="read:messages")
    assert narrowed.status == 200
    assert issuer.validator().validate(narrowed.json()["access_token"]).scopes == {"read:messages"}
    # The new refresh token keeps the original scope (RFC 6749 §6).
    full = refresh(issuer, narrowed.json()["refresh_token"])
    assert full.json()["scope"] == "openid offline_access read:messages write:messages"
    assert_error(refresh(issuer, full.json()["refresh_token"], scope="admin"), 400, "invalid_scope")


def test_lifetimes_are_configurable_and_follow_the_clock(clock: Clock) -> None:
    with clocked_issuer(clock, access_token_lifetime=60, id_token_lifetime=120, refresh_token_lifetime=600) as issuer:
        body = login(issuer).json()
        assert body["expires_in"] == 60
        access, id_token = TokenFactory.claims_of(body["access_token"]), TokenFactory.claims_of(body["id_token"])
        assert access["exp"] - access["iat"] == 60
        assert id_token["exp"] - id_token["iat"] == 120
        validator = issuer.validator(leeway=0)
        validator.validate(body["access_token"])
        clock.advance(60)
        with pytest.raises(jwtguard.ExpiredTokenError):
            validator.validate(body["access_token"])
        renewed = refresh(issuer, body["refresh_token"]).json()
        validator.validate(renewed["access_token"])
        clock.advance(600)
        assert_error(refresh(issuer, renewed["refresh_token"]), 400, "invalid_grant")


def test_defaults_are_auth0_like(issuer: LocalIssuer) -> None:
    assert issuer.oauth.access_token_lifetime == 3600
    assert issuer.oauth.id_token_lifetime == 3600
    assert issuer.oauth.refresh_tokens.lifetime == 30 * DAY
    assert issuer.oauth.refresh_tokens.rotation == "rotate"


@pytest.mark.parametrize(
    "options",
    [
        {"refresh_token_rotation": "sometimes"},
        {"access_token_lifetime": 0},
        {"id_token_lifetime": -1},
        {"refresh_token_lifetime": True},
    ],
)
def test_bad_configuration_is_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"refresh_token_rotation|lifetime"):
        LocalIssuer(algorithm="ES256", **options)


# -- the store itself (sans I/O) -----------------------------------------------------------------


def test_store_keeps_only_digests_and_forgets_dead_tokens() -> None:
    store = RefreshTokens("rotate", lifetime=10)
    grant = Grant("c", "u", ("offline_access",), "https://api", 0)
    token = store.issue(grant, now=0)
    assert all(token not in key for key in store._records)
    for _ in range(300):
        store.issue(grant, now=100)  # the first token expired at 10: pruned on the way
    assert len(store._records) == 300  # the expired one was forgotten, the live ones kept
    with pytest.raises(RefreshTokenError) as refused:
        store.redeem(token, "c", now=100)
    assert refused.value.reason == "unknown"


def test_store_revoke() -> None:
    store = RefreshTokens("rotate")
    token = store.issue(Grant("c", "u", (), "https://api", 0), now=0)
    assert store.revoke(token)
    assert not store.revoke("never-issued")
    with pytest.raises(RefreshTokenError) as refused:
        store.redeem(token, "c", now=1)
    assert refused.value.reason == "revoked"
