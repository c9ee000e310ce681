"""Certificate-bound tokens (RFC 8705) end to end: real TLS, real client certificates, real servers.

A test CA issues a server certificate for 127.0.0.1 and client certificates. Three set-ups:

* uvicorn terminating TLS and verifying the client certificate itself. uvicorn does not put the
  certificate in the ASGI ``tls`` extension, so the app never sees it: a bound token is refused
  (fail closed) — this pins what docs/asgi.md says about it;
* a TLS-terminating proxy (what nginx or Envoy do) that verifies the client certificate and
  forwards it in RFC 9440's ``Client-Cert`` header to uvicorn, behind ``JWTGuardMiddleware`` with
  ``trusted_proxies`` and ``client_cert_header``: the full flow;
* werkzeug's WSGI server verifying the client certificate and passing it in ``SSL_CLIENT_CERT``.
"""

from __future__ import annotations

import base64
import datetime
import http.client
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from werkzeug.serving import make_server

import jwtguard
from jwtguard.asgi import JWTGuardMiddleware, get_claims
from jwtguard.testing import LocalIssuer, certificate_thumbprint
from jwtguard.wsgi import JWTGuardMiddleware as WSGIGuard
from jwtguard.wsgi import get_claims as wsgi_claims

TIMEOUT = 5.0

# -- a test PKI ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """A certificate and its key, also written to PEM files."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_file: Path
    key_file: Path

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


class TestCA:
    """A throw-away certificate authority writing its files under ``directory``."""

    __test__ = False  # not a test class

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = self._make("test CA", issuer=None, ca=True)

    def issue(self, name: str, *, server: bool = False) -> Identity:
        """A leaf certificate: for the server at 127.0.0.1, or for a client."""
        return self._make(name, issuer=self.ca, server=server)

    def _make(self, name: str, *, issuer: Identity | None, ca: bool = False, server: bool = False) -> Identity:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.certificate.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
        else:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if issuer is not None:
            authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())
            builder = builder.add_extension(authority, critical=False)
        if server:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        certificate = builder.sign(issuer.key if issuer else key, hashes.SHA256())
        stem = self.directory / name.replace(" ", "-")
        cert_file, key_file = stem.with_suffix(".crt"), stem.with_suffix(".key")
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return Identity(certificate, key, cert_file, key_file)

    def server_context(self, server: Identity) -> ssl.SSLContext:
        """A server context that requires a client certificate from this CA."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca.cert_file))
        context.load_cert_chain(str(server.cert_file), str(server.key_file))
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def client(self, base_url: str, identity: Identity | None) -> httpx.Client:
        """An httpx client trusting this CA, presenting ``identity``'s certificate (if any)."""
        context = ssl.create_default_context(cafile=str(self.ca.cert_file))
        if identity is not None:
            context.load_cert_chain(str(identity.cert_file), str(identity.key_file))
        return httpx.Client(base_url=base_url, verify=context, timeout=TIMEOUT)


@dataclass(frozen=True)
class Pki:
    ca: TestCA
    server: Identity
    alice: Identity
    mallory: Identity  # also a client of the same CA: her TLS handshake succeeds


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca = TestCA(tmp_path_factory.mktemp("pki"))
    return Pki(ca, ca.issue("server", server=True), ca.issue("alice"), ca.issue("mallory"))


# -- the app and the servers -------------------------------------------------------------------------


def starlette_app(validator: jwtguard.Validator, seen: list[dict[str, Any]], **options: Any) -> Starlette:
    async def messages(request: Request) -> JSONResponse:
        seen.append(dict(request.scope.get("extensions") or {}))
        return JSONResponse({"sub": get_claims(request)["sub"]})

    guard = Middleware(JWTGuardMiddleware, validator=validator, realm="api", **options)
    return Starlette(routes=[Route("/messages", messages)], middleware=[guard])


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # connections queue until the server accepts: no polling for readiness
    return sock


@pytest.fixture
def run_uvicorn() -> Iterator[Callable[..., str]]:
    """Start uvicorn in a thread on a free loopback port; return its base URL. Stopped at teardown."""
    running: list[tuple[uvicorn.Server, threading.Thread, socket.socket]] = []

    def start(app: Any, scheme: str = "http", **config: Any) -> str:
        sock = listening_socket()
        server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", **config))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        running.append((server, thread, sock))
        return f"{scheme}://127.0.0.1:{sock.getsockname()[1]}"

    yield start
    for server, thread, sock in running:
        server.should_exit = True
        thread.join(timeout=TIMEOUT)
        sock.close()
        assert not thread.is_alive()


class CertificateForwardingProxy(BaseHTTPRequestHandler):
    """A TLS-terminating reverse proxy: verifies the client certificate, forwards it (RFC 9440)."""

    backend: tuple[str, int]

    def do_GET(self) -> None:
        der = self.connection.getpeercert(binary_form=True)  # type: ignore[attr-defined]
        # A client must never choose the certificate header: drop any it sent, then set ours.
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("client-cert", "connection")}
        headers["Client-Cert"] = ":" + base64.b64encode(der).decode("ascii") + ":"
        headers["X-Forwarded-Proto"] = "https"
        upstream = http.client.HTTPConnection(*self.backend, timeout=TIMEOUT)
        try:
            upstream.request("GET", self.path, headers=headers)
            response = upstream.getresponse()
            body = response.read()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            upstream.close()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def run_proxy(pki: Pki) -> Iterator[Callable[[str], str]]:
    """Start the TLS-terminating proxy in front of ``backend_url``; return its https URL."""
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(backend_url: str) -> str:
        parts = httpx.URL(backend_url)
        handler = type("Proxy", (CertificateForwardingProxy,), {"backend": (parts.host, parts.port)})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.socket = pki.ca.server_context(pki.server).wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"https://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=TIMEOUT)
        assert not thread.is_alive()


def bound_token(issuer: LocalIssuer, identity: Identity) -> str:
    return issuer.token(sub="user-42", cnf={"x5t#S256": certificate_thumbprint(identity.certificate)})


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(response: httpx.Response, code: str = "certificate_mismatch") -> None:
    description = jwtguard.errors.DESCRIPTIONS[code]
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith(
        f'Bearer realm="api", error="invalid_token", error_description="{description}"'
    )
    assert response.json() == {"error": "invalid_token", "error_description": description}


# -- uvicorn verifying the client certificate itself ---------------------------------------------------


def test_uvicorn_verifies_client_certificates_but_does_not_pass_them_to_the_app(
    pki: Pki, issuer: LocalIssuer, validator: jwtguard.Validator, run_uvicorn: Callable[..., str]
) -> None:
    seen: list[dict[str, Any]] = []
    url = run_uvicorn(
        starlette_app(validator, seen),
        "https",
        ssl_certfile=str(pki.server.cert_file),
        ssl_keyfile=str(pki.server.key_file),
        ssl_ca_certs=str(pki.ca.ca.cert_file),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
    )
    with pki.ca.client(url, pki.alice) as alice:
        unbound = alice.get("/messages", headers=auth(issuer.token(sub="user-42")))
        assert (unbound.status_code, unbound.json()) == (200, {"sub": "user-42"})
        assert "tls" not in seen[-1], "uvicorn now passes the TLS extension: update docs/asgi.md and this test"
        # The certificate never reaches the app, so a bound token cannot be proven: refused, never let through.
        bound = alice.get("/messages", headers=auth(bound_token(issuer, pki.alice)))
        assert_refused(bound, "certificate_required")
    with pki.ca.client(url, None) as anonymous, pytest.raises(httpx.TransportError):
        anonymous.get("/messages")  # no client certificate: uvicorn refuses the TLS handshake


# -- a TLS-terminating proxy forwarding the certificate (RFC 9440) to uvicorn --------------------------


@pytest.fixture
def proxied(
    pki: Pki, validator: jwtguard.Validator, run_uvicorn: Callable[..., str], run_proxy: Callable[[str], str]
) -> str:
    app = starlette_app(validator, [], trusted_proxies=["127.0.0.1"], client_cert_header="Client-Cert")
    return run_proxy(run_uvicorn(app))


def test_a_bound_token_with_its_certificate_passes(pki: Pki, issuer: LocalIssuer, proxied: str) -> None:
    with pki.ca.client(proxied, pki.alice) as alice:
        response = alice.get("/messages", headers=auth(bound_token(issuer, pki.alice)))
        assert (response.status_code, response.json()) == (200, {"sub": "user-42"})


def test_a_bound_token_from_another_certificate_is_refused(pki: Pki, issuer: LocalIssuer, proxied: str) -> None:
    stolen = bound_token(issuer, pki.alice)
    with pki.ca.client(proxied, pki.mallory) as mallory:
        assert_refused(mallory.get("/messages", headers=auth(stolen)))
        # Sending alice's certificate in the header herself does not help: the proxy sets it.
        forged = {**auth(stolen), "Client-Cert": ":" + base64.b64encode(pki.alice.der).decode() + ":"}
        assert_refused(mallory.get("/messages", headers=forged))


def test_an_unbound_token_passes_with_any_certificate(pki: Pki, issuer: LocalIssuer, proxied: str) -> None:
    with pki.ca.client(proxied, pki.mallory) as mallory:
        response = mallory.get("/messages", headers=auth(issuer.token(sub="user-42")))
        assert (response.status_code, response.json()) == (200, {"sub": "user-42"})


# -- werkzeug's WSGI server: SSL_CLIENT_CERT -----------------------------------------------------------


def test_wsgi_server_passes_the_certificate_in_the_environ(
    pki: Pki, issuer: LocalIssuer, validator: jwtguard.Validator
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [wsgi_claims(environ)["sub"].encode()]

    server = make_server(
        "127.0.0.1", 0, WSGIGuard(app, validator=validator, realm="api"), ssl_context=pki.ca.server_context(pki.server)
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{server.server_port}"
    try:
        token = bound_token(issuer, pki.alice)
        with pki.ca.client(url, pki.alice) as alice:
            assert alice.get("/", headers=auth(token)).text == "user-42"
        with pki.ca.client(url, pki.mallory) as mallory:
            assert_refused(mallory.get("/", headers=auth(token)))
            assert mallory.get("/", headers=auth(issuer.token(sub="user-42"))).text == "user-42"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=TIMEOUT)
    assert not thread.is_alive()
