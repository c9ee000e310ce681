"""Run two more independent OpenID Providers, from Debian's packages, on 127.0.0.1.

* **Glewlwyd** (package ``glewlwyd``), a C single sign-on server whose OpenID
  Connect plugin issues RFC 9068 JWT access tokens.
* **LemonLDAP::NG** (package ``liblemonldap-ng-portal-perl``), a Perl web SSO
  whose portal is an OpenID Provider; the tests serve its PSGI app with
  ``plackup`` (Plack's own single-process HTTP server, no Apache or nginx).

Each runs as a subprocess on a free loopback port with a configuration written
into a temporary directory, and is stopped by its process id when the block
ends. ``bash scripts/issuers-setup --install`` installs both (as root). Without
them the tests skip, except in CI (``CI`` set), where they fail.
See docs/interop.md.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent.parent / "examples"

API = "https://api.example.test"
OTHER_API = "https://other.example.test"
CLIENT_ID = "api-client"
CLIENT_SECRET = "api-client-secret"
SHORT_CLIENT_ID = "short-client"  # LemonLDAP::NG: access tokens live SHORT_TTL seconds
SHORT_TTL = 2
REDIRECT_URI = "http://127.0.0.1/callback"
STARTUP_TIMEOUT = 30.0
SETUP_HINT = "run `sudo bash scripts/issuers-setup --install` (see docs/interop.md)"

# Glewlwyd: the default administrator of its database initialisation script, and the test user.
GLEWLWYD_ADMIN = ("admin", "password")
GLEWLWYD_USER = ("alice", "alice-password")
# LemonLDAP::NG's "Demo" authentication module ships this user (login = password).
LEMONLDAP_USER = ("dwho", "dwho")

LEMONLDAP_PORTAL = Path("/usr/share/lemonldap-ng/portal/htdocs/index.psgi")
LEMONLDAP_TEMPLATES = Path("/usr/share/lemonldap-ng/portal/templates")
LEMONLDAP_ROTATE = Path("/usr/share/lemonldap-ng/bin/rotateOidcKeys")
#: Perl modules LemonLDAP::NG's portal loads for the OpenID Provider and rotateOidcKeys needs,
#: with the Debian package providing each (the portal only recommends most of them).
LEMONLDAP_PERL_MODULES = {
    "Lemonldap::NG::Portal::Main": "liblemonldap-ng-portal-perl",
    "String::Random": "libstring-random-perl",
    "IO::String": "libio-string-perl",
    "GD::SecurityImage": "libgd-securityimage-perl",
    "Image::Magick": "libimage-magick-perl",
    "Convert::PEM": "libconvert-pem-perl",
}


def in_ci() -> bool:
    """Whether this is a CI run (``CI`` set to anything but empty, ``0`` or ``false``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def unavailable(server: str, problem: str) -> None:
    """Skip the test (fail it in CI, where every issuer must run) because ``server`` cannot start."""
    if in_ci():
        pytest.fail(f"issuers tests must run in CI: {server}: {problem}", pytrace=False)
    pytest.skip(f"issuers tests need {server}: {problem}; {SETUP_HINT}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def rsa_private_jwk(kid: str) -> dict[str, str]:
    """A fresh RSA 2048 private key as a JWK for RS256."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.private_numbers()
    public = numbers.public_numbers
    values = {"n": public.n, "e": public.e, "d": numbers.d, "p": numbers.p, "q": numbers.q}
    values.update({"dp": numbers.dmp1, "dq": numbers.dmq1, "qi": numbers.iqmp})
    return {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig"} | {k: _int_b64(v) for k, v in values.items()}


def rsa_pem_pair() -> tuple[str, str]:
    """A fresh RSA 2048 key: (private key PEM, public key PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private.decode(), public.decode()


def header_of(token: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==")))


def claims_of(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def tamper(token: str, **changes: Any) -> str:
    """``token`` with payload claims changed and the original signature kept."""
    header, _, signature = token.split(".")
    claims = claims_of(token) | changes
    return ".".join([header, b64url(json.dumps(claims, separators=(",", ":")).encode()), signature])


def refused_soon(validator: Any, token: str, timeout: float = 10.0) -> Any:
    """The error ``validator`` raises for ``token`` once it does: keys past their max age keep serving
    while the validator refetches them in the background, so the refusal may take that long."""
    from jwtguard import InvalidTokenError

    deadline = time.monotonic() + timeout
    while True:
        try:
            validator.validate(token)
        except InvalidTokenError as error:
            return error
        assert time.monotonic() < deadline, "the token is still accepted"
        time.sleep(0.05)


# -- processes ------------------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the server gets SIGTERM if the test process dies, so it never outlives it."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start(argv: list[str], *, cwd: Path, env: dict[str, str] | None, log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_until(
    process: subprocess.Popen[bytes], http: httpx.Client, url: str, log: Any, name: str, ok: Callable[[Any], bool]
) -> None:
    """Poll ``url`` until ``ok(response)``; raise with the server's log if it exits or the time runs out."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if ok(http.get(url, timeout=2)):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # polling a starting process: there is nothing to wait on
    log.seek(0)
    output = log.read().decode("utf-8", "replace")[-3000:]
    raise RuntimeError(f"{name} did not answer {url} (exit code {process.poll()}):\n{output}")


# -- Glewlwyd --------------------------------------------------------------------------------


def glewlwyd_paths() -> tuple[str, Path, Path]:
    """(``glewlwyd`` executable, its module directory, its SQLite initialisation script); skip/fail without."""
    executable = shutil.which("glewlwyd")
    if executable is None:
        unavailable("Glewlwyd", "the glewlwyd executable is not installed (Debian package glewlwyd)")
    assert executable is not None
    modules = Path(executable).resolve().parent.parent / "lib" / "glewlwyd"
    scripts = [
        Path("/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3"),
        Path("/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz"),
    ]
    script = next((path for path in scripts if path.is_file()), None)
    if not (modules / "plugin").is_dir() or script is None:
        unavailable("Glewlwyd", "its plugins or database script are missing: reinstall the glewlwyd package")
    assert script is not None
    return executable, modules, script


def glewlwyd_oidc_parameters(issuer: str, keys: list[dict[str, str]], access_token_duration: int) -> dict[str, Any]:
    """The OIDC plugin instance's parameters (the admin UI's defaults, less every optional feature)."""
    scopes = ["openid", "read:messages", "write:messages"]
    return {
        "iss": issuer,
        "jwt-type": "rsa",
        "jwt-key-size": "256",
        "jwks-private": json.dumps({"keys": keys}),
        "default-kid": keys[0]["kid"],
        "jwks-show": True,
        "jwks-x5c": [],
        "access-token-duration": access_token_duration,
        "refresh-token-duration": 3600,
        "code-duration": 600,
        "refresh-token-rolling": True,
        "refresh-token-one-use": "always",  # every refresh spends the refresh token
        "allow-non-oidc": True,  # client_credentials and password without openid
        "auth-type-code-enabled": True,
        "auth-type-code-revoke-replayed": True,
        "auth-type-token-enabled": False,
        "auth-type-id-token-enabled": True,
        "auth-type-none-enabled": False,
        "auth-type-password-enabled": True,
        "auth-type-client-enabled": True,
        "auth-type-device-enabled": False,
        "auth-type-refresh-enabled": True,
        "scope": [],
        "additional-parameters": [],
        "claims": [],
        "secret-type": "public",
        "allowed-scope": scopes,
        "name-claim": "no",
        "email-claim": "no",
        "scope-claim": "no",
        "address-claim": {"type": "no"},
        # RFC 8707: `resource` becomes `aud`; each scope lists the resources it may be asked for
        "resource-allowed": True,
        "resource-scope": {scope: [API, OTHER_API] for scope in scopes},
        "resource-client-property": "",
        "resource-scope-and-client-property": False,
        "pkce-allowed": False,
        "introspection-revocation-allowed": False,
        "register-client-allowed": False,
        "session-management-allowed": False,
        "request-parameter-allow": False,
        "encrypt-out-token-allow": False,
        "oauth-dpop-allowed": False,
        "oauth-rar-allowed": False,
        "oauth-par-allowed": False,
        "oauth-ciba-allowed": False,
    }


@dataclass
class Glewlwyd:
    """A running Glewlwyd with an OIDC plugin instance named ``oidc``."""

    process: subprocess.Popen[bytes]
    port: int
    http: httpx.Client = field(repr=False)  # no cookies: the OAuth clients' requests
    admin: httpx.Client = field(repr=False)  # carries the administrator's session cookie
    keys: list[dict[str, str]] = field(default_factory=list)  # the private JWKS, signing key first

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def issuer(self) -> str:
        """The plugin's issuer: Glewlwyd serves each plugin instance under ``/api/<name>``."""
        return f"{self.base}/oidc"

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/token"

    def token_request(self, **data: str) -> httpx.Response:
        return self.http.post(self.token_endpoint, auth=(CLIENT_ID, CLIENT_SECRET), data=data)

    def client_credentials(self, *, scope: str = "read:messages", resource: str | None = API) -> str:
        data = {"grant_type": "client_credentials", "scope": scope}
        if resource is not None:
            data["resource"] = resource
        response = self.token_request(**data)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def password_grant(self, *, scope: str = "openid read:messages", resource: str = API) -> dict[str, Any]:
        username, password = GLEWLWYD_USER
        response = self.token_request(
            grant_type="password", username=username, password=password, scope=scope, resource=resource
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def login(self, *, scope: str = "openid read:messages", resource: str = API) -> dict[str, Any]:
        """The authorization code flow for the test user, driven through Glewlwyd's own login API.

        What the login page does: ``POST /api/auth/`` with the password (a session
        cookie), ``PUT /api/auth/grant/<client_id>/`` (the consent), then the
        plugin's ``/auth`` with ``g_continue`` (the "continue" button) answers
        with a redirect carrying the code, exchanged at the token endpoint.
        """
        username, password = GLEWLWYD_USER
        state = secrets.token_urlsafe(12)
        with httpx.Client(trust_env=False, timeout=10) as browser:
            assert browser.post(self.base + "/auth/", json={"username": username, "password": password}).is_success
            granted = browser.put(f"{self.base}/auth/grant/{CLIENT_ID}/", json={"scope": scope})  # space-separated
            assert granted.is_success, granted.text
            params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI}
            params |= {"scope": scope, "state": state, "nonce": secrets.token_urlsafe(12)}
            params |= {"resource": resource, "g_continue": ""}
            response = browser.get(self.issuer + "/auth", params=params)
        location = response.headers.get("location", "")
        assert response.is_redirect, (response.status_code, response.text)
        assert location.startswith(REDIRECT_URI), location
        query = parse_qs(urlsplit(location).query)
        assert query["state"] == [state]
        response = self.token_request(
            grant_type="authorization_code", code=query["code"][0], redirect_uri=REDIRECT_URI, resource=resource
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.token_request(grant_type="refresh_token", refresh_token=refresh_token)

    def published_kids(self) -> list[str]:
        response = self.http.get(self.issuer + "/jwks")
        assert response.status_code == 200, response.text
        return [key["kid"] for key in response.json()["keys"]]

    # -- key rotation: what the Glewlwyd documentation does with its admin API --------------

    def rotate_keys(self) -> str:
        """Sign with a new key, listed first; keep publishing the old ones. Returns the new kid."""
        new = rsa_private_jwk(f"key-{len(self.keys) + 1}")
        self._set_keys([new, *self.keys])
        return new["kid"]

    def retire_old_keys(self) -> None:
        """Publish only the current signing key."""
        self._set_keys(self.keys[:1])

    def _set_keys(self, keys: list[dict[str, str]]) -> None:
        instance = self.admin.get(self.base + "/mod/plugin/oidc")
        assert instance.status_code == 200, instance.text
        body = dict(instance.json())
        body["parameters"] |= {"jwks-private": json.dumps({"keys": keys}), "default-kid": keys[0]["kid"]}
        for method, url, payload in (
            ("PUT", self.base + "/mod/plugin/oidc", body),
            ("PUT", self.base + "/mod/plugin/oidc/reset", None),  # reload the instance with its new keys
        ):
            response = self.admin.request(method, url, json=payload)
            assert response.status_code == 200, response.text
        self.keys = keys
        deadline = time.monotonic() + 10
        while self.published_kids() != [key["kid"] for key in keys]:
            assert time.monotonic() < deadline, "Glewlwyd did not publish its new key set"
            time.sleep(0.05)


def _glewlwyd_config(port: int, modules: Path, database: Path) -> str:
    """glewlwyd.conf (libconfig syntax). No ``use_secure_connection`` line at all: present, even ``false``,
    it makes Glewlwyd demand certificate files."""
    return f"""\
port={port}
bind_address="127.0.0.1"
external_url="http://127.0.0.1:{port}"
login_url="login.html"
api_prefix="api"
allow_origin="*"
log_mode="console"
log_level="WARNING"
cookie_secure=0
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="{modules / "user"}"
client_module_path="{modules / "client"}"
user_auth_scheme_module_path="{modules / "scheme"}"
plugin_module_path="{modules / "plugin"}"
hash_algorithm="SHA512"
database =
{{
  type = "sqlite3"
  path = "{database}"
}};
"""


@contextlib.contextmanager
def running_glewlwyd(*, access_token_duration: int = 600) -> Iterator[Glewlwyd]:
    """Start Glewlwyd on a free loopback port with an OIDC plugin, a client and a user; stop it afterwards.

    The database (SQLite, in a temporary directory) is created with Glewlwyd's own
    initialisation script; everything else goes through its admin REST API, as
    the admin web app does it: scopes, the user, the confidential client, and
    the ``oidc`` plugin instance with one RS256 key.
    """
    executable, modules, script = glewlwyd_paths()
    port = free_port()
    with contextlib.ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="glewlwyd-")))
        sql = gzip.decompress(script.read_bytes()) if script.suffix == ".gz" else script.read_bytes()
        with contextlib.closing(sqlite3.connect(directory / "glewlwyd.db")) as database:
            database.executescript(sql.decode())
            database.commit()
        config = directory / "glewlwyd.conf"
        config.write_text(_glewlwyd_config(port, modules, directory / "glewlwyd.db"))
        log = stack.enter_context(tempfile.TemporaryFile())
        http = stack.enter_context(httpx.Client(trust_env=False, timeout=10))
        admin = stack.enter_context(httpx.Client(trust_env=False, timeout=10))
        process = start([executable, "-c", str(config)], cwd=directory, env=None, log=log)
        stack.callback(stop, process)
        server = Glewlwyd(process, port, http, admin, [rsa_private_jwk("key-1")])
        wait_until(process, admin, f"http://127.0.0.1:{port}/config", log, "Glewlwyd", lambda r: r.is_success)

        def call(method: str, path: str, body: dict[str, Any]) -> None:
            response = admin.request(method, server.base + path, json=body)
            assert response.status_code == 200, (path, response.status_code, response.text)

        username, password = GLEWLWYD_ADMIN
        call("POST", "/auth/", {"username": username, "password": password})  # the session cookie
        for scope in ("read:messages", "write:messages"):
            scope_body = {"name": scope, "display_name": scope, "description": scope, "scheme": {}}
            call("POST", "/scope/", scope_body | {"password_required": True, "password_max_age": 0})
        username, password = GLEWLWYD_USER
        call(
            "POST",
            "/user/",
            {
                "username": username,
                "password": password,
                "name": "Alice",
                "enabled": True,
                "scope": ["openid", "read:messages", "write:messages", "g_profile"],
            },
        )
        call(
            "POST",
            "/client/",
            {
                "client_id": CLIENT_ID,
                "name": CLIENT_ID,
                "confidential": True,
                "password": CLIENT_SECRET,
                "enabled": True,
                "scope": ["read:messages", "write:messages"],  # what client_credentials may ask for
                "authorization_type": ["code", "password", "client_credentials", "refresh_token"],
                "redirect_uri": [REDIRECT_URI],
                "token_endpoint_auth_method": ["client_secret_basic"],
            },
        )
        parameters = glewlwyd_oidc_parameters(server.issuer, server.keys, access_token_duration)
        instance = {"module": "oidc", "name": "oidc", "display_name": "OIDC", "parameters": parameters}
        call("POST", "/mod/plugin/", instance)
        wait_until(process, admin, server.issuer + "/.well-known/openid-configuration", log, "Glewlwyd", _is_json)
        yield server


def _is_json(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json")


# -- LemonLDAP::NG --------------------------------------------------------------------------------


def lemonldap_paths() -> tuple[str, str]:
    """(``perl``, ``plackup``); skip/fail when LemonLDAP::NG's portal or a Perl module it needs is missing."""
    perl, plackup = shutil.which("perl"), shutil.which("plackup")
    if perl is None or plackup is None:
        unavailable("LemonLDAP::NG", "perl or plackup (Debian package libplack-perl) is not installed")
    assert perl is not None
    assert plackup is not None
    if not (LEMONLDAP_PORTAL.is_file() and LEMONLDAP_ROTATE.is_file()):
        unavailable("LemonLDAP::NG", "the portal is not installed (Debian package liblemonldap-ng-portal-perl)")
    missing = [
        package
        for module, package in LEMONLDAP_PERL_MODULES.items()
        if subprocess.run([perl, f"-M{module}", "-e1"], capture_output=True, check=False).returncode != 0
    ]
    if missing:
        unavailable("LemonLDAP::NG", f"missing Debian packages: {' '.join(missing)}")
    return perl, plackup


def lemonldap_config(portal: str, directory: Path, private_pem: str, public_pem: str) -> dict[str, Any]:
    """lmConf-1.json: the options that differ from LemonLDAP::NG's defaults."""

    def relying_party(client_id: str, lifetime: int) -> dict[str, Any]:
        return {
            "oidcRPMetaDataOptionsClientID": client_id,
            "oidcRPMetaDataOptionsClientSecret": CLIENT_SECRET,
            "oidcRPMetaDataOptionsAccessTokenJWT": 1,  # JWT access tokens instead of opaque ones
            "oidcRPMetaDataOptionsAccessTokenSignAlg": "RS256",
            "oidcRPMetaDataOptionsIDTokenSignAlg": "RS256",
            "oidcRPMetaDataOptionsAccessTokenExpiration": lifetime,
            "oidcRPMetaDataOptionsAdditionalAudiences": API,  # `aud`: [client_id, API]
            "oidcRPMetaDataOptionsAllowClientCredentialsGrant": 1,
            "oidcRPMetaDataOptionsAllowPasswordGrant": 1,
            "oidcRPMetaDataOptionsRefreshToken": 1,
            "oidcRPMetaDataOptionsBypassConsent": 1,
            "oidcRPMetaDataOptionsRedirectUris": REDIRECT_URI,
        }

    sessions = {"Directory": str(directory / "sessions"), "LockDirectory": str(directory / "sessions" / "lock")}
    persistent = {"Directory": str(directory / "psessions"), "LockDirectory": str(directory / "psessions" / "lock")}
    return {
        "cfgNum": 1,
        "cfgDate": str(int(time.time())),  # must be set: a configuration without a date is "not available"
        "cfgAuthor": "jwtguard tests",
        "portal": portal + "/",
        "domain": "127.0.0.1",
        "cookieName": "lemonldap",
        "securedCookie": 0,
        "key": secrets.token_hex(16),
        "authentication": "Demo",  # built-in users: dwho, rtyler, msmith (password = login)
        "userDB": "Same",
        "passwordDB": "Null",
        "registerDB": "Null",
        "demoExportedVars": {"cn": "cn", "mail": "mail", "uid": "uid"},
        "globalStorage": "Apache::Session::File",
        "globalStorageOptions": sessions,
        "persistentStorage": "Apache::Session::File",
        "persistentStorageOptions": persistent,
        "localSessionStorage": "",
        "localSessionStorageOptions": {},
        "exportedVars": {},
        "exportedHeaders": {},
        "locationRules": {},
        "issuerDBOpenIDConnectActivation": 1,
        "oidcServiceMetaDataIssuer": portal,
        "oidcServicePrivateKeySig": private_pem,
        "oidcServicePublicKeySig": public_pem,
        "oidcServiceKeyIdSig": "key-1",
        "oidcRPMetaDataOptions": {
            CLIENT_ID: relying_party(CLIENT_ID, 600),
            SHORT_CLIENT_ID: relying_party(SHORT_CLIENT_ID, SHORT_TTL),
        },
        "oidcRPMetaDataExportedVars": {CLIENT_ID: {"email": "mail", "name": "cn"}, SHORT_CLIENT_ID: {}},
    }


_LEMONLDAP_INI = """\
[all]
logLevel = warn
logger = Lemonldap::NG::Common::Logger::Std
checkTime = 1
[configuration]
type = File
dirName = {conf}
[portal]
staticPrefix = /static
templateDir = {templates}
languages = en
"""


@dataclass
class LemonLDAP:
    """A running LemonLDAP::NG portal, OpenID Provider at ``/oauth2/``."""

    process: subprocess.Popen[bytes]
    port: int
    http: httpx.Client = field(repr=False)
    env: dict[str, str] = field(repr=False)
    perl: str = field(repr=False)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/oauth2/token"

    def token_request(self, client_id: str = CLIENT_ID, **data: str) -> httpx.Response:
        return self.http.post(self.token_endpoint, auth=(client_id, CLIENT_SECRET), data=data)

    def client_credentials(self, *, client_id: str = CLIENT_ID, scope: str = "read:messages") -> str:
        response = self.token_request(client_id, grant_type="client_credentials", scope=scope)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def password_grant(self, *, scope: str = "openid read:messages") -> dict[str, Any]:
        username, password = LEMONLDAP_USER
        response = self.token_request(grant_type="password", username=username, password=password, scope=scope)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.token_request(grant_type="refresh_token", refresh_token=refresh_token)

    def published_kids(self) -> list[str]:
        response = self.http.get(self.issuer + "/oauth2/jwks")
        assert response.status_code == 200, response.text
        return [key["kid"] for key in response.json()["keys"]]

    def rotate_keys(self) -> str:
        """Run LemonLDAP::NG's own ``rotateOidcKeys`` (its cron job); wait until the portal serves the new key.

        It saves a new configuration with a new RSA key and a random kid; the
        portal loads it at its next configuration check (``checkTime``, 1 s here).
        """
        before = self.published_kids()
        result = subprocess.run(
            [self.perl, str(LEMONLDAP_ROTATE)], env=self.env, capture_output=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        deadline = time.monotonic() + 15
        while (kids := self.published_kids()) == before:
            assert time.monotonic() < deadline, "the portal did not load the rotated key"
            time.sleep(0.1)
        return kids[0]


@contextlib.contextmanager
def running_lemonldap() -> Iterator[LemonLDAP]:
    """Start LemonLDAP::NG's portal under ``plackup`` on a free loopback port; stop it afterwards.

    ``LLNG_DEFAULTCONFFILE`` points the portal (and ``rotateOidcKeys``) at a
    ``lemonldap-ng.ini`` in a temporary directory, whose ``File`` configuration
    backend holds ``lmConf-1.json``: nothing under /etc or /var/lib is used.
    """
    perl, plackup = lemonldap_paths()
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lemonldap-")))
        for sub in ("conf", "sessions/lock", "psessions/lock"):
            (directory / sub).mkdir(parents=True)
        private_pem, public_pem = rsa_pem_pair()
        config = lemonldap_config(issuer, directory, private_pem, public_pem)
        (directory / "conf" / "lmConf-1.json").write_text(json.dumps(config, indent=1))
        ini = directory / "lemonldap-ng.ini"
        ini.write_text(_LEMONLDAP_INI.format(conf=directory / "conf", templates=LEMONLDAP_TEMPLATES))
        env = {**os.environ, "LLNG_DEFAULTCONFFILE": str(ini)}
        log = stack.enter_context(tempfile.TemporaryFile())
        http = stack.enter_context(httpx.Client(trust_env=False, timeout=10))
        argv = [plackup, "-E", "deployment", "-s", "HTTP::Server::PSGI", "--host", "127.0.0.1", "--port", str(port)]
        process = start([*argv, str(LEMONLDAP_PORTAL)], cwd=directory, env=env, log=log)
        stack.callback(stop, process)
        wait_until(process, http, issuer + "/.well-known/openid-configuration", log, "LemonLDAP::NG", _is_json)
        yield LemonLDAP(process, port, http, env, perl)


# -- the Starlette example app ------------------------------------------------------------------


def starlette_example() -> ModuleType:
    """``examples/starlette_app.py``, imported once (the examples are scripts, not a package)."""
    name = "issuers_examples_starlette_app"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / "starlette_app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


def call_starlette(validator: Any, token: str) -> tuple[int, dict[str, str], Any]:
    """``GET /messages`` of the Starlette example app built around ``validator``: (status, headers, JSON body)."""
    with warnings.catch_warnings():
        # Starlette >= 1.x prefers httpx2 for its test client and warns when it runs on httpx.
        warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient

    with TestClient(starlette_example().create_app(validator)) as client:
        response = client.get("/messages", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.json()
