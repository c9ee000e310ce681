from __future__ import annotations

import pytest
from conftest import load_example

import jwtguard
from jwtguard.health import readiness
from jwtguard.testing import LocalIssuer


def test_readiness_follows_the_key_cache(issuer: LocalIssuer, down_validator: jwtguard.Validator) -> None:
    validator = issuer.validator()
    assert readiness(validator)["ready"] is False
    validator.warm_up()
    report = readiness(validator)
    assert report["ready"] is True
    (key_set,) = report["key_sets"]
    assert key_set["issuer"] == issuer.issuer
    assert key_set["key_count"] == 1
    assert key_set["age_seconds"] >= 0
    assert key_set["stale"] is False
    down_validator.warm_up()
    report = readiness(down_validator)
    assert report["ready"] is False
    assert report["key_sets"][0]["last_error"] == "http_status"


def test_static_keys_are_always_ready() -> None:
    key = jwtguard.testing.SigningKey.generate("ES256")
    validator = jwtguard.Validator(
        issuer="https://i.example/", audience="a", algorithms=["ES256"], jwks={"keys": [key.jwk]}
    )
    report = readiness(validator)
    assert report["ready"] is True
    assert report["key_sets"][0]["age_seconds"] is None


def test_the_prometheus_example_counts() -> None:
    pytest.importorskip("prometheus_client")
    exposition = load_example("prometheus_hooks").main()
    assert 'jwtguard_tokens_validated_total{cached="false"} 2.0' in exposition
    assert 'jwtguard_tokens_validated_total{cached="true"} 1.0' in exposition
    assert 'jwtguard_tokens_rejected_total{code="token_expired"} 1.0' in exposition
    assert 'jwtguard_tokens_rejected_total{code="malformed_token"} 1.0' in exposition
    assert "jwtguard_key_set_fetch_seconds_count{issuer=" in exposition
