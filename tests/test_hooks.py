"""Metrics hooks and the jwtguard logger: counted, never leaking a token."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import jwtguard
from jwtguard.hooks import Hooks
from jwtguard.testing import LocalIssuer, LocalServer


class Recorder(Hooks):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_validated(self, claims: jwtguard.Claims, *, cached: bool) -> None:
        self.events.append(("validated", claims["sub"], cached))

    def on_rejected(self, error: jwtguard.AuthError) -> None:
        self.events.append(("rejected", error.code))

    def on_key_set_fetch(self, issuer: str, *, ok: bool, reason: str | None, duration: float) -> None:
        assert duration >= 0
        self.events.append(("fetch", ok, reason))


def test_hooks_see_validations_cache_hits_rejections_and_fetches(issuer: LocalIssuer) -> None:
    hooks = Recorder()
    validator = issuer.validator(hooks=hooks)
    token = issuer.token(sub="ada", scope="read")
    for _ in range(3):  # recorded, remembered, then answered from the cache
        validator.validate(token)
    with pytest.raises(jwtguard.ExpiredTokenError):
        validator.validate(issuer.token(expires_in=-60))
    with pytest.raises(jwtguard.InsufficientScopeError):
        validator.require_scopes(validator.validate(token), "write")
    assert hooks.events == [
        ("fetch", True, None),
        ("validated", "ada", False),
        ("validated", "ada", False),
        ("validated", "ada", True),
        ("rejected", "token_expired"),
        ("validated", "ada", True),
        ("rejected", "insufficient_scope"),
    ]


def test_a_failed_fetch_is_reported(issuer: LocalIssuer, broken_server: LocalServer) -> None:
    hooks = Recorder()
    validator = jwtguard.Validator(
        issuer=issuer.issuer,
        audience=issuer.audience,
        jwks_uri=broken_server.url + "/.well-known/jwks.json",
        hooks=hooks,
    )
    with pytest.raises(jwtguard.KeySetUnavailableError):
        validator.validate(issuer.token())
    assert hooks.events == [("fetch", False, "http_status"), ("rejected", "keyset_unavailable")]


def test_a_broken_hook_never_fails_a_request(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Hooks):
        def on_validated(self, claims: jwtguard.Claims, *, cached: bool) -> None:
            raise RuntimeError("exporter down")

    validator = issuer.validator(hooks=Broken())
    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        assert validator.validate(issuer.token(sub="x"))["sub"] == "x"
    assert "metrics hook raised" in caplog.text


def test_rejections_are_logged_at_debug_without_the_token(
    issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    validator = issuer.validator()
    token = issuer.token(aud="https://other.example")
    with caplog.at_level(logging.DEBUG, logger="jwtguard"), pytest.raises(jwtguard.InvalidTokenError):
        validator.validate(token)
    assert "audience_mismatch" in caplog.text
    assert "claim=aud" in caplog.text
    for secret in (token, token.split(".")[1], token.split(".")[2], "other.example"):
        assert secret not in caplog.text


def test_fetches_are_logged_at_info_and_failures_at_warning(
    issuer: LocalIssuer, broken_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="jwtguard"):
        issuer.validator().warm_up()
        jwtguard.Validator(issuer=broken_server.url + "/", audience="x").warm_up()
    levels = {record.levelname for record in caplog.records}
    assert levels == {"INFO", "WARNING"}
    assert "http_status" in caplog.text
