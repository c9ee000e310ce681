"""A FastAPI API protected by jwtguard: ``GET /messages`` needs ``read:messages``.

    python examples/fastapi_app.py

starts a local token issuer and the API on http://127.0.0.1:8000 (OpenAPI docs at
``/docs``) and prints a token to try. Set ``JWTGUARD_ISSUER`` and
``JWTGUARD_AUDIENCE`` to use your own issuer instead; ``PORT`` changes the port.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the route annotations at
# run time, and ``Security(bearer, ...)`` names a local variable.
import os
from typing import Annotated, Any

from fastapi import FastAPI, Security

import jwtguard
from jwtguard.fastapi import JWTBearer, install_error_handler
from jwtguard.testing import LocalIssuer


def create_app(validator: jwtguard.Validator) -> FastAPI:
    app = FastAPI(title="Messages API")
    install_error_handler(app, realm="api")  # error bodies: {"error", "error_description"}
    bearer = JWTBearer(validator, realm="api")

    @app.get("/messages")
    async def messages(
        claims: Annotated[jwtguard.Claims, Security(bearer, scopes=["read:messages"])],
    ) -> dict[str, Any]:
        return {"sub": claims["sub"], "messages": ["hello"]}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    import uvicorn

    port = int(os.environ.get("PORT", "8000"))
    if "JWTGUARD_ISSUER" in os.environ:
        validator = jwtguard.Validator(issuer=os.environ["JWTGUARD_ISSUER"], audience=os.environ["JWTGUARD_AUDIENCE"])
        uvicorn.run(create_app(validator), host="127.0.0.1", port=port)
        return
    with LocalIssuer(audience="https://api.example.com") as issuer:
        token = issuer.token(scope="read:messages", sub="user-42", expires_in=3600)
        print(f'curl -H "Authorization: Bearer {token}" http://127.0.0.1:{port}/messages')
        uvicorn.run(create_app(issuer.validator()), host="127.0.0.1", port=port)


if __name__ == "__main__":
    main()
