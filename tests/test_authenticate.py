"""validator.authenticate: the one request policy, fed any framework's headers."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from scenarios import BARE_CHALLENGE

import jwtguard
from jwtguard import Requirement
from jwtguard.hooks import Hooks
from jwtguard.testing import LocalIssuer

URL = "https://api.example.test/messages?x=1"


class Recorder(Hooks):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_validated(self, claims: jwtguard.Claims, *, cached: bool) -> None:
        self.events.append("cached" if cached else "validated")

    def on_rejected(self, error: jwtguard.AuthError) -> None:
        self.events.append(error.code)


def both(validator: jwtguard.Validator, headers: Any) -> jwtguard.Claims:
    """authenticate and aauthenticate must agree; return the claims."""
    sync = validator.authenticate("GET", URL, headers)
    asynchronous = asyncio.run(validator.aauthenticate("GET", URL, headers))
    assert dict(sync) == dict(asynchronous)
    return sync


def refusal(validator: jwtguard.Validator, headers: Any) -> jwtguard.AuthError:
    with pytest.raises(jwtguard.AuthError) as sync:
        validator.authenticate("GET", URL, headers)
    with pytest.raises(jwtguard.AuthError) as asynchronous:
        asyncio.run(validator.aauthenticate("GET", URL, headers))
    assert (type(sync.value), sync.value.code) == (type(asynchronous.value), asynchronous.value.code)
    return sync.value


@pytest.mark.parametrize(
    "shape",
    [
        lambda t: {"Authorization": f"Bearer {t}"},
        lambda t: {"authorization": f"bearer {t}"},
        lambda t: [(b"authorization", f"Bearer {t}".encode())],
        lambda t: [("Host", "x"), ("AUTHORIZATION", f"Bearer {t}")],
        lambda t: ((name, value) for name, value in [("authorization", f"Bearer {t}")]),
    ],
    ids=["dict", "lower-case", "asgi-bytes", "pairs", "generator"],
)
def test_every_header_shape_is_read(issuer: LocalIssuer, validator: jwtguard.Validator, shape: Any) -> None:
    token = issuer.token(sub="user-9")
    assert (
        both(validator, list(shape(token)) if not isinstance(shape(token), dict) else shape(token))["sub"] == "user-9"
    )


@pytest.mark.parametrize(
    ("headers", "error", "code"),
    [
        ({}, jwtguard.MissingTokenError, "missing_token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, jwtguard.MissingTokenError, "missing_token"),
        ({"Authorization": "Bearer"}, jwtguard.InvalidRequestError, "malformed_authorization"),
        (
            [("authorization", "Bearer a.b.c"), ("authorization", "Bearer a.b.c")],
            jwtguard.InvalidRequestError,
            "duplicate_token",
        ),
        ([(7, "x")], jwtguard.InvalidRequestError, "malformed_authorization"),
        ([("authorization", None)], jwtguard.InvalidRequestError, "malformed_authorization"),
        ({"Authorization": "Bearer not-a-jwt"}, jwtguard.InvalidTokenError, "malformed_token"),
    ],
)
def test_request_refusals_are_auth_errors_and_reach_the_hooks(
    issuer: LocalIssuer, headers: Any, error: type[jwtguard.AuthError], code: str
) -> None:
    hooks = Recorder()
    validator = issuer.validator(hooks=hooks)
    refused = refusal(validator, headers)
    assert isinstance(refused, error)
    assert refused.code == code
    assert hooks.events == [code, code]  # once for the sync call, once for the async one


def test_a_missing_token_challenge_names_the_bearer_scheme(validator: jwtguard.Validator) -> None:
    assert refusal(validator, {}).www_authenticate("api") == BARE_CHALLENGE


def test_sync_and_async_report_the_same_events(issuer: LocalIssuer) -> None:
    sync_hooks, async_hooks = Recorder(), Recorder()
    sync_v, async_v = issuer.validator(hooks=sync_hooks), issuer.validator(hooks=async_hooks)
    good, expired = issuer.token(), issuer.factory().expired()
    for token in (good, good, good, expired, "x.y.z"):
        headers = {"Authorization": f"Bearer {token}"}
        with contextlib.suppress(jwtguard.AuthError):
            sync_v.authenticate("GET", URL, headers)
        with contextlib.suppress(jwtguard.AuthError):
            asyncio.run(async_v.aauthenticate("GET", URL, headers))
    assert sync_hooks.events == async_hooks.events
    assert sync_hooks.events == ["validated", "validated", "cached", "token_expired", "malformed_token"]


def test_authorize_decides_counts_and_refuses_anonymous(issuer: LocalIssuer) -> None:
    hooks = Recorder()
    validator = issuer.validator(hooks=hooks)
    claims = validator.validate(issuer.token(scope="read write"))
    assert validator.authorize(claims, Requirement.of(["read", "admin"], any_of=True)) is claims
    with pytest.raises(jwtguard.InsufficientScopeError) as caught:
        validator.authorize(claims, Requirement.of(["admin", "root"], any_of=True))
    assert caught.value.required_scopes == ("admin", "root")
    with pytest.raises(jwtguard.MissingTokenError):
        validator.authorize(None, Requirement.of(["read"]))
    validator.require_scopes(claims, "read", "write")
    validator.require_scopes(claims, "admin", "write", any_of=True)
    assert hooks.events == ["validated", "insufficient_scope", "missing_token"]


@pytest.mark.parametrize("scopes", [["a b"], ["caf\u00e9"], [""]])
def test_a_requirement_with_a_bad_scope_is_a_configuration_error(scopes: list[str]) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        Requirement.of(scopes)
    with pytest.raises(jwtguard.ConfigurationError):
        Requirement.of([], any_of=True)


@pytest.mark.parametrize(
    "name", ["leeway", "issuers", "audiences", "required_scopes", "max_token_size", "options", "x"]
)
def test_validator_attributes_are_read_only(validator: jwtguard.Validator, name: str) -> None:
    with pytest.raises(AttributeError):
        setattr(validator, name, 60)
