"""``jwtguard demo``: the whole bearer-token flow, played against real servers on 127.0.0.1.

A :class:`~jwtguard.testing.LocalIssuer` (with short lifetimes) and an example
Starlette API behind :class:`jwtguard.asgi.JWTGuardMiddleware` (served by
uvicorn) run on loopback ports; the demo then talks to them over HTTP, as a
client application would, and prints every exchange:

1. log a test user in: ID, access and refresh tokens;
2. call the API with the access token: 200;
3. let the access token expire and call again: 401 ``invalid_token``;
4. call again through :class:`jwtguard.client.RefreshingAuth`: it sees the 401,
   refreshes (a new refresh token, by rotation, handed to ``on_tokens``) and retries: 200;
5. call once more through the client: the new access token, no refresh: 200;
6. ten calls at once with expired tokens: a naive client refreshes once per call,
   reuses the spent refresh token and gets the session revoked; the client refreshes once;
7. replay the old refresh token: ``invalid_grant``, and its whole family is revoked;
8. log in again and call a route that needs a multi-factor login: 401
   ``insufficient_user_authentication`` with ``acr_values="mfa"`` (RFC 9470 step-up);
9. log out: revoke the refresh token at ``POST /oauth/revoke`` (RFC 7009); the issuer
   publishes the user's revocation to the store the API's validator shares;
10. call the API with the access token of step 8, not yet expired: 401 ``invalid_token``,
    the token was revoked, within the store's bound;
11. refresh with the revoked refresh token: ``invalid_grant``.

By default the demo really waits for the token to expire (a few seconds).
``--fast-forward`` instead moves the clock that the issuer and the API share
(an ordinary injected clock, as in jwtguard's own tests) past the expiry.
Exit status 0 only if every step behaved as described.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib.util
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ..stores import MemoryStore
from ..testing import LocalIssuer, TokenFactory
from ._format import abbreviate, print_mapping

if TYPE_CHECKING:
    from ..client import RefreshingAuth, TokenSet

__all__ = ["add_parser", "run"]

AUDIENCE = "https://api.example.test"
CLIENT = ("test-client", "test-secret")
USER = ("test-user", "test-password")
USER_SUB = "user-123"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
_SHOWN_CLAIMS = ("iss", "sub", "aud", "azp", "scope", "name", "email", "nonce", "iat", "exp")
RACE_CALLS = 10
#: How long the API may take to refuse a revoked token: its validator's store_sync_interval, plus a margin.
REVOCATION_BOUND = 1.5


def add_parser(commands: Any) -> None:
    """Register ``demo`` on the ``jwtguard`` sub-command parsers."""
    parser = commands.add_parser(
        "demo",
        help="play the whole token flow against a local issuer and a protected API",
        description="Start a local issuer and an API protected by jwtguard on 127.0.0.1, then log in, call "
        "the API, let the token expire, refresh it through jwtguard.client (alone, then under ten concurrent "
        "calls, beside a naive client), replay the old refresh token, meet a step-up refusal, and log out "
        "(revocation reaches the API through a shared store), printing each exchange.",
        epilog="needs the demo extra: pip install 'jwtguard[demo]'",
    )
    parser.add_argument(
        "--access-token-lifetime", type=float, default=5, help="access token lifetime, seconds (default 5)"
    )
    parser.add_argument("--leeway", type=float, default=1, help="the API's clock-skew leeway, seconds (default 1)")
    parser.add_argument(
        "--fast-forward",
        action="store_true",
        help="advance the clock shared by issuer and API instead of waiting for the token to expire",
    )
    parser.set_defaults(run=run)


class DemoClock:
    """The wall clock plus an offset that ``--fast-forward`` advances."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Exchange:
    """One HTTP response."""

    status: int
    reason: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def _send(method: str, url: str, headers: Mapping[str, str], form: Mapping[str, str] | None = None) -> Exchange:
    data = urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers=dict(headers), method=method)  # noqa: S310 - loopback
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with _OPENER.open(request, timeout=10) as response:
            return Exchange(response.status, response.reason, _lower(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Exchange(error.code, error.reason, _lower(error.headers.items()), error.read())


def _lower(items: Any) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in items}


class Demo:
    """The eleven steps; each prints its exchanges and returns whether it behaved as described."""

    def __init__(
        self,
        issuer: LocalIssuer,
        api_url: str,
        clock: DemoClock,
        args: argparse.Namespace,
        resources: contextlib.ExitStack,
    ) -> None:
        self.issuer = issuer
        self.api_url = api_url
        self.clock = clock
        self.args = args
        self.resources = resources  # the HTTP clients, closed when the demo ends
        self.tokens: dict[str, Any] = {}
        self.race_logins: list[dict[str, Any]] = []
        self.old_refresh_token = ""
        self.auth: RefreshingAuth | None = None
        self.saved: list[TokenSet] = []
        self.session: dict[str, Any] = {}  # the login of step 8, logged out at step 9
        self.logged_out_at = 0.0

    # -- printing -----------------------------------------------------------------------

    def _token_request(self, form: dict[str, str], endpoint: str | None = None) -> Exchange:
        endpoint = endpoint or self.issuer.token_endpoint
        shown = {name: ("***" if name == "password" else value) for name, value in form.items()}
        for name in ("refresh_token", "token"):
            if name in shown:
                shown[name] = abbreviate(shown[name], 8)
        print(f"   > POST {endpoint}")
        print(f"     Authorization: Basic <{CLIENT[0]}:***>")
        for name, value in shown.items():
            print(f"     {name}={value}")
        basic = base64.b64encode(f"{CLIENT[0]}:{CLIENT[1]}".encode()).decode()
        answer = _send("POST", endpoint, {"Authorization": f"Basic {basic}"}, form)
        self._print_status(answer)
        body = answer.json()
        if answer.status != 200 and isinstance(body, dict):
            print(f"     {json.dumps(body)}")
        return answer

    def _call_api(self, access_token: str, method: str = "GET", path: str = "/messages") -> Exchange:
        print(f"   > {method} {self.api_url}{path}")
        print(f"     Authorization: Bearer {abbreviate(access_token)}")
        answer = _send(method, f"{self.api_url}{path}", {"Authorization": f"Bearer {access_token}"})
        self._print_status(answer)
        challenge = answer.headers.get("www-authenticate")
        if challenge:
            print(f"     WWW-Authenticate: {challenge}")
        print(f"     {answer.body.decode('utf-8', 'replace')}")
        return answer

    @staticmethod
    def _print_status(answer: Exchange) -> None:
        print(f"   < {answer.status} {answer.reason}")

    def _print_tokens(self, tokens: Mapping[str, Any]) -> None:
        now = self.clock()
        for name in ("access_token", "id_token"):
            if isinstance(tokens.get(name), str):
                print(f"     {name}: {abbreviate(tokens[name])}, claims:")
                claims = TokenFactory.claims_of(tokens[name])
                print_mapping({k: claims[k] for k in _SHOWN_CLAIMS if k in claims}, now, indent="       ")
        if isinstance(tokens.get("refresh_token"), str):
            print(f"     refresh_token: {abbreviate(tokens['refresh_token'], 8)}, opaque (not a JWT)")

    @staticmethod
    def _outcome(ok: bool, expected: str) -> bool:
        print(f"   [{'ok' if ok else 'FAILED'}] {expected}")
        return ok

    # -- the steps ------------------------------------------------------------------------

    def log_in(self) -> bool:
        print(f"1. Log in as {USER[0]} (password grant): ID, access and refresh tokens")
        form = {"grant_type": "password", "username": USER[0], "password": USER[1]}
        form |= {"scope": "openid profile email offline_access read:messages", "audience": AUDIENCE}
        answer = self._token_request(form)
        body = answer.json()
        self.tokens = body if answer.status == 200 and isinstance(body, dict) else {}
        self._print_tokens(self.tokens)
        got = all(isinstance(self.tokens.get(name), str) for name in ("access_token", "id_token", "refresh_token"))
        print(f"   ... two more sessions of {USER[0]} log in now, for step 6")
        self.race_logins = [self._quiet_login(form) for _ in range(2)]
        got = got and all("refresh_token" in login for login in self.race_logins)
        return self._outcome(got, "200 with an access token, an ID token and a refresh token")

    def _quiet_login(self, form: dict[str, str]) -> dict[str, Any]:
        basic = base64.b64encode(f"{CLIENT[0]}:{CLIENT[1]}".encode()).decode()
        body = _send("POST", self.issuer.token_endpoint, {"Authorization": f"Basic {basic}"}, form).json()
        return body if isinstance(body, dict) else {}

    def call(self, number: int, title: str) -> bool:
        print(f"{number}. {title}")
        answer = self._call_api(self.tokens["access_token"])
        return self._outcome(answer.status == 200, "200: the API accepted the token")

    def expire(self) -> bool:
        lifetime, leeway = self.args.access_token_lifetime, self.args.leeway
        print(f"3. Let the access token expire (lifetime {lifetime:g} s, API leeway {leeway:g} s), call again")
        exp = TokenFactory.claims_of(self.tokens["access_token"])["exp"]
        wait = max(0.0, exp + leeway - self.clock()) + 0.1
        if self.args.fast_forward:
            print(f"   ... moving the clock shared by the issuer and the API {wait:.1f} s ahead (--fast-forward)")
            self.clock.advance(wait)
        else:
            print(f"   ... waiting {wait:.1f} s", flush=True)
            time.sleep(wait)
        answer = self._call_api(self.tokens["access_token"])
        challenge = answer.headers.get("www-authenticate", "")
        ok = answer.status == 401 and 'error="invalid_token"' in challenge
        return self._outcome(ok, '401 with WWW-Authenticate error="invalid_token": the token expired')

    def _client_tools(self) -> Any:
        from . import _demo_client  # needs httpx, checked by run()

        return _demo_client

    def _on_tokens(self, tokens: TokenSet) -> None:
        rotated = tokens.refresh_token != self.old_refresh_token
        print(
            f"     on_tokens: the application stores the new tokens ({'rotated' if rotated else 'same'} refresh token)"
        )
        self._print_tokens({"access_token": tokens.access_token, "refresh_token": tokens.refresh_token})
        self.saved.append(tokens)

    def refresh_on_401(self) -> bool:
        from ..client import TokenSet

        tools = self._client_tools()
        print("4. Call again through jwtguard.client: it refreshes on the 401 and retries")
        print("   RefreshingAuth holds the tokens of step 1, without their expiry time: the API's 401 tells it")
        self.old_refresh_token = self.tokens["refresh_token"]
        token_client = self.resources.enter_context(tools.http_client())
        held = TokenSet(self.tokens["access_token"], self.old_refresh_token)
        self.auth = tools.refreshing_auth(self.issuer, CLIENT, held, self._on_tokens, token_client)
        before = self.issuer.token_requests
        with tools.http_client(self.auth, api=True) as http:
            answer = http.get(f"{self.api_url}/messages")
        tokens = self.auth.tokens
        rotated = tokens is not None and tokens.refresh_token not in (None, self.old_refresh_token)
        ok = answer.status_code == 200 and [r.status_code for r in answer.history] == [401]
        ok = ok and self.issuer.token_requests - before == 1 and self.saved == [tokens]
        return self._outcome(
            ok and rotated, "401, one refresh with a new refresh token (rotation) saved by on_tokens, then 200"
        )

    def call_again(self) -> bool:
        print("5. Call the API once more through the client")
        assert self.auth is not None
        before = self.issuer.token_requests
        with self._client_tools().http_client(self.auth, api=True) as http:
            answer = http.get(f"{self.api_url}/messages")
        ok = answer.status_code == 200 and not answer.history and self.issuer.token_requests == before
        return self._outcome(ok, "200 with the new access token, and no refresh")

    def race(self) -> bool:
        print(f"6. {RACE_CALLS} calls at once with an expired access token: a naive client, then jwtguard.client")
        print("   (the two sessions logged in at step 1 have expired too)")
        tools = self._client_tools()
        token_client = self.resources.enter_context(tools.http_client(quiet=True))
        url = f"{self.api_url}/messages"
        ok = tools.compare(self.issuer, url, self.race_logins, CLIENT, token_client, RACE_CALLS)
        return self._outcome(ok, "the naive client's session revoked; jwtguard.client refreshed once: every call 200")

    def replay(self) -> bool:
        print("7. Replay the refresh token of step 1, spent in step 4 (as a thief would)")
        answer = self._token_request({"grant_type": "refresh_token", "refresh_token": self.old_refresh_token})
        replay_refused = answer.status == 400 and (answer.json() or {}).get("error") == "invalid_grant"
        print("   ... reuse detected, so the whole family is revoked: the client's refresh token from step 4 fails too")
        current = self.auth.tokens if self.auth is not None else None
        newest = current.refresh_token if current is not None and current.refresh_token else ""
        answer = self._token_request({"grant_type": "refresh_token", "refresh_token": newest})
        family_revoked = answer.status == 400 and (answer.json() or {}).get("error") == "invalid_grant"
        return self._outcome(replay_refused and family_revoked, "400 invalid_grant for both: the family is revoked")

    def step_up(self) -> bool:
        print("8. Log in again, then call POST /transfers, which needs a multi-factor login (RFC 9470 step-up)")
        self._fresh_second()
        form = {"grant_type": "password", "username": USER[0], "password": USER[1]}
        form |= {"scope": "openid offline_access read:messages", "audience": AUDIENCE}
        body = self._token_request(form).json()
        self.session = body if isinstance(body, dict) else {}
        if not isinstance(self.session.get("access_token"), str):
            return self._outcome(False, "200 with an access token")
        print("     (a password login: the access token carries no acr claim)")
        answer = self._call_api(self.session["access_token"], "POST", "/transfers")
        challenge = answer.headers.get("www-authenticate", "")
        ok = answer.status == 401 and 'error="insufficient_user_authentication"' in challenge
        ok = ok and 'acr_values="mfa"' in challenge
        return self._outcome(
            ok, '401 insufficient_user_authentication, acr_values="mfa": log in again with MFA, then retry'
        )

    def _fresh_second(self) -> None:
        """Start the next login on a whole second, so its short-lived token lives its whole lifetime.

        ``iat`` and ``exp`` are whole seconds: a login late in a second would lose most of a
        one-second lifetime before steps 9 and 10 show it unexpired.
        """
        wait = 1.0 - (self.clock() % 1.0) + 0.01
        if self.args.fast_forward:
            self.clock.advance(wait)
        elif self.args.access_token_lifetime < 3:
            time.sleep(wait)

    def log_out(self) -> bool:
        print("9. Log out: revoke the refresh token of step 8 at the issuer (RFC 7009)")
        form = {"token": self.session.get("refresh_token", ""), "token_type_hint": "refresh_token"}
        answer = self._token_request(form, self.issuer.revocation_endpoint)
        self.logged_out_at = time.monotonic()
        print(f"     the issuer publishes store.revoke_subject({USER_SUB!r}, issued_before=now) to the store")
        print("     that the API's validator shares (a MemoryStore here; RedisStore for a fleet of workers)")
        return self._outcome(answer.status == 200, "200: the session is revoked")

    def refused_after_logout(self) -> bool:
        token = self.session.get("access_token", "")
        exp = TokenFactory.claims_of(token)["exp"] if token else 0
        print(f"10. Call the API with the access token of step 8, which expires in {exp - self.clock():.1f} s")
        deadline = self.logged_out_at + REVOCATION_BOUND
        while True:
            answer = self._call_api(token)
            challenge = answer.headers.get("www-authenticate", "")
            if answer.status == 401 or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - self.logged_out_at
        print(f"     refused {elapsed:.2f} s after the logout (the bound: {REVOCATION_BOUND:g} s); code token_revoked")
        ok = answer.status == 401 and 'error="invalid_token"' in challenge
        ok = ok and "The access token was revoked" in challenge and self.clock() < exp
        return self._outcome(ok, '401 invalid_token "The access token was revoked", before its expiry')

    def dead_refresh_token(self) -> bool:
        print("11. Refresh with the refresh token of step 8")
        form = {"grant_type": "refresh_token", "refresh_token": self.session.get("refresh_token", "")}
        answer = self._token_request(form)
        refused = answer.status == 400 and (answer.json() or {}).get("error") == "invalid_grant"
        return self._outcome(refused, "400 invalid_grant: the refresh token was revoked with the session")

    def play(self) -> int:
        steps: tuple[Callable[[], bool], ...] = (
            self.log_in,
            lambda: self.call(2, "Call the API with the access token"),
            self.expire,
            self.refresh_on_401,
            self.call_again,
            self.race,
            self.replay,
            self.step_up,
            self.log_out,
            self.refused_after_logout,
            self.dead_refresh_token,
        )
        for number, step in enumerate(steps, 1):
            if not step():
                print(f"\nStep {number} did not behave as described.")
                return 1
            print()
        print("Every step behaved as described.")
        return 0


def run(args: argparse.Namespace) -> int:
    """Play the demo; return 0 when every step behaved as described, 2 when the demo extra is missing."""
    missing = [name for name in ("starlette", "uvicorn", "httpx") if importlib.util.find_spec(name) is None]
    if missing:
        print(f'jwtguard demo needs {" and ".join(missing)}: pip install "jwtguard[demo]"', file=sys.stderr)
        return 2
    if not (args.access_token_lifetime > 0 and args.leeway >= 0):
        print("jwtguard demo: the lifetime must be > 0 and the leeway >= 0", file=sys.stderr)
        return 2
    from ._demo_api import ACR, SCOPE, ApiServer, build_api

    clock = DemoClock()
    lifetime = args.access_token_lifetime
    store = MemoryStore(clock=clock)  # shared by the issuer (writes revocations) and the API (refuses them)
    issuer = LocalIssuer(  # refresh-token rotation: the default, "rotate"
        store=store,
        audience=AUDIENCE,
        clock=clock,
        access_token_lifetime=lifetime,
        id_token_lifetime=lifetime,
        refresh_token_lifetime=max(300.0, 10 * lifetime),
    )
    with (
        issuer,
        ApiServer(build_api(issuer.validator(leeway=args.leeway, store=store))) as api,
        contextlib.ExitStack() as stack,
    ):
        print("jwtguard demo: a local issuer and an API protected by jwtguard (development only)\n")
        print(f"   issuer  {issuer.issuer}")
        print(f"   API     {api.url}/messages (needs scope {SCOPE}; audience {AUDIENCE})")
        print(f"           {api.url}/transfers (needs scope {SCOPE} and an {ACR!r} login)\n")
        return Demo(issuer, api.url, clock, args, stack).play()
