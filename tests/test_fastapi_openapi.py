"""jwtguard.fastapi in the OpenAPI schema: the HTTP bearer scheme, the OAuth2 scheme Swagger UI runs, discovery."""

import asyncio
import warnings
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Security
from scenarios import SCOPE

import jwtguard
from jwtguard.fastapi import JWTBearer
from jwtguard.testing import LocalIssuer, LocalServer, Response

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette >= 1.x prefers httpx2 for its test client
    from fastapi.testclient import TestClient

AUTHORIZE = "https://issuer.example.test/authorize"
TOKEN = "https://issuer.example.test/oauth/token"
SCOPES = {SCOPE: "Read messages", "admin": "Administer"}
BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


def app_with(bearer: JWTBearer) -> FastAPI:
    app = FastAPI()
    any_of = bearer.require([SCOPE, "admin"], any_of=True)
    step_up = bearer.require(acr_values=["mfa"])

    @app.get("/messages")
    async def messages(claims: Annotated[jwtguard.Claims, Security(bearer, scopes=[SCOPE])]) -> dict[str, Any]:
        return {}

    @app.get("/me")
    async def me(claims: Annotated[jwtguard.Claims, Depends(bearer)]) -> dict[str, Any]:
        return {}

    @app.get("/any-of")
    async def either(claims: Annotated[jwtguard.Claims, Depends(any_of)]) -> dict[str, Any]:
        return {}

    @app.get("/step-up")
    async def stepped(claims: Annotated[jwtguard.Claims, Security(step_up, scopes=["admin"])]) -> dict[str, Any]:
        return {}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {}

    return app


def security(schema: dict[str, Any], path: str) -> Any:
    return schema["paths"][path]["get"].get("security")


def test_bearer_only_by_default(validator: jwtguard.Validator) -> None:
    schema = app_with(JWTBearer(validator)).openapi()
    assert schema["components"]["securitySchemes"] == {"JWTBearer": BEARER}
    assert security(schema, "/messages") == [{"JWTBearer": [SCOPE]}]
    assert security(schema, "/me") == [{"JWTBearer": []}]
    assert security(schema, "/any-of") == [{"JWTBearer": [SCOPE, "admin"]}]
    assert security(schema, "/step-up") == [{"JWTBearer": ["admin"]}]
    assert security(schema, "/health") is None
    # the schema's dependencies are no parameters of the operation
    assert "parameters" not in schema["paths"]["/messages"]["get"]


def test_authorization_code_and_client_credentials(validator: jwtguard.Validator) -> None:
    bearer = JWTBearer(
        validator,
        authorization_url=AUTHORIZE,
        token_url=TOKEN,
        scopes=SCOPES,
        flows=["authorization_code", "client_credentials"],
        description="An access token from the issuer",
    )
    schema = app_with(bearer).openapi()
    assert schema["components"]["securitySchemes"] == {
        "JWTBearer": BEARER | {"description": "An access token from the issuer"},
        "OAuth2": {
            "type": "oauth2",
            "flows": {
                "authorizationCode": {"authorizationUrl": AUTHORIZE, "tokenUrl": TOKEN, "scopes": SCOPES},
                "clientCredentials": {"tokenUrl": TOKEN, "scopes": SCOPES},
            },
        },
    }
    # either scheme suffices (a list of alternatives), each with the route's scopes
    assert security(schema, "/messages") == [{"JWTBearer": [SCOPE]}, {"OAuth2": [SCOPE]}]
    assert security(schema, "/me") == [{"JWTBearer": []}, {"OAuth2": []}]
    assert security(schema, "/any-of") == [{"JWTBearer": [SCOPE, "admin"]}, {"OAuth2": [SCOPE, "admin"]}]
    assert security(schema, "/step-up") == [{"JWTBearer": ["admin"]}, {"OAuth2": ["admin"]}]
    assert security(schema, "/health") is None


def test_the_default_flow_follows_the_urls(validator: jwtguard.Validator) -> None:
    code = JWTBearer(validator, authorization_url=AUTHORIZE, token_url=TOKEN, refresh_url=TOKEN, scheme_name="Token")
    flows = app_with(code).openapi()["components"]["securitySchemes"]["OAuth2"]["flows"]
    assert flows == {
        "authorizationCode": {"authorizationUrl": AUTHORIZE, "tokenUrl": TOKEN, "refreshUrl": TOKEN, "scopes": {}}
    }
    machine = JWTBearer(validator, token_url="/oauth/token", oauth2_scheme_name="Machines")
    schema = app_with(machine).openapi()
    assert schema["components"]["securitySchemes"]["Machines"] == {
        "type": "oauth2",
        "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}}},
    }
    assert security(schema, "/messages") == [{"JWTBearer": [SCOPE]}, {"Machines": [SCOPE]}]


def test_the_routes_still_work_with_the_oauth2_scheme(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    client = TestClient(app_with(JWTBearer(validator, token_url=TOKEN, scopes=SCOPES)))
    token = issuer.token(scope=SCOPE)
    assert client.get("/messages", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/any-of", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/messages").status_code == 401


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"flows": ["implicit"]}, "flows must be among"),
        ({"flows": "password"}, "flows must be among"),
        ({"authorization_url": AUTHORIZE, "token_url": TOKEN, "flows": ["client_credentials"]}, "authorization_url"),
        ({"scopes": SCOPES}, "scopes and refresh_url describe an OAuth2 scheme"),
        ({"token_url": TOKEN, "scopes": {"read messages": "x"}}, "scope-token"),
        ({"token_url": TOKEN, "scopes": {SCOPE: 1}}, "scopes must map"),
        ({"token_url": TOKEN, "scopes": [SCOPE]}, "scopes must map"),
        ({"token_url": "issuer.example.test/token"}, "token_url must be"),
        ({"authorization_url": "javascript:alert(1)", "token_url": TOKEN}, "authorization_url must be"),
    ],
)
def test_bad_oauth2_options_are_refused_at_construction(
    validator: jwtguard.Validator, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(jwtguard.ConfigurationError, match=message):
        JWTBearer(validator, **options)


def test_swagger_ui_init_oauth_turns_pkce_on(validator: jwtguard.Validator) -> None:
    bearer = JWTBearer(validator, authorization_url=AUTHORIZE, token_url=TOKEN, scopes=SCOPES)
    assert bearer.swagger_ui_init_oauth("spa", additionalQueryStringParams={"audience": "https://api"}) == {
        "clientId": "spa",
        "usePkceWithAuthorizationCodeGrant": True,
        "scopes": f"{SCOPE} admin",
        "additionalQueryStringParams": {"audience": "https://api"},
    }
    app = FastAPI(swagger_ui_init_oauth=bearer.swagger_ui_init_oauth("spa"))
    page = TestClient(app).get("/docs").text
    assert '"usePkceWithAuthorizationCodeGrant": true' in page
    assert TestClient(app).get("/docs/oauth2-redirect").status_code == 200


# -- discovery --------------------------------------------------------------------------------------


def discovered(issuer: LocalIssuer, document: dict[str, Any], **options: Any) -> tuple[JWTBearer, bool]:
    """A bearer whose validator trusts a server answering ``document`` (naming that server as issuer
    unless the document names one), after ``adiscover()``; and what it returned."""
    with LocalServer() as server:
        answer = {"issuer": server.url + "/"} | document
        server.route("/.well-known/openid-configuration", lambda request: Response(200, answer))
        server.route("/.well-known/jwks.json", lambda request: Response(200, issuer.jwks()))
        validator = jwtguard.Validator(issuer=server.url + "/", audience=issuer.audience)
        bearer = JWTBearer(validator, **options)
        return bearer, asyncio.run(bearer.adiscover())


def test_adiscover_fills_the_urls_from_the_discovery_document(issuer: LocalIssuer) -> None:
    document = {"authorization_endpoint": AUTHORIZE, "token_endpoint": TOKEN}
    bearer, found = discovered(issuer, document, flows=["authorization_code", "client_credentials"], scopes=SCOPES)
    assert found
    flows = app_with(bearer).openapi()["components"]["securitySchemes"]["OAuth2"]["flows"]
    assert flows == {
        "authorizationCode": {"authorizationUrl": AUTHORIZE, "tokenUrl": TOKEN, "scopes": SCOPES},
        "clientCredentials": {"tokenUrl": TOKEN, "scopes": SCOPES},
    }


def test_adiscover_keeps_explicit_urls(issuer: LocalIssuer) -> None:
    document = {"authorization_endpoint": AUTHORIZE, "token_endpoint": TOKEN}
    bearer, found = discovered(issuer, document, token_url="/my/token", flows=["authorization_code"])
    assert found
    flows = app_with(bearer).openapi()["components"]["securitySchemes"]["OAuth2"]["flows"]
    assert flows == {"authorizationCode": {"authorizationUrl": AUTHORIZE, "tokenUrl": "/my/token", "scopes": {}}}


def test_before_discovery_the_oauth2_scheme_has_no_flow_yet(validator: jwtguard.Validator) -> None:
    schema = app_with(JWTBearer(validator, flows=["authorization_code"])).openapi()
    assert schema["components"]["securitySchemes"]["OAuth2"] == {"type": "oauth2", "flows": {}}


def test_adiscover_against_the_local_issuer(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    bearer = JWTBearer(validator, flows=["client_credentials", "authorization_code"])
    assert asyncio.run(bearer.adiscover())  # the local issuer has a token endpoint, no authorization endpoint
    flows = app_with(bearer).openapi()["components"]["securitySchemes"]["OAuth2"]["flows"]
    assert flows == {"clientCredentials": {"tokenUrl": issuer.token_endpoint, "scopes": {}}}


def test_adiscover_outage_or_mismatch_leaves_the_scheme(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    document = {"issuer": "https://someone.else/", "authorization_endpoint": AUTHORIZE, "token_endpoint": TOKEN}
    other, found = discovered(issuer, document, flows=["authorization_code"])
    assert not found
    assert "discovery_issuer_mismatch" in caplog.text
    assert app_with(other).openapi()["components"]["securitySchemes"]["OAuth2"]["flows"] == {}
    with LocalServer() as server:
        server.route("/.well-known/openid-configuration", lambda request: Response(500, "down"))
        down = JWTBearer(jwtguard.Validator(issuer=server.url + "/", audience="a"), flows=["client_credentials"])
        assert not asyncio.run(down.adiscover())
    assert "http_status" in caplog.text
    assert app_with(down).openapi()["components"]["securitySchemes"]["OAuth2"]["flows"] == {}


def test_adiscover_needs_an_oauth2_scheme_and_one_issuer(issuer: LocalIssuer) -> None:
    with pytest.raises(jwtguard.ConfigurationError, match="flows="):
        asyncio.run(JWTBearer(issuer.validator()).adiscover())
    two = jwtguard.Validator(issuer=[issuer.issuer, "https://other.example/"], audience=issuer.audience)
    bearer = JWTBearer(two, flows=["client_credentials"])
    with pytest.raises(jwtguard.ConfigurationError, match="name the issuer"):
        asyncio.run(bearer.adiscover())
    with pytest.raises(jwtguard.ConfigurationError, match="not one of"):
        asyncio.run(bearer.adiscover("https://third.example/"))
    assert asyncio.run(bearer.adiscover(issuer.issuer))


# -- typing ---------------------------------------------------------------------------------------------

TYPED_USE = """
import dataclasses
from collections.abc import AsyncIterator, Callable

from typing_extensions import assert_type

import jwtguard
from jwtguard.fastapi import JWTBearer


@dataclasses.dataclass
class Model:
    sub: str


def check(validator: jwtguard.Validator) -> None:
    assert_type(JWTBearer(validator), JWTBearer[jwtguard.Claims])
    typed = JWTBearer(validator, claims_model=Model, realm="api")
    assert_type(typed, JWTBearer[Model])
    assert_type(typed.require(roles=["admin"]), Callable[..., AsyncIterator[Model]])
    assert_type(JWTBearer(validator).require(["a"]), Callable[..., AsyncIterator[jwtguard.Claims]])
"""


@pytest.mark.slow
def test_claims_model_types_the_dependency(tmp_path: Any) -> None:
    api = pytest.importorskip("mypy.api")
    (tmp_path / "use.py").write_text(TYPED_USE)
    (tmp_path / "mypy.ini").write_text("[mypy]\nstrict = True\n")
    out, err, status = api.run(
        ["--config-file", str(tmp_path / "mypy.ini"), "--cache-dir", str(tmp_path / "cache"), str(tmp_path / "use.py")]
    )
    assert status == 0, out + err
