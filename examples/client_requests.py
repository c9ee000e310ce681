"""Call a protected API with requests and access tokens that renew themselves (jwtguard.client).

A local issuer and a small API protected by jwtguard run on 127.0.0.1; the clock
they share is moved past the access token's expiry instead of waiting. The client
keeps the real time, so it learns of the expiry from the API's answer — a 401 with
``error="invalid_token"`` — then refreshes once and sends the request again.

    pip install "jwtguard[client]" && python examples/client_requests.py
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests

import jwtguard
from jwtguard.client import RequestsRefreshingAuth, TokenSet
from jwtguard.testing import LocalIssuer
from jwtguard.wsgi import JWTGuardMiddleware, get_claims

LIFETIME = 300  # seconds an access token lives


class Clock:
    """The real time plus an offset the example moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@contextmanager
def protected_api(validator: jwtguard.Validator) -> Iterator[str]:
    """``GET /messages`` behind jwtguard's WSGI middleware, on a free loopback port; yields its URL."""

    def messages(environ, start_response):
        body = json.dumps({"sub": get_claims(environ)["sub"]}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        request_queue_size = 64  # many calls at once

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    app = JWTGuardMiddleware(messages, validator=validator, realm="api")
    with make_server("127.0.0.1", 0, app, server_class=Server, handler_class=Quiet) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_port}/messages"
        server.shutdown()


def main() -> int:
    clock = Clock()  # the issuer's and the API's
    with LocalIssuer(clock=clock, access_token_lifetime=LIFETIME) as issuer, protected_api(issuer.validator()) as api:
        login = issuer.login(scope="openid offline_access read:messages")  # your login flow's token response
        stored: list[TokenSet] = []  # stands for your database
        auth = RequestsRefreshingAuth(
            issuer.token_endpoint, "test-client", "test-secret", tokens=login, on_tokens=stored.append
        )
        outcomes = []
        with requests.Session() as session:
            session.auth = auth
            response = session.get(api, timeout=10)
            print(f"call:                          {response.status_code} {response.json()}")
            outcomes.append(response.status_code == 200)

            clock.offset += LIFETIME + 60  # the API's time: the token expired
            response = session.get(api, timeout=10)
            first = response.history[0]
            print(f"call after expiry:             {first.status_code} {first.headers['WWW-Authenticate']}")
            print(f"  refreshed, sent again:       {response.status_code} {response.json()}")
            outcomes.append(first.status_code == 401 and response.status_code == 200 and len(stored) == 1)

            # Twenty threads, all with the old token, all told 401 at once: one refresh for all of them.
            clock.offset += LIFETIME + 60
            before = issuer.token_requests
            with ThreadPoolExecutor(20) as pool:
                statuses = list(pool.map(lambda _: session.get(api, timeout=10).status_code, range(20)))
            refreshes = issuer.token_requests - before
            print(f"20 threads after expiry:       {statuses.count(200)} x 200, {refreshes} refresh (shared)")
            outcomes.append(statuses == [200] * 20 and refreshes == 1)

            # Streamed bodies are never sent twice: the 401 comes back as it is.
            clock.offset += LIFETIME + 60
            response = session.post(api, data=iter([b"a streamed ", b"body"]), timeout=10)
            print(f"streamed body after expiry:    {response.status_code} (not sent again)")
            outcomes.append(response.status_code == 401)
    return 0 if all(outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
