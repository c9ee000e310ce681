"""One settings loader: names in any case, every option reachable, typos refused with a hint."""

from __future__ import annotations

import json
import time

import certifi
import pytest

import jwtguard
from jwtguard._config import OPTION_NAMES
from jwtguard.hooks import Hooks
from jwtguard.settings import ADAPTER_KEYS, read_settings
from jwtguard.testing import SigningKey

KEY = SigningKey.generate("RS256", kid="k")
ISSUER = "https://issuer.example.test/"

#: One non-default value per option, spelled as an environment variable would be.
ENV = {
    "ISSUER": f"{ISSUER} https://second.example.test/",
    "AUDIENCE": "https://api.example.test,api2",
    "ALGORITHMS": "RS256,PS256",
    "JWKS": json.dumps({"keys": [KEY.jwk]}),
    "LEEWAY": "12",
    "AUTHORIZED_PARTIES": "spa",
    "REQUIRED_SCOPES": "read:a write:b",
    "MAX_TOKEN_AGE": "900",
    "TOKEN_TYPES": '["at+jwt"]',
    "REQUIRED_CLAIMS": "sub,jti",
    "CLAIM_CHECKS": json.dumps({"tid": "tests.test_settings:tenant_is_known"}),
    "MAX_TOKEN_SIZE": "4096",
    "TOKEN_CACHE_SIZE": "10",
    "CACHE_MAX_AGE": "60",
    "UNKNOWN_KID_COOLDOWN": "5",
    "MAX_STALE": "100",
    "TIMEOUT": "2.5",
    "MAX_RESPONSE_SIZE": "2048",
    "ALLOW_INSECURE_HTTP": "yes",
    "CACHE_MAX_AGE_BOUNDS": "30,3600",
    "MAX_KEYS": "20",
    "PROXY": "http://proxy.example.test:3128",
    "TRUST_ENV_PROXIES": "yes",
    "CA_BUNDLE": certifi.where(),
    "FETCH_HEADERS": '{"x-api-key": "k"}',
    "CLOCK": "time:time",
    "TIMER": "time.monotonic",
    "HOOKS": "tests.test_settings:CountingHooks",
    "DPOP": "required",
    "DPOP_ALGORITHMS": "ES256 EdDSA",
    "DPOP_MAX_AGE": "60",
    "DPOP_NONCE": "on",
    "DPOP_NONCE_SECRET": "sixteen-bytes-or-more",
    "DPOP_REPLAY_CACHE_SIZE": "500",
    "ROLE_CLAIMS": "roles,resource_access.api.roles",
    "INTROSPECTION": "always",
    "INTROSPECTION_ENDPOINT": "https://issuer.example.test/introspect",
    "INTROSPECTION_CLIENT": "api-client,api-secret",
    "INTROSPECTION_AUTH_METHOD": "client_secret_post",
    "INTROSPECTION_CACHE_SIZE": "50",
    "INTROSPECTION_CACHE_TTL": "30",
    "STORE": "jwtguard.stores:MemoryStore",
    "STORE_SYNC_INTERVAL": "0.5",
    "ISSUER_CACHE_SIZE": "7",
    "REFUSE_ID_TOKENS": "true",
}


def tenant_is_known(value: object) -> bool:
    return value == "t1"


class CountingHooks(Hooks):
    pass


def test_every_validator_option_is_reachable_from_the_environment() -> None:
    # fetch excludes proxy and ca_bundle: test_transport.py reads it from the environment
    assert {name.lower() for name in ENV} | {"jwks_uri", "fetch"} == set(OPTION_NAMES)
    validator = jwtguard.Validator.from_env({f"JWTGUARD_{k}": v for k, v in ENV.items()} | {"OTHER": "x"})
    options = validator.options
    assert validator.issuers == (ISSUER, "https://second.example.test/")
    assert validator.audiences == {"https://api.example.test", "api2"}
    assert validator.algorithms == ("RS256", "PS256")
    assert (options.leeway, options.max_token_age, options.timeout) == (12.0, 900.0, 2.5)
    assert options.authorized_parties == {"spa"}
    assert options.required_scopes == ("read:a", "write:b")
    assert options.token_types == {"at+jwt"}
    assert options.required_claims == ("sub", "jti")
    assert options.claim_checks["tid"].__qualname__ == "tenant_is_known"  # imported by its dotted path
    assert (options.max_token_size, options.token_cache_size, options.max_response_size) == (4096, 10, 2048)
    assert (options.cache_max_age, options.unknown_kid_cooldown, options.max_stale) == (60.0, 5.0, 100.0)
    assert options.allow_insecure_http is True
    assert (options.clock, options.timer) == (time.time, time.monotonic)
    assert type(options.hooks).__qualname__ == "CountingHooks"
    assert (options.dpop, options.dpop_algorithms, options.dpop_max_age) == ("required", ("ES256", "EdDSA"), 60.0)
    assert (options.dpop_nonce, options.dpop_nonce_secret) == (True, b"sixteen-bytes-or-more")
    assert (options.dpop_replay_cache_size, options.role_claims) == (500, ("roles", "resource_access.api.roles"))
    assert type(options.store).__name__ == "MemoryStore"
    assert (options.introspection, options.introspection_endpoint) == (
        "always",
        "https://issuer.example.test/introspect",
    )
    assert (options.introspection_client, options.introspection_auth_method) == (
        ("api-client", "api-secret"),
        "client_secret_post",
    )
    assert (options.introspection_cache_size, options.introspection_cache_ttl) == (50, 30.0)
    assert options.store_sync_interval == 0.5
    assert (options.issuer_cache_size, options.refuse_id_tokens) == (7, True)


def test_jwks_uri_from_the_environment_is_a_url_or_a_json_mapping() -> None:
    one = jwtguard.Validator.from_env(
        {"JWTGUARD_ISSUER": ISSUER, "JWTGUARD_AUDIENCE": "a", "JWTGUARD_JWKS_URI": "https://k.example/jwks"}
    )
    assert one.options.jwks_uri == "https://k.example/jwks"
    mapping = json.dumps({ISSUER: "https://k.example/jwks"})
    two = jwtguard.Validator.from_env(
        {"JWTGUARD_ISSUER": ISSUER, "JWTGUARD_AUDIENCE": "a", "JWTGUARD_JWKS_URI": mapping}
    )
    assert two.options.jwks_uri == {ISSUER: "https://k.example/jwks"}


def test_overrides_win_and_adapter_settings_are_ignored_by_the_validator() -> None:
    environ = {"JWTGUARD_ISSUER": ISSUER, "JWTGUARD_AUDIENCE": "a", "JWTGUARD_REALM": "api", "JWTGUARD_LEEWAY": "1"}
    assert jwtguard.Validator.from_env(environ, leeway=30).leeway == 30


@pytest.mark.parametrize(
    ("name", "nearest"),
    [("AUDIANCE", "AUDIENCE"), ("ISSUERS", "ISSUER"), ("LEWAY", "LEEWAY"), ("EXCLUDE_PATH", "EXCLUDE_PATHS")],
)
def test_an_unknown_setting_names_the_nearest_known_one(name: str, nearest: str) -> None:
    with pytest.raises(jwtguard.ConfigurationError, match=f"unknown setting '{name}'; did you mean '{nearest}'"):
        read_settings({"ISSUER": ISSUER, name: "x"}, where="JWTGUARD")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LEEWAY", "ten"),
        ("ALLOW_INSECURE_HTTP", "maybe"),
        ("JWKS", "{not json"),
        ("HOOKS", "no.such.module:x"),
        ("MAX_TOKEN_SIZE", "1.5"),
    ],
)
def test_text_values_that_do_not_parse_are_configuration_errors(name: str, value: str) -> None:
    with pytest.raises(jwtguard.ConfigurationError, match=name):
        jwtguard.Validator.from_env({"JWTGUARD_ISSUER": ISSUER, "JWTGUARD_AUDIENCE": "a", f"JWTGUARD_{name}": value})


def test_names_match_in_any_case_but_only_once() -> None:
    options, adapter = read_settings({"issuer": ISSUER, "Audience": "a", "realm": "r"}, where="x")
    assert options == {"issuer": ISSUER, "audience": "a"}
    assert adapter == {"REALM": "r"}
    with pytest.raises(jwtguard.ConfigurationError, match="twice"):
        read_settings({"issuer": ISSUER, "ISSUER": ISSUER}, where="x")


def test_the_issuer_is_required() -> None:
    with pytest.raises(jwtguard.ConfigurationError, match="ISSUER"):
        jwtguard.Validator.from_env({"JWTGUARD_AUDIENCE": "a"})


def test_adapter_settings_are_parsed_by_kind_from_text() -> None:
    _, adapter = read_settings(
        {"EXCLUDE_PATHS": "/health, /docs/*", "PROTECT_PREFLIGHT": "1", "REALM": "api"}, where="env", from_text=True
    )
    assert adapter == {"EXCLUDE_PATHS": ["/health", "/docs/*"], "PROTECT_PREFLIGHT": True, "REALM": "api"}
    assert set(ADAPTER_KEYS) >= {"REALM", "EXCLUDE_PATHS", "OPTIONAL_PATHS", "RESOURCE_METADATA"}
