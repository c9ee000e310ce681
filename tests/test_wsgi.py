"""jwtguard.wsgi: the shared scenario table on a plain WSGI app and on the Flask example, plus its options."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest
from conftest import load_example
from scenarios import BARE_CHALLENGE, REALM, SCENARIOS, SCOPE, Result, Scenario, bearer, bearer_half, run_scenario
from werkzeug.serving import make_server
from werkzeug.test import Client

import jwtguard
from jwtguard.resource_metadata import ProtectedResourceMetadata
from jwtguard.testing import LocalIssuer
from jwtguard.wsgi import CLAIMS_KEY, JWTGuardMiddleware, get_claims


def plain_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """A framework-free API: ``/messages`` needs ``read:messages``; every other path echoes what it saw."""
    if environ["REQUEST_METHOD"] == "OPTIONS":
        start_response("204 No Content", [])
        return []
    if environ["PATH_INFO"] == "/messages":
        claims = get_claims(environ)
        if SCOPE not in claims.scopes:
            raise jwtguard.InsufficientScopeError([SCOPE])  # rendered by the middleware
        payload: dict[str, Any] = {"sub": claims["sub"]}
    else:
        claims = environ.get(CLAIMS_KEY)
        payload = {"path": environ["PATH_INFO"], "claims": None if claims is None else claims.subject}
    body = json.dumps(payload).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def protect(validator: jwtguard.Validator, **options: Any) -> JWTGuardMiddleware:
    options.setdefault("exclude_paths", ["/health"])
    return JWTGuardMiddleware(plain_app, validator=validator, realm=REALM, **options)


def werkzeug_client(app: Any) -> Any:
    client = Client(app)

    def call(method: str, path: str, headers: list[tuple[str, str]]) -> Result:
        response = client.open(path, method=method, headers=headers)
        return Result(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.data)

    return call


def pick(scenario: Scenario, validator: jwtguard.Validator, down_validator: jwtguard.Validator) -> jwtguard.Validator:
    return down_validator if scenario.keys_down else validator


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_plain_wsgi_app_passes_the_shared_table(
    scenario: Scenario, issuer: LocalIssuer, validator: jwtguard.Validator, down_validator: jwtguard.Validator
) -> None:
    client = werkzeug_client(protect(pick(scenario, validator, down_validator)))
    run_scenario(scenario, client, issuer)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_flask_example_behind_the_middleware_passes_the_shared_table(
    scenario: Scenario, issuer: LocalIssuer, validator: jwtguard.Validator, down_validator: jwtguard.Validator
) -> None:
    chosen = pick(scenario, validator, down_validator)
    app = load_example("flask_app").create_app(chosen)
    app.wsgi_app = JWTGuardMiddleware(app.wsgi_app, validator=chosen, realm=REALM, exclude_paths=["/health"])
    run_scenario(scenario, werkzeug_client(app), issuer)


def test_claims_are_left_in_the_environ(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen["claims"] = environ[CLAIMS_KEY]
        start_response("204 No Content", [])
        return []

    client = Client(JWTGuardMiddleware(app, validator=validator))
    assert client.get("/", headers=bearer(issuer.token(sub="user-7", scope="a b"))).status_code == 204
    assert isinstance(seen["claims"], jwtguard.Claims)
    assert seen["claims"]["sub"] == "user-7"
    assert seen["claims"].scopes == {"a", "b"}


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Bearer {t}, Bearer {t}", "duplicate_token"),  # werkzeug test client / Flask join with ", "
        ("Bearer {t},Bearer {t}", "duplicate_token"),  # wsgiref, werkzeug and gunicorn servers join with ","
        ("Bearer,Bearer {t}", "duplicate_token"),
        ("Basic dXNlcjpwYXNz, Bearer {t}", "duplicate_token"),
        ("Bearer {t}, Basic dXNlcjpwYXNz", "malformed_authorization"),
    ],
)
def test_authorization_headers_joined_by_the_server_are_a_400(
    header: str, code: str, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    token = issuer.token(scope=SCOPE)
    response = Client(protect(validator)).get("/messages", headers=[("Authorization", header.format(t=token))])
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]
    assert response.json == {"error": "invalid_request", "error_description": jwtguard.errors.DESCRIPTIONS[code]}
    assert token not in response.headers["WWW-Authenticate"]


def test_optional_paths_let_anonymous_requests_in_but_not_bad_tokens(
    issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    client = Client(protect(validator, optional_paths=["/feed", "/public/*"]))
    assert client.get("/feed").json == {"path": "/feed", "claims": None}
    assert client.get("/public/a/b").json == {"path": "/public/a/b", "claims": None}
    # Another scheme is not ours: the app may handle it.
    assert client.get("/feed", headers=[("Authorization", "Basic dXNlcjpwYXNz")]).json["claims"] is None
    assert client.get("/feed", headers=bearer(issuer.token(sub="user-9"))).json == {"path": "/feed", "claims": "user-9"}
    expired = client.get("/feed", headers=bearer(issuer.token(expires_in=-3600)))
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
    assert client.get("/feed", headers=[("Authorization", "Bearer")]).status_code == 400
    assert client.get("/other").status_code == 401  # optional is per path


def test_exclude_paths_are_exact_unless_they_end_in_a_star(validator: jwtguard.Validator) -> None:
    client = Client(protect(validator, exclude_paths=["/health", "/static/*"]))
    for public in ("/health", "/static", "/static/", "/static/css/app.css"):
        response = client.get(public)
        assert response.status_code == 200, public
        assert response.json["claims"] is None
    for protected in ("/health/", "/health/x", "/healthz", "/staticfiles", "/static/../messages", "/static/./x"):
        response = client.get(protected)
        assert response.status_code == 401, protected
        assert response.headers["WWW-Authenticate"] == BARE_CHALLENGE


@pytest.mark.parametrize("bad", [["health"], [""], [b"/health"]])
def test_exclude_paths_must_be_paths(bad: Any, validator: jwtguard.Validator) -> None:
    with pytest.raises(jwtguard.ConfigurationError, match="exclude_paths"):
        protect(validator, exclude_paths=bad)


def test_resource_metadata_is_served_and_named_in_challenges(
    issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    meta = ProtectedResourceMetadata("https://api.example.test/v1", [issuer.issuer], scopes_supported=[SCOPE])
    client = Client(protect(validator, resource_metadata=meta))
    document = client.get("/.well-known/oauth-protected-resource/v1")
    assert document.status_code == 200
    assert document.headers["Content-Type"] == "application/json"
    assert document.json == {
        "resource": "https://api.example.test/v1",
        "authorization_servers": [issuer.issuer],
        "scopes_supported": [SCOPE],
        "bearer_methods_supported": ["header"],
    }
    head = client.head(meta.path)
    assert (head.status_code, head.data, head.headers["Content-Length"]) == (200, b"", str(len(meta.body())))
    expected = f'resource_metadata="{meta.url}"'
    assert bearer_half(client.get("/messages").headers["WWW-Authenticate"]) == f'Bearer realm="{REALM}", {expected}'
    forbidden = client.get("/messages", headers=bearer(issuer.token(scope="other")))
    assert forbidden.status_code == 403
    assert expected in forbidden.headers["WWW-Authenticate"]
    assert client.post(meta.path).status_code == 401  # only GET and HEAD are public


def test_preflight_passes_unless_protected(validator: jwtguard.Validator) -> None:
    preflight = [("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET")]
    assert Client(protect(validator)).options("/messages", headers=preflight).status_code == 204
    assert Client(protect(validator)).options("/messages").status_code == 401  # plain OPTIONS is not a preflight
    strict = Client(protect(validator, protect_preflight=True))
    assert strict.options("/messages", headers=preflight).status_code == 401


def test_an_auth_error_after_the_app_started_its_response_replaces_it(
    issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise jwtguard.InsufficientScopeError(["admin"])

    calls: list[tuple[str, list[tuple[str, str]], Any]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        calls.append((status, headers, exc_info))  # PEP 3333: nothing sent yet, so replacing is allowed
        return lambda data: None

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_AUTHORIZATION": f"Bearer {issuer.token()}"}
    body = JWTGuardMiddleware(app, validator=validator, realm=REALM)(environ, start_response)
    assert [status for status, _, _ in calls] == ["200 OK", "403 Forbidden"]
    assert calls[0][2] is None
    assert isinstance(calls[1][2][1], jwtguard.InsufficientScopeError)
    assert 'scope="admin"' in dict(calls[1][1])["WWW-Authenticate"]
    assert json.loads(b"".join(body))["error"] == "insufficient_scope"


def test_head_error_answers_have_no_body(validator: jwtguard.Validator) -> None:
    response = Client(protect(validator)).head("/messages")
    assert response.status_code == 401
    assert response.data == b""
    assert int(response.headers["Content-Length"]) > 0


@pytest.fixture
def served(validator: jwtguard.Validator) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, protect(validator), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_under_a_real_wsgi_server(served: str, issuer: LocalIssuer) -> None:
    with httpx.Client(base_url=f"http://{served}") as client:
        ok = client.get("/messages", headers=bearer(issuer.token(scope=SCOPE, sub="user-42")))
        assert (ok.status_code, ok.json()) == (200, {"sub": "user-42"})
        denied = client.get("/messages")
        assert denied.status_code == 401
        assert denied.reason_phrase == "Unauthorized"
        assert denied.headers["WWW-Authenticate"] == BARE_CHALLENGE
        assert denied.headers["Cache-Control"] == "no-store"
        assert denied.json() == {"error": "missing_token", "error_description": "Bearer token required"}
    # Two Authorization headers on the wire: the server joins them, the middleware still answers 400.
    connection = http.client.HTTPConnection(served, timeout=5)
    try:
        token = issuer.token(scope=SCOPE)
        connection.putrequest("GET", "/messages")
        connection.putheader("Authorization", f"Bearer {token}")
        connection.putheader("Authorization", f"Bearer {token}")
        connection.endheaders()
        twice = connection.getresponse()
        assert twice.status == 400
        assert json.loads(twice.read())["error_description"] == "The token was sent more than once"
    finally:
        connection.close()
