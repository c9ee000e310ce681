"""jwtguard.client's single flight and flow, with no network: TokenState driven by plain functions,
the httpx flow driven by next()/send(), and the lazy imports."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable

import httpx
import pytest
from fake_clock import FakeClock

from jwtguard.client import LoginRequiredError, RefreshingAuth, TokenEndpoint, TokenEndpointError, TokenSet
from jwtguard.client._httpx import _Renew
from jwtguard.client._protocol import RefreshGrant, TokenRequest
from jwtguard.client._state import TokenState

URL = "http://127.0.0.1:9/oauth/token"


class Endpoint:
    """A token endpoint as a plain function: it rotates refresh tokens and counts what it was sent."""

    def __init__(self) -> None:
        self.spent: list[str] = []
        self.gate: threading.Event | None = None

    def __call__(self, request: TokenRequest) -> tuple[int, bytes]:
        if self.gate is not None:
            self.gate.wait(5)
        spent = dict(pair.split("=") for pair in request.body.decode().split("&"))["refresh_token"]
        if spent in self.spent:
            return 400, json.dumps({"error": "invalid_grant", "error_description": "reused"}).encode()
        self.spent.append(spent)
        number = len(self.spent)
        answer = {
            "access_token": f"at{number}",
            "token_type": "Bearer",
            "expires_in": 60,
            "refresh_token": f"rt{number}",
        }
        return 200, json.dumps(answer).encode()

    async def asend(self, request: TokenRequest) -> tuple[int, bytes]:
        await asyncio.sleep(0)  # a real await: other tasks run meanwhile
        return self(request)


def state(clock: FakeClock, on_tokens: Callable[[TokenSet], None] | None = None, wait: float = 5) -> TokenState:
    tokens = TokenSet("at0", "rt0", expires_at=clock() + 60, expires_in=60)
    return TokenState(
        tokens, RefreshGrant(TokenEndpoint(URL, "c")), clock=clock, margin=10, on_tokens=on_tokens, wait_timeout=wait
    )


def test_before_the_margin_nothing_is_renewed_then_once() -> None:
    clock, endpoint = FakeClock(0), Endpoint()
    tokens = state(clock)
    assert tokens.obtain(None, False, endpoint).access_token == "at0"
    clock.advance(50)  # within the 10 s margin
    assert tokens.obtain(None, False, endpoint).access_token == "at1"
    assert tokens.obtain(None, False, endpoint).access_token == "at1"
    assert endpoint.spent == ["rt0"]


def test_a_request_overtaken_by_a_refresh_retries_without_refreshing() -> None:
    clock, endpoint = FakeClock(0), Endpoint()
    tokens = state(clock)
    assert tokens.obtain("at0", True, endpoint).access_token == "at1"  # the first 401 refreshes
    assert tokens.obtain("at0", True, endpoint).access_token == "at1"  # a late 401 of the old token does not
    assert tokens.obtain("at1", True, endpoint).access_token == "at2"  # a 401 of the current one does
    assert endpoint.spent == ["rt0", "rt1"]


def test_threads_share_one_flight() -> None:
    clock, endpoint = FakeClock(0), Endpoint()
    tokens = state(clock)
    endpoint.gate = threading.Event()  # the leader's token request is held
    results: list[str | None] = []

    def request() -> None:
        results.append(tokens.obtain("at0", True, endpoint).access_token)

    leader = threading.Thread(target=request)
    leader.start()
    while tokens._flight is None:
        threading.Event().wait(0.001)
    follower = threading.Thread(target=request)
    follower.start()
    follower.join(0.05)
    assert follower.is_alive()  # waiting for the leader's refresh
    endpoint.gate.set()
    for thread in (leader, follower):
        thread.join(5)
    assert results == ["at1", "at1"]
    assert endpoint.spent == ["rt0"]


def test_tasks_share_one_flight_and_a_cancelled_leader_does_not_lose_the_rotation() -> None:
    clock, endpoint = FakeClock(0), Endpoint()
    saved: list[TokenSet] = []
    tokens = state(clock, saved.append)
    clock.advance(100)  # expired

    async def main() -> list[str | None]:
        leader = asyncio.ensure_future(tokens.aobtain(None, False, endpoint.asend))
        await asyncio.sleep(0)  # the leader has sent its token request
        leader.cancel()
        followers = await asyncio.gather(*(tokens.aobtain(None, False, endpoint.asend) for _ in range(10)))
        with pytest.raises(asyncio.CancelledError):
            await leader
        return [t.access_token for t in followers]

    assert asyncio.run(main()) == ["at1"] * 10
    assert endpoint.spent == ["rt0"]
    assert [t.refresh_token for t in saved] == ["rt1"]  # persisted although its caller went away
    assert tokens.tokens == saved[0]


def test_on_tokens_runs_before_anyone_uses_the_tokens_and_its_error_reaches_the_leader() -> None:
    clock, endpoint = FakeClock(0), Endpoint()

    def broken_storage(tokens: TokenSet) -> None:
        raise OSError("disk full")

    tokens = state(clock, broken_storage)
    with pytest.raises(OSError, match="disk full"):
        tokens.obtain("at0", True, endpoint)
    assert tokens.obtain("at0", True, endpoint).access_token == "at1"  # the new tokens are in use anyway
    assert endpoint.spent == ["rt0"]


def test_a_waiter_gives_up_after_wait_timeout() -> None:
    clock, endpoint = FakeClock(0), Endpoint()
    tokens = state(clock, wait=0.05)
    endpoint.gate = threading.Event()
    leader = threading.Thread(target=tokens.obtain, args=("at0", True, endpoint))
    leader.start()
    while tokens._flight is None:  # the leader's flight is under way
        threading.Event().wait(0.001)
    with pytest.raises(TokenEndpointError) as caught:
        tokens.obtain("at0", True, endpoint)
    assert caught.value.error == "timeout"
    endpoint.gate.set()
    leader.join(5)
    assert tokens.tokens == TokenSet("at1", "rt1", 60.0, 60.0)


def test_login_required_sticks_until_new_tokens_are_installed() -> None:
    clock, endpoint = FakeClock(0), Endpoint()
    endpoint.spent.append("rt0")  # already used elsewhere
    tokens = state(clock)
    with pytest.raises(LoginRequiredError):
        tokens.obtain("at0", True, endpoint)
    with pytest.raises(LoginRequiredError):
        tokens.obtain(None, False, endpoint)  # at once, without a request
    assert endpoint.spent == ["rt0"]
    tokens.replace({"access_token": "fresh", "token_type": "Bearer", "refresh_token": "rt9"})
    assert tokens.obtain(None, False, endpoint).access_token == "fresh"


def test_an_outage_falls_back_to_a_token_that_has_not_expired(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(0)
    tokens = state(clock)

    def down(request: TokenRequest) -> tuple[int, bytes]:
        return 503, b"down"

    clock.advance(55)  # within the margin, 5 s before the expiry
    with caplog.at_level(logging.DEBUG, logger="jwtguard.client"):
        assert tokens.obtain(None, False, down).access_token == "at0"
    assert "token renewal failed (server_error)" in caplog.text
    with pytest.raises(TokenEndpointError):
        tokens.obtain("at0", True, down)  # the API refused it: no fallback
    clock.advance(5)
    with pytest.raises(TokenEndpointError):
        tokens.obtain(None, False, down)  # expired: no fallback either


def test_logs_never_carry_tokens(caplog: pytest.LogCaptureFixture) -> None:
    clock, endpoint = FakeClock(0), Endpoint()
    tokens = state(clock)
    with caplog.at_level(logging.DEBUG, logger="jwtguard.client"):
        tokens.obtain("at0", True, endpoint)
        endpoint.spent.append("rt1")
        with pytest.raises(LoginRequiredError) as caught:
            tokens.obtain("at1", True, endpoint)
    assert "access token renewed" in caplog.text
    assert "must log in again" in caplog.text
    for secret in ("at0", "rt0", "at1", "rt1"):
        assert secret not in caplog.text
        assert secret not in str(caught.value)


# -- the httpx flow, step by step ------------------------------------------------------------------


def invalid_token() -> httpx.Response:
    return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'})


def test_the_flow_retries_once_on_invalid_token() -> None:
    auth = RefreshingAuth(URL, "c", tokens=TokenSet("at0", "rt0"))
    flow = auth._flow(httpx.Request("POST", "http://api.test/x", content=b"body"))
    assert next(flow) == _Renew(None, force=False)
    request = flow.send(TokenSet("at0", "rt0"))
    assert isinstance(request, httpx.Request)
    assert request.headers["Authorization"] == "Bearer at0"
    assert flow.send(invalid_token()) == _Renew("at0", force=True)
    again = flow.send(TokenSet("at1", "rt1"))
    assert isinstance(again, httpx.Request)
    assert again.headers["Authorization"] == "Bearer at1"
    assert again.content == b"body"
    with pytest.raises(StopIteration):
        flow.send(invalid_token())  # never a second retry


@pytest.mark.parametrize(
    ("request_", "response"),
    [
        (httpx.Request("GET", "http://api.test/x"), httpx.Response(200)),
        (httpx.Request("GET", "http://api.test/x"), httpx.Response(403, headers={"WWW-Authenticate": "Bearer"})),
        (httpx.Request("GET", "http://api.test/x"), httpx.Response(401, headers={"WWW-Authenticate": "Bearer"})),
        (httpx.Request("POST", "http://api.test/x", content=iter([b"streamed"])), invalid_token()),
    ],
)
def test_the_flow_stops_after_one_request(request_: httpx.Request, response: httpx.Response) -> None:
    flow = RefreshingAuth(URL, "c", tokens=TokenSet("at0", "rt0"))._flow(request_)
    next(flow)
    flow.send(TokenSet("at0", "rt0"))
    with pytest.raises(StopIteration):
        flow.send(response)


def test_auth_flow_is_not_for_direct_use() -> None:
    with pytest.raises(RuntimeError, match=r"httpx\.Client"):
        RefreshingAuth(URL, "c", tokens=TokenSet("at0", "rt0")).auth_flow(httpx.Request("GET", "http://api.test/"))


def test_bad_options_are_configuration_errors() -> None:
    from jwtguard import ConfigurationError

    for options in ({"refresh_margin": -1}, {"timeout": 0}, {"refresh_margin": float("nan")}, {"timeout": True}):
        with pytest.raises(ConfigurationError):
            RefreshingAuth(URL, "c", tokens=TokenSet("a", "r"), **options)  # type: ignore[arg-type]


# -- imports ----------------------------------------------------------------------------------------


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)


def test_the_core_never_imports_the_client() -> None:
    code = (
        "import sys, jwtguard, jwtguard.testing, jwtguard.cli;"
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('httpx', 'requests') or m.startswith('jwtguard.client')))"
    )
    assert run(code).stdout.strip() == "[]"


def test_without_httpx_and_requests_the_import_says_what_to_install() -> None:
    result = run("import sys; sys.modules['httpx'] = sys.modules['requests'] = None; import jwtguard.client")
    assert result.returncode == 1
    assert 'pip install "jwtguard[client]"' in result.stderr


@pytest.mark.parametrize(
    ("missing", "works", "fails"),
    [
        ("httpx", "RequestsRefreshingAuth", "RefreshingAuth"),
        ("requests", "ClientCredentialsAuth", "RequestsRefreshingAuth"),
    ],
)
def test_one_library_is_enough_for_its_own_classes(missing: str, works: str, fails: str) -> None:
    code = f"import sys; sys.modules[{missing!r}] = None; from jwtguard.client import {works}, TokenSet; print('ok')"
    assert run(code).stdout.strip() == "ok"
    result = run(f"import sys; sys.modules[{missing!r}] = None; from jwtguard.client import {fails}")
    assert result.returncode == 1
    assert 'pip install "jwtguard[client]"' in result.stderr


def test_all_is_sorted_and_exported() -> None:
    import jwtguard.client as client

    assert client.__all__ == sorted(client.__all__)
    for name in client.__all__:
        assert getattr(client, name) is not None
    with pytest.raises(AttributeError):
        client.Nothing  # noqa: B018
