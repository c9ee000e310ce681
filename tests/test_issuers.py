"""Issuers accepted by rule (multi-tenant APIs): IssuerTemplate and predicates, against local tenants."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fake_clock import FakeClock

import jwtguard
from jwtguard._discovery import authority
from jwtguard.testing import LocalServer, Response, SigningKey, TokenFactory

AUDIENCE = "https://api.example.test"
TENANTS = ("t1", "t2", "t3")


class Tenants:
    """One local server standing for a multi-tenant provider: ``/{tenant}/v2.0`` is each tenant's issuer."""

    def __init__(self, server: LocalServer, clock: FakeClock) -> None:
        self.server = server
        self.keys = {tenant: SigningKey.generate("RS256", kid=f"key-{tenant}") for tenant in TENANTS}
        self.template = server.url + "/{tenant}/v2.0"
        self.clock = clock
        for tenant in TENANTS:
            server.route(f"/{tenant}/v2.0/.well-known/openid-configuration", self._discovery(tenant))
            server.route(f"/{tenant}/keys", self._keys(tenant))

    def issuer(self, tenant: str) -> str:
        return self.template.replace("{tenant}", tenant)

    def _discovery(self, tenant: str) -> Any:
        return lambda request: Response(
            200, {"issuer": self.issuer(tenant), "jwks_uri": f"{self.server.url}/{tenant}/keys"}
        )

    def _keys(self, tenant: str) -> Any:
        return lambda request: Response(200, {"keys": [self.keys[tenant].jwk]})

    def token(self, tenant: str, **claims: Any) -> str:
        return TokenFactory(self.issuer(tenant), AUDIENCE, key=self.keys[tenant], clock=self.clock).mint(**claims)

    def requests(self) -> int:
        return sum(self.server.hits.values())

    def fetches(self, tenant: str) -> tuple[int, int]:
        hits = self.server.hits
        return hits[f"/{tenant}/v2.0/.well-known/openid-configuration"], hits[f"/{tenant}/keys"]


@pytest.fixture
def tenants(clock: FakeClock) -> Iterator[Tenants]:
    with LocalServer() as server:
        yield Tenants(server, clock)


def refused(validator: jwtguard.Validator, token: str) -> jwtguard.AuthError:
    with pytest.raises(jwtguard.AuthError) as caught:
        validator.validate(token)
    return caught.value


def test_each_tenant_gets_its_own_key_source_on_first_use(tenants: Tenants, clock: FakeClock) -> None:
    validator = jwtguard.Validator(issuer=jwtguard.IssuerTemplate(tenants.template), audience=AUDIENCE, clock=clock)
    assert tenants.requests() == 0  # nothing is fetched before a tenant's first token
    for _ in range(3):
        for tenant in ("t1", "t2"):
            assert validator.validate(tenants.token(tenant, sub=tenant))["sub"] == tenant
    assert tenants.fetches("t1") == tenants.fetches("t2") == (1, 1)
    assert tenants.fetches("t3") == (0, 0)
    assert asyncio.run(validator.avalidate(tenants.token("t3")))["iss"] == tenants.issuer("t3")
    assert validator.issuers == ()  # only exact strings are listed; the rule is in options.issuer


def test_a_tenants_tokens_verify_only_with_that_tenants_keys(tenants: Tenants, clock: FakeClock) -> None:
    validator = jwtguard.Validator(issuer=jwtguard.IssuerTemplate(tenants.template), audience=AUDIENCE, clock=clock)
    validator.validate(tenants.token("t2"))
    forged = TokenFactory(tenants.issuer("t1"), AUDIENCE, key=tenants.keys["t2"], clock=clock).mint()
    assert refused(validator, forged).code == "unknown_key"


@pytest.mark.parametrize(
    "iss",
    [
        "{url}/t3/v2.0",  # not in tenants=
        "{url}/../v2.0",
        "{url}/./v2.0",
        "{url}/t1%2F..%2Fadmin/v2.0",
        "{url}/t1/x/v2.0",
        "{url}/t1@evil.example/v2.0",
        "{url}/t1?x=/v2.0",
        "{url}/t1#/v2.0",
        "{url}/t1:80/v2.0",
        "{url}/t1/v2.0/",
        "{url}//v2.0",
        "https://evil.example/t1/v2.0",
        "http://127.0.0.1:1/t1/v2.0",
    ],
)
def test_a_refused_issuer_costs_no_network(tenants: Tenants, clock: FakeClock, iss: str) -> None:
    template = jwtguard.IssuerTemplate(tenants.template, tenants={"t1", "t2"})
    validator = jwtguard.Validator(issuer=template, audience=AUDIENCE, clock=clock)
    token = TokenFactory(iss.format(url=tenants.server.url), AUDIENCE, key=tenants.keys["t1"], clock=clock).mint()
    error = refused(validator, token)
    assert (error.code, error.claim) == ("unknown_issuer", "iss")
    assert tenants.requests() == 0


def test_the_key_sources_are_a_bounded_lru(tenants: Tenants, clock: FakeClock) -> None:
    template = jwtguard.IssuerTemplate(tenants.template)
    validator = jwtguard.Validator(issuer=template, audience=AUDIENCE, clock=clock, issuer_cache_size=2)
    for tenant in ("t1", "t2", "t1", "t3"):  # t3 evicts t2, the least recently used
        validator.validate(tenants.token(tenant))
    assert len(validator._resolver or ()) == 2
    validator.validate(tenants.token("t1"))
    assert tenants.fetches("t1") == (1, 1)
    validator.validate(tenants.token("t2"))  # evicted: a new source, fetched again
    assert tenants.fetches("t2") == (2, 2)


def test_a_discovered_jwks_uri_on_another_host_is_refused(tenants: Tenants, clock: FakeClock) -> None:
    with LocalServer() as elsewhere:
        elsewhere.route("/keys", lambda request: Response(200, {"keys": [tenants.keys["t1"].jwk]}))
        document = {"issuer": tenants.issuer("t1"), "jwks_uri": elsewhere.url + "/keys"}
        tenants.server.route("/t1/v2.0/.well-known/openid-configuration", lambda request: Response(200, document))
        validator = jwtguard.Validator(issuer=jwtguard.IssuerTemplate(tenants.template), audience=AUDIENCE, clock=clock)
        error = refused(validator, tenants.token("t1"))
        assert isinstance(error, jwtguard.KeySetUnavailableError)
        assert validator._resolver is not None
        source = validator._resolver.source(tenants.issuer("t1"))
        assert source.status().last_error == "discovery_jwks_uri_refused"
        assert elsewhere.hits["/keys"] == 0  # no request ever reached the other host
        # Explicitly allowed, the other host serves the keys.
        allowed = jwtguard.IssuerTemplate(tenants.template, jwks_hosts=[authority(elsewhere.url)])
        jwtguard.Validator(issuer=allowed, audience=AUDIENCE, clock=clock).validate(tenants.token("t1"))
        assert elsewhere.hits["/keys"] == 1


def test_a_configured_jwks_uri_is_shared_by_every_tenant(tenants: Tenants, clock: FakeClock) -> None:
    shared = SigningKey.generate("RS256", kid="common")
    tenants.server.route("/common/keys", lambda request: Response(200, {"keys": [shared.jwk]}))
    template = jwtguard.IssuerTemplate(tenants.template, jwks_uri=tenants.server.url + "/common/keys")
    validator = jwtguard.Validator(issuer=template, audience=AUDIENCE, clock=clock, issuer_cache_size=1)
    for tenant in TENANTS:
        validator.validate(TokenFactory(tenants.issuer(tenant), AUDIENCE, key=shared, clock=clock).mint())
    assert tenants.server.hits["/common/keys"] == 1  # one key set, one fetch, whatever the LRU evicts
    assert tenants.requests() == 1


def test_a_tenant_jwks_uri_template(tenants: Tenants, clock: FakeClock) -> None:
    template = jwtguard.IssuerTemplate(tenants.template, jwks_uri=tenants.server.url + "/{tenant}/keys")
    validator = jwtguard.Validator(issuer=template, audience=AUDIENCE, clock=clock)
    validator.validate(tenants.token("t1"))
    validator.validate(tenants.token("t2"))
    assert (tenants.fetches("t1"), tenants.fetches("t2")) == ((0, 1), (0, 1))  # no discovery


def test_the_tenant_claim_must_name_the_tenant_of_iss(tenants: Tenants, clock: FakeClock) -> None:
    template = jwtguard.IssuerTemplate(tenants.template, tenant_claim="tid")
    validator = jwtguard.Validator(issuer=template, audience=AUDIENCE, clock=clock)
    assert validator.validate(tenants.token("t1", tid="t1"))["tid"] == "t1"
    error = refused(validator, tenants.token("t1", tid="t2"))
    assert (error.code, error.claim, error.reason) == ("invalid_claim", "tid", "tenant_mismatch")
    error = refused(validator, tenants.token("t1"))
    assert (error.code, error.claim) == ("missing_claim", "tid")


def test_static_issuers_come_first_and_rules_after(tenants: Tenants, clock: FakeClock) -> None:
    static = "https://static.example.test/"
    key = SigningKey.generate("RS256", kid="static")
    jwks = {static: {"keys": [key.jwk]}, tenants.issuer("t1"): {"keys": [tenants.keys["t1"].jwk]}}
    validator = jwtguard.Validator(
        issuer=[static, jwtguard.IssuerTemplate(tenants.template)], audience=AUDIENCE, jwks=jwks, clock=clock
    )
    assert validator.issuers == (static,)
    validator.validate(TokenFactory(static, AUDIENCE, key=key, clock=clock).mint())
    validator.validate(tenants.token("t1"))
    assert refused(validator, tenants.token("t2")).code == "unknown_issuer"  # static keys name no t2
    assert tenants.requests() == 0


def test_a_validator_wide_jwks_serves_every_resolved_issuer(tenants: Tenants, clock: FakeClock) -> None:
    jwks = {"keys": [key.jwk for key in tenants.keys.values()]}
    validator = jwtguard.Validator(
        issuer=jwtguard.IssuerTemplate(tenants.template), audience=AUDIENCE, jwks=jwks, clock=clock
    )
    for tenant in TENANTS:
        validator.validate(tenants.token(tenant))
    assert tenants.requests() == 0


def test_a_predicate_accepts_issuers_on_their_own_host(tenants: Tenants, clock: FakeClock) -> None:
    asked: list[str] = []

    def trusted(iss: str) -> bool:
        asked.append(iss)
        return iss in (tenants.issuer("t1"), tenants.issuer("t2"))

    validator = jwtguard.Validator(issuer=trusted, audience=AUDIENCE, clock=clock)
    validator.validate(tenants.token("t1"))
    validator.validate(tenants.token("t1"))
    assert refused(validator, tenants.token("t3")).code == "unknown_issuer"
    assert asked == [tenants.issuer("t1"), tenants.issuer("t3")]  # an accepted issuer is asked once
    assert tenants.fetches("t3") == (0, 0)


def test_a_crashing_predicate_refuses(tenants: Tenants, clock: FakeClock) -> None:
    def broken(iss: str) -> bool:
        raise RuntimeError(iss)

    validator = jwtguard.Validator(issuer=broken, audience=AUDIENCE, clock=clock)
    assert refused(validator, tenants.token("t1")).code == "unknown_issuer"
    assert tenants.requests() == 0


def test_a_predicate_accepting_a_non_loopback_http_issuer_still_fetches_nothing(clock: FakeClock) -> None:
    validator = jwtguard.Validator(issuer=lambda iss: True, audience=AUDIENCE, clock=clock)
    token = TokenFactory("http://issuer.example/", AUDIENCE, clock=clock).mint()
    assert refused(validator, token).code == "unknown_issuer"


def test_discovery_of_a_predicates_issuer_stays_on_its_host(tenants: Tenants, clock: FakeClock) -> None:
    with LocalServer() as elsewhere:
        document = {"issuer": tenants.issuer("t1"), "jwks_uri": elsewhere.url + "/keys"}
        tenants.server.route("/t1/v2.0/.well-known/openid-configuration", lambda request: Response(200, document))
        validator = jwtguard.Validator(issuer=lambda iss: True, audience=AUDIENCE, clock=clock)
        assert isinstance(refused(validator, tenants.token("t1")), jwtguard.KeySetUnavailableError)
        assert sum(elsewhere.hits.values()) == 0


@pytest.mark.parametrize(
    ("template", "options"),
    [
        ("https://login.example.test/v2.0", {}),
        ("https://{tenant}.example.test/v2.0", {}),
        ("https://login.example.test/{tenant}/{tenant}", {}),
        ("https://login.example.test/{tenant}", {"tenants": []}),
        ("https://login.example.test/{tenant}", {"tenants": "t1"}),
        ("https://login.example.test/{tenant}", {"tenants": ["a/b"]}),
        ("https://login.example.test/{tenant}", {"tenant_pattern": "("}),
        ("https://login.example.test/{tenant}", {"tenant_claim": ""}),
        ("https://login.example.test/{tenant}", {"jwks_uri": "https://{tenant}.example.test/keys"}),
        ("https://login.example.test/{tenant}", {"jwks_hosts": "keys.example.test"}),
    ],
)
def test_bad_templates_are_configuration_errors(template: str, options: dict[str, Any]) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        jwtguard.IssuerTemplate(template, **options)


def test_a_template_on_plain_http_must_be_loopback() -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        jwtguard.Validator(issuer=jwtguard.IssuerTemplate("http://login.example.test/{tenant}"), audience=AUDIENCE)
    jwtguard.Validator(issuer=jwtguard.IssuerTemplate("http://127.0.0.1:8080/{tenant}"), audience=AUDIENCE)


def test_a_tenant_pattern_can_never_reach_another_path_or_host() -> None:
    template = jwtguard.IssuerTemplate("https://login.example.test/{tenant}/v2.0", tenant_pattern=".*")
    assert template.tenant_of("https://login.example.test/ok/v2.0") == "ok"
    for tenant in ("..", ".", "a/b", "a%2fb", "a@b", "a?b", "a#b", "a\\b", "a b"):
        assert template.tenant_of(f"https://login.example.test/{tenant}/v2.0") is None


def test_a_predicate_needs_one_argument() -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        jwtguard.Validator(issuer=lambda: True, audience=AUDIENCE)  # type: ignore[arg-type]


def test_issuer_rules_reach_the_settings_loader_as_objects(tenants: Tenants, clock: FakeClock) -> None:
    from jwtguard.settings import validator_from_settings

    template = jwtguard.IssuerTemplate(tenants.template)
    validator = validator_from_settings({"ISSUER": [template], "AUDIENCE": AUDIENCE, "CLOCK": clock}, where="test")
    validator.validate(tenants.token("t1"))
