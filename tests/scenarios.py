"""The one scenario table every framework adapter must pass.

Each adapter's test module provides a ``Client`` (see :class:`Client`) around
its framework's own test client and an app whose ``GET /messages`` requires
``read:messages`` and whose ``GET /health`` is public; then it calls
:func:`run_scenario` for every entry of :data:`SCENARIOS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from jwtguard._dpop import DEFAULT_DPOP_ALGORITHMS
from jwtguard.testing import DPoPKey, LocalIssuer, SigningKey

REALM = "api"


def bearer_half(challenge: str) -> str:
    """The ``Bearer`` challenge of a ``WWW-Authenticate`` value that names DPoP after it (RFC 9449 §7.1)."""
    return challenge.partition(", DPoP ")[0]


#: The challenge of a request without credentials: both schemes a default validator accepts.
BARE_CHALLENGE = f'Bearer realm="{REALM}", DPoP realm="{REALM}", algs="{" ".join(DEFAULT_DPOP_ALGORITHMS)}"'
SCOPE = "read:messages"


@dataclass
class Result:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client(Protocol):
    def __call__(self, method: str, path: str, headers: list[tuple[str, str]]) -> Result: ...


def client_for(test_client: Any) -> Client:
    """Adapt a test client with an httpx-style ``request()`` (Starlette's, FastAPI's) to :class:`Client`."""

    def call(method: str, path: str, headers: list[tuple[str, str]]) -> Result:
        response = test_client.request(method, path, headers=headers)
        return Result(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

    return call


@dataclass(frozen=True)
class Scenario:
    name: str
    headers: Callable[[LocalIssuer], list[tuple[str, str]]]
    status: int
    error: str | None = None
    path: str = "/messages"
    method: str = "GET"
    keys_down: bool = False
    expect: dict[str, str] = field(default_factory=dict)  # substrings of the challenge


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


_OTHER_KEY = SigningKey.generate("RS256")

SCENARIOS = [
    Scenario("no_token", lambda i: [], 401),
    Scenario("other_scheme", lambda i: [("Authorization", "Basic dXNlcjpwYXNz")], 401),
    Scenario("bearer_without_token", lambda i: [("Authorization", "Bearer")], 400, "invalid_request"),
    Scenario("token_with_space", lambda i: [("Authorization", "Bearer abc def")], 400, "invalid_request"),
    Scenario("illegal_characters", lambda i: [("Authorization", 'Bearer a"b\\c')], 400, "invalid_request"),
    Scenario(
        "token_sent_twice",
        lambda i: bearer(i.token(scope=SCOPE)) + bearer(i.token(scope=SCOPE)),
        400,
        "invalid_request",
    ),
    Scenario("garbage_token", lambda i: bearer("not.a.jwt"), 401, "invalid_token"),
    Scenario(
        "expired",
        lambda i: bearer(i.token(scope=SCOPE, expires_in=-3600)),
        401,
        "invalid_token",
        expect={"error_description": "expired"},
    ),
    Scenario(
        "bad_signature",
        lambda i: bearer(
            i.factory().mint(scope=SCOPE, key=SigningKey(_OTHER_KEY.alg, i.signing_key.kid, _OTHER_KEY.private_key))
        ),
        401,
        "invalid_token",
    ),
    Scenario(
        "wrong_audience", lambda i: bearer(i.token(scope=SCOPE, aud="https://other.example")), 401, "invalid_token"
    ),
    Scenario("wrong_issuer", lambda i: bearer(i.token(scope=SCOPE, iss="https://evil.example/")), 401, "invalid_token"),
    Scenario(
        "missing_scope",
        lambda i: bearer(i.token(scope="write:messages")),
        403,
        "insufficient_scope",
        expect={"scope": SCOPE},
    ),
    Scenario("keys_down", lambda i: bearer(i.token(scope=SCOPE)), 503, keys_down=True),
    Scenario("valid", lambda i: bearer(i.token(scope=SCOPE, sub="user-42")), 200),
    Scenario("public_path", lambda i: [], 200, path="/health"),
    Scenario(
        "cors_preflight",
        lambda i: [("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET")],
        0,  # anything but 401/400/403: the preflight is not challenged
        method="OPTIONS",
    ),
]


def run_scenario(scenario: Scenario, client: Client, issuer: LocalIssuer, *, own_body: bool = False) -> None:
    """Send the scenario's request and assert the contract's answer.

    ``own_body``: the framework renders its own error body (Django REST
    framework's ``{"detail": …}``), so only status and headers are checked.
    """
    result = client(scenario.method, scenario.path, scenario.headers(issuer))
    if scenario.status == 0:
        assert result.status not in (400, 401, 403), result
        return
    assert result.status == scenario.status, (result.status, result.body)
    if scenario.name == "valid":
        assert result.json()["sub"] == "user-42"
        return
    if scenario.status == 200:
        return
    if scenario.status == 503:
        assert int(result.headers["retry-after"]) >= 1
        assert "www-authenticate" not in result.headers
        assert result.json()["error_description"]
        return
    challenge = result.headers["www-authenticate"]
    # RFC 9449 §7.1: the Bearer challenge, then the DPoP one (the validators here accept both).
    bearer, _, dpop = challenge.partition(", DPoP ")
    assert bearer.startswith("Bearer ")
    assert not dpop or dpop.startswith(f'realm="{REALM}", algs="'), challenge
    assert f'realm="{REALM}"' in bearer
    challenge = bearer
    if scenario.error is None:
        assert challenge == f'Bearer realm="{REALM}"', challenge  # the Bearer half of BARE_CHALLENGE
    else:
        assert f'error="{scenario.error}"' in challenge, challenge
        if not own_body:
            assert result.json()["error"] == scenario.error
    for name, text in scenario.expect.items():
        assert f'{name}="' in challenge, challenge
        assert text in challenge.split(f'{name}="', 1)[1].split('"', 1)[0], challenge
    if not own_body:
        assert set(result.json()) == {"error", "error_description"}


# -- the second table: sender-constrained tokens, step-up, any-of scopes, roles ---------------------
#
# Each adapter's app adds, beside GET /messages (scope read:messages):
#   GET /any-of   any one of the scopes read:messages, admin
#   GET /roles    the role admin
#   GET /step-up  acr "mfa", authenticated at most 300 s ago
# each through its framework's route-level form, and a Client whose requests reach the app at
# ``base_url`` (the URL a DPoP proof's htu names).


@dataclass(frozen=True)
class PolicyScenario:
    name: str
    # (issuer, client DPoP key, URL of the request) -> the headers of each request sent, in order
    requests: Callable[[LocalIssuer, DPoPKey, str], list[list[tuple[str, str]]]]
    status: int  # of the last request
    error: str | None = None
    scheme: str = "Bearer"  # the challenge that carries the error
    path: str = "/messages"
    expect: dict[str, str] = field(default_factory=dict)


def _dpop(issuer: LocalIssuer, key: DPoPKey, url: str, method: str = "GET", **claims: Any) -> list[tuple[str, str]]:
    token = issuer.token(scope=SCOPE, sub="user-42", cnf=key.cnf, **claims)
    return [("Authorization", f"DPoP {token}"), ("DPoP", key.proof(method, url, token))]


def _replayed(issuer: LocalIssuer, key: DPoPKey, url: str) -> list[list[tuple[str, str]]]:
    once = _dpop(issuer, key, url)
    return [once, once]


def _other_key(issuer: LocalIssuer, key: DPoPKey, url: str) -> list[list[tuple[str, str]]]:
    token = issuer.token(scope=SCOPE, cnf=key.cnf)
    return [[("Authorization", f"DPoP {token}"), ("DPoP", DPoPKey.generate().proof("GET", url, token))]]


def _fresh_auth(issuer: LocalIssuer, acr: str, age: float) -> list[list[tuple[str, str]]]:
    return [bearer(issuer.token(sub="user-42", acr=acr, auth_time=int(issuer.clock() - age)))]


POLICY_SCENARIOS = [
    PolicyScenario("dpop_valid", lambda i, k, u: [_dpop(i, k, u)], 200),
    PolicyScenario("dpop_replayed", _replayed, 401, "invalid_dpop_proof", "DPoP"),
    PolicyScenario(
        "dpop_wrong_method", lambda i, k, u: [_dpop(i, k, u, method="POST")], 401, "invalid_dpop_proof", "DPoP"
    ),
    PolicyScenario("dpop_wrong_url", lambda i, k, u: [_dpop(i, k, u + "/other")], 401, "invalid_dpop_proof", "DPoP"),
    PolicyScenario("dpop_other_key", _other_key, 401, "invalid_dpop_proof", "DPoP"),
    PolicyScenario("dpop_proof_missing", lambda i, k, u: [_dpop(i, k, u)[:1]], 401, "invalid_dpop_proof", "DPoP"),
    PolicyScenario(
        "dpop_bound_as_bearer", lambda i, k, u: [bearer(i.token(scope=SCOPE, cnf=k.cnf))], 401, "invalid_token"
    ),
    PolicyScenario("any_of_one", lambda i, k, u: [bearer(i.token(scope="admin", sub="user-42"))], 200, path="/any-of"),
    PolicyScenario(
        "any_of_none",
        lambda i, k, u: [bearer(i.token(scope="write:messages"))],
        403,
        "insufficient_scope",
        path="/any-of",
        expect={"scope": "read:messages admin"},
    ),
    PolicyScenario("roles_ok", lambda i, k, u: [bearer(i.token(roles=["admin"], sub="user-42"))], 200, path="/roles"),
    PolicyScenario(
        "roles_missing", lambda i, k, u: [bearer(i.token(roles=["reader"]))], 403, "insufficient_scope", path="/roles"
    ),
    PolicyScenario("step_up_ok", lambda i, k, u: _fresh_auth(i, "mfa", 60), 200, path="/step-up"),
    PolicyScenario(
        "step_up_weak",
        lambda i, k, u: _fresh_auth(i, "pwd", 60),
        401,
        "insufficient_user_authentication",
        path="/step-up",
        expect={"acr_values": "mfa", "max_age": "300"},
    ),
    PolicyScenario(
        "step_up_old",
        lambda i, k, u: _fresh_auth(i, "mfa", 3600),
        401,
        "insufficient_user_authentication",
        path="/step-up",
        expect={"max_age": "300"},
    ),
]


def run_policy_scenario(
    scenario: PolicyScenario, client: Client, issuer: LocalIssuer, base_url: str, *, own_body: bool = False
) -> None:
    """Send the scenario's requests; assert the last answer (status, the challenge of the right scheme)."""
    key = DPoPKey.generate(clock=issuer.clock)
    result: Result | None = None
    for headers in scenario.requests(issuer, key, base_url + scenario.path):
        result = client("GET", scenario.path, headers)
    assert result is not None
    assert result.status == scenario.status, (scenario.name, result.status, result.body)
    if scenario.status == 200:
        assert result.json()["sub"] == "user-42"
        return
    challenge = result.headers["www-authenticate"]
    bearer_part, _, dpop_part = challenge.partition(", DPoP ")
    assert bearer_part.startswith(f'Bearer realm="{REALM}"'), challenge
    assert dpop_part.startswith(f'realm="{REALM}", algs="'), challenge
    mine = bearer_part if scenario.scheme == "Bearer" else "DPoP " + dpop_part
    assert f'error="{scenario.error}"' in mine, challenge
    for name, text in scenario.expect.items():
        assert f'{name}="{text}"' in mine, challenge
    if not own_body:
        assert result.json()["error"] == scenario.error
