"""Fetching key sets through proxies, with a private CA, extra headers, or the application's own client.

A real TLS key-set server on 127.0.0.1 presents a certificate from a CA made
here (``cryptography``), given to the validator as ``ca_bundle``; a real
``CONNECT`` proxy on 127.0.0.1 counts the tunnels it opens. The bounds of the
built-in client hold through the proxy too.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import jwtguard
from jwtguard._http import max_age_of
from jwtguard.testing import LocalIssuer, LocalServer, Response

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY")


# -- a test CA and a TLS key-set server ---------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(directory: Path) -> tuple[Path, Path, Path]:
    """Write a CA certificate and a server certificate for 127.0.0.1 it signed; return (ca, cert, key) paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("jwtguard test CA"))
        .issuer_name(_name("jwtguard test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),  # sign certificates, CRLs
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    no_encryption = serialization.NoEncryption()
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, no_encryption)
    )
    return paths


class _Handler(BaseHTTPRequestHandler):
    server: TLSServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        status, headers, body = self.server.answer()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class TLSServer(ThreadingHTTPServer):
    """HTTPS on 127.0.0.1 answering every GET with ``answer()``; ``requests`` records paths and headers."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, context: ssl.SSLContext, answer: Any) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context
        self.answer = answer
        self.requests: list[tuple[str, dict[str, str]]] = []

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()  # the handshake happens in the request's own thread
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client refusing our certificate is part of some tests

    @property
    def jwks_uri(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}/jwks"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def tls_jwks(ca: tuple[Path, Path, Path], own_issuer: LocalIssuer) -> Iterator[TLSServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca[1], ca[2])
    headers = {"Content-Type": "application/json"}
    server = TLSServer(context, lambda: (200, headers, json.dumps(own_issuer.jwks()).encode()))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# -- a CONNECT proxy ----------------------------------------------------------------------------


class ConnectProxy:
    """A threaded HTTP ``CONNECT`` proxy on 127.0.0.1 that counts its tunnels (to 127.0.0.1 only)."""

    def __init__(self, *, credentials: str | None = None, silent: bool = False) -> None:
        self.connects: list[str] = []
        self.authorizations: list[str | None] = []
        self._credentials = credentials
        self._silent = silent  # accept, read the CONNECT, never answer
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                self._sockets.append(client)
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        head = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = client.recv(4096)
                if not data:
                    return
                head += data
            lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            self.connects.append(target) if method == "CONNECT" else None
            self.authorizations.append(fields.get("Proxy-Authorization"))
            if self._silent:
                return
            host, _, port = target.rpartition(":")
            if method != "CONNECT" or host != "127.0.0.1":
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            if self._credentials is not None and fields.get("Proxy-Authorization") != self._credentials:
                client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                return
            upstream = socket.create_connection((host, int(port)), timeout=5)
            self._sockets.append(upstream)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
            self._pipe(client, upstream)

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    running = ConnectProxy()
    yield running
    running.close()


@pytest.fixture
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def status_of(validator: jwtguard.Validator) -> jwtguard.KeySetStatus:
    (status,) = validator.warm_up()
    return status


# -- proxies --------------------------------------------------------------------------------------


def test_https_goes_through_the_proxy_in_a_connect_tunnel(
    own_issuer: LocalIssuer, tls_jwks: TLSServer, proxy: ConnectProxy, ca: tuple[Path, Path, Path]
) -> None:
    validator = own_issuer.validator(jwks_uri=tls_jwks.jwks_uri, proxy=proxy.url, ca_bundle=str(ca[0]))
    assert validator.validate(own_issuer.token())["sub"] == "user-123"
    port = tls_jwks.server_address[1]
    assert proxy.connects == [f"127.0.0.1:{port}"]  # TLS ran inside the tunnel, verified against the test CA
    assert [path for path, _ in tls_jwks.requests] == ["/jwks"]


def test_environment_proxies_are_ignored_unless_opted_in(
    own_issuer: LocalIssuer,
    tls_jwks: TLSServer,
    proxy: ConnectProxy,
    ca: tuple[Path, Path, Path],
    no_proxy_variables: pytest.MonkeyPatch,
) -> None:
    for name in ("https_proxy", "HTTPS_PROXY"):
        no_proxy_variables.setenv(name, proxy.url)
    options: dict[str, Any] = {"jwks_uri": tls_jwks.jwks_uri, "ca_bundle": str(ca[0])}
    assert status_of(own_issuer.validator(**options)).loaded
    assert proxy.connects == []  # straight to the server: the environment was ignored
    assert status_of(own_issuer.validator(trust_env_proxies=True, **options)).loaded
    assert len(proxy.connects) == 1  # opted in: through the proxy HTTPS_PROXY names
    for name in ("no_proxy", "NO_PROXY"):
        no_proxy_variables.setenv(name, "127.0.0.1")
    assert status_of(own_issuer.validator(trust_env_proxies=True, **options)).loaded
    assert len(proxy.connects) == 1  # NO_PROXY is honoured too
    assert len(tls_jwks.requests) == 3


def test_an_explicit_proxy_wins_over_the_environment(
    own_issuer: LocalIssuer,
    tls_jwks: TLSServer,
    proxy: ConnectProxy,
    ca: tuple[Path, Path, Path],
    no_proxy_variables: pytest.MonkeyPatch,
) -> None:
    no_proxy_variables.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # the discard port: nothing answers
    validator = own_issuer.validator(
        jwks_uri=tls_jwks.jwks_uri, ca_bundle=str(ca[0]), proxy=proxy.url, trust_env_proxies=True
    )
    assert status_of(validator).loaded
    assert len(proxy.connects) == 1


def test_proxy_credentials_go_in_the_connect_request(
    own_issuer: LocalIssuer, tls_jwks: TLSServer, ca: tuple[Path, Path, Path]
) -> None:
    expected = "Basic " + base64.b64encode(b"svc:p@ss word").decode()
    guarded = ConnectProxy(credentials=expected)
    try:
        address = guarded.url.removeprefix("http://")
        good = own_issuer.validator(
            jwks_uri=tls_jwks.jwks_uri, ca_bundle=str(ca[0]), proxy=f"http://svc:p%40ss%20word@{address}"
        )
        assert status_of(good).loaded
        bad = own_issuer.validator(jwks_uri=tls_jwks.jwks_uri, ca_bundle=str(ca[0]), proxy=f"http://svc:nope@{address}")
        status = status_of(bad)
        assert (status.loaded, status.last_error) == (False, "proxy_error")
        assert guarded.authorizations[0] == expected
    finally:
        guarded.close()


def test_a_silent_proxy_costs_at_most_the_timeout(own_issuer: LocalIssuer, tls_jwks: TLSServer) -> None:
    silent = ConnectProxy(silent=True)  # takes the CONNECT, never answers: only the deadline ends the wait
    try:
        validator = own_issuer.validator(jwks_uri=tls_jwks.jwks_uri, proxy=silent.url, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(jwtguard.KeySetUnavailableError):
            validator.validate(own_issuer.token())
        assert time.monotonic() - started < 1.5
        assert validator.key_set_status()[0].last_error == "timeout"
    finally:
        silent.close()


# -- the trust store ------------------------------------------------------------------------------


def test_without_the_ca_bundle_the_private_ca_is_refused(
    own_issuer: LocalIssuer, tls_jwks: TLSServer, proxy: ConnectProxy
) -> None:
    for options in ({}, {"proxy": proxy.url}):
        status = status_of(own_issuer.validator(jwks_uri=tls_jwks.jwks_uri, **options))
        assert (status.loaded, status.last_error) == (False, "tls_verification_failed")


def test_the_ca_bundle_may_be_an_ssl_context(
    own_issuer: LocalIssuer, tls_jwks: TLSServer, ca: tuple[Path, Path, Path]
) -> None:
    context = ssl.create_default_context(cafile=str(ca[0]))
    assert status_of(own_issuer.validator(jwks_uri=tls_jwks.jwks_uri, ca_bundle=context)).loaded
    assert status_of(own_issuer.validator(jwks_uri=tls_jwks.jwks_uri, ca_bundle=ca[0])).loaded  # a Path


def test_the_ca_bundle_replaces_the_system_store(ca: tuple[Path, Path, Path]) -> None:
    options = jwtguard.Validator(issuer="https://i.example/", audience="a", ca_bundle=str(ca[0])).options
    assert isinstance(options.ca_bundle, ssl.SSLContext)
    assert len(options.ca_bundle.get_ca_certs()) == 1  # the test CA alone


# -- headers and encodings ----------------------------------------------------------------------


def test_fetch_headers_are_sent_and_compression_is_never_asked_for(
    own_issuer: LocalIssuer, tls_jwks: TLSServer, ca: tuple[Path, Path, Path]
) -> None:
    validator = own_issuer.validator(
        jwks_uri=tls_jwks.jwks_uri, ca_bundle=str(ca[0]), fetch_headers={"X-Api-Key": "k-123"}
    )
    assert status_of(validator).loaded
    ((_, headers),) = tls_jwks.requests
    assert headers["x-api-key"] == "k-123"
    assert headers["accept-encoding"] == "identity"
    assert "proxy-authorization" not in headers


def test_a_compressed_key_set_is_refused(own_issuer: LocalIssuer) -> None:
    # A server that compresses anyway: the body is never decoded (a small gzip can expand without bound).
    body = json.dumps(own_issuer.jwks()).encode()
    own_issuer.server.route("/gz", lambda request: Response(200, body, {"Content-Encoding": "gzip"}))
    status = status_of(own_issuer.validator(jwks_uri=own_issuer.url + "/gz"))
    assert (status.loaded, status.last_error) == (False, "compressed_response")


# -- the application's own fetch function ---------------------------------------------------------


class RecordingFetch:
    """A fetch function answering from a dict of URL -> (status, headers, body); records its calls."""

    def __init__(self, answers: Mapping[str, tuple[int, Mapping[str, str], bytes]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, str], float, int]] = []

    def __call__(self, url: str, headers: Mapping[str, str], timeout: float, max_bytes: int) -> Any:
        self.calls.append((url, dict(headers), timeout, max_bytes))
        answer = self.answers[url]
        if isinstance(answer, Exception):
            raise answer
        return answer


JWKS_URI = "https://keys.example.test/jwks"


def test_a_fetch_function_replaces_the_client(own_issuer: LocalIssuer) -> None:
    body = json.dumps(own_issuer.jwks()).encode()
    fetch = RecordingFetch({JWKS_URI: (200, {"Cache-Control": "max-age=120"}, body)})
    validator = own_issuer.validator(jwks_uri=JWKS_URI, fetch=fetch, fetch_headers={"x-api-key": "k"}, timeout=2)
    validator.validate(own_issuer.token())
    ((url, headers, timeout, max_bytes),) = fetch.calls
    assert url == JWKS_URI
    assert headers["x-api-key"] == "k"
    assert headers["Accept-Encoding"] == "identity"
    assert 0 < timeout <= 2
    assert max_bytes == 1024 * 1024
    assert own_issuer.server.hits.total() == 0


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((200, {}, b"x" * (1024 * 1024 + 1)), "response_too_large"),
        ((200, {"content-encoding": "br"}, b"{}"), "compressed_response"),
        ((302, {"Location": "https://elsewhere.example.test/jwks"}, b""), "redirect_to_other_origin"),
        ((500, {}, b""), "http_status"),
        (ConnectionResetError("secret internal detail"), "network_error"),
        (TimeoutError(), "timeout"),
        (("not", "a", "response"), "invalid_fetch_result"),
    ],
    ids=["too-large", "compressed", "other-origin", "500", "raises", "times-out", "garbage"],
)
def test_the_bounds_hold_on_what_a_fetch_function_returns(own_issuer: LocalIssuer, answer: Any, reason: str) -> None:
    fetch = RecordingFetch({JWKS_URI: answer})
    status = status_of(own_issuer.validator(jwks_uri=JWKS_URI, fetch=fetch))
    assert (status.loaded, status.last_error) == (False, reason)
    assert [call[0] for call in fetch.calls] == [JWKS_URI]  # a redirect elsewhere is never requested


def test_a_fetch_function_from_the_environment() -> None:
    environ = {"JWTGUARD_ISSUER": "https://i.example/", "JWTGUARD_AUDIENCE": "a"}
    environ["JWTGUARD_FETCH"] = "tests.test_transport:example_fetch"
    fetch = jwtguard.Validator.from_env(environ).options.fetch
    assert (fetch.__module__, fetch.__qualname__) == ("tests.test_transport", "example_fetch")  # type: ignore[union-attr]


def example_fetch(url: str, headers: Mapping[str, str], timeout: float, max_bytes: int) -> Any:
    return 404, {}, b""


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"proxy": "https://proxy.example.test:3128"},
        {"proxy": "socks5://proxy.example.test:1080"},
        {"proxy": "proxy.example.test:3128"},
        {"proxy": "http://proxy.example.test:3128/path"},
        {"proxy": "http://proxy.example.test:port"},
        {"proxy": 3128},
        {"ca_bundle": "/nonexistent/ca.pem"},
        {"ca_bundle": __file__},  # a file without certificates
        {"ca_bundle": ssl._create_unverified_context()},
        {"ca_bundle": 42},
        {"fetch_headers": {"Host": "elsewhere.example"}},
        {"fetch_headers": {"Accept-Encoding": "gzip"}},
        {"fetch_headers": {"bad name": "x"}},
        {"fetch_headers": {"x-api-key": "a\r\nInjected: yes"}},
        {"fetch_headers": "x-api-key: k"},
        {"fetch": "not callable"},
        {"fetch": lambda url: (200, {}, b"")},
        {"fetch": example_fetch, "proxy": "http://proxy.example.test:3128"},
        {"fetch": example_fetch, "trust_env_proxies": True},
        {"trust_env_proxies": "yes"},
    ],
)
def test_bad_transport_options_are_configuration_errors(options: dict[str, Any]) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        jwtguard.Validator(issuer="https://i.example/", audience="a", **options)


def test_a_fetch_function_and_a_ca_bundle_exclude_each_other(ca: tuple[Path, Path, Path]) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        jwtguard.Validator(issuer="https://i.example/", audience="a", fetch=example_fetch, ca_bundle=str(ca[0]))


def test_credentials_and_secrets_stay_out_of_the_options_repr(ca: tuple[Path, Path, Path]) -> None:
    validator = jwtguard.Validator(issuer="https://i.example/", audience="a", fetch_headers={"x-api-key": "s3cret"})
    assert "s3cret" not in repr(validator.options)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"cache-control": "public"}, None),
        ({"cache-control": "public, max-age=300"}, 300),
        ({"cache-control": 'max-age="300"'}, 300),
        ({"cache-control": "MAX-AGE=300"}, 300),
        ({"cache-control": "max-age=300, max-age=10"}, 300),  # RFC 9111 §4.2.1: the first one
        ({"cache-control": "max-age=300", "age": "100"}, 200),
        ({"cache-control": "max-age=300", "age": "1000"}, 0),
        ({"cache-control": "max-age=300", "age": "x"}, 300),
        ({"cache-control": "max-age=300, no-cache"}, 0),
        ({"cache-control": "no-store"}, 0),
        ({"cache-control": "max-age=-1"}, None),
        ({"cache-control": "max-age=1e9"}, None),
        ({"cache-control": "s-maxage=300"}, None),  # for shared caches, not for us
    ],
)
def test_max_age_of(headers: dict[str, str], seconds: float | None) -> None:
    assert max_age_of(headers) == seconds


def test_plain_http_goes_to_the_proxy_with_the_issuers_host(own_issuer: LocalIssuer) -> None:
    # Loopback http:// through an http:// proxy: any HTTP server can play the proxy and record what it got.
    hosts: list[str | None] = []

    def forward(request: Any) -> Response:
        hosts.append(request.header("Host"))
        return Response(200, own_issuer.jwks())

    with LocalServer() as fake_proxy:
        fake_proxy.route("/.well-known/jwks.json", forward)
        assert status_of(own_issuer.validator(jwks_uri=own_issuer.jwks_uri, proxy=fake_proxy.url)).loaded
    assert hosts == [own_issuer.url.removeprefix("http://")]
    assert own_issuer.server.hits.total() == 0
