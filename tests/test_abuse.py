"""Abuse of the key-set endpoint, measured through a real app (the Starlette example).

Every number SECURITY.md gives for these cases is asserted here: how many
fetches a flood of unknown ``kid``\\ s costs, how long a request waits on a slow
endpoint, how much memory a huge response takes, and that a discovery document
or a redirect cannot send the fetch somewhere else. The issuers are real HTTP
servers on 127.0.0.1; time that matters to the cache comes from a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import socket
import threading
import time
import tracemalloc
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import load_example
from fake_clock import FakeClock
from starlette.exceptions import StarletteDeprecationWarning

import jwtguard
from jwtguard._keys import MAX_KEYS
from jwtguard.testing import LocalIssuer, LocalServer, Response, SigningKey
from jwtguard.testing.keys import b64url, b64url_json

with warnings.catch_warnings():
    # Starlette >= 1.x prefers httpx2 for its test client and warns when it runs on httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

example = load_example("starlette_app")

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/.well-known/jwks.json"
SCOPE = "read:messages"
COOLDOWN = 30.0
RETRY_INTERVAL = 5.0  # jwtguard._keycache.CachePolicy.retry_interval
MAX_RESPONSE = 1024 * 1024  # Validator(max_response_size=...) default
FIFTY_MB = 50 * 1024 * 1024


@pytest.fixture
def attacker() -> Iterator[LocalServer]:
    """Somewhere a fetch must never go; it would serve keys that work, to make the point."""
    with LocalServer() as server:
        yield server


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def app_for(validator: jwtguard.Validator) -> Any:
    return example.create_app(validator)


def burst(app: Any, tokens: list[str]) -> list[tuple[httpx.Response, float]]:
    """Send one request per token, all at once; return each answer with the seconds it took."""

    async def one(client: httpx.AsyncClient, token: str) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = await client.get("/messages", headers=bearer(token))
        return response, time.monotonic() - started

    async def main() -> list[tuple[httpx.Response, float]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await asyncio.gather(*(one(client, token) for token in tokens))

    return asyncio.run(main())


def assert_outage(response: httpx.Response) -> None:
    """503 with Retry-After and no challenge: our outage, never the client's fault."""
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert "www-authenticate" not in response.headers
    assert response.json()["error"] == "temporarily_unavailable"


# -- a flood of random kids ---------------------------------------------------------------------


def random_kid_tokens(issuer: LocalIssuer, count: int) -> list[str]:
    """Tokens naming random keys: one signed token, its header re-minted with a fresh ``kid`` each."""
    _, payload, signature = issuer.token(scope=SCOPE).split(".")
    headers = ({"alg": issuer.signing_key.alg, "typ": "JWT", "kid": secrets.token_urlsafe(12)} for _ in range(count))
    return [f"{b64url_json(header)}.{payload}.{signature}" for header in headers]


def test_300_concurrent_random_kids_cost_one_fetch(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    validator = own_issuer.validator(clock=clock, unknown_kid_cooldown=COOLDOWN)
    app = app_for(validator)
    good = own_issuer.token(scope=SCOPE)
    assert TestClient(app).get("/messages", headers=bearer(good)).status_code == 200
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)

    answers = burst(app, random_kid_tokens(own_issuer, 300))

    assert {response.status_code for response, _ in answers} == {401}
    assert all('error="invalid_token"' in response.headers["www-authenticate"] for response, _ in answers)
    # The first unknown kid refetches at once (a rotation right after start-up); all 300 share it.
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 2)
    assert TestClient(app).get("/messages", headers=bearer(good)).status_code == 200


def test_a_flood_of_random_kids_costs_one_fetch_per_cooldown_window(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    validator = own_issuer.validator(clock=clock, unknown_kid_cooldown=COOLDOWN)
    good = own_issuer.token(scope=SCOPE)
    statuses = []
    with TestClient(app_for(validator)) as client:
        assert client.get("/messages", headers=bearer(good)).status_code == 200
        for token in random_kid_tokens(own_issuer, 300):
            clock.advance(1)  # 300 requests over 300 s: one per second
            response = client.get("/messages", headers=bearer(token))
            statuses.append(response.status_code)
            assert "The token signing key is not known" in response.headers["www-authenticate"]
        assert set(statuses) == {401}
        # Refetches at t = 1, 31, 61, ... 271: one per 30 s window, 10 in 300 s, plus the first fetch.
        assert own_issuer.jwks_fetches == 1 + 10
        assert own_issuer.discovery_fetches == 1  # the discovered jwks_uri is reused
        # A key really rotated in is still found within one cooldown.
        own_issuer.rotate()
        clock.advance(COOLDOWN)
        assert client.get("/messages", headers=bearer(own_issuer.token(scope=SCOPE))).status_code == 200
        assert own_issuer.jwks_fetches == 1 + 10 + 1


# -- a slow key-set endpoint --------------------------------------------------------------------


def test_a_slow_key_set_endpoint_costs_each_request_at_most_the_timeout(
    own_issuer: LocalIssuer, clock: FakeClock
) -> None:
    release = threading.Event()

    def slow(request: Any) -> Response:
        release.wait(3)  # slower than the timeout; released when the test ends
        return Response(200, own_issuer.jwks())

    own_issuer.server.route(JWKS, slow)
    timeout, margin = 0.3, 1.2
    validator = own_issuer.validator(clock=clock, timeout=timeout)
    app = app_for(validator)
    token = own_issuer.token(scope=SCOPE)
    try:
        # 20 requests arrive while the key set is cold: they share one fetch, and each ends in time.
        answers = burst(app, [token] * 20)
        for response, seconds in answers:
            assert_outage(response)
            assert seconds < timeout + margin
        assert own_issuer.jwks_fetches == 1
        assert answers[0][0].headers["retry-after"] == str(int(RETRY_INTERVAL))

        with TestClient(app) as client:
            # Within the retry interval nothing is fetched: requests fail fast.
            started = time.monotonic()
            assert_outage(client.get("/messages", headers=bearer(token)))
            assert time.monotonic() - started < 0.2
            assert own_issuer.jwks_fetches == 1

            # After it, one new attempt, bounded the same way.
            clock.advance(RETRY_INTERVAL)
            started = time.monotonic()
            assert_outage(client.get("/messages", headers=bearer(token)))
            assert time.monotonic() - started < timeout + margin
            assert own_issuer.jwks_fetches == 2
    finally:
        release.set()


# -- a huge key-set response --------------------------------------------------------------------

CHUNK = b" " * (1 << 20)  # allocated once, before memory is traced


class RawServer:
    """An HTTP server on a raw socket, for framings LocalServer never uses.

    It answers every request with a 50 MB body, either ``Transfer-Encoding:
    chunked`` or delimited by closing the connection (no ``Content-Length``),
    and counts the bytes it managed to send before the client hung up.
    """

    def __init__(self, framing: str) -> None:
        self.framing = framing
        self.sent = 0
        self.requests = 0
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/jwks"

    def _serve(self) -> None:
        # OSError: the client hung up (reset, broken pipe) once it had read enough.
        with self._socket, contextlib.suppress(OSError):
            connection, _ = self._socket.accept()
            with connection:
                self.requests += 1
                request = b""
                while b"\r\n\r\n" not in request:
                    request += connection.recv(4096)
                chunked = self.framing == "chunked"
                head = "Transfer-Encoding: chunked" if chunked else "Connection: close"
                connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{head}\r\n\r\n".encode())
                while self.sent < FIFTY_MB:
                    if chunked:
                        connection.sendall(f"{len(CHUNK):x}\r\n".encode())
                    connection.sendall(CHUNK)
                    if chunked:
                        connection.sendall(b"\r\n")
                    self.sent += len(CHUNK)
                if chunked:
                    connection.sendall(b"0\r\n\r\n")

    def finished(self) -> bool:
        self._thread.join(timeout=10)
        return not self._thread.is_alive()


def peak_memory_of(action: Any) -> tuple[Any, int]:
    """Run ``action``; return its result and the peak of memory allocated meanwhile (all threads)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.mark.parametrize("framing", ["content-length", "chunked", "close-delimited"])
def test_a_50_mb_key_set_is_refused_in_bounded_memory(own_issuer: LocalIssuer, clock: FakeClock, framing: str) -> None:
    raw: RawServer | None = None
    if framing == "content-length":
        huge = CHUNK * 50  # allocated before tracing; LocalServer sends it with its Content-Length
        own_issuer.server.route(JWKS, lambda request: Response(200, huge))
        validator = own_issuer.validator(clock=clock)
    else:
        raw = RawServer(framing)
        validator = own_issuer.validator(clock=clock, jwks_uri=raw.url)
    token = own_issuer.token(scope=SCOPE)
    with TestClient(app_for(validator)) as client:
        client.get("/health")  # the client's own machinery is set up before memory is traced
        started = time.monotonic()
        response, peak = peak_memory_of(lambda: client.get("/messages", headers=bearer(token)))
        seconds = time.monotonic() - started

    assert_outage(response)
    (status,) = validator.key_set_status()
    assert status.last_error == "response_too_large"
    assert peak < 5 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
    assert seconds < 2
    if raw is not None:
        # Reading stopped at the cap: the server could not hand over the 50 MB.
        assert raw.finished()
        assert raw.requests == 1
        assert raw.sent < FIFTY_MB / 2


def test_a_key_set_with_thousands_of_keys_costs_at_most_max_keys(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    jwk = own_issuer.signing_key.jwk
    filler = [{**jwk, "kid": f"filler-{index}"} for index in range(2000)]  # ~800 KB: under the size cap
    own_issuer.server.route(JWKS, lambda request: Response(200, {"keys": [*filler, jwk]}))
    validator = own_issuer.validator(clock=clock)
    client = TestClient(app_for(validator))
    started = time.monotonic()
    response = client.get("/messages", headers=bearer(own_issuer.token(scope=SCOPE)))
    assert time.monotonic() - started < 2
    # Only the first MAX_KEYS keys are loaded: the real key, published last, is not among them.
    assert response.status_code == 401
    (status,) = validator.key_set_status()
    assert status.key_count == MAX_KEYS


# -- the fetch cannot be sent elsewhere -----------------------------------------------------------


def port_of(server: LocalServer) -> str:
    return server.url.rsplit(":", 1)[1]


@pytest.mark.parametrize(
    "target",
    [
        "http://0.0.0.0:{port}/jwks",  # plain http to a host that is not loopback (as far as the URL says)
        "ftp://127.0.0.1:{port}/jwks",
        "file:///etc/passwd",
        "data:application/json,{{}}",
        "//127.0.0.1:{port}/jwks",
        "/jwks",
        "",
    ],
    ids=["http-non-loopback", "ftp", "file", "data", "scheme-relative", "relative", "empty"],
)
def test_a_discovery_document_cannot_point_the_fetch_elsewhere(
    own_issuer: LocalIssuer, clock: FakeClock, attacker: LocalServer, target: str
) -> None:
    attacker.route("/jwks", lambda request: Response(200, own_issuer.jwks()))
    document = {**own_issuer.discovery_document(), "jwks_uri": target.format(port=port_of(attacker))}
    own_issuer.server.route(DISCOVERY, lambda request: Response(200, document))
    validator = own_issuer.validator(clock=clock)
    response = TestClient(app_for(validator)).get("/messages", headers=bearer(own_issuer.token(scope=SCOPE)))
    assert_outage(response)
    (status,) = validator.key_set_status()
    assert status.last_error == "discovery_jwks_uri_refused"
    assert attacker.hits.total() == 0
    assert own_issuer.jwks_fetches == 0


def test_the_refusal_is_what_keeps_the_fetch_home(
    own_issuer: LocalIssuer, clock: FakeClock, attacker: LocalServer
) -> None:
    # Control for the test above: opted into plain http, the same document does send the fetch there.
    attacker.route("/jwks", lambda request: Response(200, own_issuer.jwks()))
    document = {**own_issuer.discovery_document(), "jwks_uri": f"http://0.0.0.0:{port_of(attacker)}/jwks"}
    own_issuer.server.route(DISCOVERY, lambda request: Response(200, document))
    validator = own_issuer.validator(clock=clock, allow_insecure_http=True)
    response = TestClient(app_for(validator)).get("/messages", headers=bearer(own_issuer.token(scope=SCOPE)))
    assert response.status_code == 200
    assert attacker.hits["/jwks"] == 1


@pytest.mark.parametrize("path", [DISCOVERY, JWKS])
def test_a_redirect_to_another_origin_is_never_followed(
    own_issuer: LocalIssuer, clock: FakeClock, attacker: LocalServer, path: str
) -> None:
    attacker.route(DISCOVERY, lambda request: Response(200, own_issuer.discovery_document()))
    attacker.route(JWKS, lambda request: Response(200, own_issuer.jwks()))
    # Same host, another port: another origin (RFC 6454), so another server.
    own_issuer.server.route(path, lambda request: Response(302, "", {"Location": attacker.url + path}))
    validator = own_issuer.validator(clock=clock)
    assert_outage(TestClient(app_for(validator)).get("/messages", headers=bearer(own_issuer.token(scope=SCOPE))))
    (status,) = validator.key_set_status()
    assert status.last_error == "redirect_to_other_origin"
    assert attacker.hits.total() == 0


def test_a_redirect_loop_ends(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    own_issuer.server.route(JWKS, lambda request: Response(302, "", {"Location": JWKS}))
    validator = own_issuer.validator(clock=clock)
    assert_outage(TestClient(app_for(validator)).get("/messages", headers=bearer(own_issuer.token(scope=SCOPE))))
    assert own_issuer.jwks_fetches <= 1 + 4  # the first request, and urllib stops a loop after 4 repeats


def test_keys_of_another_issuer_never_verify(clock: FakeClock) -> None:
    # A token minted by a second issuer, claiming the first: the first's key set is asked, never the second's.
    with LocalIssuer(clock=clock) as first, LocalIssuer(clock=clock) as second:
        validator = first.validator(clock=clock)
        forged = second.factory().mint(iss=first.issuer, scope=SCOPE)
        evil = SigningKey("RS256", first.signing_key.kid, second.signing_key.private_key)
        same_kid = second.factory().mint(iss=first.issuer, scope=SCOPE, key=evil)
        client = TestClient(app_for(validator))
        assert client.get("/messages", headers=bearer(forged)).status_code == 401
        assert client.get("/messages", headers=bearer(same_kid)).status_code == 401
        assert second.server.hits.total() == 0


def test_environment_proxies_are_ignored(
    own_issuer: LocalIssuer, clock: FakeClock, attacker: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, attacker.url)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    # Control: Python's default opener does send loopback requests through that proxy.
    with contextlib.suppress(urllib.error.HTTPError):
        urllib.request.urlopen(own_issuer.jwks_uri, timeout=5).close()
    assert attacker.hits.total() == 1
    response = TestClient(app_for(own_issuer.validator(clock=clock))).get(
        "/messages", headers=bearer(own_issuer.token(scope=SCOPE))
    )
    assert response.status_code == 200
    assert attacker.hits.total() == 1  # the key set came straight from the issuer


# -- token substitution (RFC 8725 §3.12) --------------------------------------------------------


def test_an_id_token_is_not_an_access_token(own_issuer: LocalIssuer, clock: FakeClock) -> None:
    factory = own_issuer.factory()
    client = TestClient(app_for(own_issuer.validator(clock=clock)))
    # An ID token is addressed to the client (aud = client id), never to the API.
    assert client.get("/messages", headers=bearer(factory.id_token())).status_code == 401
    # One minted for the API's audience differs only in its typing: explicit typing (RFC 9068) tells them apart.
    id_token_for_api = factory.id_token(aud=own_issuer.audience, scope=SCOPE)
    strict = own_issuer.validator(clock=clock, token_types=jwtguard.RFC9068_TOKEN_TYPES)
    response = TestClient(app_for(strict)).get("/messages", headers=bearer(id_token_for_api))
    assert response.status_code == 401
    assert "The token type is not accepted" in response.headers["www-authenticate"]
    access_token = factory.mint(scope=SCOPE, headers={"typ": "at+jwt"})
    assert TestClient(app_for(strict)).get("/messages", headers=bearer(access_token)).status_code == 200


# -- logs ---------------------------------------------------------------------------------------


def test_attacker_text_never_reaches_the_logs(
    own_issuer: LocalIssuer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    marker = "ATTACKER-TEXT-7f3a"
    validator = own_issuer.validator(clock=clock, claim_checks={"tid": lambda value: int(value) > 0})
    tokens = [
        own_issuer.token(scope=SCOPE, tid=marker),  # the user's check raises on it
        own_issuer.token(scope=SCOPE, aud=marker),
        own_issuer.token(scope=SCOPE, iss=marker),
        own_issuer.factory().mint(headers={"kid": marker}, scope=SCOPE),
        marker,
    ]
    caplog.set_level(logging.DEBUG, logger="jwtguard")
    client = TestClient(app_for(validator))
    for token in tokens:
        assert client.get("/messages", headers=bearer(token)).status_code in (400, 401)
    assert caplog.records  # rejections are logged (at debug) ...
    for token in tokens:
        assert token not in caplog.text
    assert marker not in caplog.text  # ... without a token, a claim value or a header value


# -- misconfiguration ---------------------------------------------------------------------------


@pytest.mark.parametrize(("alg", "size"), [("HS256", 16), ("HS384", 32), ("HS512", 48)])
def test_an_hmac_secret_shorter_than_the_hash_is_refused(alg: str, size: int) -> None:
    secret = {"kty": "oct", "k": b64url(bytes(size)), "kid": "short", "alg": alg}
    with pytest.raises(jwtguard.ConfigurationError):
        jwtguard.Validator(issuer="https://issuer.example/", audience="api", algorithms=[alg], jwks={"keys": [secret]})


# -- SECURITY.md --------------------------------------------------------------------------------


def test_security_md_cites_only_tests_that_exist() -> None:
    root = Path(__file__).resolve().parent
    text = (root.parent / "SECURITY.md").read_text(encoding="utf-8")
    cited = set(re.findall(r"`(test_\w+\.py)::(test_\w+)`", text))
    assert len(cited) > 50
    missing = [
        f"{module}::{name}"
        for module, name in sorted(cited)
        if not re.search(rf"^(?:async )?def {name}\(", (root / module).read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert missing == []
