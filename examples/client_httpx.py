"""Call a protected API with httpx and access tokens that renew themselves (jwtguard.client).

A local issuer and a small API protected by jwtguard run on 127.0.0.1. Instead of
waiting for tokens to expire, the example moves the clock that the issuer, the API
and the client share.

    pip install "jwtguard[client]" && python examples/client_httpx.py
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx

import jwtguard
from jwtguard.client import LoginRequiredError, RefreshingAuth, TokenSet
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
        # Your login flow's token response (authorization code + PKCE in a real app).
        login = issuer.login(scope="openid offline_access read:messages")
        database: dict[str, dict] = {}

        def save(tokens: TokenSet) -> None:  # persist every new token set: a rotated refresh token replaces the old
            database["tokens"] = dataclasses.asdict(tokens)
            print("  on_tokens: stored a new token set (the refresh token was rotated)")

        auth = RefreshingAuth(
            issuer.token_endpoint,
            "test-client",
            "test-secret",  # a confidential client (client_secret_basic); a public one passes no secret
            tokens=login,
            on_tokens=save,
            clock=clock,  # only because the example moves time; the default is time.time
        )
        outcomes = []
        with httpx.Client(auth=auth) as client:
            response = client.get(api)
            print(f"sync call:                       {response.status_code} {response.json()}")
            outcomes.append(response.status_code == 200)

            clock.offset += LIFETIME  # the access token is about to expire: the client refreshes first
            before = issuer.token_requests
            response = client.get(api)
            print(f"sync call after expiry:          {response.status_code}, {issuer.token_requests - before} refresh")
            outcomes.append(response.status_code == 200 and issuer.token_requests - before == 1)

        async def twenty_calls() -> list[int]:
            async with httpx.AsyncClient(auth=auth) as client:
                return [r.status_code for r in await asyncio.gather(*(client.get(api) for _ in range(20)))]

        clock.offset += LIFETIME
        before = issuer.token_requests
        statuses = asyncio.run(twenty_calls())
        refreshes = issuer.token_requests - before
        print(f"20 async calls after expiry:     {statuses.count(200)} x 200, {refreshes} refresh (shared)")
        outcomes.append(statuses == [200] * 20 and refreshes == 1)

        # A restarted app restores the stored token set and goes on.
        restored = RefreshingAuth(
            issuer.token_endpoint, "test-client", "test-secret", tokens=TokenSet(**database["tokens"]), clock=clock
        )
        with httpx.Client(auth=restored) as client:
            status = client.get(api).status_code
        print(f"after a restart:                 {status}")
        outcomes.append(status == 200)

        # The session ends (logout, or reuse detected): the refresh token is refused.
        issuer.oauth.refresh_tokens.revoke(database["tokens"]["refresh_token"])
        clock.offset += LIFETIME
        try:
            with httpx.Client(auth=restored) as client:
                client.get(api)
            outcomes.append(False)
        except LoginRequiredError as error:
            print(f"after the session was revoked:   LoginRequiredError ({error.error}): send the user to log in")
            outcomes.append(error.error == "invalid_grant")
    return 0 if all(outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
