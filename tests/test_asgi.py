"""jwtguard.asgi: the shared scenario table on the Starlette example, then each ASGI behaviour."""

from __future__ import annotations

import base64
import socket
import threading
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
import uvicorn
from conftest import load_example
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
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.exceptions import StarletteDeprecationWarning
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

import jwtguard
from jwtguard.asgi import CLAIMS_KEY, JWTGuardMiddleware, get_claims
from jwtguard.resource_metadata import ProtectedResourceMetadata
from jwtguard.testing import DPoPKey, LocalIssuer, certificate_thumbprint

with warnings.catch_warnings():
    # Starlette >= 1.x prefers httpx2 for its test client and warns when it runs on httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient, WebSocketDenialResponse

example = load_example("starlette_app")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(scenario: Scenario, issuer: LocalIssuer, request: pytest.FixtureRequest) -> None:
    validator = request.getfixturevalue("down_validator" if scenario.keys_down else "validator")
    run_scenario(scenario, client_for(TestClient(example.create_app(validator))), issuer)


@pytest.mark.parametrize("scenario", POLICY_SCENARIOS, ids=lambda s: s.name)
def test_policy_scenario(scenario: PolicyScenario, issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    """DPoP through the middleware; /any-of, /roles and /step-up through jwtguard.starlette.requires."""
    client = client_for(TestClient(example.create_app(validator)))
    run_policy_scenario(scenario, client, issuer, base_url="http://testserver")


# -- a small app for the sharp tests ---------------------------------------------------------------


async def whoami(request: Request) -> JSONResponse:
    user = request.user
    claims = request.scope[CLAIMS_KEY]
    return JSONResponse(
        {"user": user.display_name, "authenticated": user.is_authenticated, "claims": claims is not None}
    )


async def admin(request: Request) -> JSONResponse:
    claims = get_claims(request)
    assert get_claims(request.scope) is claims
    request.app.state.validator.require_scopes(claims, "admin")
    return JSONResponse({"sub": claims["sub"]})


@requires(SCOPE)
async def starlette_requires(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.user.display_name, "scopes": sorted(request.auth.scopes)})


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    user = websocket.scope["user"].display_name if "user" in websocket.scope else "-"
    await websocket.send_text(user)
    await websocket.close()


def make_app(validator: jwtguard.Validator, **options: Any) -> Starlette:
    routes = [
        Route("/whoami", whoami),
        Route("/admin", admin),
        Route("/requires", starlette_requires),
        Route("/public/{rest:path}", whoami),
        Route("/publicity", whoami),
        WebSocketRoute("/ws", echo),
    ]
    options.setdefault("realm", REALM)
    app = Starlette(routes=routes, middleware=[Middleware(JWTGuardMiddleware, validator=validator, **options)])
    app.state.validator = validator
    return app


def auth(issuer: LocalIssuer, scope: str = SCOPE) -> dict[str, str]:
    return dict(bearer(issuer.token(scope=scope, sub="user-42")))


def test_claims_land_in_scope_user_and_auth(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    response = TestClient(make_app(validator)).get("/whoami", headers=auth(issuer))
    assert response.json() == {"user": "user-42", "authenticated": True, "claims": True}


def test_starlette_requires_reads_our_auth_and_user(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    client = TestClient(make_app(validator, optional_paths=["/requires"]))
    ok = client.get("/requires", headers=auth(issuer, f"{SCOPE} other"))
    assert ok.status_code == 200
    assert ok.json() == {"user": "user-42", "scopes": ["other", SCOPE]}
    assert client.get("/requires", headers=auth(issuer, "other")).status_code == 403
    assert client.get("/requires").status_code == 403  # anonymous: no scopes


def test_get_claims_without_claims_raises() -> None:
    with pytest.raises(jwtguard.MissingTokenError):
        get_claims({"type": "http"})
    with pytest.raises(jwtguard.MissingTokenError):
        get_claims({CLAIMS_KEY: None})


def test_endpoint_auth_error_is_rendered(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    response = TestClient(make_app(validator)).get("/admin", headers=auth(issuer))
    assert response.status_code == 403
    assert bearer_half(response.headers["www-authenticate"]) == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="The access token does not have the required scope", scope="admin"'
    )
    assert response.json() == {
        "error": "insufficient_scope",
        "error_description": "The access token does not have the required scope",
    }


def test_endpoint_auth_error_is_rendered_when_wrapping_the_whole_app(
    validator: jwtguard.Validator, issuer: LocalIssuer
) -> None:
    """API.md's form, ``JWTGuardMiddleware(app)``: Starlette's 500 handler must not get there first."""
    app = Starlette(routes=[Route("/admin", admin)])
    app.state.validator = validator
    client = TestClient(JWTGuardMiddleware(app, validator=validator, realm=REALM))
    response = client.get("/admin", headers=auth(issuer))
    assert response.status_code == 403
    assert 'scope="admin"' in response.headers["www-authenticate"]
    assert client.get("/admin").status_code == 401


def test_wrapping_a_whole_app_adds_no_exception_handler(validator: jwtguard.Validator) -> None:
    app = Starlette(routes=[Route("/admin", admin)])
    JWTGuardMiddleware(app, validator=validator)
    assert jwtguard.AuthError not in app.exception_handlers


def wrapped_apps(validator: jwtguard.Validator) -> list[Any]:
    """A Starlette and a FastAPI app wrapped whole: their ServerErrorMiddleware sees errors first."""
    from fastapi import FastAPI

    async def boom(request: Request) -> Response:
        raise RuntimeError("not an auth error")

    starlette_app = Starlette(routes=[Route("/admin", admin), Route("/boom", boom)])
    starlette_app.state.validator = validator
    fastapi_app = FastAPI()
    fastapi_app.state.validator = validator

    @fastapi_app.get("/admin")
    async def fastapi_admin(request: Request) -> dict[str, Any]:
        validator.require_scopes(get_claims(request), "admin")
        return {}

    @fastapi_app.get("/boom")
    async def fastapi_boom() -> dict[str, Any]:
        raise RuntimeError("not an auth error")

    return [JWTGuardMiddleware(app, validator=validator, realm=REALM) for app in (starlette_app, fastapi_app)]


def test_wrapped_apps_answer_an_endpoint_auth_error_not_a_500(
    validator: jwtguard.Validator, issuer: LocalIssuer
) -> None:
    for wrapped in wrapped_apps(validator):
        response = TestClient(wrapped).get("/admin", headers=auth(issuer))
        assert response.status_code == 403
        assert response.headers["www-authenticate"].startswith('Bearer realm="api", error="insufficient_scope"')
        assert 'scope="admin"' in response.headers["www-authenticate"]
        assert response.json()["error"] == "insufficient_scope"


def test_wrapped_apps_still_answer_500_for_other_errors(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    for wrapped in wrapped_apps(validator):
        response = TestClient(wrapped, raise_server_exceptions=False).get("/boom", headers=auth(issuer))
        assert response.status_code == 500
        assert response.text == "Internal Server Error"
        with pytest.raises(RuntimeError, match="not an auth error"):
            TestClient(wrapped).get("/boom", headers=auth(issuer))


def run_raw(app: Any, validator: jwtguard.Validator, path: str = "/") -> list[dict[str, Any]]:
    """Call ``JWTGuardMiddleware(app)`` (``path`` excluded) directly; the messages it sends, in order."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def main() -> None:
        scope = {"type": "http", "method": "GET", "path": path, "headers": [], "app_sent": sent}
        await JWTGuardMiddleware(app, validator=validator, exclude_paths=[path])(scope, receive, send)

    anyio.run(main)
    return sent


def test_a_streamed_response_is_not_delayed(validator: jwtguard.Validator) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        sent = scope["app_sent"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        assert [m["type"] for m in sent] == ["http.response.start"]  # already on its way
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        assert len(sent) == 2
        await send({"type": "http.response.body", "body": b"b"})

    assert [m.get("body") for m in run_raw(app, validator)] == [None, b"a", b"b"]


def test_a_500_the_app_sends_is_flushed_unchanged(validator: jwtguard.Validator) -> None:
    messages = [
        {"type": "http.response.start", "status": 500, "headers": [(b"x-mine", b"1")]},
        {"type": "http.response.body", "body": b"part", "more_body": True},
        {"type": "http.response.body", "body": b"end"},
    ]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        for message in messages:
            await send(dict(message))
        assert scope["app_sent"] == []  # held until the app is done

    assert run_raw(app, validator) == messages


def test_auth_error_after_the_response_started_propagates(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise jwtguard.InsufficientScopeError(["late"])

    client = TestClient(JWTGuardMiddleware(app, validator=validator))
    with pytest.raises(jwtguard.InsufficientScopeError):
        client.get("/", headers=auth(issuer))


def test_optional_paths(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    client = TestClient(make_app(validator, optional_paths=["/whoami"]))
    assert client.get("/whoami").json() == {"user": "", "authenticated": False, "claims": False}
    assert client.get("/whoami", headers={"Authorization": "Basic dXNlcjpwYXNz"}).json()["authenticated"] is False
    assert client.get("/whoami", headers=auth(issuer)).json()["user"] == "user-42"
    bad = client.get("/whoami", headers={"Authorization": "Bearer not.a.jwt"})
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    assert client.get("/admin").status_code == 401  # other paths stay protected


def test_exclude_paths_exact_and_prefix(validator: jwtguard.Validator) -> None:
    client = TestClient(make_app(validator, exclude_paths=["/whoami", "/public/*"]))
    assert client.get("/whoami").json()["authenticated"] is False
    assert client.get("/public/a/b").status_code == 200
    assert client.get("/publicity").status_code == 401  # a prefix matches whole segments only
    assert client.get("/whoami/").status_code == 401  # exact means exact
    with pytest.raises(jwtguard.ConfigurationError):
        JWTGuardMiddleware(PlainTextResponse("open"), validator=validator, exclude_paths=["health"])


def test_prefix_never_matches_dot_segments(validator: jwtguard.Validator) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await PlainTextResponse("open")(scope, receive, send)

    guard = JWTGuardMiddleware(app, validator=validator, exclude_paths=["/public/*"])
    assert asgi_call(guard, path="/public/../admin")[0] == 401
    assert asgi_call(guard, path="/public/x")[0] == 200
    assert seen == ["/public/x"]


def test_paths_are_relative_to_root_path(validator: jwtguard.Validator) -> None:
    guard = JWTGuardMiddleware(PlainTextResponse("open"), validator=validator, exclude_paths=["/health"])
    assert asgi_call(guard, path="/api/health", root_path="/api")[0] == 200
    assert asgi_call(guard, path="/api/messages", root_path="/api")[0] == 401


def test_cors_preflight_passes_unless_protected(validator: jwtguard.Validator) -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    assert TestClient(make_app(validator)).options("/whoami", headers=preflight).status_code == 405
    assert TestClient(make_app(validator)).options("/whoami").status_code == 401  # a plain OPTIONS is not a preflight
    protected = TestClient(make_app(validator, protect_preflight=True))
    assert protected.options("/whoami", headers=preflight).status_code == 401


def test_resource_metadata_document_and_challenge(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    meta = ProtectedResourceMetadata("https://api.example.test", [issuer.issuer], scopes_supported=[SCOPE])
    client = TestClient(make_app(validator, resource_metadata=meta))
    document = client.get("/.well-known/oauth-protected-resource")
    assert document.status_code == 200
    assert document.headers["content-type"] == "application/json"
    assert document.json() == meta.document()
    challenge = bearer_half(client.get("/whoami").headers["www-authenticate"])
    assert challenge == (
        'Bearer realm="api", resource_metadata="https://api.example.test/.well-known/oauth-protected-resource"'
    )
    assert client.post("/.well-known/oauth-protected-resource").status_code == 401  # only GET/HEAD serve it


# -- raw ASGI: odd header bytes, lifespan ----------------------------------------------------------


def asgi_call(app: Any, *, path: str = "/", headers: list[Any] | None = None, **scope: Any) -> tuple[int, Any, bytes]:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    base = {"type": "http", "method": "GET", "path": path, "headers": headers or [], "query_string": b""}
    anyio.run(app, {**base, **scope}, receive, send)
    start, body = messages[0], b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], dict(start["headers"]), body


@pytest.mark.parametrize(
    "headers",
    [
        [(b"authorization", b"Bearer \xff\xfe\x00")],
        [(b"authorization", b"Bearer abc\r\nX-Evil: 1")],
        [(b"Authorization", b"Bearer a b")],
        [(b"authorization", b"Bearer " + b"a" * 70_000)],
        [(b"authorization", 7)],  # a broken server passing neither bytes nor str
    ],
    ids=["latin1", "crlf", "uppercase-name", "huge", "int-value"],
)
def test_odd_header_bytes_are_a_400(validator: jwtguard.Validator, headers: list[Any]) -> None:
    status, response_headers, body = asgi_call(
        JWTGuardMiddleware(PlainTextResponse("open"), validator=validator), headers=headers
    )
    assert status == 400
    assert b'error="invalid_request"' in response_headers[b"www-authenticate"]
    assert body == b'{"error": "invalid_request", "error_description": "The Authorization header is malformed"}'


def test_a_str_header_value_is_read_like_bytes(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    app = JWTGuardMiddleware(PlainTextResponse("open"), validator=validator)
    status, _, body = asgi_call(app, headers=[(b"authorization", f"Bearer {issuer.token()}")])
    assert (status, body) == (200, b"open")


def test_head_error_has_no_body(validator: jwtguard.Validator) -> None:
    status, headers, body = asgi_call(JWTGuardMiddleware(PlainTextResponse("open"), validator=validator), method="HEAD")
    assert (status, body) == (401, b"")
    assert headers[b"www-authenticate"].startswith(b"Bearer, DPoP algs=")


def test_lifespan_passes_through_untouched(validator: jwtguard.Validator) -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        seen.append(dict(scope))
        while True:
            message = await receive()
            seen.append(message["type"])
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return

    with TestClient(JWTGuardMiddleware(app, validator=validator)):
        pass
    scope = seen[0]
    assert CLAIMS_KEY not in scope
    assert "user" not in scope
    assert seen[1:] == ["lifespan.startup", "lifespan.shutdown"]


# -- websockets --------------------------------------------------------------------------------------


def test_websockets_untouched_by_default(validator: jwtguard.Validator) -> None:
    with TestClient(make_app(validator)).websocket_connect("/ws") as ws:
        assert ws.receive_text() == "-"  # no user: the middleware never saw it


def test_protected_websocket_accepts_a_valid_token(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    client = TestClient(make_app(validator, protect_websockets=True))
    with client.websocket_connect("/ws", headers=auth(issuer)) as ws:
        assert ws.receive_text() == "user-42"


def test_protected_websocket_denied_with_http_response(validator: jwtguard.Validator) -> None:
    client = TestClient(make_app(validator, protect_websockets=True))
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws"):
        pass
    response: Response = denied.value
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == BARE_CHALLENGE


def test_protected_websocket_closed_1008_without_denial_extension(validator: jwtguard.Validator) -> None:
    guarded = make_app(validator, protect_websockets=True)

    async def without_extension(scope: Any, receive: Any, send: Any) -> None:
        scope = {**scope, "extensions": {}}
        await guarded(scope, receive, send)

    with pytest.raises(WebSocketDisconnect) as closed, TestClient(without_extension).websocket_connect("/ws"):
        pass
    assert closed.value.code == 1008


# -- one real server ---------------------------------------------------------------------------------


@pytest.fixture
def served(validator: jwtguard.Validator) -> Iterator[str]:
    """The example app under uvicorn on a free loopback port, in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # connections queue until uvicorn starts accepting: no polling needed
    config = uvicorn.Config(example.create_app(validator), lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
        assert not thread.is_alive()


def test_real_server(served: str, issuer: LocalIssuer) -> None:
    with httpx.Client(base_url=served, timeout=5) as http:
        ok = http.get("/messages", headers=auth(issuer))
        assert ok.status_code == 200
        assert ok.json()["sub"] == "user-42"
        denied = http.get("/messages", headers={"Authorization": "Bearer not.a.jwt"})
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"].startswith('Bearer realm="api", error="invalid_token"')
        assert denied.json()["error"] == "invalid_token"


# -- the URL the client used and its certificate -----------------------------------------------------


def dpop_headers(issuer: LocalIssuer, url: str) -> list[tuple[bytes, bytes]]:
    """A DPoP-bound token and its proof for ``GET url``, as raw ASGI headers."""
    key = DPoPKey.generate(clock=issuer.clock)
    token = issuer.token(sub="user-42", cnf=key.cnf)
    return [(b"authorization", f"DPoP {token}".encode()), (b"dpop", key.proof("GET", url, token).encode())]


def bearer_raw(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


def refused_with(response: tuple[int, Any, bytes], error: str) -> bool:
    status, headers, _ = response
    return status == 401 and f'error="{error}"'.encode() in headers[b"www-authenticate"]


def test_the_url_is_scheme_host_root_path_and_path(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    guard = JWTGuardMiddleware(PlainTextResponse("open"), validator=validator)
    scope = {"scheme": "https", "root_path": "/api", "path": "/api/messages", "server": ("10.1.2.3", 8000)}
    host = [(b"host", b"api.example.test")]
    ok = asgi_call(guard, headers=host + dpop_headers(issuer, "https://api.example.test/api/messages"), **scope)
    assert ok[0] == 200
    without_root = asgi_call(guard, headers=host + dpop_headers(issuer, "https://api.example.test/messages"), **scope)
    assert refused_with(without_root, "invalid_dpop_proof")
    # No Host header: the server's address names the host.
    assert asgi_call(guard, headers=dpop_headers(issuer, "https://10.1.2.3:8000/api/messages"), **scope)[0] == 200


def test_public_url_names_the_url_behind_a_proxy(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    guard = JWTGuardMiddleware(PlainTextResponse("open"), validator=validator, public_url="https://api.example.com/")
    internal = {"scheme": "http", "path": "/messages", "client": ("10.0.0.5", 4711)}
    host = [(b"host", b"internal:8000")]
    assert (
        asgi_call(guard, headers=host + dpop_headers(issuer, "https://api.example.com/messages"), **internal)[0] == 200
    )
    seen_inside = asgi_call(guard, headers=host + dpop_headers(issuer, "http://internal:8000/messages"), **internal)
    assert refused_with(seen_inside, "invalid_dpop_proof")


def test_forwarded_headers_only_from_trusted_proxies(validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    guard = JWTGuardMiddleware(PlainTextResponse("open"), validator=validator, trusted_proxies=["10.0.0.0/8"])
    forwarded = [
        (b"host", b"internal:8000"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"api.example.com"),
    ]
    public = "https://api.example.com/"
    proxy, stranger = ("10.0.0.5", 4711), ("203.0.113.9", 4711)
    assert asgi_call(guard, headers=forwarded + dpop_headers(issuer, public), client=proxy, scheme="http")[0] == 200
    spoofed = asgi_call(guard, headers=forwarded + dpop_headers(issuer, public), client=stranger, scheme="http")
    assert refused_with(spoofed, "invalid_dpop_proof")
    rfc7239 = [(b"host", b"internal:8000"), (b"forwarded", b'for=1.2.3.4;proto=https;host="api.example.com"')]
    assert asgi_call(guard, headers=rfc7239 + dpop_headers(issuer, public), client=proxy, scheme="http")[0] == 200


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from test_mtls_e2e import TestCA

    ca = TestCA(tmp_path_factory.mktemp("asgi-pki"))
    return ca, ca.issue("alice"), ca.issue("mallory")


def test_the_certificate_comes_from_the_tls_extension(
    validator: jwtguard.Validator, issuer: LocalIssuer, certificates: Any
) -> None:
    ca, alice, mallory = certificates
    guard = JWTGuardMiddleware(PlainTextResponse("open"), validator=validator)
    token = issuer.token(cnf={"x5t#S256": certificate_thumbprint(alice.certificate)})
    headers = [(b"authorization", f"Bearer {token}".encode())]

    def tls(*chain: str) -> dict[str, Any]:
        return {"extensions": {"tls": {"server_cert": None, "client_cert_chain": list(chain)}}}

    assert asgi_call(guard, headers=headers, **tls(alice.pem, ca.ca.pem))[0] == 200  # the first is the client's
    assert refused_with(asgi_call(guard, headers=headers, **tls(mallory.pem, alice.pem)), "invalid_token")
    assert refused_with(asgi_call(guard, headers=headers, **tls()), "invalid_token")  # none sent
    assert refused_with(asgi_call(guard, headers=headers), "invalid_token")  # not a TLS connection
    assert asgi_call(guard, headers=bearer_raw(issuer.token()), **tls(mallory.pem))[0] == 200  # unbound: any


def test_the_certificate_from_a_trusted_proxys_header(
    validator: jwtguard.Validator, issuer: LocalIssuer, certificates: Any
) -> None:
    _, alice, mallory = certificates
    guard = JWTGuardMiddleware(
        PlainTextResponse("open"), validator=validator, trusted_proxies=["10.0.0.5"], client_cert_header="Client-Cert"
    )
    token = issuer.token(cnf={"x5t#S256": certificate_thumbprint(alice.certificate)})
    rfc9440 = [*bearer_raw(token), (b"client-cert", b":" + base64.b64encode(alice.der) + b":")]
    proxy, stranger = ("10.0.0.5", 1), ("203.0.113.9", 1)
    assert asgi_call(guard, headers=rfc9440, client=proxy)[0] == 200
    assert refused_with(asgi_call(guard, headers=rfc9440, client=stranger), "invalid_token")  # header ignored
    # The server's own TLS certificate wins over any header.
    mallory_tls = {"extensions": {"tls": {"client_cert_chain": [mallory.pem]}}}
    assert refused_with(asgi_call(guard, headers=rfc9440, client=proxy, **mallory_tls), "invalid_token")
    nginx = JWTGuardMiddleware(
        PlainTextResponse("open"),
        validator=validator,
        trusted_proxies=["10.0.0.5"],
        client_cert_header="X-SSL-Client-Cert",
    )
    escaped = [*bearer_raw(token), (b"x-ssl-client-cert", quote(alice.pem).encode())]
    assert asgi_call(nginx, headers=escaped, client=proxy)[0] == 200


@pytest.mark.parametrize(
    "options",
    [
        {"public_url": "api.example.com"},
        {"public_url": "https://api.example.com/?x=1"},
        {"trusted_proxies": ["not-an-address"]},
        {"client_cert_header": "Client-Cert"},  # without trusted_proxies: anyone could send it
    ],
)
def test_bad_origin_options_fail_at_construction(validator: jwtguard.Validator, options: dict[str, Any]) -> None:
    with pytest.raises(jwtguard.ConfigurationError, match="JWTGuardMiddleware"):
        JWTGuardMiddleware(PlainTextResponse("open"), validator=validator, **options)
