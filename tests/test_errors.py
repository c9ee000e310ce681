from __future__ import annotations

import re

import pytest

import jwtguard
from jwtguard._challenge import render_challenge
from jwtguard.errors import DESCRIPTIONS
from jwtguard.responses import error_response

# RFC 6750 §3: every parameter value is printable ASCII without '"' and '\'.
QUOTED_VALUE = r"[\x20\x21\x23-\x5b\x5d-\x7e]*"
CHALLENGE = re.compile(rf'Bearer( [a-z_]+="{QUOTED_VALUE}"(, [a-z_]+="{QUOTED_VALUE}")*)?')


@pytest.mark.parametrize(
    ("error", "status", "challenge"),
    [
        (jwtguard.MissingTokenError(), 401, 'Bearer realm="api"'),
        (
            jwtguard.InvalidRequestError(),
            400,
            'Bearer realm="api", error="invalid_request", error_description="The request is malformed"',
        ),
        (
            jwtguard.InvalidTokenError("bad_signature"),
            401,
            'Bearer realm="api", error="invalid_token", error_description="The token signature is invalid"',
        ),
        (
            jwtguard.ExpiredTokenError(),
            401,
            'Bearer realm="api", error="invalid_token", error_description="The access token expired"',
        ),
        (
            jwtguard.InsufficientScopeError(["read:messages", "write:messages"]),
            403,
            'Bearer realm="api", error="insufficient_scope", '
            'error_description="The access token does not have the required scope", '
            'scope="read:messages write:messages"',
        ),
    ],
)
def test_each_error_renders_its_rfc6750_challenge(error: jwtguard.AuthError, status: int, challenge: str) -> None:
    assert error.status_code == status
    assert error.www_authenticate(realm="api") == challenge
    assert error.headers("api") == {"WWW-Authenticate": challenge}


def test_challenge_without_realm() -> None:
    assert jwtguard.MissingTokenError().www_authenticate() == "Bearer"
    assert jwtguard.ExpiredTokenError().www_authenticate().startswith('Bearer error="invalid_token"')


def test_key_set_unavailable_is_503_with_retry_after_and_no_challenge() -> None:
    error = jwtguard.KeySetUnavailableError(retry_after=2.2)
    assert error.status_code == 503
    assert error.error is None
    assert error.headers("api") == {"Retry-After": "3"}
    assert error.code == "keyset_unavailable"


def test_expired_is_an_invalid_token_error() -> None:
    error = jwtguard.ExpiredTokenError()
    assert isinstance(error, jwtguard.InvalidTokenError)
    assert error.error == "invalid_token"
    assert "expired" in error.description
    assert error.code == "token_expired"


def test_every_description_uses_only_rfc6750_characters() -> None:
    for description in DESCRIPTIONS.values():
        assert re.fullmatch(QUOTED_VALUE, description), description


def test_unknown_code_falls_back_to_the_class_description() -> None:
    error = jwtguard.InvalidTokenError("no_such_code")
    assert error.description == DESCRIPTIONS["malformed_token"]


@pytest.mark.parametrize(
    "hostile",
    ['a"b', "back\\slash", "line\r\nSet-Cookie: x=1", "\x00\x7f\u2028é", '", error="none'],
)
def test_hostile_values_never_reach_the_header(hostile: str) -> None:
    rendered = render_challenge(hostile, error="invalid_token", description=hostile, scope=hostile)
    assert CHALLENGE.fullmatch(rendered), rendered
    assert "\r" not in rendered
    assert "\n" not in rendered
    # Nothing injected a parameter of its own.
    names = re.findall(rf'(?:^Bearer |, )([a-z_]+)="{QUOTED_VALUE}"', rendered)
    assert names == ["realm", "error", "error_description", "scope"]


def test_scope_keeps_only_scope_token_characters() -> None:
    rendered = render_challenge(scope='read  "x" wr\\ite')
    assert rendered == 'Bearer scope="read x write"'


def test_resource_metadata_parameter() -> None:
    error = jwtguard.InvalidTokenError()
    challenge = error.www_authenticate(
        "api", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"
    )
    assert challenge.endswith(', resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"')


def test_str_is_for_logs_and_carries_the_fields() -> None:
    error = jwtguard.InvalidTokenError("audience_mismatch", claim="aud", reason="mismatch")
    assert str(error) == "audience_mismatch: The token audience is not accepted (claim=aud, reason=mismatch)"
    assert (error.claim, error.reason) == ("aud", "mismatch")


def test_configuration_error_is_a_value_error() -> None:
    assert issubclass(jwtguard.ConfigurationError, ValueError)
    assert not issubclass(jwtguard.ConfigurationError, jwtguard.AuthError)


def test_error_response_has_json_body_and_no_store() -> None:
    answer = error_response(jwtguard.InsufficientScopeError(["read"]), realm="api")
    headers = dict(answer.headers)
    assert answer.status == 403
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    assert b'"error": "insufficient_scope"' in answer.body
    outage = error_response(jwtguard.KeySetUnavailableError(5))
    assert dict(outage.headers)["Retry-After"] == "5"
    assert "WWW-Authenticate" not in dict(outage.headers)
