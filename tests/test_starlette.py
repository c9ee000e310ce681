"""jwtguard.starlette.requires: route-level requirements answered with our challenges.

The shared policy table runs through it in tests/test_asgi.py (the Starlette example); here
are its forms (async, sync, HTTPEndpoint, websocket), its errors at decoration, and how it
differs from Starlette's own ``@requires``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from scenarios import BARE_CHALLENGE, REALM, SCOPE, bearer_half
from starlette import authentication
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.exceptions import StarletteDeprecationWarning
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

import jwtguard
from jwtguard.asgi import JWTGuardMiddleware
from jwtguard.hooks import Hooks
from jwtguard.starlette import requires
from jwtguard.testing import LocalIssuer

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient, WebSocketDenialResponse

ROOT = Path(__file__).resolve().parent.parent


@requires(SCOPE)
async def read(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity})


@requires(SCOPE, "admin", any_of=True)
def read_or_admin(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity, "thread": threading.current_thread().name})


@requires(roles=["admin", "editor"], roles_any_of=True)
async def staff(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity})


@requires(SCOPE, acr_values=["mfa"], max_age=300)
async def step_up(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity})


class Messages(HTTPEndpoint):
    @requires(SCOPE)
    async def get(self, request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.user.identity})

    @requires("write:messages")
    def post(self, request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.user.identity})


@authentication.requires(SCOPE)
async def starlettes_own(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity})


@authentication.requires("authenticated")
async def starlettes_authenticated(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity})


@requires()
async def any_token(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity})


@requires(SCOPE)
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(websocket.user.identity)
    await websocket.close()


ROUTES = [
    Route("/read", read),
    Route("/read-or-admin", read_or_admin),
    Route("/staff", staff),
    Route("/step-up", step_up),
    Route("/messages", Messages),
    Route("/starlette", starlettes_own),
    Route("/starlette-authenticated", starlettes_authenticated),
    Route("/any", any_token),
    Route("/public", any_token),
    WebSocketRoute("/ws", echo),
]


def make_client(validator: jwtguard.Validator, **options: Any) -> TestClient:
    options.setdefault("realm", REALM)
    options.setdefault("optional_paths", ["/starlette", "/read", "/any"])
    options.setdefault("exclude_paths", ["/public"])
    guard = Middleware(JWTGuardMiddleware, validator=validator, protect_websockets=True, **options)
    return TestClient(Starlette(routes=ROUTES, middleware=[guard]))


def auth(issuer: LocalIssuer, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.token(sub='user-42', **claims)}"}


def test_async_sync_and_endpoint_methods(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    client = make_client(validator)
    assert client.get("/read", headers=auth(issuer, scope=SCOPE)).json() == {"sub": "user-42"}
    sync = client.get("/read-or-admin", headers=auth(issuer, scope="admin"))
    assert sync.status_code == 200
    assert sync.json()["thread"] != threading.main_thread().name  # still run in Starlette's thread pool
    assert client.get("/staff", headers=auth(issuer, roles=["editor"])).status_code == 200
    assert client.get("/messages", headers=auth(issuer, scope=SCOPE)).json() == {"sub": "user-42"}
    refused = client.post("/messages", headers=auth(issuer, scope=SCOPE))
    assert refused.status_code == 403
    assert 'scope="write:messages"' in refused.headers["www-authenticate"]
    assert client.get("/any", headers=auth(issuer)).status_code == 200
    assert read.__name__ == "read"  # functools.wraps: routes and OpenAPI see the endpoint's own name


def test_refusals_carry_the_challenge(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    client = make_client(validator)
    scope = client.get("/read-or-admin", headers=auth(issuer, scope="write:messages"))
    assert scope.status_code == 403
    assert bearer_half(scope.headers["www-authenticate"]) == (
        f'Bearer realm="{REALM}", error="insufficient_scope", '
        f'error_description="The access token does not have the required scope", scope="{SCOPE} admin"'
    )
    assert scope.json()["error"] == "insufficient_scope"
    role = client.get("/staff", headers=auth(issuer, roles=["reader"]))
    assert role.status_code == 403
    assert 'error="insufficient_scope"' in role.headers["www-authenticate"]
    weak = client.get("/step-up", headers=auth(issuer, scope=SCOPE, acr="pwd", auth_time=int(time.time())))
    assert weak.status_code == 401
    assert 'error="insufficient_user_authentication"' in weak.headers["www-authenticate"]
    assert 'acr_values="mfa", max_age="300"' in weak.headers["www-authenticate"]
    fresh = client.get("/step-up", headers=auth(issuer, scope=SCOPE, acr="mfa", auth_time=int(time.time()) - 60))
    assert fresh.status_code == 200


def test_anonymous_requests_get_a_401_where_starlettes_own_gives_a_bare_403(
    validator: jwtguard.Validator, issuer: LocalIssuer
) -> None:
    client = make_client(validator)
    ours = client.get("/read")  # an optional path: the middleware lets the anonymous request in
    assert ours.status_code == 401
    assert ours.headers["www-authenticate"] == BARE_CHALLENGE
    assert client.get("/any").status_code == 401  # requires() with nothing: any valid token
    assert client.get("/public").status_code == 401  # an excluded path: the route still asks for a token
    theirs = client.get("/starlette")
    assert theirs.status_code == 403
    assert "www-authenticate" not in theirs.headers
    assert client.get("/starlette", headers=auth(issuer, scope="other")).status_code == 403
    # "authenticated" is a scope Starlette's own backends add; a token does not carry it.
    assert client.get("/starlette-authenticated", headers=auth(issuer, scope=SCOPE)).status_code == 403


def test_a_websocket_endpoint(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    client = make_client(validator)
    with client.websocket_connect("/ws", headers=auth(issuer, scope=SCOPE)) as ws:
        assert ws.receive_text() == "user-42"
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws", headers=auth(issuer)):
        pass
    response: Response = denied.value
    assert response.status_code == 403
    assert f'scope="{SCOPE}"' in response.headers["www-authenticate"]


def test_when_the_guard_wraps_the_whole_app(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    client = TestClient(JWTGuardMiddleware(Starlette(routes=ROUTES), validator=validator, realm=REALM))
    response = client.get("/read-or-admin", headers=auth(issuer, scope="other"))
    assert response.status_code == 403  # not Starlette's 500
    assert f'scope="{SCOPE} admin"' in response.headers["www-authenticate"]


def test_refusals_reach_the_hooks(issuer: LocalIssuer) -> None:
    class Recording(Hooks):
        def __init__(self) -> None:
            self.codes: list[str] = []

        def on_rejected(self, error: jwtguard.AuthError) -> None:
            self.codes.append(error.code)

    hooks = Recording()
    client = make_client(issuer.validator(hooks=hooks))
    client.get("/staff", headers=auth(issuer, roles=["reader"]))
    assert hooks.codes == ["insufficient_role"]


def test_without_the_middleware_it_is_a_server_error(issuer: LocalIssuer) -> None:
    client = TestClient(Starlette(routes=ROUTES))
    with pytest.raises(RuntimeError, match="JWTGuardMiddleware"):
        client.get("/read", headers=auth(issuer, scope=SCOPE))


@pytest.mark.parametrize(
    ("arguments", "options"),
    [
        (("read messages",), {}),
        ((), {"any_of": True}),
        ((SCOPE,), {"any_of": "yes"}),
        ((), {"roles": [""]}),
        ((), {"roles_any_of": True}),
        ((), {"acr_values": [""]}),
        ((), {"max_age": -1}),
        ((), {"max_age": "300"}),
    ],
)
def test_bad_requirements_fail_when_decorating(arguments: tuple[str, ...], options: dict[str, Any]) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        requires(*arguments, **options)


def test_an_endpoint_without_a_request_parameter_fails_when_decorating() -> None:
    async def endpoint(req: Request) -> JSONResponse:
        return JSONResponse({})

    with pytest.raises(jwtguard.ConfigurationError, match="'request' or 'websocket'"):
        requires(SCOPE)(endpoint)


def test_without_starlette_the_import_names_the_extra() -> None:
    code = (
        "import json, sys\n"
        "sys.modules['starlette'] = None\n"
        "try:\n    import jwtguard.starlette\n"
        "except ModuleNotFoundError as error:\n    print(json.dumps([str(error), error.name]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        'jwtguard.starlette needs Starlette: pip install "jwtguard[starlette]"',
        "starlette",
    ]
