"""The demo's example API: Starlette behind :class:`jwtguard.asgi.JWTGuardMiddleware`, served by uvicorn.

Imported only by ``jwtguard demo``, after checking that the ``demo`` extra
(starlette, uvicorn) is installed.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..asgi import JWTGuardMiddleware, get_claims
from ..starlette import requires
from ..validator import Validator

__all__ = ["ACR", "SCOPE", "ApiServer", "build_api"]

#: The scope ``GET /messages`` requires.
SCOPE = "read:messages"
#: The authentication ``POST /transfers`` requires (RFC 9470 step-up): a multi-factor login.
ACR = "mfa"


def build_api(validator: Validator) -> Any:
    """``GET /messages`` (needs ``read:messages``), ``POST /transfers`` (also an MFA login) and a public ``/health``."""

    async def messages(request: Request) -> JSONResponse:
        claims = get_claims(request)
        validator.require_scopes(claims, SCOPE)  # 403 insufficient_scope, rendered by the middleware
        return JSONResponse({"sub": claims["sub"], "messages": ["hello from a protected API"]})

    @requires(SCOPE, acr_values=(ACR,))  # else 401 insufficient_user_authentication, acr_values="mfa"
    async def transfers(request: Request) -> JSONResponse:
        return JSONResponse({"sub": get_claims(request)["sub"], "transfer": "accepted"})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    routes = [Route("/messages", messages), Route("/transfers", transfers, methods=["POST"]), Route("/health", health)]
    app = Starlette(routes=routes)
    return JWTGuardMiddleware(app, validator=validator, realm="api", exclude_paths=["/health"])


class ApiServer:
    """Serve an ASGI app with uvicorn on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, app: Any) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="jwtguard-demo-api", daemon=True
        )

    def __enter__(self) -> ApiServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the demo API did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._socket.close()
