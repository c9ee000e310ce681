"""Run ``provider.mjs`` (panva's oidc-provider) on 127.0.0.1 and talk OAuth 2.0 to it over HTTP.

Used by ``test_interop.py``. The provider is a Node.js subprocess on a free port;
:func:`running_provider` starts it, waits until its discovery document answers,
and stops it by its process id however the block ends.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from jwtguard.testing import DPoPKey

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent.parent / "examples"

API = "https://api.example.test"
OTHER_API = "https://other.example.test"
SHORT_API = "https://short.example.test"
ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
#: The client_credentials client whose tokens are signed with each algorithm.
CLIENT_FOR = {alg: f"cc-{alg.lower()}" for alg in ALGORITHMS}
WEB_APP = "web-app"
REDIRECT_URI = "http://127.0.0.1/callback"
TEST_USER = "test-user"
STARTUP_TIMEOUT = 20.0


def in_ci() -> bool:
    """Whether this is a CI run (``CI`` set to anything but empty, ``0`` or ``false``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def require_node() -> str:
    """The ``node`` executable; skip the test without Node.js, except in CI where that is a failure."""
    node = shutil.which("node")
    if node is None:
        problem = "Node.js (node) is not installed"
    elif not (HERE / "node_modules" / "oidc-provider").is_dir():
        problem = "tests/interop/node_modules is missing: run `bash scripts/interop-setup`"
    else:
        return node
    if in_ci():
        pytest.fail(f"interop tests must run in CI: {problem}", pytrace=False)
    pytest.skip(f"interop tests need the oidc-provider server: {problem}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Provider:
    """A running ``provider.mjs``: its issuer URL and helpers for its endpoints."""

    process: subprocess.Popen[bytes]
    port: int
    http: httpx.Client = field(repr=False)

    @property
    def issuer(self) -> str:
        """The issuer identifier, exactly as the provider writes ``iss`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/token"

    # -- tokens --------------------------------------------------------------------

    def client_credentials(
        self, client_id: str, *, scope: str = "read:messages", resource: str = API, dpop: DPoPKey | None = None
    ) -> str:
        """An access token for ``client_id`` (secret ``<client_id>-secret``), from ``POST /token``.

        With ``dpop``, the request carries a DPoP proof made with that key, and the
        token the provider issues is bound to it (``cnf.jkt``, ``token_type`` DPoP).
        """
        proof = dpop.proof("POST", self.token_endpoint) if dpop is not None else None
        response = self.token_request(client_id, scope=scope, resource=resource, dpop_proof=proof)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == ("DPoP" if dpop is not None else "Bearer")
        return str(body["access_token"])

    def token_request(
        self, client_id: str, *, scope: str = "read:messages", resource: str = API, dpop_proof: str | None = None
    ) -> httpx.Response:
        """``POST /token`` with ``grant_type=client_credentials``, and a ``DPoP`` header if ``dpop_proof``."""
        return self.http.post(
            self.token_endpoint,
            auth=(client_id, f"{client_id}-secret"),
            headers={"DPoP": dpop_proof} if dpop_proof is not None else None,
            data={"grant_type": "client_credentials", "scope": scope, "resource": resource},
        )

    def login(self, *, scope: str = "openid offline_access read:messages", resource: str = API) -> dict[str, Any]:
        """Run the authorization code flow (PKCE) for ``web-app`` and the test user; return the token response.

        The provider's ``/interaction/:uid`` route logs the test user in and
        grants the request with no page; everything else is oidc-provider's
        own authorization and token endpoints, cookies and redirects.
        """
        verifier = secrets.token_urlsafe(48)
        state = secrets.token_urlsafe(16)
        params = {
            "client_id": WEB_APP,
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "resource": resource,
            "prompt": "consent",  # OIDC Core §11: offline_access needs consent
            "state": state,
            "code_challenge": _b64url(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
        }
        with httpx.Client(trust_env=False, timeout=10) as browser:  # its own cookie jar
            response = browser.get(self.issuer + "/auth", params=params)
            for _ in range(10):
                location = response.headers.get("location")
                assert response.is_redirect, response.text
                assert location is not None
                if location.startswith(REDIRECT_URI):
                    break
                response = browser.get(urljoin(str(response.url), location))
            else:
                raise AssertionError("the authorization flow did not reach the redirect URI")
        query = parse_qs(urlsplit(location).query)
        assert query["state"] == [state]
        assert query["iss"] == [self.issuer]  # RFC 9207
        response = self.http.post(
            self.token_endpoint,
            auth=(WEB_APP, f"{WEB_APP}-secret"),
            data={
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
                "resource": resource,
            },
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def refresh(self, refresh_token: str) -> httpx.Response:
        """``POST /token`` with ``grant_type=refresh_token`` for ``web-app``."""
        return self.http.post(
            self.token_endpoint,
            auth=(WEB_APP, f"{WEB_APP}-secret"),
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        )

    # -- admin hooks of provider.mjs ---------------------------------------------------

    def rotate_keys(self) -> dict[str, Any]:
        """Publish a new key per algorithm and sign with it; the old keys stay published."""
        return self._admin("POST", "/admin/rotate")

    def retire_old_keys(self) -> dict[str, Any]:
        """Stop publishing every key but the current signing keys."""
        return self._admin("POST", "/admin/retire")

    def stats(self) -> dict[str, Any]:
        """``{"jwks": <JWKS requests served>, "kids": {alg: signing kid}, "published": [kid, ...]}``."""
        return self._admin("GET", "/admin/stats")

    def _admin(self, method: str, path: str) -> dict[str, Any]:
        response = self.http.request(method, self.issuer + path)
        assert response.status_code == 200, response.text
        return dict(response.json())


@contextlib.contextmanager
def running_provider(**env: str) -> Iterator[Provider]:
    """Start ``provider.mjs`` on a free loopback port; stop it (by pid) when the block ends.

    ``env`` adds environment variables (``ACCESS_TOKEN_TTL``, ``SHORT_ACCESS_TOKEN_TTL``).
    Skips (fails in CI) when Node.js or the installed package is missing.
    """
    node = require_node()
    port = free_port()
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(tempfile.TemporaryFile())
        http = stack.enter_context(httpx.Client(trust_env=False, timeout=10))
        process = subprocess.Popen(
            [node, str(HERE / "provider.mjs")],
            cwd=HERE,
            env={**os.environ, **env, "PORT": str(port), "EXIT_ON_STDIN_CLOSE": "1"},
            stdin=subprocess.PIPE,  # the provider exits when this closes
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        stack.callback(_stop, process)
        provider = Provider(process, port, http)
        _wait_ready(provider, log)
        yield provider


def _wait_ready(provider: Provider, log: Any) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if provider.process.poll() is not None:
            break
        try:
            if provider.http.get(provider.discovery_url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)  # polling a starting process: there is nothing to wait on
    log.seek(0)
    output = log.read().decode("utf-8", "replace")[-2000:]
    raise RuntimeError(f"oidc-provider did not start (exit code {provider.process.poll()}):\n{output}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def tamper(token: str, **changes: Any) -> str:
    """``token`` with payload claims changed and the original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return ".".join([header, _b64url(json.dumps(claims, separators=(",", ":")).encode()), signature])


_examples: dict[str, ModuleType] = {}


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` once (the examples are scripts, not a package)."""
    if name in _examples:
        return _examples[name]
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _examples[name] = module
    return module


@dataclass
class AppResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: Any  # the JSON body, or None


#: The example apps, and the protected paths each serves (all need ``read:messages``).
EXAMPLE_PATHS = {
    "starlette": ("starlette_app", "/messages"),
    "fastapi": ("fastapi_app", "/messages"),
    "flask": ("flask_app", "/messages"),
    "django-drf": ("django_app", "/messages"),
    "django-plain": ("django_app", "/plain/messages"),
}
#: Where every framework's test client sends its requests (Flask's is told to; the others' default).
EXAMPLE_ORIGIN = "http://testserver"


def example_url(app: str) -> str:
    """The URL of example ``app``'s protected path as its test client requests it (a DPoP proof's ``htu``)."""
    return EXAMPLE_ORIGIN + EXAMPLE_PATHS[app][1]


def call_example(app: str, validator: Any, token: str) -> AppResponse:
    """``GET`` the protected path of example ``app`` built around ``validator``, with a bearer ``token``."""
    return send_to_example(app, validator, [{"Authorization": f"Bearer {token}"}])[0]


def send_to_example(app: str, validator: Any, requests: Sequence[Mapping[str, str]]) -> list[AppResponse]:
    """``GET`` the protected path of example ``app`` once per item of ``requests`` (the headers), in order.

    Each framework's own test client drives the real app from ``examples/``; the
    requests go to one app instance, so state such as DPoP replay detection carries over.
    """
    module_name, path = EXAMPLE_PATHS[app]
    module = load_example(module_name)
    responses: list[AppResponse] = []
    if module_name == "flask_app":
        with module.create_app(validator).test_client() as client:
            for headers in requests:
                flask_response = client.get(path, headers=dict(headers), base_url=EXAMPLE_ORIGIN)
                responses.append(
                    AppResponse(flask_response.status_code, _lower(flask_response.headers), flask_response.get_json())
                )
        return responses
    if module_name == "django_app":
        # The Django example configures settings at import; a test supplies the validator.
        from django.test import Client, override_settings

        with override_settings(JWTGUARD={"VALIDATOR": validator, "REALM": "api"}):
            client = Client()
            for headers in requests:
                django_response = client.get(path, headers=dict(headers))
                body = json.loads(django_response.content) if django_response.content else None
                responses.append(AppResponse(django_response.status_code, _lower(django_response.headers), body))
        return responses
    with warnings.catch_warnings():
        # Starlette >= 1.x prefers httpx2 for its test client and warns when it runs on httpx.
        warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient

    with TestClient(module.create_app(validator), base_url=EXAMPLE_ORIGIN) as starlette_client:
        for headers in requests:
            response = starlette_client.get(path, headers=dict(headers))
            responses.append(AppResponse(response.status_code, _lower(response.headers), response.json()))
    return responses


def _lower(headers: Any) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in headers.items()}
