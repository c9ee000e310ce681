"""jwtguard.flask: the shared scenario table through Flask's test client, plus the extension's features."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import quote

import pytest
from conftest import load_example
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from flask import Blueprint, Flask
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
from werkzeug.exceptions import Unauthorized

import jwtguard
from jwtguard.flask import AuthHTTPError, JWTGuard, UnauthorizedError, current_claims, get_claims
from jwtguard.hooks import Hooks
from jwtguard.resource_metadata import ProtectedResourceMetadata
from jwtguard.testing import DPoPKey, LocalIssuer, certificate_thumbprint

example = load_example("flask_app")


def flask_client(app: Flask) -> Any:
    client = app.test_client()

    def call(method: str, path: str, headers: list[tuple[str, str]]) -> Result:
        response = client.open(path, method=method, headers=headers)
        return Result(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.data)

    return call


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_flask_example_passes_the_shared_table(
    scenario: Scenario, issuer: LocalIssuer, validator: jwtguard.Validator, down_validator: jwtguard.Validator
) -> None:
    app = example.create_app(down_validator if scenario.keys_down else validator)
    run_scenario(scenario, flask_client(app), issuer)


def config_app(issuer: LocalIssuer, guard: JWTGuard, **config: Any) -> Flask:
    """An app factory configured only through JWTGUARD_* keys."""
    app = Flask(__name__)
    app.config.update({"JWTGUARD_ISSUER": issuer.issuer, "JWTGUARD_AUDIENCE": issuer.audience, **config})
    guard.init_app(app)

    @app.get("/me")
    @guard.require()
    def me() -> dict[str, Any]:
        return {"sub": current_claims["sub"]}

    @app.get("/messages")
    @guard.require(SCOPE)
    def messages() -> dict[str, Any]:
        return {"sub": current_claims["sub"]}

    return app


def test_init_app_builds_the_validator_from_config(issuer: LocalIssuer) -> None:
    guard = JWTGuard()
    app = config_app(issuer, guard, JWTGUARD_REALM=REALM, JWTGUARD_LEEWAY=0)
    assert not hasattr(guard, "app")
    validator = app.extensions["jwtguard"].validator
    assert "JWTGUARD_ALGORITHMS" not in app.config  # no defaults of the adapter's own …
    assert validator.algorithms == ("RS256",)  # … the Validator's
    assert validator.leeway == 0  # what the app set
    assert validator.issuers == (issuer.issuer,)
    client = app.test_client()
    assert client.get("/me", headers=bearer(issuer.token(sub="user-1"))).json == {"sub": "user-1"}
    denied = client.get("/messages", headers=bearer(issuer.token(scope="other")))
    assert denied.status_code == 403
    assert denied.headers["WWW-Authenticate"].startswith(f'Bearer realm="{REALM}", error="insufficient_scope"')
    other_audience = client.get("/me", headers=bearer(issuer.token(aud="https://other.example")))
    assert other_audience.status_code == 401


def test_one_guard_serves_several_apps_each_with_its_own_config(issuer: LocalIssuer) -> None:
    guard = JWTGuard()
    first = config_app(issuer, guard, JWTGUARD_REALM="first")
    second = config_app(issuer, guard, JWTGUARD_REALM="second", JWTGUARD_AUDIENCE="https://second.example")
    token = issuer.token()
    assert first.test_client().get("/me", headers=bearer(token)).status_code == 200
    rejected = second.test_client().get("/me", headers=bearer(token))
    assert rejected.status_code == 401
    assert rejected.headers["WWW-Authenticate"].startswith('Bearer realm="second", error="invalid_token"')
    assert bearer_half(first.test_client().get("/me").headers["WWW-Authenticate"]) == 'Bearer realm="first"'


def test_init_app_without_validator_or_issuer_is_a_configuration_error() -> None:
    with pytest.raises(jwtguard.ConfigurationError, match="JWTGUARD_ISSUER"):
        JWTGuard(Flask(__name__))


def test_the_realm_argument_wins_over_config(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    app = Flask(__name__)
    app.config["JWTGUARD_REALM"] = "from-config"
    guard = JWTGuard(app, validator=validator, realm=REALM)

    @app.get("/")
    @guard.require()
    def index() -> str:
        return "ok"

    assert app.test_client().get("/").headers["WWW-Authenticate"] == BARE_CHALLENGE


def test_errors_are_http_exceptions_that_errorhandler_can_restyle(
    issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    app = example.create_app(validator)

    @app.errorhandler(401)
    def unauthorized(error: Unauthorized) -> Any:
        assert isinstance(error, UnauthorizedError)
        headers = {"WWW-Authenticate": dict(error.get_headers())["WWW-Authenticate"]}
        return {"message": error.description, "code": error.auth_error.code}, 401, headers

    @app.errorhandler(AuthHTTPError)
    def other(error: AuthHTTPError) -> Any:
        return {"status": error.code, "code": error.auth_error.code}, error.code, error.get_headers()

    client = app.test_client()
    expired = client.get("/messages", headers=bearer(issuer.token(scope=SCOPE, expires_in=-3600)))
    assert expired.status_code == 401
    assert expired.json == {"message": "The access token expired", "code": "token_expired"}
    assert expired.headers["WWW-Authenticate"].startswith(f'Bearer realm="{REALM}", error="invalid_token"')
    forbidden = client.get("/messages", headers=bearer(issuer.token(scope="other")))
    assert forbidden.status_code == 403
    assert forbidden.json == {"status": 403, "code": "insufficient_scope"}
    assert f'scope="{SCOPE}"' in forbidden.headers["WWW-Authenticate"]


def test_default_error_answer_is_the_contract_json(validator: jwtguard.Validator) -> None:
    response = example.create_app(validator).test_client().get("/messages", headers=[("Authorization", "Bearer")])
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json == {"error": "invalid_request", "error_description": "The Authorization header is malformed"}


def test_duplicate_authorization_headers_are_a_400(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    token = issuer.token(scope=SCOPE)
    client = example.create_app(validator).test_client()
    for value in (f"Bearer {token},Bearer {token}", f"Bearer {token}, Bearer {token}"):
        response = client.get("/messages", headers=[("Authorization", value)])
        assert response.status_code == 400
        assert response.json["error_description"] == "The token was sent more than once"


def test_async_views_are_protected(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    pytest.importorskip("asgiref", reason="Flask async views need flask[async]")
    app = Flask(__name__)
    guard = JWTGuard(app, validator=validator, realm=REALM)

    @app.get("/messages")
    @guard.require(SCOPE)
    async def messages() -> dict[str, Any]:
        return {"sub": current_claims["sub"]}

    client = app.test_client()
    ok = client.get("/messages", headers=bearer(issuer.token(scope=SCOPE, sub="user-5")))
    assert (ok.status_code, ok.json) == (200, {"sub": "user-5"})
    assert client.get("/messages").status_code == 401
    assert client.get("/messages", headers=bearer(issuer.token(scope="other"))).status_code == 403
    assert client.get("/messages", headers=bearer("not.a.jwt")).status_code == 401


def test_async_view_answers_503_when_the_key_set_is_down(
    issuer: LocalIssuer, down_validator: jwtguard.Validator
) -> None:
    pytest.importorskip("asgiref", reason="Flask async views need flask[async]")
    app = Flask(__name__)
    guard = JWTGuard(app, validator=down_validator)

    @app.get("/")
    @guard.require()
    async def index() -> str:
        return "never"

    response = app.test_client().get("/", headers=bearer(issuer.token()))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1


def test_optional_views_let_anonymous_requests_in_but_not_bad_tokens(
    issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    app = Flask(__name__)
    guard = JWTGuard(app, validator=validator, realm=REALM)

    @app.get("/feed")
    @guard.optional()
    def feed() -> dict[str, Any]:
        claims = get_claims()
        return {"sub": None if claims is None else claims["sub"]}

    @app.get("/anonymous-proxy")
    @guard.optional()
    def anonymous_proxy() -> dict[str, Any]:
        with pytest.raises(RuntimeError, match="get_claims"):
            current_claims["sub"]
        return {"checked": True}

    client = app.test_client()
    assert client.get("/feed").json == {"sub": None}
    assert client.get("/feed", headers=[("Authorization", "Basic dXNlcjpwYXNz")]).json == {"sub": None}
    assert client.get("/feed", headers=bearer(issuer.token(sub="user-3"))).json == {"sub": "user-3"}
    assert client.get("/feed", headers=bearer(issuer.token(expires_in=-3600))).status_code == 401
    assert client.get("/feed", headers=[("Authorization", "Bearer a b")]).status_code == 400
    assert client.get("/anonymous-proxy").json == {"checked": True}


def test_current_claims_outside_a_protected_request_is_a_clear_error(validator: jwtguard.Validator) -> None:
    with pytest.raises(RuntimeError, match="not inside a request"):
        current_claims["sub"]
    with pytest.raises(RuntimeError, match="not inside a request"):
        get_claims()
    app = Flask(__name__)
    JWTGuard(app, validator=validator)

    @app.get("/unprotected")
    def unprotected() -> dict[str, Any]:
        with pytest.raises(RuntimeError, match=r"@guard\.require"):
            current_claims.get("sub")
        return {"checked": True}

    assert app.test_client().get("/unprotected").json == {"checked": True}


def test_claims_never_outlive_their_request(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    app = example.create_app(validator)

    @app.get("/unprotected")
    def unprotected() -> dict[str, Any]:
        with pytest.raises(RuntimeError):
            get_claims()
        return {"checked": True}

    client = app.test_client()
    with app.app_context():  # one app context (and one ``g``) around several requests
        assert client.get("/messages", headers=bearer(issuer.token(scope=SCOPE))).status_code == 200
        assert client.get("/unprotected").json == {"checked": True}


def test_resource_metadata_is_served_and_named_in_challenges(
    issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    meta = ProtectedResourceMetadata("https://api.example.test", [issuer.issuer], resource_name="Messages")
    app = Flask(__name__)
    guard = JWTGuard(app, validator=validator, realm=REALM, resource_metadata=meta)

    @app.get("/messages")
    @guard.require(SCOPE)
    def messages() -> str:
        return "never"

    client = app.test_client()
    document = client.get("/.well-known/oauth-protected-resource")
    assert document.status_code == 200
    assert document.json["resource"] == "https://api.example.test"
    assert document.json["authorization_servers"] == [issuer.issuer]
    challenge = client.get("/messages").headers["WWW-Authenticate"]
    assert bearer_half(challenge) == f'Bearer realm="{REALM}", resource_metadata="{meta.url}"'
    assert challenge.endswith(f'resource_metadata="{meta.url}"')  # on the DPoP challenge too


def test_require_without_parentheses_is_a_clear_error(validator: jwtguard.Validator) -> None:
    guard = JWTGuard(Flask(__name__), validator=validator)
    with pytest.raises(TypeError, match=r"@guard.require\(\)"):
        guard.require(lambda: "view")  # type: ignore[arg-type]


def test_an_auth_error_raised_by_a_view_is_answered(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    app = Flask(__name__)
    guard = JWTGuard(app, validator=validator, realm=REALM)

    @app.get("/admin")
    @guard.require()
    def admin() -> dict[str, Any]:
        validator.require_scopes(current_claims, "admin")  # raised by the view itself
        return {}

    response = app.test_client().get("/admin", headers=dict(bearer(issuer.token(scope=SCOPE))))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert 'scope="admin"' in response.headers["WWW-Authenticate"]


def test_a_validator_that_is_not_a_validator_is_refused_at_construction() -> None:
    for wrong in ("https://issuer.example.com/", {"issuer": "x"}):
        with pytest.raises(jwtguard.ConfigurationError, match=r"JWTGuard: validator= must be a jwtguard\.Validator"):
            JWTGuard(validator=wrong)  # type: ignore[arg-type]


def test_every_validator_option_is_reachable_from_config(issuer: LocalIssuer) -> None:
    guard = JWTGuard()
    app = config_app(
        issuer,
        guard,
        JWTGUARD_JWKS=issuer.jwks(),
        JWTGUARD_MAX_TOKEN_AGE=60,
        JWTGUARD_RESOURCE_METADATA={"resource": "https://api.example.test", "resource_name": "Messages"},
    )
    validator = app.extensions["jwtguard"].validator
    assert validator.max_token_age == 60
    fetches = issuer.jwks_fetches
    client = app.test_client()
    assert client.get("/me", headers=bearer(issuer.token(sub="user-1"))).json == {"sub": "user-1"}
    assert issuer.jwks_fetches == fetches  # the static keys of JWTGUARD_JWKS, no fetch
    old = client.get("/me", headers=bearer(issuer.token(iat=1_000_000_000, expires_in=3600)))
    assert old.status_code == 401  # JWTGUARD_MAX_TOKEN_AGE applies
    assert client.get("/.well-known/oauth-protected-resource").json["resource_name"] == "Messages"
    assert (
        'resource_metadata="https://api.example.test/.well-known/oauth-protected-resource"'
        in (client.get("/me").headers["WWW-Authenticate"])
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("JWTGUARD_AUDIANCE", r"unknown setting 'AUDIANCE'; did you mean 'AUDIENCE'\?"),
        ("JWTGUARD_EXCLUDE_PATHS", "unknown setting 'EXCLUDE_PATHS'"),  # not a Flask setting: never ignored
    ],
)
def test_an_unknown_key_is_a_configuration_error_at_init_app(
    issuer: LocalIssuer, validator: jwtguard.Validator, key: str, message: str
) -> None:
    for given in (None, validator):
        app = Flask(__name__)
        app.config.update({"JWTGUARD_ISSUER": issuer.issuer, "JWTGUARD_AUDIENCE": issuer.audience, key: ["x"]})
        with pytest.raises(jwtguard.ConfigurationError, match=message):
            JWTGuard(app, validator=given)


def test_a_missing_issuer_or_audience_is_a_configuration_error_at_init_app(issuer: LocalIssuer) -> None:
    for config, message in (({"JWTGUARD_ISSUER": issuer.issuer}, "audience"), ({}, "ISSUER")):
        app = Flask(__name__)
        app.config.update(config)
        guard = JWTGuard()
        with pytest.raises(jwtguard.ConfigurationError, match=message):
            guard.init_app(app)


def test_a_bad_scope_is_a_configuration_error_when_decorating(validator: jwtguard.Validator) -> None:
    guard = JWTGuard(Flask(__name__), validator=validator)
    with pytest.raises(jwtguard.ConfigurationError):
        guard.require("read messages")
    with pytest.raises(jwtguard.ConfigurationError):
        guard.optional('say"hi"')
    with pytest.raises(jwtguard.ConfigurationError, match="any_of"):
        guard.require(any_of=True)


def test_any_of(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    app = Flask(__name__)
    guard = JWTGuard(app, validator=validator, realm=REALM)

    @app.get("/either")
    @guard.require("admin", SCOPE, any_of=True)
    def either() -> str:
        return "ok"

    client = app.test_client()
    assert client.get("/either", headers=bearer(issuer.token(scope=SCOPE))).status_code == 200
    assert client.get("/either", headers=bearer(issuer.token(scope="admin"))).status_code == 200
    refused = client.get("/either", headers=bearer(issuer.token(scope="other")))
    assert refused.status_code == 403
    assert f'scope="admin {SCOPE}"' in refused.headers["WWW-Authenticate"]


def test_optional_views_check_their_scopes_when_a_token_is_sent(
    issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    app = Flask(__name__)
    guard = JWTGuard(app, validator=validator)

    @app.get("/feed")
    @guard.optional(SCOPE)
    def feed() -> dict[str, Any]:
        return {"anonymous": get_claims() is None}

    client = app.test_client()
    assert client.get("/feed").json == {"anonymous": True}
    assert client.get("/feed", headers=bearer(issuer.token(scope=SCOPE))).json == {"anonymous": False}
    assert client.get("/feed", headers=bearer(issuer.token(scope="other"))).status_code == 403


def test_require_above_the_route_is_refused_on_an_initialised_app(validator: jwtguard.Validator) -> None:
    app = Flask(__name__)
    guard = JWTGuard(app, validator=validator)
    with pytest.raises(jwtguard.ConfigurationError, match=r"'messages' is registered .* below @app\.route"):

        @guard.require(SCOPE)
        @app.get("/messages")
        def messages() -> str:
            return "unprotected"

    with pytest.raises(jwtguard.ConfigurationError, match="'feed'"):

        @guard.optional()
        @app.get("/feed")
        def feed() -> str:
            return "unprotected"


def test_require_above_the_route_is_refused_at_init_app(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    guard = JWTGuard(validator=validator)
    app = Flask(__name__)
    blueprint = Blueprint("api", __name__)

    @guard.require(SCOPE)  # the guard knows no app yet: the app factory's init_app comes later
    @blueprint.get("/messages")
    def messages() -> str:
        return "unprotected"

    app.register_blueprint(blueprint)
    with pytest.raises(jwtguard.ConfigurationError, match="'messages' is registered"):
        guard.init_app(app)


def test_require_below_the_route_is_accepted_in_both_orders(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    guard = JWTGuard(validator=validator)
    app = Flask(__name__)

    @app.get("/early")
    @guard.require(SCOPE)  # decorated before init_app
    def early() -> str:
        return "ok"

    guard.init_app(app)

    @app.get("/late")
    @guard.require(SCOPE)  # decorated after init_app
    def late() -> str:
        return "ok"

    client = app.test_client()
    for path in ("/early", "/late"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=bearer(issuer.token(scope=SCOPE))).status_code == 200


# -- the second shared table: DPoP, any-of, roles, step-up -----------------------------------


def policy_app(validator: jwtguard.Validator, **options: Any) -> Flask:
    """The example's app plus the routes of the second table, each through ``@guard.require``."""
    app = Flask(__name__)
    guard = JWTGuard(app, validator=validator, realm=REALM, **options)

    def sub() -> dict[str, Any]:
        return {"sub": current_claims["sub"]}

    app.get("/messages", endpoint="messages")(guard.require(SCOPE)(sub))
    app.get("/any-of", endpoint="any_of")(guard.require(SCOPE, "admin", any_of=True)(sub))
    app.get("/roles", endpoint="roles")(guard.require(roles=["admin"])(sub))
    app.get("/step-up", endpoint="step_up")(guard.require(acr_values=["mfa"], max_age=300)(sub))
    return app


@pytest.mark.parametrize("scenario", POLICY_SCENARIOS, ids=lambda s: s.name)
def test_flask_passes_the_policy_table(scenario: PolicyScenario, issuer: LocalIssuer) -> None:
    app = policy_app(issuer.validator())  # a replay cache of its own
    run_policy_scenario(scenario, flask_client(app), issuer, "http://localhost")


def dpop_headers(issuer: LocalIssuer, url: str) -> dict[str, str]:
    key = DPoPKey.generate(clock=issuer.clock)
    token = issuer.token(scope=SCOPE, sub="user-42", cnf=key.cnf)
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", url, token)}


@pytest.mark.parametrize("given", ["argument", "config"])
def test_public_url_is_the_url_a_dpop_proof_names(given: str, issuer: LocalIssuer) -> None:
    public = "https://api.example.com/v1"
    if given == "argument":
        app = policy_app(issuer.validator(), public_url=public)
    else:
        app = Flask(__name__)
        app.config.update(JWTGUARD_ISSUER=issuer.issuer, JWTGUARD_AUDIENCE=issuer.audience, JWTGUARD_PUBLIC_URL=public)
        guard = JWTGuard(app)
        app.get("/messages")(guard.require(SCOPE)(lambda: {"sub": current_claims["sub"]}))
    client = app.test_client()
    assert client.get("/messages", headers=dpop_headers(issuer, public + "/messages")).json == {"sub": "user-42"}
    internal = client.get("/messages", headers=dpop_headers(issuer, "http://localhost/messages"))
    assert internal.status_code == 401
    assert 'error="invalid_dpop_proof"' in internal.headers["WWW-Authenticate"]


def test_the_mount_point_is_part_of_the_url(issuer: LocalIssuer) -> None:
    client = policy_app(issuer.validator()).test_client()
    headers = dpop_headers(issuer, "http://localhost/api/messages")
    response = client.get("/messages", headers=headers, base_url="http://localhost/api")  # SCRIPT_NAME=/api
    assert response.json == {"sub": "user-42"}


def test_forwarded_headers_count_only_from_trusted_proxies(issuer: LocalIssuer) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"}
    public = "https://api.example.com/messages"
    trusting = policy_app(issuer.validator(), trusted_proxies=["127.0.0.1"]).test_client()
    assert trusting.get("/messages", headers={**dpop_headers(issuer, public), **forwarded}).status_code == 200
    stranger = {"REMOTE_ADDR": "192.0.2.7"}  # not a trusted proxy: its headers are the client's own words
    refused = trusting.get("/messages", headers={**dpop_headers(issuer, public), **forwarded}, environ_base=stranger)
    assert refused.status_code == 401
    default = policy_app(issuer.validator()).test_client()  # trusting nobody, the default
    assert default.get("/messages", headers={**dpop_headers(issuer, public), **forwarded}).status_code == 401


def self_signed(name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
    builder = builder.serial_number(x509.random_serial_number()).not_valid_before(now)
    return builder.not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())


CLIENT_CERT = self_signed("client")
CLIENT_PEM = CLIENT_CERT.public_bytes(Encoding.PEM).decode()


def test_certificate_bound_tokens_through_the_server_or_a_trusted_proxy(issuer: LocalIssuer) -> None:
    bound = dict(
        bearer(issuer.token(scope=SCOPE, sub="user-42", cnf={"x5t#S256": certificate_thumbprint(CLIENT_CERT)}))
    )
    nginx = {"X-SSL-Client-Cert": quote(CLIENT_PEM)}
    app = policy_app(issuer.validator(), trusted_proxies=["127.0.0.0/8"], client_cert_header="X-SSL-Client-Cert")
    client = app.test_client()
    assert client.get("/messages", headers=bound, environ_base={"SSL_CLIENT_CERT": CLIENT_PEM}).status_code == 200
    assert client.get("/messages", headers={**bound, **nginx}).json == {"sub": "user-42"}
    other = {"X-SSL-Client-Cert": quote(self_signed("other").public_bytes(Encoding.PEM).decode())}
    assert client.get("/messages", headers={**bound, **other}).status_code == 401
    missing = client.get("/messages", headers=bound)
    assert missing.status_code == 401
    assert 'error="invalid_token"' in missing.headers["WWW-Authenticate"]
    untrusted = client.get("/messages", headers={**bound, **nginx}, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert untrusted.status_code == 401
    no_header = policy_app(issuer.validator()).test_client()  # no client_cert_header: the header is ignored
    assert no_header.get("/messages", headers={**bound, **nginx}).status_code == 401


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"public_url": "ftp://api.example.com"}, "public_url"),
        ({"trusted_proxies": ["not an address"]}, "trusted_proxies"),
        ({"client_cert_header": "Client-Cert"}, "client_cert_header needs trusted_proxies"),
        ({"JWTGUARD_PUBLIC_URL": "/relative"}, "public_url"),
        ({"JWTGUARD_PUBLC_URL": "https://api.example.com"}, "did you mean 'PUBLIC_URL'"),
    ],
)
def test_bad_origin_settings_fail_at_init_app(
    validator: jwtguard.Validator, options: dict[str, Any], message: str
) -> None:
    app = Flask(__name__)
    app.config.update({key: value for key, value in options.items() if key.startswith("JWTGUARD_")})
    arguments = {key: value for key, value in options.items() if not key.startswith("JWTGUARD_")}
    with pytest.raises(jwtguard.ConfigurationError, match=message):
        JWTGuard(app, validator=validator, **arguments)


def test_origin_arguments_win_over_config(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    app = Flask(__name__)
    app.config.update(JWTGUARD_PUBLIC_URL="https://config.example.com", JWTGUARD_TRUSTED_PROXIES="10.0.0.0/8")
    JWTGuard(app, validator=validator, public_url="https://argument.example.com")
    origin = app.extensions["jwtguard"].origin
    assert (origin.public_url, [str(net) for net in origin.trusted]) == ("https://argument.example.com", ["10.0.0.0/8"])


class RecordingHooks(Hooks):
    def __init__(self) -> None:
        self.rejected: list[str] = []

    def on_rejected(self, error: jwtguard.AuthError) -> None:
        self.rejected.append(error.code)


def test_role_and_step_up_refusals_reach_the_hooks(issuer: LocalIssuer) -> None:
    hooks = RecordingHooks()
    client = policy_app(issuer.validator(hooks=hooks)).test_client()
    assert client.get("/roles", headers=bearer(issuer.token(roles=["reader"]))).status_code == 403
    weak = client.get("/step-up", headers=bearer(issuer.token(acr="pwd", auth_time=int(issuer.clock()))))
    assert weak.status_code == 401
    assert weak.json["error"] == "insufficient_user_authentication"
    assert hooks.rejected == ["insufficient_role", "insufficient_user_authentication"]


def test_optional_views_take_the_whole_requirement(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    app = Flask(__name__)
    guard = JWTGuard(app, validator=validator, realm=REALM)

    @app.get("/feed")
    @guard.optional(roles=["editor", "admin"], roles_any_of=True)
    def feed() -> dict[str, Any]:
        return {"anonymous": get_claims() is None}

    client = app.test_client()
    assert client.get("/feed").json == {"anonymous": True}
    assert client.get("/feed", headers=bearer(issuer.token(roles=["editor"]))).json == {"anonymous": False}
    assert client.get("/feed", headers=bearer(issuer.token(roles=["reader"]))).status_code == 403


@pytest.mark.parametrize(
    "options",
    [{"roles": [""]}, {"acr_values": [""]}, {"max_age": -1}, {"max_age": "soon"}, {"roles_any_of": True}],
    ids=["empty_role", "empty_acr", "negative_max_age", "text_max_age", "roles_any_of_without_roles"],
)
def test_a_bad_requirement_is_a_configuration_error_when_decorating(
    validator: jwtguard.Validator, options: dict[str, Any]
) -> None:
    guard = JWTGuard(Flask(__name__), validator=validator)
    with pytest.raises(jwtguard.ConfigurationError):
        guard.require(**options)
    with pytest.raises(jwtguard.ConfigurationError):
        guard.optional(**options)


def test_the_example_shows_roles_and_step_up(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    client = example.create_app(validator).test_client()
    now = int(issuer.clock())
    admin = client.get("/admin", headers=bearer(issuer.token(sub="a", roles=["admin"])))
    assert admin.json == {"sub": "a", "roles": ["admin"]}
    assert client.get("/admin", headers=bearer(issuer.token(roles=["reader"]))).status_code == 403
    strong = bearer(issuer.token(scope="write:transfers", sub="t", acr="mfa", auth_time=now))
    assert client.post("/transfers", headers=strong).status_code == 201
    weak = client.post("/transfers", headers=bearer(issuer.token(scope="write:transfers", acr="pwd", auth_time=now)))
    assert weak.status_code == 401
    assert 'acr_values="mfa", max_age="300"' in weak.headers["WWW-Authenticate"]
