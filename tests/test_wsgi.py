"""jwtguard.wsgi: the shared scenario table on a plain WSGI app and on the Flask example, plus its options."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import load_example
from scenarios import (
    BARE_CHALLENGE,
    POLICY_SCENARIOS,
    REALM,
    SCENARIOS,
    SCOPE,
    PolicyScenario,
    Result,
    Scenario,
    bearer,
    bearer_half,
    run_policy_scenario,
    run_scenario,
)
from werkzeug.serving import make_server
from werkzeug.test import Client

import jwtguard
from jwtguard.resource_metadata import ProtectedResourceMetadata
from jwtguard.testing import DPoPKey, LocalIssuer, certificate_thumbprint
from jwtguard.wsgi import CLAIMS_KEY, JWTGuardMiddleware, get_claims

#: The policy table's routes, each a requirement checked by the view (the middleware answers a refusal).
REQUIREMENTS = {
    "/any-of": jwtguard.Requirement.of([SCOPE, "admin"], any_of=True),
    "/roles": jwtguard.Requirement.of(roles=["admin"]),
    "/step-up": jwtguard.Requirement.of(acr_values=["mfa"], max_age=300),
}


def plain_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """A framework-free API: ``/messages`` needs ``read:messages``, the policy table's routes their
    requirement; every other path echoes what it saw."""
    if environ["REQUEST_METHOD"] == "OPTIONS":
        start_response("204 No Content", [])
        return []
    path = environ["PATH_INFO"]
    if path == "/messages":
        claims = get_claims(environ)
        if SCOPE not in claims.scopes:
            raise jwtguard.InsufficientScopeError([SCOPE])  # rendered by the middleware
        payload: dict[str, Any] = {"sub": claims["sub"]}
    elif path in REQUIREMENTS:
        validator: jwtguard.Validator = environ["jwtguard.validator"]  # the middleware's
        payload = {"sub": validator.authorize(environ[CLAIMS_KEY], REQUIREMENTS[path])["sub"]}
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


@pytest.mark.parametrize("scenario", POLICY_SCENARIOS, ids=lambda s: s.name)
def test_plain_wsgi_app_passes_the_policy_table(
    scenario: PolicyScenario, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    """DPoP through the middleware (werkzeug's client calls http://localhost); the rest in the views."""
    run_policy_scenario(scenario, werkzeug_client(protect(validator)), issuer, base_url="http://localhost")


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


# -- the URL the client used and its certificate -----------------------------------------------------


def dpop(issuer: LocalIssuer, url: str, proofs: int = 1) -> dict[str, str]:
    """A DPoP-bound token and ``proofs`` proofs for ``GET url``, joined as a server joins repeated headers."""
    key = DPoPKey.generate(clock=issuer.clock)
    token = issuer.token(scope=SCOPE, sub="user-42", cnf=key.cnf)
    return {"Authorization": f"DPoP {token}", "DPoP": ",".join(key.proof("GET", url, token) for _ in range(proofs))}


def refused(response: Any, error: str) -> bool:
    return response.status_code == 401 and f'error="{error}"' in response.headers["WWW-Authenticate"]


def test_the_url_is_scheme_host_script_name_and_path(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    client = Client(protect(validator))
    mounted = "https://api.example.test/api"  # SCRIPT_NAME /api, PATH_INFO /messages
    ok = client.get("/messages", base_url=mounted, headers=dpop(issuer, "https://api.example.test/api/messages"))
    assert ok.status_code == 200
    assert refused(
        client.get("/messages", base_url=mounted, headers=dpop(issuer, mounted + "/x")), "invalid_dpop_proof"
    )
    # Without a Host header, SERVER_NAME and SERVER_PORT name the host (PEP 3333).
    environ = {"HTTP_HOST": "", "SERVER_NAME": "10.1.2.3", "SERVER_PORT": "8000"}
    direct = client.get("/messages", headers=dpop(issuer, "http://10.1.2.3:8000/messages"), environ_overrides=environ)
    assert direct.status_code == 200


def test_a_second_dpop_proof_is_refused(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    response = Client(protect(validator)).get("/messages", headers=dpop(issuer, "http://localhost/messages", proofs=2))
    assert refused(response, "invalid_dpop_proof")  # RFC 9449 §4.3: exactly one DPoP header


def test_public_url_and_trusted_proxies(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    public = "https://api.example.com/messages"
    behind = Client(protect(validator, public_url="https://api.example.com"))
    assert behind.get("/messages", headers=dpop(issuer, public)).status_code == 200
    assert refused(behind.get("/messages", headers=dpop(issuer, "http://localhost/messages")), "invalid_dpop_proof")
    proxied = Client(protect(validator, trusted_proxies=["10.0.0.0/8"]))
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"}
    from_proxy = {"REMOTE_ADDR": "10.0.0.5"}
    ok = proxied.get("/messages", headers={**forwarded, **dpop(issuer, public)}, environ_overrides=from_proxy)
    assert ok.status_code == 200
    stranger = {"REMOTE_ADDR": "203.0.113.9"}
    spoofed = proxied.get("/messages", headers={**forwarded, **dpop(issuer, public)}, environ_overrides=stranger)
    assert refused(spoofed, "invalid_dpop_proof")


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from test_mtls_e2e import TestCA

    ca = TestCA(tmp_path_factory.mktemp("wsgi-pki"))
    return ca.issue("alice"), ca.issue("mallory")


def test_the_certificate_comes_from_ssl_client_cert(
    issuer: LocalIssuer, validator: jwtguard.Validator, certificates: Any
) -> None:
    alice, mallory = certificates
    client = Client(protect(validator))
    token = issuer.token(scope=SCOPE, sub="user-42", cnf={"x5t#S256": certificate_thumbprint(alice.certificate)})
    headers = bearer(token)
    assert client.get("/messages", headers=headers, environ_overrides={"SSL_CLIENT_CERT": alice.pem}).status_code == 200
    assert refused(
        client.get("/messages", headers=headers, environ_overrides={"SSL_CLIENT_CERT": mallory.pem}), "invalid_token"
    )
    assert refused(client.get("/messages", headers=headers), "invalid_token")  # no certificate
    unbound = bearer(issuer.token(scope=SCOPE, sub="user-42"))
    assert (
        client.get("/messages", headers=unbound, environ_overrides={"SSL_CLIENT_CERT": mallory.pem}).status_code == 200
    )


def test_the_certificate_from_a_trusted_proxys_header(
    issuer: LocalIssuer, validator: jwtguard.Validator, certificates: Any
) -> None:
    alice, mallory = certificates
    token = issuer.token(scope=SCOPE, sub="user-42", cnf={"x5t#S256": certificate_thumbprint(alice.certificate)})
    rfc9440 = Client(protect(validator, trusted_proxies=["10.0.0.5"], client_cert_header="Client-Cert"))
    sent = [*bearer(token), ("Client-Cert", ":" + base64.b64encode(alice.der).decode() + ":")]
    assert rfc9440.get("/messages", headers=sent, environ_overrides={"REMOTE_ADDR": "10.0.0.5"}).status_code == 200
    stranger = rfc9440.get("/messages", headers=sent, environ_overrides={"REMOTE_ADDR": "203.0.113.9"})
    assert refused(stranger, "invalid_token")  # the header is ignored from anyone else
    own_tls = {"REMOTE_ADDR": "10.0.0.5", "SSL_CLIENT_CERT": mallory.pem}  # the server's own certificate wins
    assert refused(rfc9440.get("/messages", headers=sent, environ_overrides=own_tls), "invalid_token")
    nginx = Client(protect(validator, trusted_proxies=["10.0.0.5"], client_cert_header="X-SSL-Client-Cert"))
    escaped = [*bearer(token), ("X-SSL-Client-Cert", quote(alice.pem))]
    assert nginx.get("/messages", headers=escaped, environ_overrides={"REMOTE_ADDR": "10.0.0.5"}).status_code == 200


@pytest.mark.parametrize(
    "options",
    [{"public_url": "/relative"}, {"trusted_proxies": ["nope"]}, {"client_cert_header": "Client-Cert"}],
)
def test_bad_origin_options_fail_at_construction(validator: jwtguard.Validator, options: dict[str, Any]) -> None:
    with pytest.raises(jwtguard.ConfigurationError, match="JWTGuardMiddleware"):
        protect(validator, **options)


def test_the_validator_is_left_in_the_environ(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(environ["jwtguard.validator"])
        start_response("204 No Content", [])
        return []

    client = Client(JWTGuardMiddleware(app, validator=validator, exclude_paths=["/health"]))
    client.get("/", headers=bearer(issuer.token()))
    client.get("/health")
    assert seen == [validator, validator]
