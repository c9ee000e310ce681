"""jwtguard.client's pure parts, with no network: challenges, the token endpoint's protocol, TokenSet, errors."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import pytest

from jwtguard import ConfigurationError
from jwtguard.client import LoginRequiredError, TokenEndpoint, TokenEndpointError, TokenRequestError, TokenSet
from jwtguard.client._challenge import challenges, sent_token, wants_new_token
from jwtguard.client._protocol import ClientCredentialsGrant, RefreshGrant

URL = "https://issuer.example.test/oauth/token"


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def form(request_body: bytes) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(request_body.decode(), strict_parsing=True).items()}


# -- WWW-Authenticate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('Bearer realm="api", error="invalid_token"', [("bearer", {"realm": "api", "error": "invalid_token"})]),
        ("bearer error=invalid_token", [("bearer", {"error": "invalid_token"})]),
        (
            'Basic realm="a, b=c", Bearer error="invalid_token", error_description="x \\"y\\""',
            [("basic", {"realm": "a, b=c"}), ("bearer", {"error": "invalid_token", "error_description": 'x "y"'})],
        ),
        ("Negotiate abc==, Bearer", [("negotiate", {}), ("bearer", {})]),
        ('Bearer REALM="a", realm="b"', [("bearer", {"realm": "a"})]),  # names are case-insensitive; first wins
        (', ,"junk", Bearer error="invalid_token"', [("bearer", {"error": "invalid_token"})]),
        ("", []),
    ],
)
def test_challenges_are_parsed(header: str, expected: list[tuple[str, dict[str, str]]]) -> None:
    assert challenges(header) == expected


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (401, ['Bearer realm="api", error="invalid_token"'], True),
        (401, ['Basic realm="x"', 'Bearer error="invalid_token"'], True),
        (401, ['Bearer realm="api"'], False),  # no error: not a token problem a refresh could fix
        (401, ['Bearer error="invalid_request"'], False),
        (401, ['DPoP error="invalid_token"'], False),  # another scheme's challenge
        (401, [], False),
        (403, ['Bearer error="invalid_token"'], False),
        (403, ['Bearer error="insufficient_scope", scope="read"'], False),
        (200, ['Bearer error="invalid_token"'], False),
    ],
)
def test_only_a_401_invalid_token_bearer_challenge_asks_for_a_new_token(
    status: int, headers: list[str], expected: bool
) -> None:
    assert wants_new_token(status, headers) is expected


def test_sent_token() -> None:
    assert sent_token("Bearer abc") == "abc"
    assert sent_token("bearer  abc ") == "abc"
    assert sent_token("Basic abc") is None
    assert sent_token("Bearer") is None
    assert sent_token(None) is None


# -- the token endpoint ---------------------------------------------------------------------------


def test_client_secret_basic_form_urlencodes_before_base64() -> None:
    endpoint = TokenEndpoint(URL, "odd id", "p@ss:wörd+")
    request = RefreshGrant(endpoint).request(TokenSet("at", "rt"))
    scheme, credentials = request.headers["Authorization"].split(" ")
    assert scheme == "Basic"
    client_id, secret = base64.b64decode(credentials).decode().split(":")
    assert (unquote_plus(client_id), unquote_plus(secret)) == ("odd id", "p@ss:wörd+")  # RFC 6749 §2.3.1
    assert form(request.body) == {"grant_type": "refresh_token", "refresh_token": "rt"}
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.url == URL


def test_client_secret_post_and_public_clients_put_the_client_in_the_form() -> None:
    post = TokenEndpoint(URL, "web", "secret", auth_method="client_secret_post")
    request = RefreshGrant(post, {"scope": "read"}).request(TokenSet("at", "rt"))
    assert "Authorization" not in request.headers
    assert form(request.body) == {
        "grant_type": "refresh_token",
        "refresh_token": "rt",
        "client_id": "web",
        "client_secret": "secret",
        "scope": "read",
    }
    public = RefreshGrant(TokenEndpoint(URL, "spa")).request(TokenSet("at", "rt"))
    assert form(public.body) == {"grant_type": "refresh_token", "refresh_token": "rt", "client_id": "spa"}


def test_client_credentials_request() -> None:
    grant = ClientCredentialsGrant(TokenEndpoint(URL, "svc", "s"), "read write", {"audience": "https://api"})
    assert grant.can_renew(None)
    assert form(grant.request(None).body) == {
        "grant_type": "client_credentials",
        "scope": "read write",
        "audience": "https://api",
    }
    tokens = grant.parse(200, body(access_token="a", token_type="Bearer", refresh_token="r"), now=0, tokens=None)
    assert tokens.refresh_token is None  # RFC 6749 §4.4.3: none is kept even if one is sent


def test_secrets_stay_out_of_reprs() -> None:
    endpoint = TokenEndpoint(URL, "web", "top-secret")
    request = RefreshGrant(endpoint).request(TokenSet("the-access-token", "the-refresh-token", id_token="the-id"))
    for text in (repr(endpoint), repr(request), repr(TokenSet("the-access-token", "the-refresh-token", 1, 2))):
        for secret in ("top-secret", "the-access-token", "the-refresh-token", "dG9w"):
            assert secret not in text


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"url": "http://issuer.example.test/token"}, "https"),
        ({"url": "not a url"}, "https"),
        ({"client_id": ""}, "client_id"),
        ({"auth_method": "private_key_jwt", "client_secret": "s"}, "auth_method"),
        ({"auth_method": "client_secret_basic"}, "client_secret"),
        ({"auth_method": "none", "client_secret": "s"}, "client_secret"),
    ],
)
def test_bad_endpoint_configuration_is_refused(options: dict[str, Any], match: str) -> None:
    arguments = {"url": URL, "client_id": "c", **options}
    with pytest.raises(ConfigurationError, match=match):
        TokenEndpoint(**arguments)


def test_plain_http_is_for_loopback_or_an_explicit_opt_in() -> None:
    assert TokenEndpoint("http://127.0.0.1:8000/token", "c").url == "http://127.0.0.1:8000/token"
    assert TokenEndpoint("http://idp.internal/token", "c", allow_insecure_http=True).url.startswith("http://")


def test_reserved_parameters_cannot_be_overridden() -> None:
    with pytest.raises(ConfigurationError, match="params"):
        RefreshGrant(TokenEndpoint(URL, "c"), {"refresh_token": "mine"})
    with pytest.raises(ConfigurationError, match="confidential"):
        ClientCredentialsGrant(TokenEndpoint(URL, "c"))


# -- answers --------------------------------------------------------------------------------------


def test_a_token_response_is_parsed_and_expiry_counts_from_now() -> None:
    grant = RefreshGrant(TokenEndpoint(URL, "c"))
    previous = TokenSet("old-at", "old-rt", 100.0, 60.0, scope="openid read")
    answer = body(access_token="new-at", token_type="bearer", expires_in=300, refresh_token="new-rt", id_token="i")
    tokens = grant.parse(200, answer, now=1000.0, tokens=previous)
    assert tokens == TokenSet("new-at", "new-rt", 1300.0, 300.0, "Bearer", "openid read", "i")


def test_without_rotation_the_refresh_token_and_scope_are_kept() -> None:
    grant = RefreshGrant(TokenEndpoint(URL, "c"))
    previous = TokenSet("old-at", "the-rt", scope="read")
    tokens = grant.parse(200, body(access_token="a", token_type="Bearer", expires_in="60"), now=5, tokens=previous)
    assert (tokens.refresh_token, tokens.scope, tokens.expires_at) == ("the-rt", "read", 65.0)


@pytest.mark.parametrize(
    "answer",
    [
        body(token_type="Bearer"),
        body(access_token="", token_type="Bearer"),
        body(access_token="a"),
        body(access_token="a", token_type="mac"),
        body(access_token="a", token_type="DPoP"),
        body(access_token="a", token_type="Bearer", expires_in=-1),
        body(access_token="a", token_type="Bearer", expires_in="soon"),
        body(access_token="a", token_type="Bearer", expires_in=True),
        b"[]",
        b"not json",
        b"\xff",
    ],
)
def test_a_malformed_token_response_is_invalid_response(answer: bytes) -> None:
    with pytest.raises(TokenEndpointError) as caught:
        RefreshGrant(TokenEndpoint(URL, "c")).parse(200, answer, now=0, tokens=TokenSet("a", "r"))
    assert caught.value.error == "invalid_response"


def test_invalid_grant_means_login_required_other_errors_do_not() -> None:
    grant = RefreshGrant(TokenEndpoint(URL, "c"))
    refused = body(error="invalid_grant", error_description="The refresh token was revoked")
    with pytest.raises(LoginRequiredError) as caught:
        grant.parse(400, refused, now=0, tokens=TokenSet("a", "r"))
    assert (caught.value.error, caught.value.status_code) == ("invalid_grant", 400)
    assert caught.value.description == "The refresh token was revoked"
    assert isinstance(caught.value, TokenRequestError)
    assert not isinstance(caught.value, TokenEndpointError)

    cases = [
        (401, body(error="invalid_client"), "invalid_client"),
        (400, body(error="invalid_scope"), "invalid_scope"),
        (503, b"<html>down</html>", "server_error"),
        (404, b"", "invalid_response"),
        (302, b"", "invalid_response"),
    ]
    for status, answer, error in cases:
        with pytest.raises(TokenEndpointError) as failed:
            grant.parse(status, answer, now=0, tokens=TokenSet("a", "r"))
        assert (failed.value.error, failed.value.status_code) == (error, status)


def test_client_credentials_never_mean_login_required() -> None:
    grant = ClientCredentialsGrant(TokenEndpoint(URL, "svc", "s"))
    with pytest.raises(TokenEndpointError) as caught:
        grant.parse(400, body(error="invalid_grant"), now=0, tokens=None)
    assert caught.value.error == "invalid_grant"


def test_no_refresh_token_means_login_required() -> None:
    grant = RefreshGrant(TokenEndpoint(URL, "c"))
    assert not grant.can_renew(TokenSet("a"))
    with pytest.raises(LoginRequiredError) as caught:
        grant.request(TokenSet("a"))
    assert caught.value.error == "no_refresh_token"


def test_error_descriptions_are_kept_short_and_on_one_line() -> None:
    error = TokenEndpointError("server_error", "line one\nline two\x1b[31m" + "x" * 500, 500)
    assert "\n" not in error.description
    assert "\x1b" not in error.description
    assert len(error.description) == 200
    assert str(error).startswith("server_error (HTTP 500): line one line two")


# -- TokenSet ---------------------------------------------------------------------------------------


def test_renewal_is_due_within_the_margin_capped_at_half_the_lifetime() -> None:
    hour = TokenSet("a", "r", expires_at=3600.0, expires_in=3600.0)
    assert not hour.needs_renewal(3569.0, margin=30)
    assert hour.needs_renewal(3570.0, margin=30)
    short = TokenSet("a", "r", expires_at=10.0, expires_in=10.0)  # a 10 s token is used for 5 s
    assert not short.needs_renewal(4.9, margin=30)
    assert short.needs_renewal(5.0, margin=30)
    assert not TokenSet("a", "r").needs_renewal(1e12, margin=30)  # no known expiry: only a 401 tells
    assert TokenSet(None, "r").needs_renewal(0, margin=30)  # only a refresh token: renew first
    assert not hour.expired(3599.0)
    assert hour.expired(3600.0)


def test_from_response_is_what_an_app_builds_after_login() -> None:
    tokens = TokenSet.from_response({"access_token": "a", "token_type": "Bearer", "expires_in": 60}, now=10)
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_at) == ("a", None, 70.0)
