"""Every adapter reports the same events to the hooks for the same requests: one policy, one set of metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import load_example

import jwtguard
from jwtguard.hooks import Hooks
from jwtguard.testing import LocalIssuer

django_example = load_example("django_app")  # configures Django once

import warnings  # noqa: E402

from django.test import Client as DjangoClient  # noqa: E402
from django.test import override_settings  # noqa: E402
from starlette.exceptions import StarletteDeprecationWarning  # noqa: E402
from werkzeug.test import Client as WerkzeugClient  # noqa: E402

with warnings.catch_warnings():
    # Starlette >= 1.x prefers httpx2 for its test client and warns when it runs on httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from jwtguard.wsgi import JWTGuardMiddleware as WsgiGuard  # noqa: E402


class Recorder(Hooks):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_validated(self, claims: jwtguard.Claims, *, cached: bool) -> None:
        self.events.append("validated")

    def on_rejected(self, error: jwtguard.AuthError) -> None:
        self.events.append(error.code)


#: name -> (headers of the request to /messages, which needs read:messages)
REQUESTS: list[tuple[str, Callable[[LocalIssuer], dict[str, str]]]] = [
    ("no token", lambda i: {}),
    ("malformed header", lambda i: {"Authorization": "Bearer"}),
    ("garbage token", lambda i: {"Authorization": "Bearer a.b.c"}),
    ("expired", lambda i: {"Authorization": f"Bearer {i.token(scope='read:messages', expires_in=-3600)}"}),
    ("missing scope", lambda i: {"Authorization": f"Bearer {i.token(scope='write:messages')}"}),
    ("valid", lambda i: {"Authorization": f"Bearer {i.token(scope='read:messages', sub='user-42')}"}),
]
EXPECTED = [
    "missing_token",
    "malformed_authorization",
    "malformed_token",
    "token_expired",
    "validated",
    "insufficient_scope",
    "validated",
]


def _wsgi_app(validator: jwtguard.Validator) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        validator.require_scopes(environ["jwtguard.claims"], "read:messages")
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    return WsgiGuard(app, validator=validator, realm="api")


def _get(adapter: str, validator: jwtguard.Validator) -> Callable[[dict[str, str]], int]:
    if adapter == "starlette":
        client = TestClient(load_example("starlette_app").create_app(validator))
        return lambda headers: client.get("/messages", headers=headers).status_code
    if adapter == "fastapi":
        fast = TestClient(load_example("fastapi_app").create_app(validator))
        return lambda headers: fast.get("/messages", headers=headers).status_code
    if adapter == "flask":
        flask = load_example("flask_app").create_app(validator).test_client()
        return lambda headers: flask.get("/messages", headers=headers).status_code
    if adapter == "wsgi":
        wsgi = WerkzeugClient(_wsgi_app(validator))
        return lambda headers: wsgi.get("/messages", headers=headers).status_code
    path = "/messages" if adapter == "drf" else "/plain/messages"
    django = DjangoClient()

    def call(headers: dict[str, str]) -> int:
        with override_settings(JWTGUARD={"VALIDATOR": validator, "REALM": "api"}):
            return django.get(path, headers=headers).status_code

    return call


@pytest.mark.parametrize("adapter", ["starlette", "fastapi", "wsgi", "flask", "django", "drf"])
def test_every_adapter_reports_the_same_events(issuer: LocalIssuer, adapter: str) -> None:
    hooks = Recorder()
    get = _get(adapter, issuer.validator(hooks=hooks))
    statuses = [get(headers(issuer)) for _, headers in REQUESTS]
    assert statuses == [401, 400, 401, 401, 403, 200]
    assert hooks.events == EXPECTED
