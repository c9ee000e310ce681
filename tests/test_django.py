"""jwtguard.django: the shared scenario table through DRF, plain, async and middleware views, plus the details."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import subprocess
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import pytest
from conftest import load_example
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from scenarios import (
    BARE_CHALLENGE,
    POLICY_SCENARIOS,
    REALM,
    SCENARIOS,
    SCOPE,
    PolicyScenario,
    Result,
    Scenario,
    run_policy_scenario,
    run_scenario,
)

example = load_example("django_app")  # configures Django once (guarded by settings.configured)

from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.base import SystemCheckError  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.test import AsyncClient, Client, override_settings  # noqa: E402
from django.urls import path  # noqa: E402
from django.utils.decorators import method_decorator  # noqa: E402
from django.views import View  # noqa: E402
from rest_framework.authentication import (  # noqa: E402
    BaseAuthentication,
    BasicAuthentication,
    SessionAuthentication,
)
from rest_framework.decorators import api_view  # noqa: E402
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.test import APIClient, APIRequestFactory  # noqa: E402
from rest_framework.views import APIView  # noqa: E402
from rest_framework.views import exception_handler as drf_exception_handler  # noqa: E402
from rest_framework.viewsets import ViewSet  # noqa: E402

import jwtguard  # noqa: E402
from jwtguard import Claims, ConfigurationError, InvalidTokenError, Requirement  # noqa: E402
from jwtguard.django import (  # noqa: E402
    JWTAuthentication,
    JWTGuardMiddleware,
    TokenAuthenticationFailed,
    TokenHasRole,
    TokenHasScope,
    TokenHasUserAuthentication,
    TokenScopeDenied,
    TokenUser,
    exception_handler,
    get_claims,
    get_settings,
    get_validator,
    require_token,
)
from jwtguard.hooks import Hooks  # noqa: E402
from jwtguard.resource_metadata import ProtectedResourceMetadata  # noqa: E402
from jwtguard.testing import DPoPKey, LocalIssuer, certificate_thumbprint  # noqa: E402

# -- test views -------------------------------------------------------------------------


@require_token(SCOPE)
async def async_messages(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sub": request.auth["sub"], "user": str(request.user)})  # type: ignore[attr-defined]


@require_token()
def any_token(request: HttpRequest) -> JsonResponse:
    user = request.user
    return JsonResponse({"sub": request.auth["sub"], "user": type(user).__name__, "username": user.username})  # type: ignore[attr-defined]


def whoami(request: HttpRequest) -> JsonResponse:
    claims = request.auth  # type: ignore[attr-defined]
    return JsonResponse({"sub": claims["sub"] if claims else None, "user": str(getattr(request, "user", None))})


async def awhoami(request: HttpRequest) -> JsonResponse:
    return whoami(request)


@method_decorator(require_token("write:messages"), name="post")
class MessageCreate(View):
    def post(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"by": request.auth["sub"]}, status=201)  # type: ignore[attr-defined]


class StaticBasicAuthentication(BaseAuthentication):
    """Another authenticator: accepts any Basic credentials (proves JWTAuthentication steps aside)."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        if request.META.get("HTTP_AUTHORIZATION", "").startswith("Basic "):
            return TokenUser(Claims({"sub": "basic-user"})), "basic"
        return None


class MultiAuthView(APIView):
    authentication_classes = (JWTAuthentication, StaticBasicAuthentication)
    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        return Response(
            {"user": str(request.user), "auth": "claims" if isinstance(request.auth, Claims) else request.auth}
        )


class LocalUser:
    def __init__(self, name: str) -> None:
        self.username = name
        self.is_authenticated = True

    def __str__(self) -> str:
        return f"local:{self.username}"


class MappingAuthentication(JWTAuthentication):
    def get_user(self, claims: Claims) -> Any:
        return LocalUser(claims["sub"])


class MappedView(APIView):
    authentication_classes = (MappingAuthentication,)
    permission_classes = (TokenHasScope,)
    required_scopes = (SCOPE,)

    def get(self, request: Request) -> Response:
        return Response({"user": str(request.user)})


class OptionalView(APIView):
    permission_classes = (AllowAny,)

    def get(self, request: Request) -> Response:
        return Response({"sub": request.auth["sub"] if request.auth else None})


class NoScopesView(APIView):
    permission_classes = (TokenHasScope,)

    def get(self, request: Request) -> Response:
        return Response({})


@require_token()
def admin_only(request: HttpRequest) -> JsonResponse:
    get_validator().require_scopes(request.auth, "admin")  # raised by the view itself
    return JsonResponse({})


@require_token("admin")
def admin_scope(request: HttpRequest) -> JsonResponse:
    return JsonResponse({})


@require_token("admin", SCOPE, any_of=True)
def either_scope(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sub": request.auth["sub"]})  # type: ignore[attr-defined]


class EitherScopeView(APIView):
    permission_classes = (TokenHasScope,)
    required_scopes = ("admin", SCOPE)
    required_scopes_any_of = True

    def get(self, request: Request) -> Response:
        return Response({"sub": request.auth["sub"]})


class RequirementView(EitherScopeView):
    required_scopes = Requirement.of(["admin", SCOPE], any_of=True)  # type: ignore[assignment]
    required_scopes_any_of = False  # the Requirement decides


def plain_admin_only(request: HttpRequest) -> JsonResponse:
    claims = getattr(request, "auth", None)
    if claims is None:
        raise jwtguard.MissingTokenError()
    get_validator().require_scopes(claims, "admin")
    return JsonResponse({})


urls = types.ModuleType("test_django_urls")
urls.urlpatterns = [  # type: ignore[attr-defined]
    *example.urls.urlpatterns,
    path("async/messages", async_messages),
    path("any", any_token),
    path("whoami", whoami),
    path("awhoami", awhoami),
    path("drf/multi", MultiAuthView.as_view()),
    path("drf/mapped", MappedView.as_view()),
    path("drf/optional", OptionalView.as_view()),
    path("drf/no-scopes", NoScopesView.as_view()),
    path("cbv", MessageCreate.as_view()),
    path("admin-only", admin_only),
    path("plain-admin-only", plain_admin_only),
    path("admin-scope", admin_scope),
    path("either", either_scope),
    path("drf/either", EitherScopeView.as_view()),
    path("drf/requirement", RequirementView.as_view()),
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["jwtguard.django.JWTAuthentication"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
MIDDLEWARE = ["jwtguard.django.JWTGuardMiddleware"]


def validator_factory() -> jwtguard.Validator:
    return jwtguard.Validator(issuer="https://factory.example/", audience="https://api.example.test")


@pytest.fixture(autouse=True)
def project() -> Iterator[None]:
    """Every test starts from the same project settings, whatever ran before."""
    with override_settings(
        ROOT_URLCONF=urls, REST_FRAMEWORK=REST_FRAMEWORK, MIDDLEWARE=[], ALLOWED_HOSTS=["testserver", "127.0.0.1"]
    ):
        yield


def guard(validator: jwtguard.Validator, **options: Any) -> override_settings:
    return override_settings(JWTGUARD={"VALIDATOR": validator, "REALM": REALM, **options})


def _joined(headers: list[tuple[str, str]]) -> dict[str, str]:
    # The test clients send one value per name; servers hand Django repeated headers joined with ", ".
    out: dict[str, str] = {}
    for name, value in headers:
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def _result(response: HttpResponse) -> Result:
    return Result(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)


def drf_client(method: str, path: str, headers: list[tuple[str, str]]) -> Result:
    return _result(APIClient().generic(method, path, headers=_joined(headers)))


def plain_client(method: str, path: str, headers: list[tuple[str, str]]) -> Result:
    path = path.replace("/messages", "/plain/messages")
    return _result(Client().generic(method, path, headers=_joined(headers)))


def async_client(method: str, path: str, headers: list[tuple[str, str]]) -> Result:
    path = path.replace("/messages", "/async/messages")
    return _result(asyncio.run(AsyncClient().generic(method, path, headers=_joined(headers))))


def middleware_client(method: str, path: str, headers: list[tuple[str, str]]) -> Result:
    with override_settings(MIDDLEWARE=MIDDLEWARE):
        return plain_client(method, path, headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the shared table -------------------------------------------------------------------

CLIENTS: dict[str, tuple[Callable[[str, str, list[tuple[str, str]]], Result], bool]] = {
    "drf": (drf_client, True),
    "plain": (plain_client, False),
    "async": (async_client, False),
    "middleware": (middleware_client, False),
}


@pytest.mark.parametrize("kind", CLIENTS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(
    kind: str,
    scenario: Scenario,
    issuer: LocalIssuer,
    validator: jwtguard.Validator,
    down_validator: jwtguard.Validator,
) -> None:
    client, own_body = CLIENTS[kind]
    options = {"EXCLUDE_PATHS": ["/health"]} if kind == "middleware" else {}
    with guard(down_validator if scenario.keys_down else validator, **options):
        run_scenario(scenario, client, issuer, own_body=own_body)


def test_drf_keeps_its_body_format_with_the_right_challenge(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    with guard(validator):
        expired = APIClient().get("/messages", headers=bearer(issuer.token(scope=SCOPE, expires_in=-60)))
        denied = APIClient().get("/messages", headers=bearer(issuer.token(scope="other")))
        malformed = APIClient().get("/messages", headers={"Authorization": "Bearer a b"})
    assert expired.status_code == 401
    assert expired.json() == {"detail": "The access token expired"}
    exception = TokenAuthenticationFailed(jwtguard.ExpiredTokenError())
    assert exception.get_codes() == "token_expired"
    assert exception.auth_error.code == "token_expired"
    assert 'error_description="The access token expired"' in expired.headers["WWW-Authenticate"]
    assert denied.status_code == 403
    assert denied.json() == {"detail": "The access token does not have the required scope"}
    assert denied.headers["WWW-Authenticate"].startswith(f'Bearer realm="{REALM}", error="insufficient_scope"')
    assert malformed.status_code == 400
    assert 'error="invalid_request"' in malformed.headers["WWW-Authenticate"]


def test_keys_down_in_drf_is_503_with_retry_after(down_validator: jwtguard.Validator, issuer: LocalIssuer) -> None:
    with guard(down_validator):
        response = APIClient().get("/messages", headers=bearer(issuer.token(scope=SCOPE)))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json() == {
        "error": "temporarily_unavailable",
        "error_description": "The signing keys are temporarily unavailable",
    }


# -- duplicate Authorization headers ------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["Bearer {t},Bearer {t}", "Bearer {t}, Bearer {t}", "Basic dXNlcjpwYXNz, Bearer {t}", "Bearer {t}, Basic eA=="],
)
@pytest.mark.parametrize("path", ["/messages", "/plain/messages"])
def test_joined_authorization_headers_are_400(
    value: str, path: str, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    header = {"Authorization": value.format(t=issuer.token(scope=SCOPE))}
    with guard(validator):
        response = Client().get(path, headers=header)
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_two_authorization_headers_over_a_real_wsgi_server(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    token = issuer.token(scope=SCOPE, sub="user-42")
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with guard(validator), httpx.Client(base_url=base) as http:
            twice = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
            assert http.get("/messages", headers=twice).status_code == 400
            assert http.get("/plain/messages", headers=twice).status_code == 400
            assert http.get("/messages", headers=bearer(token)).json()["sub"] == "user-42"
            assert http.get("/plain/messages", headers=bearer(token)).json() == {"sub": "user-42"}
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# -- settings -----------------------------------------------------------------------------


def test_import_needs_no_configured_settings_nor_drf() -> None:
    code = (
        "import sys, jwtguard.django;"
        "assert 'rest_framework' not in sys.modules, 'DRF imported eagerly';"
        "from jwtguard.django import JWTAuthentication, TokenHasScope, require_token;"
        "import jwtguard.django as m; assert m.JWTAuthentication is JWTAuthentication"
    )
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_settings_are_read_lazily_and_reset_by_override_settings(issuer: LocalIssuer) -> None:
    first = {"ISSUER": issuer.issuer, "AUDIENCE": "https://a.example"}
    token_b = issuer.token(scope=SCOPE, aud="https://b.example")
    with override_settings(JWTGUARD=first):
        validator = get_validator()
        assert get_validator() is validator  # cached
        assert validator.audiences == {"https://a.example"}
        assert Client().get("/plain/messages", headers=bearer(token_b)).status_code == 401
        with override_settings(JWTGUARD={**first, "AUDIENCE": "https://b.example"}):
            assert get_validator().audiences == {"https://b.example"}
            assert Client().get("/plain/messages", headers=bearer(token_b)).status_code == 200
        assert get_validator().audiences == {"https://a.example"}
        assert Client().get("/plain/messages", headers=bearer(token_b)).status_code == 401


def test_settings_build_the_validator_from_every_key(issuer: LocalIssuer) -> None:
    with override_settings(
        JWTGUARD={
            "ISSUER": issuer.issuer,
            "AUDIENCE": [issuer.audience],
            "ALGORITHMS": ["RS256", "ES256"],
            "JWKS_URI": issuer.jwks_uri,
            "LEEWAY": 0,
            "AUTHORIZED_PARTIES": ["other-client"],
            "REQUIRED_SCOPES": [SCOPE],
            "VALIDATOR_OPTIONS": {"required_claims": ["sub"]},
            "REALM": "orders",
        }
    ):
        built = get_validator()
        assert built.leeway == 0
        assert built.algorithms == ("RS256", "ES256")
        assert built.authorized_parties == {"other-client"}
        response = Client().get("/plain/messages", headers=bearer(issuer.token(scope=SCOPE, azp="test-client")))
    assert response.status_code == 401  # azp not in AUTHORIZED_PARTIES
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="orders", error="invalid_token"')


@pytest.mark.parametrize(
    ("jwtguard_settings", "message"),
    [
        ({"AUDIENCE": "https://api.example.test"}, "ISSUER is required"),
        (None, "must be a dict"),
        ({"ISSUER": "https://t.example/", "AUDIANCE": "x"}, "unknown setting 'AUDIANCE'; did you mean 'AUDIENCE'"),
        ({"ISSUER": "https://t.example/"}, "AUDIENCE is required"),
        ({"ISSUER": "http://login.example/", "AUDIENCE": "x"}, "JWTGUARD: issuer .* must use https://"),
        ({"ISSUER": "https://t.example/", "AUDIENCE": "x", "MAX_TOKEN_AGES": 1}, "did you mean 'MAX_TOKEN_AGE'"),
        ({"ISSUER": "https://t.example/", "AUDIENCE": "x", "REALM": 3}, "realm must be a string"),
        ({"ISSUER": "https://t.example/", "AUDIENCE": "x", "OPTIONAL_PATHS": ["x"]}, "OPTIONAL_PATHS"),
        ({"ISSUER": "https://t.example/", "AUDIENCE": "x", "VALIDATOR_OPTIONS": ["sub"]}, "VALIDATOR_OPTIONS"),
        ({"ISSUER": "https://t.example/", "AUDIENCE": "x", "HOOKS": "no.such:hooks"}, "HOOKS: cannot import"),
        ({"VALIDATOR": "jwtguard.Validator", "LEEWAY": 1}, "VALIDATOR replaces LEEWAY"),
        ({"ISSUER": "https://t.example/", "VALIDATOR": "jwtguard.Validator"}, "VALIDATOR replaces ISSUER"),
        ({"VALIDATOR": 42}, "must be a Validator"),
        ({"VALIDATOR": "no.such.module.factory"}, "cannot import"),
        ({"ISSUER": "https://t.example/", "AUDIENCE": "x", "ALGORITHMS": []}, "algorithms"),
        ({"ISSUER": "https://t.example/", "USER_FACTORY": 3}, "USER_FACTORY"),
        ({"ISSUER": "https://t.example/", "EXCLUDE_PATHS": ["health"]}, "EXCLUDE_PATHS"),
        ({"ISSUER": "https://t.example/", "RESOURCE_METADATA": "x"}, "RESOURCE_METADATA"),
        ({"ISSUER": "https://t.example/", "RESOURCE_METADATA": {"url": "x"}}, "RESOURCE_METADATA"),
        ({"ISSUER": "https://t.example/", "VALIDATOR_OPTIONS": {"max_age": 1}}, "VALIDATOR_OPTIONS"),
        ({"ISSUER": "https://t.example/", "VALIDATOR_OPTIONS": {"issuer": "x"}}, "VALIDATOR_OPTIONS"),
    ],
)
def test_bad_settings_are_configuration_errors(jwtguard_settings: Any, message: str) -> None:
    with override_settings(JWTGUARD=jwtguard_settings), pytest.raises(ConfigurationError, match=message):
        get_validator()


def test_missing_issuer_fails_the_request_loudly_not_as_a_client_error() -> None:
    with override_settings(JWTGUARD={"AUDIENCE": "x"}), pytest.raises(ConfigurationError):
        Client().get("/plain/messages", headers=bearer("a.b.c"))


@pytest.mark.parametrize("given", ["callable", "dotted path to factory", "instance"])
def test_validator_can_be_supplied_ready(given: str, validator: jwtguard.Validator) -> None:
    value = {
        "callable": validator_factory,
        "dotted path to factory": f"{__name__}.validator_factory",
        "instance": validator,
    }[given]
    with override_settings(JWTGUARD={"VALIDATOR": value}):
        built = get_validator()
    assert isinstance(built, jwtguard.Validator)
    assert built is validator if given == "instance" else built.issuers == ("https://factory.example/",)


def test_every_validator_option_is_a_key(issuer: LocalIssuer) -> None:
    hooks = RecordingHooks()
    keys = {"MAX_TOKEN_AGE": 600, "REQUIRED_CLAIMS": ["tenant"], "TOKEN_CACHE_SIZE": 0, "HOOKS": hooks}
    with override_settings(JWTGUARD={"ISSUER": issuer.issuer, "AUDIENCE": issuer.audience, **keys}):
        built = get_validator()
        response = Client().get("/plain/messages", headers=bearer(issuer.token(scope=SCOPE)))
    assert (built.max_token_age, built.options.required_claims, built.options.hooks) == (600, ("tenant",), hooks)
    assert response.status_code == 401
    assert hooks.rejected == ["missing_claim"]


# -- start-up: manage.py check and the middleware ------------------------------------------

MISCONFIGURED: dict[str, Any] = {
    "typo": {"ISSUER": "https://t.example/", "AUDIANCE": "https://api.example.test"},
    "http_issuer": {"ISSUER": "http://login.example/", "AUDIENCE": "https://api.example.test"},
    "no_audience": {"ISSUER": "https://t.example/"},
    "no_issuer": {"AUDIENCE": "https://api.example.test"},
    "not_a_validator": {"VALIDATOR": "jwtguard.validator.DEFAULT_LEEWAY"},
    "no_dict": None,
}


@pytest.mark.parametrize("name", MISCONFIGURED)
def test_a_bad_configuration_fails_manage_py_check(name: str) -> None:
    with override_settings(JWTGUARD=MISCONFIGURED[name]):
        with pytest.raises(SystemCheckError, match=r"jwtguard\.E001") as failed:
            call_command("check")
        with pytest.raises(ConfigurationError):
            JWTGuardMiddleware(lambda request: HttpResponse())
        with override_settings(MIDDLEWARE=MIDDLEWARE), pytest.raises(ConfigurationError):
            get_wsgi_application()  # Django builds the middleware when it loads the handler
    assert "HINT: Fix settings.JWTGUARD" in str(failed.value)


def test_a_good_configuration_passes_manage_py_check(issuer: LocalIssuer) -> None:
    # This module's URL configuration holds deliberately broken DRF views (checked by the URL
    # checks, jwtguard.E002/E003): the settings are checked here against a clean one.
    clean = types.ModuleType("jwtguard_clean_urls")
    clean.urlpatterns = []  # type: ignore[attr-defined]
    sys.modules[clean.__name__] = clean
    settings = {"JWTGUARD": {"ISSUER": issuer.issuer, "AUDIENCE": issuer.audience}, "ROOT_URLCONF": clean.__name__}
    with override_settings(**settings):
        call_command("check")  # raises SystemCheckError on any error


def test_the_app_config_is_found_from_installed_apps() -> None:
    from django.apps import apps

    config = apps.get_app_config("jwtguard")
    assert (config.name, type(config).__name__) == ("jwtguard.django", "JWTGuardConfig")


# -- route requirements: one decision in the core -------------------------------------------


class RecordingHooks(Hooks):
    def __init__(self) -> None:
        self.rejected: list[str] = []

    def on_rejected(self, error: jwtguard.AuthError) -> None:
        self.rejected.append(error.code)


@pytest.mark.parametrize("given", ["HOOKS key", "VALIDATOR with hooks"])
def test_scope_refusals_reach_the_hooks(given: str, issuer: LocalIssuer) -> None:
    hooks = RecordingHooks()
    if given == "HOOKS key":
        jwtguard_settings = {"ISSUER": issuer.issuer, "AUDIENCE": issuer.audience, "HOOKS": hooks, "REALM": REALM}
    else:
        jwtguard_settings = {"VALIDATOR": issuer.validator(hooks=hooks), "REALM": REALM}
    token = bearer(issuer.token(scope=SCOPE))
    with override_settings(JWTGUARD=jwtguard_settings):
        answers = [
            Client().get("/admin-scope", headers=token),
            asyncio.run(AsyncClient().get("/async/messages", headers=bearer(issuer.token(scope="other")))),
            APIClient().get("/messages", headers=bearer(issuer.token(scope="other"))),
            APIClient().get("/drf/admin", headers=token),  # a user's permission calling require_scopes
        ]
        assert hooks.rejected == ["insufficient_scope"] * 4
        anonymous = [Client().get("/admin-scope"), APIClient().get("/messages")]
    assert [answer.status_code for answer in answers] == [403] * 4
    assert [answer.status_code for answer in anonymous] == [401, 401]
    assert hooks.rejected[4:] == ["missing_token", "missing_token"]


@pytest.mark.parametrize("path", ["/either", "/drf/either", "/drf/requirement"])
def test_any_of_scopes(path: str, issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    client = Client() if path == "/either" else APIClient()
    with guard(validator):
        read = client.get(path, headers=bearer(issuer.token(scope=SCOPE, sub="a")))
        admin = client.get(path, headers=bearer(issuer.token(scope="admin", sub="b")))
        other = client.get(path, headers=bearer(issuer.token(scope="other")))
    assert [read.json()["sub"], admin.json()["sub"]] == ["a", "b"]
    assert other.status_code == 403
    assert f'scope="admin {SCOPE}"' in other.headers["WWW-Authenticate"]


def test_a_bad_scope_fails_at_decoration() -> None:
    with pytest.raises(ConfigurationError):
        require_token("read messages")
    with pytest.raises(ConfigurationError):
        require_token(any_of=True)


# -- DRF ---------------------------------------------------------------------------------


def test_authenticate_steps_aside_for_other_schemes(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    factory = APIRequestFactory()
    with guard(validator):
        assert JWTAuthentication().authenticate(Request(factory.get("/"))) is None
        assert JWTAuthentication().authenticate(Request(factory.get("/", HTTP_AUTHORIZATION="Basic eA=="))) is None
        basic = APIClient().get("/drf/multi", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        token = APIClient().get("/drf/multi", headers=bearer(issuer.token(sub="user-42")))
        bad = APIClient().get("/drf/multi", headers=bearer("not.a.jwt"))
    assert basic.status_code == 200
    assert basic.json() == {"user": "basic-user", "auth": "basic"}
    assert token.json() == {"user": "user-42", "auth": "claims"}
    assert bad.status_code == 401  # a Bearer header that fails is not handed to the next authenticator


def test_token_user_fields(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    request = Request(APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {issuer.token(scope=SCOPE, sub='u-1')}"))
    with guard(validator):
        result = JWTAuthentication().authenticate(request)
    assert result is not None
    user, claims = result
    assert isinstance(claims, Claims)
    assert claims["sub"] == "u-1"
    assert get_claims(request) is claims
    assert isinstance(user, TokenUser)
    assert (user.username, user.get_username(), str(user)) == ("u-1", "u-1", "u-1")
    assert (user.is_authenticated, user.is_anonymous, user.is_active, user.is_staff) == (True, False, True, False)
    assert (user.pk, user.id) == (None, None)
    assert user.claims is claims
    assert user.scopes == {SCOPE}
    assert not user.has_perm("app.view_thing")
    assert not user.has_module_perms("app")
    assert user == TokenUser(Claims({"sub": "u-1"}))
    assert TokenUser(Claims({})).username == ""


def test_authenticate_header_is_the_bare_challenge_without_a_failure(validator: jwtguard.Validator) -> None:
    with guard(validator):
        assert JWTAuthentication().authenticate_header(Request(APIRequestFactory().get("/"))) == BARE_CHALLENGE


def test_get_user_hook_maps_claims_to_a_local_user(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    with guard(validator):
        response = APIClient().get("/drf/mapped", headers=bearer(issuer.token(scope=SCOPE, sub="alice")))
    assert response.json() == {"user": "local:alice"}


def test_user_factory_setting_serves_drf_and_plain_views(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    token = issuer.token(scope=SCOPE, sub="bob")
    with guard(validator, USER_FACTORY=lambda claims: LocalUser(claims["sub"])):
        drf = APIClient().get("/drf/multi", headers=bearer(token))
        plain = Client().get("/any", headers=bearer(token))
    assert drf.json()["user"] == "local:bob"
    assert plain.json() == {"sub": "bob", "user": "LocalUser", "username": "bob"}


def test_user_factory_may_refuse_the_token(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    token = issuer.token(scope=SCOPE, sub="ghost")
    with guard(validator, USER_FACTORY=lambda claims: None):
        drf = APIClient().get("/messages", headers=bearer(token))
        plain = Client().get("/plain/messages", headers=bearer(token))
    for response in (drf, plain):
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_user_factory_from_a_dotted_path(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    with guard(validator, USER_FACTORY="jwtguard.django.TokenUser"):
        response = Client().get("/any", headers=bearer(issuer.token(sub="carol")))
    assert response.json() == {"sub": "carol", "user": "TokenUser", "username": "carol"}


def test_a_raising_user_factory_is_rendered(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    def refuse(claims: Claims) -> Any:
        raise InvalidTokenError("invalid_claim", claim="sub")

    with guard(validator, USER_FACTORY=refuse):
        response = APIClient().get("/messages", headers=bearer(issuer.token(scope=SCOPE)))
    assert response.status_code == 401
    assert "error_description=" in response.headers["WWW-Authenticate"]


def test_optional_drf_view(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    with guard(validator):
        anonymous = APIClient().get("/drf/optional")
        known = APIClient().get("/drf/optional", headers=bearer(issuer.token(sub="dan")))
        bad = APIClient().get("/drf/optional", headers=bearer("not.a.jwt"))
    assert anonymous.json() == {"sub": None}
    assert known.json() == {"sub": "dan"}
    assert bad.status_code == 401


def test_token_has_scope_needs_required_scopes(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    with guard(validator), pytest.raises(ImproperlyConfigured, match="required_scopes"):
        APIClient().get("/drf/no-scopes", headers=bearer(issuer.token()))


# -- plain and async views -------------------------------------------------------------------


def test_require_token_sets_auth_and_user(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    with guard(validator):
        response = Client().get("/any", headers=bearer(issuer.token(sub="erin")))
        assert Client().get("/any").status_code == 401
    assert response.json() == {"sub": "erin", "user": "TokenUser", "username": "erin"}


def test_require_token_on_a_class_based_view(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    with guard(validator):
        created = Client().post("/cbv", headers=bearer(issuer.token(scope="write:messages", sub="kim")))
        denied = Client().post("/cbv", headers=bearer(issuer.token(scope=SCOPE)))
    assert (created.status_code, created.json()) == (201, {"by": "kim"})
    assert denied.status_code == 403
    assert 'scope="write:messages"' in denied.headers["WWW-Authenticate"]


def test_require_token_needs_parentheses() -> None:
    with pytest.raises(TypeError, match="scope strings"):
        require_token(whoami)  # type: ignore[arg-type]


def test_async_view_runs_a_custom_user_factory_off_the_event_loop(
    issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    seen: list[bool] = []

    def factory(claims: Claims) -> LocalUser:
        try:
            asyncio.get_running_loop()
            seen.append(True)
        except RuntimeError:
            seen.append(False)
        return LocalUser(claims["sub"])

    with guard(validator, USER_FACTORY=factory):
        response = asyncio.run(AsyncClient().get("/async/messages", headers=bearer(issuer.token(scope=SCOPE, sub="f"))))
    assert response.json() == {"sub": "f", "user": "local:f"}
    assert seen == [False]


# -- middleware --------------------------------------------------------------------------


def test_middleware_requires_a_token_except_on_excluded_paths(
    issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    with guard(validator, EXCLUDE_PATHS=["/health", "/drf/*"]), override_settings(MIDDLEWARE=MIDDLEWARE):
        missing = Client().get("/whoami")
        valid = Client().get("/whoami", headers=bearer(issuer.token(sub="gus")))
        bad = Client().get("/whoami", headers=bearer("not.a.jwt"))
        health = Client().get("/health")
        prefixed = Client().get("/drf/optional")
        preflight = Client().options(
            "/whoami", headers={"Access-Control-Request-Method": "GET", "Origin": "https://a.example"}
        )
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == BARE_CHALLENGE
    assert missing.json() == {"error": "missing_token", "error_description": "Bearer token required"}
    assert valid.json() == {"sub": "gus", "user": "gus"}
    assert bad.status_code == 401
    assert health.status_code == 200
    assert prefixed.json() == {"sub": None}
    assert preflight.status_code == 200


def test_exclude_paths_syntax(validator: jwtguard.Validator) -> None:
    with guard(validator, EXCLUDE_PATHS=["/health", "/docs/*"]):
        excluded = get_settings().is_excluded
        assert [excluded(p) for p in ("/health", "/docs", "/docs/a/b")] == [True, True, True]
        assert [excluded(p) for p in ("/healthz", "/health/x", "/docsx", "/docs/../admin")] == [False] * 4


@pytest.mark.parametrize("client", ["sync", "async"])
def test_middleware_optional_auth(client: str, issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    def get(path: str, headers: dict[str, str] | None = None) -> HttpResponse:
        if client == "async":
            path = {"/whoami": "/awhoami", "/plain/messages": "/async/messages"}[path]
            return asyncio.run(AsyncClient().get(path, headers=headers or {}))
        return Client().get(path, headers=headers or {})

    with guard(validator, TOKEN_REQUIRED=False), override_settings(MIDDLEWARE=MIDDLEWARE):
        anonymous = get("/whoami")
        valid = get("/whoami", bearer(issuer.token(sub="hal")))
        bad = get("/whoami", bearer(issuer.token(sub="hal", expires_in=-60)))
        malformed = get("/whoami", {"Authorization": "Bearer"})
        scoped = get("/plain/messages")  # a view that needs a token still answers 401
    assert anonymous.json() == {"sub": None, "user": "None"}
    assert valid.json() == {"sub": "hal", "user": "hal"}
    assert bad.status_code == 401
    assert "expired" in bad.headers["WWW-Authenticate"]
    assert malformed.status_code == 400
    assert scoped.status_code == 401


def test_middleware_optional_paths(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    with guard(validator, OPTIONAL_PATHS=["/whoami"]), override_settings(MIDDLEWARE=MIDDLEWARE):
        anonymous = Client().get("/whoami")
        valid = Client().get("/whoami", headers=bearer(issuer.token(sub="ian")))
        bad = Client().get("/whoami", headers=bearer("not.a.jwt"))
        required = Client().get("/any")
    assert anonymous.json() == {"sub": None, "user": "None"}
    assert valid.json() == {"sub": "ian", "user": "ian"}
    assert (bad.status_code, required.status_code) == (401, 401)
    assert required.json()["error"] == "missing_token"


class CountingValidator(jwtguard.Validator):
    calls = 0

    def validate(self, token: str) -> Claims:
        CountingValidator.calls += 1
        return super().validate(token)


def test_middleware_and_decorator_validate_once(issuer: LocalIssuer) -> None:
    counting = CountingValidator(issuer=issuer.issuer, audience=issuer.audience)
    CountingValidator.calls = 0
    with guard(counting), override_settings(MIDDLEWARE=MIDDLEWARE):
        plain = Client().get("/plain/messages", headers=bearer(issuer.token(scope=SCOPE, sub="ivy")))
        drf = APIClient().get("/messages", headers=bearer(issuer.token(scope=SCOPE, sub="ivy")))
    assert plain.json() == {"sub": "ivy"}
    assert drf.json() == {"sub": "ivy", "user": "ivy"}
    assert CountingValidator.calls == 2


def test_resource_metadata_is_served_and_advertised(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    meta = ProtectedResourceMetadata("https://api.example.test", [issuer.issuer], [SCOPE])
    with guard(validator, RESOURCE_METADATA=meta), override_settings(MIDDLEWARE=MIDDLEWARE):
        document = Client().get("/.well-known/oauth-protected-resource")
        plain = Client().get("/whoami")
        drf = APIClient().get("/messages", headers=bearer("not.a.jwt"))
    assert document.json()["authorization_servers"] == [issuer.issuer]
    advert = f'resource_metadata="{meta.url}"'
    assert advert in plain.headers["WWW-Authenticate"]
    assert advert in drf.headers["WWW-Authenticate"]


def test_failures_log_codes_never_tokens(
    issuer: LocalIssuer, validator: jwtguard.Validator, caplog: pytest.LogCaptureFixture
) -> None:
    token = issuer.token(scope=SCOPE, expires_in=-60)
    with guard(validator), caplog.at_level(logging.DEBUG, logger="jwtguard"):
        Client().get("/plain/messages", headers=bearer(token))
    assert "token_expired" in caplog.text
    assert token not in caplog.text
    assert token.split(".")[1] not in caplog.text


def test_an_auth_error_raised_by_a_view_is_answered(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    token = bearer(issuer.token(scope=SCOPE))
    with guard(validator):
        decorated = Client().get("/admin-only", headers=token)
    with guard(validator), override_settings(MIDDLEWARE=MIDDLEWARE):
        through_middleware = Client().get("/plain-admin-only", headers=token)
    for response in (decorated, through_middleware):
        assert response.status_code == 403
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
        assert 'scope="admin"' in response.headers["WWW-Authenticate"]


# -- DRF: an AuthError raised in a view, a permission or a viewset ----------------------------

# The errors whose constructor needs arguments; every other class is built bare.
_ARGUMENTS: dict[type, Callable[[], jwtguard.AuthError]] = {
    jwtguard.InsufficientScopeError: lambda: jwtguard.InsufficientScopeError(["admin"]),
    jwtguard.InsufficientRoleError: lambda: jwtguard.InsufficientRoleError(["admin"]),
    jwtguard.KeySetUnavailableError: lambda: jwtguard.KeySetUnavailableError(retry_after=7),
    jwtguard.ServiceUnavailableError: lambda: jwtguard.ServiceUnavailableError(retry_after=7),
    jwtguard.UseDPoPNonceError: lambda: jwtguard.UseDPoPNonceError("a-server-nonce"),
    jwtguard.InsufficientUserAuthenticationError: lambda: jwtguard.InsufficientUserAuthenticationError(["mfa"], 300),
}
AUTH_ERRORS: dict[str, Callable[[], jwtguard.AuthError]] = {
    cls.__name__: _ARGUMENTS.get(cls, cls)
    for cls in vars(jwtguard.errors).values()
    if isinstance(cls, type) and issubclass(cls, jwtguard.AuthError) and cls is not jwtguard.AuthError
}
# What the views do: raise one error of each class, or call the validator as users do.
RAISED = {**AUTH_ERRORS, "require_scopes": lambda: jwtguard.InsufficientScopeError(["admin"])}


def fail(request: Request, name: str) -> Response:
    if name == "require_scopes":
        get_validator().require_scopes(request.auth, "admin")
    else:
        raise RAISED[name]()
    return Response({})


class RaisingView(APIView):
    permission_classes = (AllowAny,)

    def get(self, request: Request, name: str) -> Response:
        return fail(request, name)


class SessionFirstRaisingView(RaisingView):
    authentication_classes = (SessionAuthentication, JWTAuthentication)


@api_view(["GET"])
def raising_function(request: Request, name: str) -> Response:
    return fail(request, name)


class RaisingViewSet(ViewSet):
    permission_classes = (AllowAny,)

    def list(self, request: Request, name: str) -> Response:
        return fail(request, name)


class AdminScope(BasePermission):
    """A user's own permission class, calling the validator."""

    def has_permission(self, request: Request, view: Any) -> bool:
        get_validator().require_scopes(request.auth, "admin")
        return True


class AdminView(APIView):
    permission_classes = (AdminScope,)

    def get(self, request: Request) -> Response:
        return Response({})


class SessionFirstAdminView(AdminView):
    authentication_classes = (SessionAuthentication, JWTAuthentication)


class BasicOnlyRaisingView(RaisingView):
    authentication_classes = (StaticBasicAuthentication,)  # JWTAuthentication never runs


urls.urlpatterns += [  # type: ignore[attr-defined]
    path("drf/raise/view/<str:name>", RaisingView.as_view()),
    path("drf/raise/session-first/<str:name>", SessionFirstRaisingView.as_view()),
    path("drf/raise/function/<str:name>", raising_function),
    path("drf/raise/viewset/<str:name>", RaisingViewSet.as_view({"get": "list"})),
    path("drf/raise/basic-only/<str:name>", BasicOnlyRaisingView.as_view()),
    path("drf/admin", AdminView.as_view()),
    path("drf/admin/session-first", SessionFirstAdminView.as_view()),
]


def assert_drf_answer(response: HttpResponse, error: jwtguard.AuthError) -> None:
    """The contract's status and headers for ``error``; DRF's ``{"detail"}`` body (the contract one for a 503)."""
    expected = get_settings().guard.answer(error)  # the challenge names every scheme the validator accepts
    names = ("WWW-Authenticate", "Retry-After", "DPoP-Nonce")
    headers = {name: value for name, value in expected.headers if name in names}
    assert response.status_code == expected.status, (response.status_code, response.content)
    assert {name: response.headers.get(name) for name in names} == {name: headers.get(name) for name in names}
    if expected.status == 503:
        assert response.json() == error.body()
    else:
        assert response.json() == {"detail": error.description}


def test_every_auth_error_class_is_raised_by_the_views() -> None:
    assert set(AUTH_ERRORS) == {
        "ExpiredTokenError",
        "InsufficientRoleError",
        "InsufficientScopeError",
        "InsufficientUserAuthenticationError",
        "InvalidDPoPProofError",
        "InvalidRequestError",
        "InvalidTokenError",
        "KeySetUnavailableError",
        "MissingTokenError",
        "ServiceUnavailableError",
        "UseDPoPNonceError",
    }


@pytest.mark.parametrize("kind", ["view", "function", "viewset", "session-first"])
@pytest.mark.parametrize("name", RAISED)
def test_an_auth_error_raised_in_a_drf_view_is_answered(
    kind: str, name: str, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    with guard(validator):
        response = APIClient().get(f"/drf/raise/{kind}/{name}", headers=bearer(issuer.token(scope=SCOPE)))
    assert_drf_answer(response, RAISED[name]())


@pytest.mark.parametrize("kind", ["view", "function", "viewset", "session-first"])
@pytest.mark.parametrize("name", ["MissingTokenError", "InsufficientScopeError"])
def test_an_auth_error_raised_in_a_drf_view_without_a_token_is_answered(
    kind: str, name: str, validator: jwtguard.Validator
) -> None:
    with guard(validator):
        response = APIClient().get(f"/drf/raise/{kind}/{name}")
    assert_drf_answer(response, RAISED[name]())


@pytest.mark.parametrize("path", ["/drf/admin", "/drf/admin/session-first"])
def test_an_auth_error_raised_by_a_permission_class_is_answered(
    path: str, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    with guard(validator):
        denied = APIClient().get(path, headers=bearer(issuer.token(scope=SCOPE)))
        allowed = APIClient().get(path, headers=bearer(issuer.token(scope="admin")))
    assert_drf_answer(denied, jwtguard.InsufficientScopeError(["admin"]))
    assert allowed.status_code == 200


def test_exception_handler_setting_covers_views_jwtauthentication_never_saw(validator: jwtguard.Validator) -> None:
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    with guard(validator), pytest.raises(jwtguard.InsufficientScopeError):
        APIClient().get("/drf/raise/basic-only/InsufficientScopeError", headers=basic)  # DRF: a 500
    handled = {**REST_FRAMEWORK, "EXCEPTION_HANDLER": "jwtguard.django.exception_handler"}
    with guard(validator), override_settings(REST_FRAMEWORK=handled):
        for name, make in AUTH_ERRORS.items():
            assert_drf_answer(APIClient().get(f"/drf/raise/basic-only/{name}", headers=basic), make())
        assert exception_handler(ValueError(), {}) is None  # DRF's default for anything else


def test_a_custom_exception_handler_sees_drf_exceptions(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    seen.clear()
    custom = {**REST_FRAMEWORK, "EXCEPTION_HANDLER": f"{__name__}.recording_handler"}
    with guard(validator), override_settings(REST_FRAMEWORK=custom):
        response = APIClient().get("/drf/raise/view/require_scopes", headers=bearer(issuer.token(scope=SCOPE)))
    assert response.status_code == 403
    assert seen == [TokenScopeDenied]


seen: list[type[Exception]] = []


def recording_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    seen.append(type(exc))
    return drf_exception_handler(exc, context)


# -- DRF: a bearer failure keeps its answer wherever JWTAuthentication is listed --------------


class OrderedView(APIView):
    permission_classes = (TokenHasScope,)
    required_scopes = (SCOPE,)

    def get(self, request: Request) -> Response:
        return Response({"sub": request.auth["sub"]})


ORDERS: dict[str, tuple[type[BaseAuthentication], ...]] = {
    "basic-first": (BasicAuthentication, JWTAuthentication),
    "session-first": (SessionAuthentication, JWTAuthentication),
    "jwt-first": (JWTAuthentication, BasicAuthentication, SessionAuthentication),
}
urls.urlpatterns += [  # type: ignore[attr-defined]
    path(f"drf/order/{order}", type(f"View_{order}", (OrderedView,), {"authentication_classes": classes}).as_view())
    for order, classes in ORDERS.items()
]

# Without bearer credentials DRF decides, from the first authenticator: its challenge, or a 403 without one.
DRF_NORMAL = {
    "basic-first": (401, f'Basic realm="{REALM}"'),
    "session-first": (403, None),
    "jwt-first": (401, BARE_CHALLENGE),
}

BEARER_FAILURES: dict[str, tuple[Callable[[LocalIssuer], dict[str, str]], jwtguard.AuthError]] = {
    "bad_token": (lambda i: bearer("not.a.jwt"), InvalidTokenError("malformed_token")),
    "expired": (lambda i: bearer(i.token(scope=SCOPE, expires_in=-60)), jwtguard.ExpiredTokenError()),
    "wrong_audience": (
        lambda i: bearer(i.token(scope=SCOPE, aud="https://other.example")),
        InvalidTokenError("audience_mismatch"),
    ),
    "malformed_header": (
        lambda i: {"Authorization": "Bearer a b"},
        jwtguard.InvalidRequestError("malformed_authorization"),
    ),
    "missing_scope": (lambda i: bearer(i.token(scope="other")), jwtguard.InsufficientScopeError([SCOPE])),
}


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("failure", BEARER_FAILURES)
def test_a_bearer_failure_gets_its_own_answer_wherever_jwtauthentication_is_listed(
    order: str, failure: str, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    headers, error = BEARER_FAILURES[failure]
    with guard(validator):
        response = APIClient().get(f"/drf/order/{order}", headers=headers(issuer))
    assert_drf_answer(response, error)


@pytest.mark.parametrize("order", ORDERS)
def test_keys_down_is_503_wherever_jwtauthentication_is_listed(
    order: str, issuer: LocalIssuer, down_validator: jwtguard.Validator
) -> None:
    with guard(down_validator):
        response = APIClient().get(f"/drf/order/{order}", headers=bearer(issuer.token(scope=SCOPE)))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize("order", ORDERS)
def test_a_valid_token_passes_wherever_jwtauthentication_is_listed(
    order: str, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    with guard(validator):
        response = APIClient().get(f"/drf/order/{order}", headers=bearer(issuer.token(scope=SCOPE, sub="ola")))
    assert (response.status_code, response.json()) == (200, {"sub": "ola"})


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic !!!"}], ids=["no_token", "bad_basic"])
def test_without_a_bearer_token_drf_answers_as_usual(
    order: str, headers: dict[str, str], validator: jwtguard.Validator
) -> None:
    if order == "session-first" and headers:
        headers = {}  # no Basic authenticator there: the same as no credentials
    with guard(validator):
        response = APIClient().get(f"/drf/order/{order}", headers=headers)
    assert (response.status_code, response.headers.get("WWW-Authenticate")) == DRF_NORMAL[order]
    assert set(response.json()) == {"detail"}


def test_drf_cannot_rewrite_the_status_or_challenge_of_a_bearer_failure(validator: jwtguard.Validator) -> None:
    with guard(validator):
        exception = TokenAuthenticationFailed(jwtguard.ExpiredTokenError())
    exception.auth_header = 'Basic realm="api"'  # what APIView.handle_exception does with another first authenticator
    exception.status_code = 403
    assert exception.status_code == 401
    assert exception.auth_header.startswith(f'Bearer realm="{REALM}", error="invalid_token"')


# -- the second shared table: DPoP, any-of, roles, step-up ------------------------------------
#
# One URLconf per kind of view, each with the table's paths, so a DPoP proof names
# http://testserver + the table's path whichever kind answers.


def sub_of(request: Any) -> dict[str, Any]:
    return {"sub": request.auth["sub"]}


@require_token(SCOPE)
def plain_policy_messages(request: HttpRequest) -> JsonResponse:
    return JsonResponse(sub_of(request))


@require_token(SCOPE, "admin", any_of=True)
def plain_any_of(request: HttpRequest) -> JsonResponse:
    return JsonResponse(sub_of(request))


@require_token(roles=["admin"])
def plain_roles(request: HttpRequest) -> JsonResponse:
    return JsonResponse(sub_of(request))


@require_token(acr_values=["mfa"], max_age=300)
async def async_step_up(request: HttpRequest) -> JsonResponse:
    return JsonResponse(sub_of(request))


@require_token(acr_values=["mfa"], max_age=300)
def plain_step_up(request: HttpRequest) -> JsonResponse:
    return JsonResponse(sub_of(request))


@require_token(SCOPE)
async def async_policy_messages(request: HttpRequest) -> JsonResponse:
    return JsonResponse(sub_of(request))


class DRFMessages(APIView):
    permission_classes = (TokenHasScope,)
    required_scopes = (SCOPE,)

    def get(self, request: Request) -> Response:
        return Response(sub_of(request))


class DRFAnyOf(DRFMessages):
    required_scopes = (SCOPE, "admin")
    required_scopes_any_of = True


class DRFRoles(DRFMessages):
    permission_classes = (TokenHasRole,)
    required_roles = ("admin",)


class DRFStepUp(DRFMessages):
    permission_classes = (TokenHasUserAuthentication,)
    required_acr_values = ("mfa",)
    required_auth_max_age = 300


def policy_urls(name: str, views: dict[str, Any]) -> types.ModuleType:
    module = types.ModuleType(f"test_django_policy_{name}")
    module.urlpatterns = [path(route, view) for route, view in views.items()]  # type: ignore[attr-defined]
    return module


POLICY_URLS = {
    "drf": policy_urls(
        "drf",
        {
            "messages": DRFMessages.as_view(),
            "any-of": DRFAnyOf.as_view(),
            "roles": DRFRoles.as_view(),
            "step-up": DRFStepUp.as_view(),
        },
    ),
    "plain": policy_urls(
        "plain",
        {"messages": plain_policy_messages, "any-of": plain_any_of, "roles": plain_roles, "step-up": plain_step_up},
    ),
    "async": policy_urls(
        "async",
        {"messages": async_policy_messages, "any-of": plain_any_of, "roles": plain_roles, "step-up": async_step_up},
    ),
}


def policy_client(kind: str) -> Callable[[str, str, list[tuple[str, str]]], Result]:
    def call(method: str, path: str, headers: list[tuple[str, str]]) -> Result:
        with override_settings(ROOT_URLCONF=POLICY_URLS["plain" if kind == "middleware" else kind]):
            if kind == "drf":
                return _result(APIClient().generic(method, path, headers=_joined(headers)))
            if kind == "async":
                return _result(asyncio.run(AsyncClient().generic(method, path, headers=_joined(headers))))
            with override_settings(MIDDLEWARE=MIDDLEWARE if kind == "middleware" else []):
                return _result(Client().generic(method, path, headers=_joined(headers)))

    return call


@pytest.mark.parametrize("kind", ["drf", "plain", "async", "middleware"])
@pytest.mark.parametrize("scenario", POLICY_SCENARIOS, ids=lambda s: s.name)
def test_policy_scenario(
    kind: str, scenario: PolicyScenario, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    with guard(validator):
        run_policy_scenario(scenario, policy_client(kind), issuer, "http://testserver", own_body=kind == "drf")


def dpop_headers(issuer: LocalIssuer, url: str) -> dict[str, str]:
    key = DPoPKey.generate(clock=issuer.clock)
    token = issuer.token(scope=SCOPE, sub="user-42", cnf=key.cnf)
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", url, token)}


@pytest.mark.parametrize("kind", ["drf", "plain"])
def test_public_url_is_the_url_a_dpop_proof_names(
    kind: str, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    public = "https://api.example.com/v1"
    client = policy_client(kind)
    with guard(validator, PUBLIC_URL=public):
        ok = client("GET", "/messages", list(dpop_headers(issuer, public + "/messages").items()))
        internal = client("GET", "/messages", list(dpop_headers(issuer, "http://testserver/messages").items()))
    assert (ok.status, ok.json()["sub"]) == (200, "user-42")
    assert internal.status == 401
    assert 'error="invalid_dpop_proof"' in internal.headers["www-authenticate"]


@pytest.mark.parametrize("kind", ["drf", "plain"])
def test_forwarded_headers_count_only_from_trusted_proxies(
    kind: str, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    public = "https://api.example.com/messages"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"}
    client = APIClient() if kind == "drf" else Client()

    def get(**extra: Any) -> HttpResponse:
        with override_settings(ROOT_URLCONF=POLICY_URLS[kind]):
            return client.get("/messages", headers={**dpop_headers(issuer, public), **forwarded}, **extra)

    with guard(validator, TRUSTED_PROXIES=["127.0.0.1"]):
        trusted = get()
        stranger = get(REMOTE_ADDR="192.0.2.7")  # its headers are the client's own words
    with guard(validator):
        default = get()  # trusting nobody, the default
    assert [trusted.status_code, stranger.status_code, default.status_code] == [200, 401, 401]


def self_signed(name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
    builder = builder.serial_number(x509.random_serial_number()).not_valid_before(now)
    return builder.not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())


CLIENT_CERT = self_signed("client")
CLIENT_PEM = CLIENT_CERT.public_bytes(Encoding.PEM).decode()


@pytest.mark.parametrize("kind", ["drf", "plain"])
def test_certificate_bound_tokens_through_the_server_or_a_trusted_proxy(
    kind: str, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    bound = bearer(issuer.token(scope=SCOPE, sub="user-42", cnf={"x5t#S256": certificate_thumbprint(CLIENT_CERT)}))
    nginx = {"X-SSL-Client-Cert": quote(CLIENT_PEM)}
    other = {"X-SSL-Client-Cert": quote(self_signed("other").public_bytes(Encoding.PEM).decode())}
    client = APIClient() if kind == "drf" else Client()

    def get(headers: dict[str, str], **extra: Any) -> int:
        with override_settings(ROOT_URLCONF=POLICY_URLS[kind]):
            return client.get("/messages", headers=headers, **extra).status_code

    with guard(validator, TRUSTED_PROXIES=["127.0.0.0/8"], CLIENT_CERT_HEADER="X-SSL-Client-Cert"):
        assert get(bound, SSL_CLIENT_CERT=CLIENT_PEM) == 200  # the server's own TLS layer (mod_wsgi …)
        assert get({**bound, **nginx}) == 200
        assert get({**bound, **other}) == 401
        assert get(bound) == 401  # no certificate at all
        assert get({**bound, **nginx}, REMOTE_ADDR="192.0.2.7") == 401  # not from a trusted proxy
    with guard(validator):
        assert get({**bound, **nginx}) == 401  # no CLIENT_CERT_HEADER: the header means nothing


class TLSAsyncClient(AsyncClient):
    """An ASGI server that terminated TLS with a client certificate (the ``tls`` extension)."""

    def _base_scope(self, **request: Any) -> dict[str, Any]:
        scope: dict[str, Any] = super()._base_scope(**request)
        scope["extensions"] = {"tls": {"client_cert_chain": [CLIENT_PEM]}}
        return scope


def test_the_asgi_tls_extension_gives_the_certificate(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    bound = bearer(issuer.token(scope=SCOPE, sub="user-42", cnf={"x5t#S256": certificate_thumbprint(CLIENT_CERT)}))
    with guard(validator), override_settings(ROOT_URLCONF=POLICY_URLS["async"]):
        with_cert = asyncio.run(TLSAsyncClient().get("/messages", headers=bound))
        without = asyncio.run(AsyncClient().get("/messages", headers=bound))
    assert (with_cert.status_code, without.status_code) == (200, 401)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"PUBLIC_URL": "ftp://api.example.com"}, "public_url"),
        ({"TRUSTED_PROXIES": ["not an address"]}, "trusted_proxies"),
        ({"CLIENT_CERT_HEADER": "Client-Cert"}, "client_cert_header needs trusted_proxies"),
        ({"PUBLC_URL": "https://api.example.com"}, "did you mean 'PUBLIC_URL'"),
    ],
)
def test_bad_origin_settings_fail_at_start_up(
    validator: jwtguard.Validator, options: dict[str, Any], message: str
) -> None:
    with guard(validator, **options):
        with pytest.raises(ConfigurationError, match=message):
            get_settings()
        with pytest.raises(SystemCheckError, match=r"jwtguard\.E001"):
            call_command("check")


@pytest.mark.parametrize("kind", ["drf", "plain"])
def test_a_host_outside_allowed_hosts_is_still_a_400(
    kind: str, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    client = APIClient() if kind == "drf" else Client()
    with guard(validator), override_settings(ROOT_URLCONF=POLICY_URLS[kind]):
        response = client.get("/messages", headers=bearer(issuer.token(scope=SCOPE)), HTTP_HOST="evil.example")
    assert response.status_code == 400


def test_role_and_step_up_refusals_reach_the_hooks(issuer: LocalIssuer) -> None:
    hooks = RecordingHooks()
    weak = bearer(issuer.token(acr="pwd", auth_time=int(issuer.clock())))
    with override_settings(JWTGUARD={"VALIDATOR": issuer.validator(hooks=hooks), "REALM": REALM}):
        for kind in ("plain", "drf"):
            with override_settings(ROOT_URLCONF=POLICY_URLS[kind]):
                client = APIClient() if kind == "drf" else Client()
                assert client.get("/roles", headers=bearer(issuer.token(roles=["reader"]))).status_code == 403
                assert client.get("/step-up", headers=weak).status_code == 401
    assert hooks.rejected == ["insufficient_role", "insufficient_user_authentication"] * 2


class SessionFirstStepUp(DRFStepUp):
    authentication_classes = (SessionAuthentication, JWTAuthentication)


urls.urlpatterns += [path("drf/step-up/session-first", SessionFirstStepUp.as_view())]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("path", "anonymous_status"), [("/step-up", 401), ("/drf/step-up/session-first", 403)])
def test_drf_step_up_is_a_401_with_the_rfc_9470_challenge(
    path: str, anonymous_status: int, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    weak = bearer(issuer.token(acr="pwd", auth_time=int(issuer.clock())))
    # SessionAuthentication first: DRF would turn any other 401 into a 403 without a challenge.
    urlconf = POLICY_URLS["drf"] if path == "/step-up" else urls
    with guard(validator), override_settings(ROOT_URLCONF=urlconf):
        response = APIClient().get(path, headers=weak)
        anonymous = APIClient().get(path)
    assert_drf_answer(response, jwtguard.InsufficientUserAuthenticationError(["mfa"], 300))
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{REALM}", error="insufficient_user_authentication"')
    assert 'acr_values="mfa", max_age="300"' in challenge
    assert response.json() == {"detail": jwtguard.InsufficientUserAuthenticationError().description}
    assert anonymous.status_code == anonymous_status  # DRF's own answer, from the first authenticator


class DRFRolesAnyOf(DRFRoles):
    required_roles = ("editor", "admin")
    required_roles_any_of = True


class DRFRecentOnly(DRFMessages):
    permission_classes = (TokenHasUserAuthentication,)
    required_auth_max_age = 60


class DRFNoRoles(DRFMessages):
    permission_classes = (TokenHasRole,)


class DRFNoStepUp(DRFMessages):
    permission_classes = (TokenHasUserAuthentication,)


class DRFBadRole(DRFRoles):
    required_roles = ("",)


urls.urlpatterns += [  # type: ignore[attr-defined]
    path("drf/roles-any-of", DRFRolesAnyOf.as_view()),
    path("drf/recent-only", DRFRecentOnly.as_view()),
    path("drf/no-roles", DRFNoRoles.as_view()),
    path("drf/no-step-up", DRFNoStepUp.as_view()),
    path("drf/bad-role", DRFBadRole.as_view()),
]


def test_drf_roles_any_of_and_max_age_alone(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    now = int(issuer.clock())
    with guard(validator):
        editor = APIClient().get("/drf/roles-any-of", headers=bearer(issuer.token(roles=["editor"], sub="e")))
        reader = APIClient().get("/drf/roles-any-of", headers=bearer(issuer.token(roles=["reader"])))
        recent = APIClient().get("/drf/recent-only", headers=bearer(issuer.token(auth_time=now - 10, sub="r")))
        stale = APIClient().get("/drf/recent-only", headers=bearer(issuer.token(auth_time=now - 600)))
    assert (editor.json(), recent.json()) == ({"sub": "e"}, {"sub": "r"})
    assert reader.status_code == 403
    assert 'error="insufficient_scope"' in reader.headers["WWW-Authenticate"]
    assert stale.status_code == 401
    assert 'max_age="60"' in stale.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        ("/drf/no-roles", ImproperlyConfigured, "required_roles"),
        ("/drf/no-step-up", ImproperlyConfigured, "required_acr_values or required_auth_max_age"),
        ("/drf/bad-role", ConfigurationError, "roles"),
    ],
)
def test_drf_permissions_refuse_a_misconfigured_view(
    path: str, error: type[Exception], message: str, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    with guard(validator), pytest.raises(error, match=message):
        APIClient().get(path, headers=bearer(issuer.token()))


def test_a_bad_requirement_fails_at_decoration() -> None:
    for options in ({"roles": [""]}, {"acr_values": [""]}, {"max_age": -1}, {"roles_any_of": True}):
        with pytest.raises(ConfigurationError):
            require_token(**options)


# -- DRF: a view that never validates bearer tokens is a programming error --------------------


class SessionOnlyScopeView(DRFMessages):
    authentication_classes = (SessionAuthentication,)


class NoAuthenticatorsRoleView(DRFRoles):
    authentication_classes = ()


class SessionOnlyStepUpView(DRFStepUp):
    authentication_classes = (StaticBasicAuthentication, SessionAuthentication)


class MappedStepUpView(DRFStepUp):
    authentication_classes = (MappingAuthentication,)  # a subclass of JWTAuthentication counts


urls.urlpatterns += [  # type: ignore[attr-defined]
    path("drf/hint/scope", SessionOnlyScopeView.as_view()),
    path("drf/hint/role", NoAuthenticatorsRoleView.as_view()),
    path("drf/hint/step-up", SessionOnlyStepUpView.as_view()),
    path("drf/hint/mapped", MappedStepUpView.as_view()),
]


@pytest.mark.parametrize(
    ("path", "permission"),
    [
        ("/drf/hint/scope", "TokenHasScope"),
        ("/drf/hint/role", "TokenHasRole"),
        ("/drf/hint/step-up", "TokenHasUserAuthentication"),
    ],
)
@pytest.mark.parametrize("scheme", ["Bearer", "DPoP", "bearer"])
def test_a_bearer_request_to_a_view_without_jwtauthentication_is_improperly_configured(
    path: str, permission: str, scheme: str, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    headers = {"Authorization": f"{scheme} {issuer.token(scope=SCOPE)}"}
    with guard(validator), pytest.raises(ImproperlyConfigured, match=f"uses {permission}, .*JWTAuthentication"):
        APIClient().get(path, headers=headers)


@pytest.mark.parametrize("path", ["/drf/hint/scope", "/drf/hint/role", "/drf/hint/step-up"])
def test_without_bearer_credentials_such_a_view_answers_as_drf_does(path: str, validator: jwtguard.Validator) -> None:
    with guard(validator):
        anonymous = APIClient().get(path)
        basic = APIClient().get(path, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert anonymous.status_code in (401, 403)  # DRF's "not provided", from the first authenticator
    assert basic.status_code in (401, 403)  # another authenticator's user: no claims, denied
    assert set(anonymous.json()) == set(basic.json()) == {"detail"}


def test_a_subclass_of_jwtauthentication_counts(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    token = issuer.token(acr="mfa", auth_time=int(issuer.clock()), sub="m")
    with guard(validator):
        response = APIClient().get("/drf/hint/mapped", headers=bearer(token))
    assert response.json() == {"sub": "m"}


class RequirementStepUpView(DRFMessages):
    required_scopes = Requirement.of([SCOPE], roles=["teller"], acr_values=["mfa"], max_age=300)  # type: ignore[assignment]


urls.urlpatterns += [path("drf/requirement/step-up", RequirementStepUpView.as_view())]  # type: ignore[attr-defined]


def test_token_has_scope_takes_a_whole_requirement(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    now = int(issuer.clock())

    def get(**claims: Any) -> HttpResponse:
        token = issuer.token(scope=SCOPE, sub="t", **claims)
        return APIClient().get("/drf/requirement/step-up", headers=bearer(token))

    with guard(validator):
        ok = get(roles=["teller"], acr="mfa", auth_time=now)
        no_role = get(acr="mfa", auth_time=now)
        weak = get(roles=["teller"], acr="pwd", auth_time=now)
    assert ok.json() == {"sub": "t"}
    assert no_role.status_code == 403
    assert weak.status_code == 401
    assert 'error="insufficient_user_authentication"' in weak.headers["WWW-Authenticate"]


@pytest.mark.parametrize("path", ["/transfers", "/plain/transfers"])
def test_the_example_shows_step_up(path: str, issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    now = int(issuer.clock())
    client = APIClient() if path == "/transfers" else Client()
    with guard(validator):
        strong = client.post(path, headers=bearer(issuer.token(scope="write:transfers", acr="mfa", auth_time=now)))
        weak = client.post(path, headers=bearer(issuer.token(scope="write:transfers", acr="pwd", auth_time=now)))
    assert strong.status_code == 201
    assert weak.status_code == 401
    assert 'acr_values="mfa", max_age="300"' in weak.headers["WWW-Authenticate"]


def test_the_example_shows_roles(issuer: LocalIssuer, validator: jwtguard.Validator) -> None:
    with guard(validator):
        admin = APIClient().get("/admin", headers=bearer(issuer.token(sub="a", roles=["admin"])))
        reader = APIClient().get("/admin", headers=bearer(issuer.token(roles=["reader"])))
    assert admin.json() == {"sub": "a", "roles": ["admin"]}
    assert reader.status_code == 403
