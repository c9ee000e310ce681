"""A FastAPI API protected by jwtguard: ``GET /messages`` needs ``read:messages``.

    python examples/fastapi_app.py

starts a local token issuer and the API on http://127.0.0.1:8000 and prints a token to
try. The OpenAPI docs at ``/docs`` show the bearer scheme and an OAuth2 scheme whose
endpoints come from the issuer's discovery document at start-up (Swagger UI's
"Authorize"). Set ``JWTGUARD_ISSUER``, ``JWTGUARD_AUDIENCE`` (and ``SWAGGER_CLIENT_ID``)
to use your own issuer instead; ``PORT`` changes the port. With the
``swagger-ui-py`` package installed, ``/docs`` serves Swagger UI from it instead of from
a CDN (for machines without internet access).
"""

# No ``from __future__ import annotations`` here: FastAPI reads the route annotations at
# run time, and ``Security(bearer, ...)`` names a local variable.
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Security
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

import jwtguard
from jwtguard.fastapi import JWTBearer, install_error_handler
from jwtguard.testing import LocalIssuer

SCOPES = {"read:messages": "Read messages", "read:reports": "Read reports", "admin": "Everything"}


class User(BaseModel):
    """The claims ``/me`` needs; a token without them is refused with 401 invalid_token."""

    sub: str
    scope: str = ""


def create_app(validator: jwtguard.Validator, *, swagger_client_id: str | None = None) -> FastAPI:
    """The API; with ``swagger_client_id``, Swagger UI can get tokens from the issuer (OAuth2 flows)."""
    oauth2: dict[str, Any] = {}
    if swagger_client_id is not None:  # the endpoints are read from the issuer at start-up
        oauth2 = {"flows": ["authorization_code", "client_credentials"], "scopes": SCOPES}
    bearer = JWTBearer(validator, realm="api", **oauth2)
    user = JWTBearer(validator, realm="api", claims_model=User, **oauth2)
    reports = bearer.require(["read:reports", "admin"], any_of=True)  # checked here, at definition

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if swagger_client_id is not None:
            await bearer.adiscover()
            await user.adiscover()
        yield

    init_oauth = bearer.swagger_ui_init_oauth(swagger_client_id) if swagger_client_id else None
    local_swagger_ui = swagger_ui_files()
    app = FastAPI(
        title="Messages API",
        lifespan=lifespan,
        swagger_ui_init_oauth=init_oauth,
        docs_url=None if local_swagger_ui else "/docs",
    )
    install_error_handler(app, realm="api")  # error bodies: {"error", "error_description"}
    if local_swagger_ui:
        serve_swagger_ui(app, local_swagger_ui, init_oauth)

    @app.get("/messages")
    async def messages(
        claims: Annotated[jwtguard.Claims, Security(bearer, scopes=["read:messages"])],
    ) -> dict[str, Any]:
        return {"sub": claims["sub"], "messages": ["hello"]}

    @app.get("/reports")
    async def list_reports(claims: Annotated[jwtguard.Claims, Depends(reports)]) -> dict[str, Any]:
        return {"sub": claims["sub"], "reports": []}

    @app.get("/me")
    async def me(current: Annotated[User, Depends(user)]) -> User:
        return current

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def swagger_ui_files() -> str | None:
    """Where the ``swagger-ui-py`` package keeps Swagger UI 5 (OpenAPI 3.1), when it is installed."""
    try:
        import swagger_ui  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        return None
    static = Path(swagger_ui.__file__).parent / "static"
    return str(static) if (static / "swagger-ui-bundle.js").is_file() else None


def serve_swagger_ui(app: FastAPI, directory: str, init_oauth: dict[str, Any] | None) -> None:
    """``/docs`` with Swagger UI served by the app itself, not from a CDN."""
    from starlette.staticfiles import StaticFiles

    app.mount("/swagger-ui", StaticFiles(directory=directory), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url="/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/swagger-ui/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
            init_oauth=init_oauth,
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def main() -> None:
    import uvicorn

    port = int(os.environ.get("PORT", "8000"))
    if "JWTGUARD_ISSUER" in os.environ:
        validator = jwtguard.Validator(issuer=os.environ["JWTGUARD_ISSUER"], audience=os.environ["JWTGUARD_AUDIENCE"])
        app = create_app(validator, swagger_client_id=os.environ.get("SWAGGER_CLIENT_ID"))
        uvicorn.run(app, host="127.0.0.1", port=port)
        return
    with LocalIssuer(audience="https://api.example.com") as issuer:
        token = issuer.token(scope="read:messages", sub="user-42", expires_in=3600)
        print(f'curl -H "Authorization: Bearer {token}" http://127.0.0.1:{port}/messages')
        print(f"docs: http://127.0.0.1:{port}/docs (client credentials: test-client / test-secret)")
        uvicorn.run(create_app(issuer.validator(), swagger_client_id="test-client"), host="127.0.0.1", port=port)


if __name__ == "__main__":
    main()
