"""jwtguard.fastapi: the shared scenario table on the FastAPI example, then the dependency's own behaviour."""

import warnings
from typing import Annotated, Any

import pytest
from conftest import load_example
from fastapi import Depends, FastAPI, Security
from scenarios import BARE_CHALLENGE, REALM, SCENARIOS, SCOPE, Scenario, bearer, bearer_half, client_for, run_scenario
from starlette.exceptions import StarletteDeprecationWarning
from starlette.responses import JSONResponse

import jwtguard
from jwtguard.asgi import JWTGuardMiddleware
from jwtguard.fastapi import JWTBearer, JWTBearerError, install_error_handler
from jwtguard.hooks import Hooks
from jwtguard.resource_metadata import ProtectedResourceMetadata
from jwtguard.testing import LocalIssuer

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
