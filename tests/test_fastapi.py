"""jwtguard.fastapi: the shared scenario table on the FastAPI example, then the dependency's own behaviour."""

import base64
import dataclasses
import datetime
import warnings
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

import pytest
from conftest import load_example
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import Depends, FastAPI, Security
from pydantic import BaseModel
from scenarios import (
    BARE_CHALLENGE,
    POLICY_SCENARIOS,
    REALM,
    SCENARIOS,
    SCOPE,
    PolicyScenario,
    Scenario,
    bearer,
    bearer_half,
    client_for,
    run_policy_scenario,
    run_scenario,
)
from starlette.exceptions import StarletteDeprecationWarning
from starlette.responses import JSONResponse

import jwtguard
from jwtguard.asgi import JWTGuardMiddleware
from jwtguard.fastapi import JWTBearer, JWTBearerError, install_error_handler
from jwtguard.hooks import Hooks
from jwtguard.resource_metadata import ProtectedResourceMetadata
from jwtguard.testing import DPoPKey, LocalIssuer, certificate_thumbprint

with warnings.catch_warnings():
    # Starlette >= 1.x prefers httpx2 for its test client and warns when it runs on httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

example = load_example("fastapi_app")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(scenario: Scenario, issuer: LocalIssuer, request: pytest.FixtureRequest) -> None:
    validator = request.getfixturevalue("down_validator" if scenario.keys_down else "validator")
    run_scenario(scenario, client_for(TestClient(example.create_app(validator))), issuer)


def auth(issuer: LocalIssuer, scope: str = SCOPE) -> dict[str, str]:
    return dict(bearer(issuer.token(scope=scope, sub="user-42")))


def test_openapi_shows_the_bearer_scheme_and_scopes(validator: jwtguard.Validator) -> None:
    schema = TestClient(example.create_app(validator)).get("/openapi.json").json()
    assert schema["components"]["securitySchemes"] == {
        "JWTBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    assert schema["paths"]["/messages"]["get"]["security"] == [{"JWTBearer": [SCOPE]}]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_the_example_with_swagger_ui_authorization(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    with TestClient(example.create_app(validator, swagger_client_id="test-client")) as client:  # runs the lifespan
        schema = client.get("/openapi.json").json()
        docs = client.get("/docs")
        reports = client.get("/reports", headers=auth(issuer, "admin"))
        me = client.get("/me", headers=auth(issuer))
        no_reports = client.get("/reports", headers=auth(issuer))
    assert schema["components"]["securitySchemes"]["OAuth2"] == {
        "type": "oauth2",
        "flows": {"clientCredentials": {"tokenUrl": issuer.token_endpoint, "scopes": example.SCOPES}},
    }
    assert schema["paths"]["/messages"]["get"]["security"] == [{"JWTBearer": [SCOPE]}, {"OAuth2": [SCOPE]}]
    assert schema["paths"]["/reports"]["get"]["security"] == [
        {"JWTBearer": ["read:reports", "admin"]},
        {"OAuth2": ["read:reports", "admin"]},
    ]
    assert docs.status_code == 200
    assert '"clientId": "test-client"' in docs.text
    assert reports.json() == {"sub": "user-42", "reports": []}
    assert me.json() == {"sub": "user-42", "scope": SCOPE}
    assert no_reports.status_code == 403
    assert 'scope="read:reports admin"' in no_reports.headers["www-authenticate"]


def make_app(validator: jwtguard.Validator, **options: Any) -> FastAPI:
    app = FastAPI()
    install_error_handler(app, realm=REALM)
    guard = JWTBearer(validator, realm=REALM, **options)

    def needs_write(claims: Annotated[jwtguard.Claims, Security(guard, scopes=["write:messages"])]) -> jwtguard.Claims:
        return claims

    @app.get("/any")
    async def any_token(claims: Annotated[jwtguard.Claims | None, Depends(guard)]) -> dict[str, Any]:
        return {"sub": claims["sub"] if claims else None}

    @app.get("/both")
    async def both(claims: Annotated[jwtguard.Claims, Security(needs_write, scopes=[SCOPE])]) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    @app.get("/admin")
    async def admin(claims: Annotated[jwtguard.Claims, Depends(guard)]) -> dict[str, Any]:
        validator.require_scopes(claims, "admin")
        return {}

    return app


def test_depends_without_scopes_accepts_any_valid_token(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    client = TestClient(make_app(validator))
    assert client.get("/any", headers=auth(issuer, "unrelated")).json() == {"sub": "user-42"}
    missing = client.get("/any")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == BARE_CHALLENGE
    assert missing.json() == {"error": "missing_token", "error_description": "Bearer token required"}


def test_nested_security_scopes_are_all_required(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    client = TestClient(make_app(validator))
    refused = client.get("/both", headers=auth(issuer, SCOPE))
    assert refused.status_code == 403
    assert f'scope="{SCOPE} write:messages"' in refused.headers["www-authenticate"]
    assert client.get("/both", headers=auth(issuer, f"{SCOPE} write:messages")).status_code == 200
    schema = client.get("/openapi.json").json()
    assert schema["paths"]["/both"]["get"]["security"] == [{"JWTBearer": [SCOPE, "write:messages"]}]


def test_auto_error_false_makes_the_token_optional(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    client = TestClient(make_app(validator, auto_error=False))
    assert client.get("/any").json() == {"sub": None}
    assert client.get("/any", headers=auth(issuer)).json() == {"sub": "user-42"}
    bad = client.get("/any", headers={"Authorization": "Bearer not.a.jwt"})
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_token"


def test_endpoint_auth_error_is_rendered_by_the_handler(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    response = TestClient(make_app(validator)).get("/admin", headers=auth(issuer))
    assert response.status_code == 403
    assert 'realm="api", error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="admin"' in response.headers["www-authenticate"]
    assert response.json()["error"] == "insufficient_scope"


def test_without_install_error_handler_fastapi_renders_the_detail(
    validator: jwtguard.Validator, issuer: LocalIssuer
) -> None:
    app = FastAPI()
    guard = JWTBearer(validator, realm=REALM)

    @app.get("/messages")
    async def messages(claims: Annotated[jwtguard.Claims, Security(guard, scopes=[SCOPE])]) -> dict[str, Any]:
        return {}

    client = TestClient(app)
    for _ in range(2):
        response = client.get("/messages", headers=auth(issuer, "other"))
        assert response.status_code == 403
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
        assert response.headers["cache-control"] == "no-store"
        assert response.json() == {"detail": "The access token does not have the required scope"}
    missing = client.get("/messages")
    assert (missing.status_code, missing.headers["www-authenticate"]) == (401, BARE_CHALLENGE)
    assert missing.json() == {"detail": "Bearer token required"}
    assert JWTBearerError not in app.exception_handlers  # nothing is added to the app


def test_an_endpoint_auth_error_is_answered_without_install_error_handler(
    validator: jwtguard.Validator, issuer: LocalIssuer
) -> None:
    app = FastAPI()
    guard = JWTBearer(validator, realm=REALM)

    @app.get("/admin")
    async def admin(claims: Annotated[jwtguard.Claims, Depends(guard)]) -> dict[str, Any]:
        validator.require_scopes(claims, "admin")
        return {}

    @app.get("/sync-admin")
    def sync_admin(claims: Annotated[jwtguard.Claims, Security(guard)]) -> dict[str, Any]:
        validator.require_scopes(claims, "admin", "root", any_of=True)
        return {}

    @app.get("/boom")
    async def boom(claims: Annotated[jwtguard.Claims, Depends(guard)]) -> dict[str, Any]:
        raise RuntimeError("not an auth error")

    client = TestClient(app)
    for path, scopes in (("/admin", "admin"), ("/sync-admin", "admin root")):
        response = client.get(path, headers=auth(issuer))
        assert response.status_code == 403
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="api", error="insufficient_scope"')
        assert f'scope="{scopes}"' in challenge
        assert response.json() == {"detail": "The access token does not have the required scope"}
    assert client.get("/admin", headers=auth(issuer, "admin")).status_code == 200
    assert TestClient(app, raise_server_exceptions=False).get("/boom", headers=auth(issuer)).status_code == 500


def test_a_validator_that_is_not_a_validator_is_refused_at_construction() -> None:
    for wrong in ("https://issuer.example.com/", None, {"issuer": "x"}):
        with pytest.raises(jwtguard.ConfigurationError, match=r"JWTBearer: validator= must be a jwtguard\.Validator"):
            JWTBearer(wrong)  # type: ignore[arg-type]


def test_a_users_own_handler_is_kept(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    app = FastAPI()
    guard = JWTBearer(validator, realm=REALM)

    @app.exception_handler(JWTBearerError)
    async def mine(request: Any, exc: JWTBearerError) -> JSONResponse:
        return JSONResponse({"problem": exc.error.code}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/messages")
    async def messages(claims: Annotated[jwtguard.Claims, Depends(guard)]) -> dict[str, Any]:
        return {}

    response = TestClient(app).get("/messages", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json() == {"problem": "malformed_token"}
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_key_set_down_is_a_503_with_retry_after(down_validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    response = TestClient(make_app(down_validator)).get("/any", headers=auth(issuer))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert "www-authenticate" not in response.headers


def test_resource_metadata_in_the_challenge(validator: jwtguard.Validator) -> None:
    meta = ProtectedResourceMetadata("https://api.example.test/v1")
    response = TestClient(make_app(validator, resource_metadata=meta)).get("/any")
    assert bearer_half(response.headers["www-authenticate"]) == (
        'Bearer realm="api", resource_metadata="https://api.example.test/.well-known/oauth-protected-resource/v1"'
    )


def test_reuses_claims_validated_by_the_middleware(issuer: LocalIssuer) -> None:
    class Counting(Hooks):
        validated = 0

        def on_validated(self, claims: jwtguard.Claims, *, cached: bool) -> None:
            self.validated += 1

    hooks = Counting()
    validator = issuer.validator(hooks=hooks)
    app = make_app(validator)
    app.add_middleware(JWTGuardMiddleware, validator=validator, realm=REALM)
    client = TestClient(app)
    assert client.get("/any", headers=auth(issuer)).json() == {"sub": "user-42"}
    assert hooks.validated == 1
    refused = client.get("/both", headers=auth(issuer))  # the dependency still checks its scopes
    assert refused.status_code == 403
    assert hooks.validated == 2


def test_claims_of_another_validator_are_never_reused(issuer: LocalIssuer) -> None:
    public = issuer.validator()
    admin = issuer.validator(audience="https://admin.example.test", required_scopes=["admin"])
    app = FastAPI(dependencies=[Depends(JWTBearer(public))])

    @app.get("/admin")
    async def only_admins(claims: Annotated[jwtguard.Claims, Security(JWTBearer(admin))]) -> dict[str, Any]:
        return {"aud": claims["aud"]}

    outer = JWTGuardMiddleware(app, validator=public)
    for client in (TestClient(app), TestClient(outer)):
        response = client.get("/admin", headers=auth(issuer, "read:messages"))
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


# -- the second table: DPoP, any-of, roles, step-up --------------------------------------------------


def policy_app(validator: jwtguard.Validator, *, handler: bool, **options: Any) -> FastAPI:
    app = FastAPI()
    if handler:
        install_error_handler(app, realm=REALM)
    guard = JWTBearer(validator, realm=REALM, **options)
    any_of = guard.require([SCOPE, "admin"], any_of=True)
    admin = guard.require(roles=["admin"])
    step_up = guard.require(acr_values=["mfa"], max_age=300)

    @app.get("/messages")
    async def messages(claims: Annotated[jwtguard.Claims, Security(guard, scopes=[SCOPE])]) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    @app.get("/any-of")
    async def either(claims: Annotated[jwtguard.Claims, Depends(any_of)]) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    @app.get("/roles")
    async def roles(claims: Annotated[jwtguard.Claims, Security(admin)]) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    @app.get("/step-up")
    def stepped_up(claims: Annotated[jwtguard.Claims, Depends(step_up)]) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    return app


@pytest.mark.parametrize("handler", [True, False], ids=["install_error_handler", "fastapi_detail"])
@pytest.mark.parametrize("scenario", POLICY_SCENARIOS, ids=lambda s: s.name)
def test_policy_scenario(
    scenario: PolicyScenario, handler: bool, validator: jwtguard.Validator, issuer: LocalIssuer
) -> None:
    client = client_for(TestClient(policy_app(validator, handler=handler)))
    run_policy_scenario(scenario, client, issuer, base_url="http://testserver", own_body=not handler)


def dpop_headers(issuer: LocalIssuer, url: str) -> dict[str, str]:
    key = DPoPKey.generate(clock=issuer.clock)
    token = issuer.token(scope=SCOPE, sub="user-42", cnf=key.cnf)
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", url, token)}


ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


def with_scope(app: ASGIApp, **values: Any) -> ASGIApp:
    """``app`` seeing ``values`` in every scope (a TLS extension, a proxy's peer address)."""

    async def wrapped(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        await app({**scope, **values} if scope["type"] == "http" else scope, receive, send)

    return wrapped


def test_dpop_behind_a_proxy_needs_public_url_or_a_trusted_proxy(
    validator: jwtguard.Validator, issuer: LocalIssuer
) -> None:
    public = "https://api.example.test/messages"
    plain = TestClient(policy_app(validator, handler=True))
    refused = plain.get("/messages", headers=dpop_headers(issuer, public))
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_dpop_proof")
    fixed = TestClient(policy_app(validator, handler=True, public_url="https://api.example.test"))
    assert fixed.get("/messages", headers=dpop_headers(issuer, public)).json() == {"sub": "user-42"}

    proxied = policy_app(validator, handler=True, trusted_proxies=["10.0.0.0/8"])
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.test"}
    trusted = TestClient(with_scope(proxied, client=("10.1.2.3", 4000)))
    assert trusted.get("/messages", headers=dpop_headers(issuer, public) | forwarded).status_code == 200
    stranger = TestClient(proxied)  # the headers are the client's own: ignored
    assert stranger.get("/messages", headers=dpop_headers(issuer, public) | forwarded).status_code == 401


def test_dpop_url_includes_the_root_path(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    client = TestClient(policy_app(validator, handler=True), root_path="/v1")
    response = client.get("/v1/messages", headers=dpop_headers(issuer, "http://testserver/v1/messages"))
    assert response.json() == {"sub": "user-42"}


def test_dpop_nonce_reaches_the_client(issuer: LocalIssuer) -> None:
    validator = issuer.validator(dpop_nonce=True)
    for handler in (True, False):
        response = TestClient(policy_app(validator, handler=handler)).get(
            "/messages", headers=dpop_headers(issuer, "http://testserver/messages")
        )
        assert response.status_code == 401
        assert 'error="use_dpop_nonce"' in response.headers["www-authenticate"]
        assert response.headers["dpop-nonce"]


def make_certificate() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client")])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = builder.serial_number(x509.random_serial_number()).not_valid_before(now)
    return builder.not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())


CLIENT_CERTIFICATE = make_certificate()


def test_certificate_bound_token_from_the_tls_extension(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    pem = CLIENT_CERTIFICATE.public_bytes(serialization.Encoding.PEM).decode()
    token = issuer.token(scope=SCOPE, sub="user-42", cnf={"x5t#S256": certificate_thumbprint(CLIENT_CERTIFICATE)})
    app = policy_app(validator, handler=True)
    with_tls = TestClient(with_scope(app, extensions={"tls": {"client_cert_chain": [pem]}}))
    assert with_tls.get("/messages", headers=dict(bearer(token))).json() == {"sub": "user-42"}
    without = TestClient(app).get("/messages", headers=dict(bearer(token)))
    assert (without.status_code, without.json()["error"]) == (401, "invalid_token")
    other = make_certificate().public_bytes(serialization.Encoding.PEM).decode()
    wrong = TestClient(with_scope(app, extensions={"tls": {"client_cert_chain": [other]}}))
    assert wrong.get("/messages", headers=dict(bearer(token))).status_code == 401


def test_certificate_from_a_trusted_proxys_header(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    der = CLIENT_CERTIFICATE.public_bytes(serialization.Encoding.DER)
    header = {"Client-Cert": ":" + base64.b64encode(der).decode() + ":"}
    token = issuer.token(scope=SCOPE, sub="user-42", cnf={"x5t#S256": certificate_thumbprint(CLIENT_CERTIFICATE)})
    app = policy_app(validator, handler=True, trusted_proxies=["10.0.0.1"], client_cert_header="Client-Cert")
    proxy = TestClient(with_scope(app, client=("10.0.0.1", 4000)))
    assert proxy.get("/messages", headers=dict(bearer(token)) | header).status_code == 200
    assert TestClient(app).get("/messages", headers=dict(bearer(token)) | header).status_code == 401


def test_origin_options_are_checked_at_construction(validator: jwtguard.Validator) -> None:
    for options in (
        {"public_url": "api.example.test"},
        {"trusted_proxies": ["not an address"]},
        {"client_cert_header": "Client-Cert"},  # without trusted_proxies
    ):
        with pytest.raises(jwtguard.ConfigurationError, match="JWTBearer"):
            JWTBearer(validator, **options)


# -- bearer.require: any-of, roles, step-up -------------------------------------------------------------


def test_require_refuses_bad_values_when_the_app_is_defined(validator: jwtguard.Validator) -> None:
    guard = JWTBearer(validator)
    for kwargs in (
        {"scopes": ["read messages"]},
        {"scopes": [], "any_of": True},
        {"roles": [""]},
        {"max_age": -1},
        {"any_of": "yes", "scopes": ["a"]},
    ):
        with pytest.raises(jwtguard.ConfigurationError, match=r"JWTBearer\.require"):
            guard.require(**kwargs)


def test_require_adds_the_security_scopes_it_is_given(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    app = FastAPI()
    guard = JWTBearer(validator, realm=REALM)
    either = guard.require(["admin", "root"], any_of=True)

    @app.get("/x")
    async def x(claims: Annotated[jwtguard.Claims, Security(either, scopes=[SCOPE])]) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    client = TestClient(app)
    assert client.get("/x", headers=auth(issuer, f"{SCOPE} root")).json() == {"sub": "user-42"}
    refused = client.get("/x", headers=auth(issuer, "root"))  # read:messages is still required
    assert refused.status_code == 403
    assert f'scope="{SCOPE}"' in refused.headers["www-authenticate"]
    assert client.get("/x", headers=auth(issuer, SCOPE)).status_code == 403


def test_require_refuses_anonymous_requests_on_an_optional_bearer(
    validator: jwtguard.Validator, issuer: LocalIssuer
) -> None:
    app = FastAPI()
    guard = JWTBearer(validator, realm=REALM, auto_error=False)
    admin = guard.require(roles=["admin"])

    @app.get("/admin")
    async def only_admins(claims: Annotated[jwtguard.Claims, Depends(admin)]) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    missing = TestClient(app).get("/admin")
    assert (missing.status_code, missing.headers["www-authenticate"]) == (401, BARE_CHALLENGE)


def test_require_passes_endpoint_auth_errors_on(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    app = FastAPI()
    guard = JWTBearer(validator, realm=REALM)
    step_up = guard.require(acr_values=["mfa"])

    @app.get("/pay")
    async def pay(claims: Annotated[jwtguard.Claims, Depends(step_up)]) -> dict[str, Any]:
        validator.require_roles(claims, "payer")
        return {}

    response = TestClient(app).get("/pay", headers=dict(bearer(issuer.token(acr="mfa"))))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_a_bad_security_scope_is_refused_clearly_once_per_request(validator: jwtguard.Validator) -> None:
    app = FastAPI()
    guard = JWTBearer(validator, realm=REALM)

    @app.get("/typo")
    async def typo(claims: Annotated[jwtguard.Claims, Security(guard, scopes=["read messages"])]) -> dict[str, Any]:
        return {}

    client = TestClient(app)
    for _ in range(2):
        with pytest.raises(jwtguard.ConfigurationError, match=r"scopes=\['read messages'\].*not an RFC 6749"):
            client.get("/typo", headers={"Authorization": "Bearer x"})


def test_requirements_of_security_scopes_are_built_once(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    guard = JWTBearer(validator, realm=REALM)
    app = FastAPI()

    @app.get("/m")
    async def m(claims: Annotated[jwtguard.Claims, Security(guard, scopes=[SCOPE])]) -> dict[str, Any]:
        return {}

    client = TestClient(app)
    client.get("/m", headers=auth(issuer))
    first = guard._requirements[(SCOPE,)]
    client.get("/m", headers=auth(issuer, "other"))
    assert guard._requirements[(SCOPE,)] is first
    assert first == jwtguard.Requirement.of([SCOPE])


# -- claims_model ---------------------------------------------------------------------------------------


class UserClaims(BaseModel):
    sub: str
    scope: str = ""
    tenant: int


@dataclasses.dataclass
class ClientClaims:
    sub: str
    org: str


class Rejections(Hooks):
    def __init__(self) -> None:
        self.codes: list[tuple[str, str | None]] = []

    def on_rejected(self, error: jwtguard.AuthError) -> None:
        self.codes.append((error.code, error.claim))


def model_app(validator: jwtguard.Validator, model: type[Any], *, handler: bool = True) -> FastAPI:
    app = FastAPI()
    if handler:
        install_error_handler(app, realm=REALM)
    typed = JWTBearer(validator, realm=REALM, claims_model=model)
    roles = typed.require(roles=["admin"])

    @app.get("/me")
    async def me(claims: Annotated[Any, Security(typed, scopes=[SCOPE])]) -> dict[str, Any]:
        assert isinstance(claims, model)
        return {"type": type(claims).__name__, "sub": claims.sub}

    @app.get("/admin")
    async def admin(claims: Annotated[Any, Depends(roles)]) -> dict[str, Any]:
        return {"type": type(claims).__name__}

    return app


def test_claims_model_pydantic(issuer: LocalIssuer) -> None:
    hooks = Rejections()
    validator = issuer.validator(hooks=hooks)
    client = TestClient(model_app(validator, UserClaims))
    ok = client.get("/me", headers=dict(bearer(issuer.token(scope=SCOPE, sub="user-42", tenant="7"))))
    assert ok.json() == {"type": "UserClaims", "sub": "user-42"}
    admin = bearer(issuer.token(roles=["admin"], tenant=1))
    assert client.get("/admin", headers=dict(admin)).json() == {"type": "UserClaims"}
    for claims in ({"tenant": "not a number"}, {}):
        refused = client.get("/me", headers=dict(bearer(issuer.token(scope=SCOPE, **claims))))
        assert refused.status_code == 401
        assert refused.json() == {
            "error": "invalid_token",
            "error_description": "The access token has an invalid claim",
        }
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert hooks.codes == [("invalid_claim", "tenant"), ("invalid_claim", "tenant")]
    # the scope is checked before the model: a 403, not a 401
    assert client.get("/me", headers=dict(bearer(issuer.token(tenant=1)))).status_code == 403


def test_claims_model_dataclass_without_the_handler(issuer: LocalIssuer) -> None:
    hooks = Rejections()
    validator = issuer.validator(hooks=hooks)
    client = TestClient(model_app(validator, ClientClaims, handler=False))
    ok = client.get("/me", headers=dict(bearer(issuer.token(scope=SCOPE, sub="svc", org="acme"))))
    assert ok.json() == {"type": "ClientClaims", "sub": "svc"}
    refused = client.get("/me", headers=dict(bearer(issuer.token(scope=SCOPE, sub="svc"))))  # no org
    assert refused.status_code == 401
    assert refused.json() == {"detail": "The access token has an invalid claim"}
    assert hooks.codes == [("invalid_claim", "org")]


def test_claims_model_never_names_a_claim_the_model_does_not_declare(issuer: LocalIssuer) -> None:
    class Strict(BaseModel, extra="forbid"):
        sub: str

    hooks = Rejections()
    client = TestClient(model_app(issuer.validator(hooks=hooks), Strict))
    assert client.get("/me", headers=auth(issuer)).status_code == 401  # iss, aud, exp … are extra
    assert hooks.codes == [("invalid_claim", None)]


def test_claims_model_must_be_a_model_or_a_dataclass(validator: jwtguard.Validator) -> None:
    for wrong in (dict, int, "UserClaims", UserClaims(sub="x", tenant=1)):
        with pytest.raises(jwtguard.ConfigurationError, match="claims_model"):
            JWTBearer(validator, claims_model=wrong)  # type: ignore[arg-type]


def test_claims_model_with_an_optional_bearer(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    app = FastAPI()
    optional = JWTBearer(validator, auto_error=False, claims_model=ClientClaims)

    @app.get("/feed")
    async def feed(claims: Annotated[ClientClaims | None, Depends(optional)]) -> dict[str, Any]:
        return {"org": claims.org if claims else None}

    client = TestClient(app)
    assert client.get("/feed").json() == {"org": None}
    assert client.get("/feed", headers=dict(bearer(issuer.token(org="acme")))).json() == {"org": "acme"}
