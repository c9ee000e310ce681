"""Real parts for the client tests: a protected API (Starlette + JWTGuardMiddleware under uvicorn),
a local issuer whose token endpoint can be held until a test's requests have piled up, and
runners that fire many requests at once through requests, httpx (threads) or httpx (asyncio tasks)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests
from fake_clock import FakeClock
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import jwtguard
from jwtguard.asgi import JWTGuardMiddleware, get_claims
from jwtguard.cli._demo_api import ApiServer
from jwtguard.client import RefreshingAuth, RequestsRefreshingAuth, TokenSet
from jwtguard.testing import LocalIssuer
from jwtguard.testing import Request as IssuerRequest
from jwtguard.testing import Response as IssuerResponse
from jwtguard.testing.issuer import TOKEN_PATH

ROTATIONS = ("none", "rotate", "rotate-sliding")
TRANSPORTS = ("requests", "httpx", "httpx-async")
LIFETIME = 300.0  # seconds an access token lives
SCOPE = "openid offline_access read:messages"
TLS = httpx.create_ssl_context()  # loaded once: every test client shares it (they speak plain http anyway)


def _app(validator: jwtguard.Validator) -> Any:
    async def messages(request: Request) -> JSONResponse:
        claims = get_claims(request)
        validator.require_scopes(claims, "read:messages")
        return JSONResponse({"sub": claims["sub"]})

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"received": len(await request.body())})

    routes = [Route("/messages", messages), Route("/echo", echo, methods=["POST"])]
    return JWTGuardMiddleware(Starlette(routes=routes), validator=validator, realm="api")


class Api:
    """One uvicorn server for many tests; :meth:`serve` installs a test's validator and resets the count."""

    def __init__(self) -> None:
        self._app: Any = None
        self.hits = 0
        self.on_hit: Callable[[int], None] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.hits += 1  # the event loop's thread only
            if self.on_hit is not None:
                self.on_hit(self.hits)
        await self._app(scope, receive, send)

    def serve(self, validator: jwtguard.Validator) -> None:
        self._app = _app(validator)
        self.hits = 0
        self.on_hit = None


@contextmanager
def running_api() -> Iterator[tuple[Api, str]]:
    api = Api()
    with ApiServer(api) as server:
        yield api, server.url


@dataclass
class Flow:
    """A logged-in user: the issuer and the API share ``clock``; ``saved`` collects ``on_tokens`` calls."""

    issuer: LocalIssuer
    clock: FakeClock
    api: Api
    api_url: str
    login: dict[str, Any]
    saved: list[TokenSet] = field(default_factory=list)

    def expire(self) -> None:
        """Move the issuer's and the API's clock past the access token's expiry (and the API's leeway)."""
        self.clock.advance(LIFETIME + 10)

    def auth(self, transport: str, *, client_clock: Callable[[], float] | None = None, **options: Any) -> Any:
        """The refreshing auth for ``transport``; the client's clock is the flow's unless given."""
        kind = RequestsRefreshingAuth if transport == "requests" else RefreshingAuth
        options.setdefault("tokens", self.login)
        options.setdefault("on_tokens", self.saved.append)
        return kind(
            self.issuer.token_endpoint,
            "test-client",
            "test-secret",
            clock=client_clock or self.clock,
            **options,
        )

    def hold_token_endpoint(self, until: threading.Event) -> None:
        """Answer token requests only once ``until`` is set (or 10 s passed): the requests pile up meanwhile."""

        def held(request: IssuerRequest) -> IssuerResponse:
            until.wait(10)
            return self.issuer.oauth.handle(request)

        self.issuer.server.route(TOKEN_PATH, held)


def fire(transport: str, auth: Any, url: str, count: int, *, started: threading.Event | None = None) -> list[int]:
    """``count`` GETs at once through ``transport``; ``started`` is set once every one of them has begun."""
    lock = threading.Lock()
    begun = [0]

    def begin() -> None:
        with lock:
            begun[0] += 1
            if begun[0] == count and started is not None:
                started.set()

    if transport == "httpx-async":

        async def main() -> list[int]:
            async with httpx.AsyncClient(auth=auth, trust_env=False, timeout=20, verify=TLS) as client:

                async def one() -> int:
                    begin()
                    return (await client.get(url)).status_code

                return list(await asyncio.gather(*(one() for _ in range(count))))

        return asyncio.run(main())

    barrier = threading.Barrier(count)
    if transport == "httpx":
        with httpx.Client(auth=auth, trust_env=False, timeout=20, verify=TLS) as client:

            def one_httpx(_: int) -> int:
                barrier.wait()
                begin()
                return client.get(url).status_code

            with ThreadPoolExecutor(count) as pool:
                return list(pool.map(one_httpx, range(count)))

    def one_requests(_: int) -> int:
        with requests.Session() as session:
            session.trust_env = False
            barrier.wait()
            begin()
            return session.get(url, auth=auth, timeout=20).status_code

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one_requests, range(count)))


def call(transport: str, auth: Any, method: str, url: str, **kwargs: Any) -> Any:
    """One request through ``transport``; the response (``.status_code``, ``.json()``)."""
    if transport == "requests":
        with requests.Session() as session:
            session.trust_env = False
            return session.request(method, url, auth=auth, timeout=20, **kwargs)
    if transport == "httpx":
        with httpx.Client(auth=auth, trust_env=False, timeout=20, verify=TLS) as client:
            return client.request(method, url, **kwargs)

    async def main() -> httpx.Response:
        async with httpx.AsyncClient(auth=auth, trust_env=False, timeout=20, verify=TLS) as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(main())
