"""Service-to-service calls with a cached ``client_credentials`` token (jwtguard.client).

A local issuer and a small API protected by jwtguard run on 127.0.0.1. The token is
fetched on the first call, shared by concurrent calls, kept until shortly before it
expires, then fetched again. The example moves the shared clock instead of waiting.

    pip install "jwtguard[client]" && python examples/client_credentials.py
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

import httpx
import requests

import jwtguard
from jwtguard.client import ClientCredentialsAuth, RequestsClientCredentialsAuth
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
    clock = Clock()
    with LocalIssuer(clock=clock, access_token_lifetime=LIFETIME) as issuer, protected_api(issuer.validator()) as api:
        auth = ClientCredentialsAuth(
            issuer.token_endpoint,
            "test-client",
            "test-secret",
            scope="read:messages",
            params={"audience": issuer.audience},  # Auth0's parameter; RFC 8707 issuers take "resource"
            clock=clock,  # only because the example moves time; the default is time.time
        )
        outcomes = []
        with httpx.Client(auth=auth) as client, ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(lambda _: client.get(api).status_code, range(20)))
            print(f"20 concurrent calls:        {statuses.count(200)} x 200, {issuer.token_requests} token request")
            outcomes.append(statuses == [200] * 20 and issuer.token_requests == 1)

            statuses = [client.get(api).status_code for _ in range(5)]
            fetched = issuer.token_requests
            print(f"5 more calls:               {statuses.count(200)} x 200, {fetched} token request (cached)")
            outcomes.append(statuses == [200] * 5 and issuer.token_requests == 1)

            clock.offset += LIFETIME - 10  # shortly before the expiry: fetched again before the call
            response = client.get(api)
            fetched = issuer.token_requests
            print(f"near the expiry:            {response.status_code} {response.json()}, {fetched} token requests")
            outcomes.append(response.status_code == 200 and issuer.token_requests == 2)

        # The same with requests.
        with requests.Session() as session:
            session.auth = RequestsClientCredentialsAuth(
                issuer.token_endpoint, "test-client", "test-secret", scope="read:messages"
            )
            status = session.get(api, timeout=10).status_code
            print(f"with requests:              {status}")
            outcomes.append(status == 200)
    return 0 if all(outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
