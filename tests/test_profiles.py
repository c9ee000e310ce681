"""Profiles for common issuers, with tokens shaped like theirs; ID tokens refused; tokens without an audience."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from fake_clock import FakeClock

import jwtguard
from jwtguard import profiles
from jwtguard.testing import LocalServer, Response, SigningKey, TokenFactory

KEY = SigningKey.generate("RS256", kid="profile-key")
JWKS = {"keys": [KEY.jwk]}
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


def mint(clock: FakeClock, claims: dict[str, Any], typ: str | None = "JWT") -> str:
    """A token with exactly ``claims`` (plus ``iat``/``exp`` unless given), signed by KEY."""
    now = int(clock())
    payload = {"iat": now, "exp": now + 3600, **claims}
    return KEY.sign({k: v for k, v in payload.items() if v is not None}, {"typ": typ})


def refused(validator: jwtguard.Validator, token: str) -> jwtguard.AuthError:
    with pytest.raises(jwtguard.AuthError) as caught:
        validator.validate(token)
    return caught.value


# -- ID tokens are not access tokens ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nonce", "at_hash", "c_hash", "s_hash"])
def test_refuse_id_tokens_refuses_each_id_token_claim(clock: FakeClock, name: str) -> None:
    factory = TokenFactory("https://i.example/", "api", key=KEY, clock=clock)
    validator = jwtguard.Validator(
        issuer="https://i.example/", audience="api", jwks=JWKS, clock=clock, refuse_id_tokens=True
    )
    validator.validate(factory.mint())
    error = refused(validator, factory.mint(**{name: "x"}))
    assert (error.code, error.claim, error.status_code, error.error) == ("id_token", name, 401, "invalid_token")
    assert error.description == jwtguard.errors.DESCRIPTIONS["id_token"] == "An ID token is not an access token"


def test_the_default_validator_and_the_oidc_profile_leave_id_token_claims_alone(clock: FakeClock) -> None:
    factory = TokenFactory("https://i.example/", "api", key=KEY, clock=clock)
    for validator in (
        jwtguard.Validator(issuer="https://i.example/", audience="api", jwks=JWKS, clock=clock),
        profiles.oidc("https://i.example/", "api", jwks=JWKS, clock=clock),
    ):
        assert validator.options.refuse_id_tokens is False
        validator.validate(factory.mint(nonce="n", at_hash="h"))


def test_auth0_and_rfc9068_refuse_id_tokens_by_default(clock: FakeClock) -> None:
    auth0 = profiles.auth0("tenant.eu.auth0.com", "https://api.example.com", jwks=JWKS, clock=clock)
    token = TokenFactory("https://tenant.eu.auth0.com/", "https://api.example.com", key=KEY, clock=clock)
    auth0.validate(token.mint(permissions=["read:messages"]))
    assert refused(auth0, token.mint(nonce="n")).code == "id_token"
    assert profiles.auth0("t.auth0.com", "a", refuse_id_tokens=False).options.refuse_id_tokens is False
    strict = profiles.rfc9068("https://i.example/", "api", jwks=JWKS, clock=clock)
    rfc = TokenFactory("https://i.example/", "api", key=KEY, clock=clock, token_type="at+jwt")
    strict.validate(rfc.mint(client_id="c"))
    assert refused(strict, rfc.mint(client_id="c", at_hash="h")).code == "id_token"


# -- tokens without an audience ---------------------------------------------------------------------


def test_no_audience_needs_authorized_parties() -> None:
    with pytest.raises(jwtguard.ConfigurationError, match="authorized_parties"):
        jwtguard.Validator(issuer="https://i.example/", audience=jwtguard.NO_AUDIENCE)
    for missing in (None, (), []):  # forgetting the audience is never the same as choosing none
        with pytest.raises(jwtguard.ConfigurationError, match="audience"):
            jwtguard.Validator(issuer="https://i.example/", audience=missing, authorized_parties=["c"])


def test_no_audience_binds_by_the_client_and_refuses_any_aud(clock: FakeClock) -> None:
    validator = jwtguard.Validator(
        issuer="https://i.example/", audience=jwtguard.NO_AUDIENCE, authorized_parties=["c"], jwks=JWKS, clock=clock
    )
    assert validator.audiences == frozenset()
    assert repr(validator.options.audience) == "NO_AUDIENCE"
    validator.validate(mint(clock, {"iss": "https://i.example/", "client_id": "c"}))
    error = refused(validator, mint(clock, {"iss": "https://i.example/", "client_id": "c", "aud": "c"}))
    assert (error.code, error.claim, error.reason) == ("audience_mismatch", "aud", "unexpected")
    assert refused(validator, mint(clock, {"iss": "https://i.example/", "client_id": "d"})).code == "unauthorized_party"
    assert refused(validator, mint(clock, {"iss": "https://i.example/"})).code == "missing_claim"


# -- Okta -------------------------------------------------------------------------------------------


def okta_access_token(clock: FakeClock, **claims: Any) -> str:
    return mint(
        clock,
        {
            "ver": 1,
            "jti": "AT.0mP4JKAZX1iACIT4vbEDF7LpvDVjxypPMf0D7uX39RE",
            "iss": "https://dev-123.okta.com/oauth2/default",
            "aud": "api://default",
            "cid": "0oa1abcdefgh",
            "uid": "00u1abcdefgh",
            "scp": ["openid", "read:messages"],
            "auth_time": int(clock()) - 60,
            "sub": "alice@example.com",
            **claims,
        },
    )


def test_okta(clock: FakeClock) -> None:
    validator = profiles.okta("dev-123.okta.com", "api://default", client_ids=["0oa1abcdefgh"], jwks=JWKS, clock=clock)
    claims = validator.validate(okta_access_token(clock))
    assert claims.scopes == {"openid", "read:messages"}
    assert refused(validator, okta_access_token(clock, cid="0oa-other")).claim == "cid"
    assert refused(validator, okta_access_token(clock, nonce="n", at_hash="h")).code == "id_token"
    assert profiles.okta("https://dev-123.okta.com", "a", "aus1xyz").issuers == (
        "https://dev-123.okta.com/oauth2/aus1xyz",
    )
    for server in ("", None, "default/../x"):
        with pytest.raises(jwtguard.ConfigurationError, match="custom authorization server"):
            profiles.okta("dev-123.okta.com", "api://default", server)  # type: ignore[arg-type]


# -- Azure AD / Entra ID ----------------------------------------------------------------------------


def azure_token(clock: FakeClock, version: str, tenant: str = TENANT, **claims: Any) -> str:
    iss = (
        f"https://sts.windows.net/{tenant}/" if version == "v1" else f"https://login.microsoftonline.com/{tenant}/v2.0"
    )
    body = {
        "aud": "api://my-api" if version == "v1" else "6e74172b-be56-4843-9ff4-e66a39bb12e3",
        "iss": iss,
        "nbf": int(clock()) - 5,
        "azp" if version == "v2" else "appid": "1950a258-227b-4e31-a9cf-717495945fc2",
        "name": "Abe Lincoln",
        "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
        "scp": "access_as_user read",
        "roles": ["Messages.Read"],
        "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",
        "tid": tenant,
        "uti": "fqiBqXLPj0eQa82S-IYFAA",
        "ver": "1.0" if version == "v1" else "2.0",
        **claims,
    }
    return mint(clock, body)


AZURE_AUDIENCES = ["api://my-api", "6e74172b-be56-4843-9ff4-e66a39bb12e3"]


def test_azure_ad_one_tenant_v1_and_v2(clock: FakeClock) -> None:
    validator = profiles.azure_ad(TENANT, AZURE_AUDIENCES, versions=("v1", "v2"), jwks=JWKS, clock=clock)
    assert validator.issuers == (
        f"https://sts.windows.net/{TENANT}/",
        f"https://login.microsoftonline.com/{TENANT}/v2.0",
    )
    for version in ("v1", "v2"):
        claims = validator.validate(azure_token(clock, version))
        assert (claims.scopes, claims.roles) == ({"access_as_user", "read"}, {"Messages.Read"})
    assert refused(validator, azure_token(clock, "v2", tid=OTHER_TENANT)).claim == "tid"
    assert refused(validator, azure_token(clock, "v2", nonce="n", c_hash="c")).code == "id_token"
    assert refused(validator, azure_token(clock, "v2", OTHER_TENANT)).code == "unknown_issuer"
    only_v2 = profiles.azure_ad(TENANT, AZURE_AUDIENCES, jwks=JWKS, clock=clock)
    assert refused(only_v2, azure_token(clock, "v1")).code == "unknown_issuer"
    keys = profiles.azure_ad(TENANT, AZURE_AUDIENCES, versions=["v1", "v2"]).options.jwks_uri
    assert keys == f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys"  # one key set for both


def test_azure_ad_multi_tenant(clock: FakeClock) -> None:
    validator = profiles.azure_ad("organizations", AZURE_AUDIENCES, versions=("v1", "v2"), jwks=JWKS, clock=clock)
    for tenant in (TENANT, OTHER_TENANT):
        for version in ("v1", "v2"):
            assert validator.validate(azure_token(clock, version, tenant))["tid"] == tenant
    error = refused(validator, azure_token(clock, "v2", TENANT, tid=OTHER_TENANT))
    assert (error.claim, error.reason) == ("tid", "tenant_mismatch")  # tid must be the tenant of iss
    assert refused(validator, azure_token(clock, "v2", "common")).code == "unknown_issuer"  # not a tenant id
    onboarded = profiles.azure_ad("organizations", AZURE_AUDIENCES, tenants=[TENANT], jwks=JWKS, clock=clock)
    onboarded.validate(azure_token(clock, "v2", TENANT))
    assert refused(onboarded, azure_token(clock, "v2", OTHER_TENANT)).code == "unknown_issuer"


def test_azure_ad_multi_tenant_shares_the_common_key_set() -> None:
    validator = profiles.azure_ad("common", AZURE_AUDIENCES, versions=("v1", "v2"))
    templates = validator.options.issuer
    assert [t.jwks_uri for t in templates] == ["https://login.microsoftonline.com/common/discovery/v2.0/keys"] * 2  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("tenant", "options"),
    [
        ("contoso.onmicrosoft.com", {}),
        (TENANT, {"versions": ("v3",)}),
        (TENANT, {"versions": "v2"}),
        (TENANT, {"tenants": [TENANT]}),
    ],
)
def test_azure_ad_bad_configuration(tenant: str, options: dict[str, Any]) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        profiles.azure_ad(tenant, "api://my-api", **options)


# -- Keycloak ---------------------------------------------------------------------------------------


def keycloak_token(clock: FakeClock, **claims: Any) -> str:
    return mint(
        clock,
        {
            "jti": "6f0e1b7c-6a39-4d5b-8a1c-4c1e2d1f0a11",
            "iss": "https://sso.example.com/realms/acme",
            "aud": ["orders-api", "account"],
            "sub": "f:3c1b:alice",
            "typ": "Bearer",
            "azp": "web-app",
            "nonce": "bm9uY2U",  # Keycloak copies the authorization request's nonce
            "session_state": "2b9c",
            "acr": "1",
            "realm_access": {"roles": ["offline_access", "staff"]},
            "resource_access": {"orders-api": {"roles": ["orders:admin"]}, "account": {"roles": ["view-profile"]}},
            "scope": "openid profile read:orders",
            "preferred_username": "alice",
            **claims,
        },
    )


def test_keycloak(clock: FakeClock) -> None:
    validator = profiles.keycloak(
        "https://sso.example.com/", "acme", "orders-api", client_roles=["orders-api"], jwks=JWKS, clock=clock
    )
    assert validator.issuers == ("https://sso.example.com/realms/acme",)
    claims = validator.validate(keycloak_token(clock))
    assert claims.roles == {"offline_access", "staff", "orders:admin"}  # realm roles and this client's
    assert "read:orders" in claims.scopes
    for typ in ("ID", "Refresh", None):
        assert refused(validator, keycloak_token(clock, typ=typ)).claim == "typ"
    with pytest.raises(jwtguard.ConfigurationError):
        profiles.keycloak("https://sso.example.com", "acme", "api", client_roles=["a.b"])


# -- Amazon Cognito ---------------------------------------------------------------------------------

POOL = "eu-west-1_AbC123xyz"
COGNITO_ISSUER = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"


def cognito_access_token(clock: FakeClock, **claims: Any) -> str:
    return mint(
        clock,
        {
            "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
            "cognito:groups": ["admins"],
            "iss": COGNITO_ISSUER,
            "version": 2,
            "client_id": "3n4b5urk1ft4fl3mg5e62d9ado",
            "origin_jti": "f1e2",
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin phone openid email",
            "auth_time": int(clock()) - 10,
            "jti": "a1b2",
            "username": "alice",
            **claims,
        },
        typ=None,
    )


def cognito_id_token(clock: FakeClock) -> str:
    return mint(
        clock,
        {
            "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
            "aud": "3n4b5urk1ft4fl3mg5e62d9ado",
            "at_hash": "Ohq9Ldh4",
            "email_verified": True,
            "iss": COGNITO_ISSUER,
            "cognito:username": "alice",
            "token_use": "id",
            "auth_time": int(clock()) - 10,
        },
        typ=None,
    )


def test_cognito(clock: FakeClock) -> None:
    validator = profiles.cognito("eu-west-1", POOL, "3n4b5urk1ft4fl3mg5e62d9ado", jwks=JWKS, clock=clock)
    claims = validator.validate(cognito_access_token(clock))
    assert (claims.roles, "openid" in claims.scopes) == ({"admins"}, True)
    assert refused(validator, cognito_id_token(clock)).code in ("audience_mismatch", "id_token")
    assert refused(validator, cognito_access_token(clock, token_use="id")).claim == "token_use"
    assert refused(validator, cognito_access_token(clock, client_id="other")).code == "unauthorized_party"
    assert refused(validator, cognito_access_token(clock, aud="3n4b5urk1ft4fl3mg5e62d9ado")).reason == "unexpected"
    assert profiles.cognito("eu-west-1", POOL, ["c"]).options.jwks_uri == COGNITO_ISSUER + "/.well-known/jwks.json"


@pytest.mark.parametrize(
    ("region", "pool", "clients"),
    [
        ("eu-west", POOL, ["c"]),
        ("eu-west-1", "us-east-1_AbC", ["c"]),
        ("eu-west-1", POOL, []),
        ("eu-west-1", POOL, [""]),
    ],
)
def test_cognito_bad_configuration(region: str, pool: str, clients: list[str]) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        profiles.cognito(region, pool, clients)


# -- Google and Firebase ------------------------------------------------------------------------------


def test_google(clock: FakeClock) -> None:
    audience = "1234987819200.apps.googleusercontent.com"
    validator = profiles.google(audience, hosted_domain="example.com", jwks=JWKS, clock=clock)
    for iss in ("https://accounts.google.com", "accounts.google.com"):
        token = mint(
            clock,
            {
                "iss": iss,
                "azp": audience,
                "aud": audience,
                "sub": "110169484474386276334",
                "hd": "example.com",
                "email": "alice@example.com",
                "email_verified": True,
                "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q",
            },
        )
        assert validator.validate(token)["sub"] == "110169484474386276334"  # Google's tokens are ID tokens
    other = mint(clock, {"iss": "https://accounts.google.com", "aud": audience, "hd": "evil.example", "sub": "1"})
    assert refused(validator, other).claim == "hd"
    assert profiles.google(audience).options.jwks_uri == "https://www.googleapis.com/oauth2/v3/certs"


def pem_certificate(key: SigningKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system.gserviceaccount.com")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.private_key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
        .sign(key.private_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


@pytest.fixture
def x509_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        server.route(
            "/x509", lambda request: Response(200, {KEY.kid: pem_certificate(KEY)}, {"Cache-Control": "max-age=3600"})
        )
        yield server


def firebase_token(clock: FakeClock, **claims: Any) -> str:
    now = int(clock())
    return mint(
        clock,
        {
            "iss": "https://securetoken.google.com/my-project-1234",
            "aud": "my-project-1234",
            "auth_time": now - 30,
            "user_id": "kP3vM0abc",
            "sub": "kP3vM0abc",
            "email": "alice@example.com",
            "email_verified": True,
            "firebase": {"identities": {"email": ["alice@example.com"]}, "sign_in_provider": "password"},
            **claims,
        },
    )


def test_firebase_with_keys_as_certificates(x509_server: LocalServer, clock: FakeClock) -> None:
    validator = profiles.firebase("my-project-1234", jwks_uri=x509_server.url + "/x509", clock=clock)
    assert validator.validate(firebase_token(clock))["firebase"]["sign_in_provider"] == "password"
    assert refused(validator, firebase_token(clock, auth_time=int(clock()) + 3600)).claim == "auth_time"
    assert refused(validator, firebase_token(clock, sub="")).claim == "sub"
    assert refused(validator, firebase_token(clock, aud="other-project")).code == "audience_mismatch"
    assert x509_server.hits["/x509"] == 1
    default = profiles.firebase("my-project-1234").options.jwks_uri
    assert default == "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
    with pytest.raises(jwtguard.ConfigurationError):
        profiles.firebase("My Project")


# -- GitHub Actions ---------------------------------------------------------------------------------


def github_token(clock: FakeClock, **claims: Any) -> str:
    return mint(
        clock,
        {
            "jti": "example-id",
            "sub": "repo:octo-org/octo-repo:ref:refs/heads/main",
            "aud": "https://github.com/octo-org",
            "ref": "refs/heads/main",
            "sha": "example-sha",
            "repository": "octo-org/octo-repo",
            "repository_owner": "octo-org",
            "repository_owner_id": "65",
            "repository_id": "74",
            "actor_id": "12",
            "run_id": "example-run-id",
            "event_name": "workflow_dispatch",
            "ref_type": "branch",
            "workflow_ref": "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main",
            "job_workflow_ref": "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main",
            "iss": "https://token.actions.githubusercontent.com",
            "nbf": int(clock()) - 5,
            **claims,
        },
    )


def test_github_actions(clock: FakeClock) -> None:
    validator = profiles.github_actions(
        "https://github.com/octo-org",
        repository="octo-org/*",
        ref=["refs/heads/main", "refs/tags/v*"],
        jwks=JWKS,
        clock=clock,
    )
    assert validator.validate(github_token(clock))["repository"] == "octo-org/octo-repo"
    validator.validate(github_token(clock, ref="refs/tags/v1.2"))
    assert refused(validator, github_token(clock, repository="evil-org/octo-repo")).claim == "repository"
    assert refused(validator, github_token(clock, ref="refs/heads/feature")).claim == "ref"
    assert refused(validator, github_token(clock, ref="refs/tags/v1/evil")).claim == "ref"  # * stays within a part
    assert refused(validator, github_token(clock, aud="sts.amazonaws.com")).code == "audience_mismatch"
    by_sub = profiles.github_actions("aud", sub="repo:octo-org/octo-repo:environment:prod", jwks=JWKS, clock=clock)
    assert refused(by_sub, github_token(clock, aud="aud")).claim == "sub"
    by_sub.validate(github_token(clock, aud="aud", sub="repo:octo-org/octo-repo:environment:prod"))
    anywhere = profiles.github_actions("aud", sub="repo:octo-org/**", jwks=JWKS, clock=clock)
    anywhere.validate(github_token(clock, aud="aud"))
    assert profiles.github_actions("a", repository_owner="o", enterprise="acme").issuers == (
        "https://token.actions.githubusercontent.com/acme",
    )


def test_github_actions_must_pin_a_repository_owner_or_subject() -> None:
    with pytest.raises(jwtguard.ConfigurationError, match="any GitHub workflow"):
        profiles.github_actions("https://github.com/octo-org")
    with pytest.raises(jwtguard.ConfigurationError):
        profiles.github_actions("a", ref="refs/heads/main")
