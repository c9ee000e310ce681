"""jwtguard.client over real HTTP: a local issuer's token endpoint and a protected API, in every rotation mode.

Time is injected: the issuer and the API share a fake clock that the tests move; a
client either shares it (it sees the expiry coming and refreshes first) or has a
frozen clock of its own (it learns of the expiry from the API's 401).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import requests
from client_support import LIFETIME, ROTATIONS, SCOPE, TRANSPORTS, Api, Flow, call, fire, running_api
from fake_clock import FakeClock

from jwtguard.client import (
    ClientCredentialsAuth,
    LoginRequiredError,
    RequestsClientCredentialsAuth,
    TokenEndpointError,
    TokenSet,
)
from jwtguard.testing import LocalClient, LocalIssuer, Response
from jwtguard.testing.issuer import TOKEN_PATH

CONCURRENCY = 50


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[Api, str]]:
    with running_api() as running:
        yield running


def start_flow(api: tuple[Api, str], clock: FakeClock, rotation: str = "rotate", **issuer_options: object) -> Flow:
    options = {"algorithm": "ES256", "refresh_token_rotation": rotation, "access_token_lifetime": LIFETIME}
    issuer = LocalIssuer(clock=clock, **{**options, **issuer_options}).start()  # type: ignore[arg-type]
    server, url = api
    server.serve(issuer.validator())
    return Flow(issuer, clock, server, url, issuer.login(scope=SCOPE))


@pytest.fixture(params=ROTATIONS)
def flow(request: pytest.FixtureRequest, api: tuple[Api, str], clock: FakeClock) -> Iterator[Flow]:
    running = start_flow(api, clock, request.param)
    yield running
    running.issuer.stop()


@pytest.fixture
def rotating(api: tuple[Api, str], clock: FakeClock) -> Iterator[Flow]:
    running = start_flow(api, clock, "rotate")
    yield running
    running.issuer.stop()


def family_alive(flow: Flow) -> bool:
    """Whether the login's refresh-token family is still usable (reuse detection revokes it)."""
    return flow.issuer.oauth.refresh_tokens.active(flow.clock()) == 1


# -- the race naive clients lose ----------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("learns_from", ["expiry", "401"])
def test_concurrent_requests_after_expiry_share_one_refresh(flow: Flow, transport: str, learns_from: str) -> None:
    # "expiry": the client's clock moves too, so it refreshes before sending;
    # "401": its clock is frozen, so all requests go out with the old token and come back 401.
    auth = flow.auth(transport, client_clock=FakeClock(flow.clock()) if learns_from == "401" else None)
    url = flow.api_url + "/messages"
    first_refresh_token = flow.login["refresh_token"]
    assert fire(transport, auth, url, 1) == [200]
    flow.expire()
    started = threading.Event()
    flow.hold_token_endpoint(started)  # the refresh is answered only once every request has begun
    before, flow.api.hits = flow.issuer.token_requests, 0

    statuses = fire(transport, auth, url, CONCURRENCY, started=started)

    assert statuses == [200] * CONCURRENCY
    assert flow.issuer.token_requests - before == 1  # one refresh for all of them
    assert flow.api.hits == (2 * CONCURRENCY if learns_from == "401" else CONCURRENCY)  # each retried at most once
    assert family_alive(flow)  # no reuse detected
    assert len(flow.saved) == 1
    assert flow.saved[0] == auth.tokens
    if flow.issuer.oauth.refresh_tokens.rotation == "none":
        assert auth.tokens.refresh_token == first_refresh_token
    else:
        assert auth.tokens.refresh_token not in (None, first_refresh_token)

    # The refresh token it holds now works for the next expiry too.
    flow.expire()
    assert fire(transport, auth, url, 3) == [200] * 3
    assert flow.issuer.token_requests - before == 2
    assert family_alive(flow)


def test_a_naive_client_in_the_same_race_triggers_reuse_detection(rotating: Flow) -> None:
    """The control: one refresh per failed request, as naive clients do, gets the family revoked."""
    flow, url = rotating, rotating.api_url + "/messages"
    flow.expire()
    refresh_token = flow.login["refresh_token"]
    barrier = threading.Barrier(5)

    def naive(_: int) -> int:
        with requests.Session() as session:
            session.trust_env = False
            headers = {"Authorization": f"Bearer {flow.login['access_token']}"}
            if session.get(url, headers=headers, timeout=10).status_code != 401:
                return -1
            barrier.wait()  # the 401s came back together
            answer = session.post(
                flow.issuer.token_endpoint,
                data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                auth=("test-client", "test-secret"),
                timeout=10,
            )
            return answer.status_code

    with ThreadPoolExecutor(5) as pool:
        statuses = sorted(pool.map(naive, range(5)))
    assert statuses == [200] + [400] * 4
    assert not family_alive(flow)


# -- rotation and persistence -----------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_rotated_refresh_token_is_persisted_and_restores_a_new_client(flow: Flow, transport: str) -> None:
    url = flow.api_url + "/messages"
    auth = flow.auth(transport)
    flow.expire()
    assert call(transport, auth, "GET", url).status_code == 200
    (saved,) = flow.saved
    assert saved.access_token != flow.login["access_token"]
    assert saved.expires_at == pytest.approx(flow.clock() + LIFETIME)  # from expires_in, at the time of the refresh

    # The application stored the token set; a new process restores it and goes on.
    restored = flow.auth(transport, tokens=TokenSet(**dataclasses.asdict(saved)), on_tokens=None)
    flow.expire()
    assert call(transport, restored, "GET", url).status_code == 200
    assert family_alive(flow)
    if flow.issuer.oauth.refresh_tokens.rotation != "none":
        # The first refresh spent the login's refresh token: presenting it again is reuse.
        spent = flow.issuer.oauth.refresh_tokens.redeem
        with pytest.raises(Exception, match="reused"):
            spent(flow.login["refresh_token"], "test-client", flow.clock())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_rotation_none_keeps_working_with_the_same_refresh_token(api: tuple[Api, str], transport: str) -> None:
    clock = FakeClock(1_800_000_000)
    flow = start_flow(api, clock, "none")
    try:
        auth = flow.auth(transport)
        for _ in range(3):
            flow.expire()
            assert call(transport, auth, "GET", flow.api_url + "/messages").status_code == 200
        assert len(flow.saved) == 3
        assert {tokens.refresh_token for tokens in flow.saved} == {flow.login["refresh_token"]}
        assert len({tokens.access_token for tokens in flow.saved}) == 3
    finally:
        flow.issuer.stop()


# -- the session ends ---------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_revoked_family_ends_in_login_required(flow: Flow, transport: str) -> None:
    auth = flow.auth(transport)
    assert flow.issuer.oauth.refresh_tokens.revoke(flow.login["refresh_token"])
    flow.expire()
    with pytest.raises(LoginRequiredError) as caught:
        call(transport, auth, "GET", flow.api_url + "/messages")
    assert (caught.value.error, caught.value.status_code) == ("invalid_grant", 400)
    assert "revoked" in caught.value.description

    # The session stays ended: no second attempt at the token endpoint...
    before = flow.issuer.token_requests
    with pytest.raises(LoginRequiredError):
        call(transport, auth, "GET", flow.api_url + "/messages")
    assert flow.issuer.token_requests == before
    # ...until the user logs in again.
    auth.set_tokens(flow.issuer.login(scope=SCOPE))
    assert call(transport, auth, "GET", flow.api_url + "/messages").status_code == 200


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_refresh_token_reused_elsewhere_ends_the_session(rotating: Flow, transport: str) -> None:
    flow = rotating
    auth = flow.auth(transport)
    flow.expire()
    assert call(transport, auth, "GET", flow.api_url + "/messages").status_code == 200
    # A thief replays the login's refresh token, already spent: the whole family is revoked.
    with pytest.raises(Exception, match="reused"):
        flow.issuer.oauth.refresh_tokens.redeem(flow.login["refresh_token"], "test-client", flow.clock())
    flow.expire()
    with pytest.raises(LoginRequiredError, match="invalid_grant"):
        call(transport, auth, "GET", flow.api_url + "/messages")


def test_without_a_refresh_token_a_401_means_login_required(api: tuple[Api, str], clock: FakeClock) -> None:
    flow = start_flow(api, clock)
    try:
        login = flow.issuer.login(scope="openid read:messages")  # no offline_access: no refresh token
        auth = flow.auth("httpx", tokens=login, client_clock=FakeClock(clock()))
        flow.expire()
        with pytest.raises(LoginRequiredError) as caught:
            call("httpx", auth, "GET", flow.api_url + "/messages")
        assert caught.value.error == "no_refresh_token"
        assert flow.issuer.token_requests == 0
    finally:
        flow.issuer.stop()


# -- what is retried, and how often ---------------------------------------------------------------------


def _stream() -> Iterator[bytes]:
    yield b"part one, "
    yield b"part two"


async def _astream() -> object:
    yield b"part one, "
    yield b"part two"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_replayable_body_is_sent_again_a_streamed_one_is_not(rotating: Flow, transport: str) -> None:
    flow, url = rotating, rotating.api_url + "/echo"
    auth = flow.auth(transport, client_clock=FakeClock(rotating.clock()))  # it will learn from the 401
    flow.expire()
    flow.api.hits = 0
    response = call(transport, auth, "POST", url, content=b"x" * 1000) if transport != "requests" else None
    if response is None:
        response = call(transport, auth, "POST", url, data=b"x" * 1000)
    assert response.status_code == 200
    assert response.json() == {"received": 1000}
    assert flow.api.hits == 2
    assert flow.issuer.token_requests == 1

    flow.expire()
    flow.api.hits = 0
    stream = _astream() if transport == "httpx-async" else _stream()
    if transport == "requests":
        response = call(transport, auth, "POST", url, data=stream)
    else:
        response = call(transport, auth, "POST", url, content=stream)
    assert response.status_code == 401  # returned as it came: the body was consumed
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert flow.api.hits == 1
    assert flow.issuer.token_requests == 1  # and no refresh was spent on it


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_no_retry_loop_when_the_refreshed_token_is_refused_too(rotating: Flow, transport: str) -> None:
    flow = rotating
    flow.api.serve(flow.issuer.validator(audience="https://another-api.test"))  # refuses every token
    auth = flow.auth(transport)
    response = call(transport, auth, "GET", flow.api_url + "/messages")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert flow.api.hits == 2  # the request and one retry
    assert flow.issuer.token_requests == 1  # one refresh
    assert family_alive(flow)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_403_or_a_401_without_invalid_token_is_returned_as_is(rotating: Flow, transport: str) -> None:
    flow = rotating
    auth = flow.auth(transport, tokens=flow.issuer.login(scope="openid offline_access"))  # no read:messages
    response = call(transport, auth, "GET", flow.api_url + "/messages")
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert flow.issuer.token_requests == 0

    def no_error_challenge(request: object) -> Response:
        return Response(401, {"error": "nope"}, {"WWW-Authenticate": 'Bearer realm="api"'})

    flow.issuer.server.route("/plain", no_error_challenge)
    response = call(transport, flow.auth(transport), "GET", flow.issuer.url + "/plain")
    assert response.status_code == 401
    assert flow.issuer.server.hits["/plain"] == 1
    assert flow.issuer.token_requests == 0


# -- client authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_id", "secret", "method"),
    [
        ("confidential", "s3cret:with+odd chars", "client_secret_basic"),
        ("confidential", "s3cret:with+odd chars", "client_secret_post"),
        ("spa", None, None),
    ],
)
@pytest.mark.parametrize("transport", ["requests", "httpx"])
def test_client_authentication_methods(
    api: tuple[Api, str], clock: FakeClock, client_id: str, secret: str | None, method: str | None, transport: str
) -> None:
    clients = [LocalClient("test-client", "test-secret"), LocalClient("confidential", "s3cret:with+odd chars")]
    clients.append(LocalClient("spa", None))
    flow = start_flow(api, clock, clients=clients)
    try:
        login = flow.issuer.login(client_id=client_id, scope=SCOPE)
        from jwtguard.client import RefreshingAuth, RequestsRefreshingAuth

        kind = RequestsRefreshingAuth if transport == "requests" else RefreshingAuth
        auth = kind(flow.issuer.token_endpoint, client_id, secret, tokens=login, auth_method=method, clock=clock)
        flow.expire()
        assert call(transport, auth, "GET", flow.api_url + "/messages").status_code == 200
        assert flow.issuer.token_requests == 1
    finally:
        flow.issuer.stop()


# -- the token endpoint fails ---------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_token_endpoint_failures_are_token_endpoint_errors(rotating: Flow, transport: str) -> None:
    flow, url = rotating, rotating.api_url + "/messages"
    flow.issuer.server.route(TOKEN_PATH, lambda request: Response(503, "down"))
    flow.expire()
    with pytest.raises(TokenEndpointError) as caught:
        call(transport, flow.auth(transport), "GET", url)
    assert (caught.value.error, caught.value.status_code) == ("server_error", 503)

    wrong_secret = flow.auth(transport)
    wrong_secret._state.grant.endpoint._secret = "wrong"  # type: ignore[attr-defined]
    flow.issuer.server.route(TOKEN_PATH, flow.issuer.oauth.handle)
    with pytest.raises(TokenEndpointError) as caught:
        call(transport, wrong_secret, "GET", url)
    assert (caught.value.error, caught.value.status_code) == ("invalid_client", 401)

    unreachable = flow.auth(transport)
    flow.issuer.stop()  # nothing listens there any more
    with pytest.raises(TokenEndpointError) as caught:
        call(transport, unreachable, "GET", url)
    assert caught.value.error == "network_error"
    assert caught.value.status_code is None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_outage_before_the_expiry_keeps_the_current_token(rotating: Flow, transport: str) -> None:
    flow = rotating
    auth = flow.auth(transport, refresh_margin=60)
    flow.clock.advance(LIFETIME - 30)  # within the margin, not yet expired
    flow.issuer.server.route(TOKEN_PATH, lambda request: Response(500, "down"))
    assert call(transport, auth, "GET", flow.api_url + "/messages").status_code == 200
    assert flow.issuer.server.hits[TOKEN_PATH] == 1
    assert auth.tokens.access_token == flow.login["access_token"]


# -- client credentials ---------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_client_credentials_are_cached_and_fetched_once(api: tuple[Api, str], clock: FakeClock, transport: str) -> None:
    flow = start_flow(api, clock)
    try:
        kind = RequestsClientCredentialsAuth if transport == "requests" else ClientCredentialsAuth
        options = {"scope": "read:messages", "clock": clock, "on_tokens": flow.saved.append}
        auth = kind(flow.issuer.token_endpoint, "test-client", "test-secret", **options)
        url = flow.api_url + "/messages"
        started = threading.Event()
        flow.hold_token_endpoint(started)
        assert fire(transport, auth, url, CONCURRENCY, started=started) == [200] * CONCURRENCY
        assert flow.issuer.token_requests == 1  # one fetch for the first fifty requests
        assert auth.tokens.refresh_token is None
        assert fire(transport, auth, url, 5) == [200] * 5
        assert flow.issuer.token_requests == 1  # cached

        clock.advance(LIFETIME - 20)  # within the 30 s margin: fetched again before sending
        assert fire(transport, auth, url, CONCURRENCY) == [200] * CONCURRENCY
        assert flow.issuer.token_requests == 2
        assert len(flow.saved) == 2

        # A token the API refuses (its keys rotated and the old one retired): fetched again once, retried once.
        flow.issuer.rotate()
        flow.issuer.retire(flow.issuer.keys[0].kid)
        flow.api.serve(flow.issuer.validator())
        assert fire(transport, auth, url, 1) == [200]
        assert flow.issuer.token_requests == 3
    finally:
        flow.issuer.stop()


def test_client_credentials_need_a_secret() -> None:
    from jwtguard import ConfigurationError

    with pytest.raises(ConfigurationError, match="confidential"):
        ClientCredentialsAuth("http://127.0.0.1:1/oauth/token", "spa", None)  # type: ignore[arg-type]


def test_one_auth_serves_threads_and_tasks_together(rotating: Flow) -> None:
    """A sync and an async client sharing one auth still spend the refresh token once."""
    flow, url = rotating, rotating.api_url + "/messages"
    auth = flow.auth("httpx", client_clock=FakeClock(rotating.clock()))
    flow.expire()
    started = threading.Event()
    flow.hold_token_endpoint(started)
    outcome: list[list[int]] = []
    thread = threading.Thread(target=lambda: outcome.append(fire("httpx", auth, url, 20)))
    thread.start()
    assert fire("httpx-async", auth, url, 20, started=started) == [200] * 20
    thread.join(20)
    assert outcome == [[200] * 20]
    assert flow.issuer.token_requests == 1
    assert family_alive(flow)


def test_token_client_can_be_given(rotating: Flow) -> None:
    seen: list[str] = []
    with httpx.Client(trust_env=False, event_hooks={"request": [lambda r: seen.append(str(r.url))]}) as token_client:
        auth = rotating.auth("httpx", token_client=token_client)
        rotating.expire()
        assert call("httpx", auth, "GET", rotating.api_url + "/messages").status_code == 200
    assert seen == [rotating.issuer.token_endpoint]
