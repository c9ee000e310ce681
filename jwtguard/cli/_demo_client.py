"""The demo's client side: :mod:`jwtguard.client` against the demo's issuer and API.

Imported only by ``jwtguard demo``, after checking that httpx is installed. The
client prints its own exchanges through httpx event hooks, so what the demo shows
is what went over the wire. :func:`race` plays the case naive clients lose: many
calls fail at once after the expiry, each refreshes with the same refresh token,
and the issuer, seeing a spent token again, revokes the whole session.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import httpx

from ..client import RefreshingAuth, TokenSet
from ..testing import LocalIssuer
from ._format import abbreviate

__all__ = ["RaceOutcome", "compare", "http_client", "naive_race", "race", "refreshing_auth"]


def _show_request(request: httpx.Request) -> None:
    print(f"   > {request.method} {request.url}")
    authorization = request.headers.get("authorization", "")
    if authorization.startswith("Bearer "):
        print(f"     Authorization: Bearer {abbreviate(authorization[7:])}")
    elif authorization.startswith("Basic "):
        client_id = base64.b64decode(authorization[6:]).decode("utf-8", "replace").partition(":")[0]
        print(f"     Authorization: Basic <{unquote_plus(client_id)}:***>")
    for name, values in parse_qs(request.content.decode("utf-8", "replace")).items():
        value = abbreviate(values[0], 8) if name == "refresh_token" else values[0]
        print(f"     {name}={value}")


def _show_response(response: httpx.Response) -> None:
    print(f"   < {response.status_code} {response.reason_phrase}")
    challenge = response.headers.get("www-authenticate")
    if challenge:
        print(f"     WWW-Authenticate: {challenge}")


def _show_api_response(response: httpx.Response) -> None:
    _show_response(response)
    response.read()
    print(f"     {response.text}")


def refreshing_auth(
    issuer: LocalIssuer,
    credentials: tuple[str, str],
    tokens: TokenSet,
    on_tokens: Callable[[TokenSet], None] | None,
    token_client: httpx.Client,
) -> RefreshingAuth:
    """A :class:`RefreshingAuth` for the demo's client, its token requests sent through ``token_client``."""
    client_id, secret = credentials
    return RefreshingAuth(
        issuer.token_endpoint, client_id, secret, tokens=tokens, on_tokens=on_tokens, token_client=token_client
    )


def http_client(auth: RefreshingAuth | None = None, *, api: bool = False, quiet: bool = False) -> httpx.Client:
    """An ``httpx.Client`` that prints each exchange unless ``quiet`` (and the body of an ``api`` answer)."""
    hooks: dict[str, list[Callable[[Any], Any]]] = {}
    if not quiet:
        hooks = {"request": [_show_request], "response": [_show_api_response if api else _show_response]}
    return httpx.Client(auth=auth, trust_env=False, timeout=10, event_hooks=hooks)  # loopback: never via a proxy


@dataclass
class RaceOutcome:
    """What happened when ``calls`` requests failed at once."""

    first_statuses: list[int]  # the API's answers to the expired token
    refresh_statuses: list[int]  # the token endpoint's answers


def naive_race(
    issuer: LocalIssuer, api_url: str, tokens: dict[str, Any], credentials: tuple[str, str], calls: int
) -> RaceOutcome:
    """``calls`` requests of a naive client: each refreshes on its own 401, all with the refresh token they share."""
    barrier = threading.Barrier(calls)
    outcome = RaceOutcome([], [])
    lock = threading.Lock()

    def one(_: int) -> None:
        with httpx.Client(trust_env=False, timeout=10) as http:
            answer = http.get(api_url, headers={"Authorization": f"Bearer {tokens['access_token']}"})
            barrier.wait()  # the 401s come back together
            refreshed = http.post(
                issuer.token_endpoint,
                auth=credentials,
                data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            )
        with lock:
            outcome.first_statuses.append(answer.status_code)
            outcome.refresh_statuses.append(refreshed.status_code)

    with ThreadPoolExecutor(calls) as pool:
        list(pool.map(one, range(calls)))
    return outcome


def race(auth: RefreshingAuth, api_url: str, calls: int) -> list[tuple[int, ...]]:
    """``calls`` requests at once through one ``httpx.Client`` with ``auth``: each one's statuses, retries first."""
    barrier = threading.Barrier(calls)
    with http_client(auth, quiet=True) as http:

        def one(_: int) -> tuple[int, ...]:
            barrier.wait()
            response = http.get(api_url)
            return (*(earlier.status_code for earlier in response.history), response.status_code)

        with ThreadPoolExecutor(calls) as pool:
            return list(pool.map(one, range(calls)))


def compare(
    issuer: LocalIssuer,
    api_url: str,
    logins: list[dict[str, Any]],
    credentials: tuple[str, str],
    token_client: httpx.Client,
    calls: int,
) -> bool:
    """The race, run by a naive client on ``logins[0]`` then by jwtguard.client on ``logins[1]``; print both.

    Returns whether the naive client's session was revoked and jwtguard.client's
    calls all succeeded after exactly one refresh.
    """
    naive = naive_race(issuer, api_url, logins[0], credentials, calls)
    granted, refused = naive.refresh_statuses.count(200), naive.refresh_statuses.count(400)
    print(f"   naive client: {naive.first_statuses.count(401)} x 401, then one refresh per call, all with the same")
    print(f"   refresh token: {granted} x 200, {refused} x 400 invalid_grant (reuse detected)")
    with http_client(quiet=True) as http:
        form = {"grant_type": "refresh_token", "refresh_token": logins[0]["refresh_token"]}
        revoked = http.post(issuer.token_endpoint, auth=credentials, data=form).status_code == 400
    print("   ... the issuer revoked the whole session: its user is logged out")

    before = issuer.token_requests
    held = TokenSet(logins[1]["access_token"], logins[1]["refresh_token"])
    answers = race(refreshing_auth(issuer, credentials, held, None, token_client), api_url, calls)
    refreshes = issuer.token_requests - before
    retried = sum(1 for statuses in answers if statuses == (401, 200))
    print(f"   jwtguard.client: {retried} x 401 then 200 on the retry, {refreshes} refresh request in all")
    return refused > 0 and revoked and refreshes == 1 and all(statuses[-1] == 200 for statuses in answers)
