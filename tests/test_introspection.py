"""RFC 7662 introspection in the validator, against the local issuer's endpoint over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fake_clock import FakeClock as Clock

import jwtguard
from jwtguard._introspection import Introspection
from jwtguard.hooks import Hooks
from jwtguard.stores import MemoryStore
from jwtguard.testing import DPoPKey, LocalIssuer, LocalServer, Request, Response

CLIENT = ("test-client", "test-secret")
API = "https://api.example.test"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer(clock: Clock) -> Iterator[LocalIssuer]:
    with LocalIssuer(clock=clock, access_token_format="opaque") as running:
        yield running


def introspecting(issuer: LocalIssuer, **options: Any) -> jwtguard.Validator:
    options.setdefault("introspection", "opaque")
    options.setdefault("introspection_client", CLIENT)
    return issuer.validator(**options)


def refusal(validator: jwtguard.Validator, token: str) -> jwtguard.AuthError:
    with pytest.raises(jwtguard.AuthError) as refused:
        validator.validate(token)
    return refused.value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- opaque tokens -----------------------------------------------------------------------------


def test_an_opaque_token_is_introspected_and_its_answer_checked(issuer: LocalIssuer, clock: Clock) -> None:
    validator = introspecting(issuer, required_scopes=["read:messages"])
    token = issuer.login(scope="openid offline_access read:messages")["access_token"]
    claims = validator.validate(token)
    assert (claims["sub"], claims["aud"], claims["client_id"]) == ("user-123", API, "test-client")
    assert claims["exp"] == int(clock()) + 3600
    assert "active" not in claims
    assert claims.scopes == {"openid", "offline_access", "read:messages"}
    assert claims.header == {}
    assert issuer.introspection_requests == 1
    assert issuer.discovery_fetches >= 1  # the endpoint came from the discovery document
    with pytest.raises(jwtguard.InsufficientScopeError):
        validator.validate(issuer.opaque_token(scope="write:messages"))


def test_the_answer_passes_the_same_checks_as_a_jwt(issuer: LocalIssuer) -> None:
    validator = introspecting(issuer, authorized_parties=["test-client"])
    assert refusal(validator, issuer.opaque_token(aud="https://other.example.test")).code == "audience_mismatch"
    assert refusal(validator, issuer.opaque_token(azp="someone-else", client_id=None)).code == "unauthorized_party"
    assert refusal(validator, issuer.opaque_token(iss="https://else.example.test/")).code == "unknown_issuer"
    assert refusal(validator, issuer.opaque_token(iat=int(time.time()) + 3600 * 24 * 400)).code == "iat_in_future"


def test_an_inactive_token_is_a_401_token_inactive(issuer: LocalIssuer) -> None:
    validator = introspecting(issuer)
    error = refusal(validator, "never-issued-by-anyone")
    assert isinstance(error, jwtguard.InvalidTokenError)
    assert (error.status_code, error.code, error.error) == (401, "token_inactive", "invalid_token")
    assert error.www_authenticate("api").startswith(
        'Bearer realm="api", error="invalid_token", error_description="The access token is not active"'
    )


def test_a_revocation_at_the_issuer_counts_within_the_cache_bound(issuer: LocalIssuer, clock: Clock) -> None:
    validator = introspecting(issuer, introspection_cache_ttl=10)
    token = issuer.login()["access_token"]
    validator.validate(token)
    validator.validate(token)
    assert issuer.introspection_requests == 1  # the second answer came from the cache
    assert issuer.revoke(token)
    validator.validate(token)  # still cached …
    clock.advance(10)
    assert refusal(validator, token).code == "token_inactive"  # … for at most introspection_cache_ttl
    assert issuer.introspection_requests == 2
    assert refusal(validator, token).code == "token_inactive"
    assert issuer.introspection_requests == 2  # inactive answers are cached too


def test_a_cached_answer_never_outlives_the_token(issuer: LocalIssuer, clock: Clock) -> None:
    validator = introspecting(issuer, introspection_cache_ttl=3600, leeway=0)
    token = issuer.opaque_token(expires_in=30)
    validator.validate(token)
    clock.advance(29)
    validator.validate(token)
    assert issuer.introspection_requests == 1
    clock.advance(1)
    assert refusal(validator, token).code == "token_inactive"  # asked again: the issuer says it is over
    assert issuer.introspection_requests == 2


def test_no_cache_asks_every_time(issuer: LocalIssuer) -> None:
    validator = introspecting(issuer, introspection_cache_ttl=0)
    token = issuer.opaque_token()
    for _ in range(3):
        validator.validate(token)
    assert issuer.introspection_requests == 3


def test_a_subject_revoked_in_the_store_is_refused_on_cached_answers(clock: Clock) -> None:
    store = MemoryStore(clock=clock)
    with LocalIssuer(clock=clock, access_token_format="opaque", store=store) as issuer:
        validator = introspecting(issuer, store=store)
        tokens = issuer.login()
        validator.validate(tokens["access_token"])
        clock.advance(1)
        issuer.revoke(tokens["refresh_token"])  # logout: published to the store
        assert refusal(validator, tokens["access_token"]).code == "token_revoked"
        assert issuer.introspection_requests == 1  # the cached answer, refused by the store's revocation


def test_client_secret_post_and_an_explicit_endpoint(issuer: LocalIssuer) -> None:
    validator = introspecting(
        issuer, introspection_endpoint=issuer.introspection_endpoint, introspection_auth_method="client_secret_post"
    )
    assert validator.options.introspection == "opaque"
    assert validator.validate(issuer.opaque_token())["sub"] == "user-123"
    assert issuer.discovery_fetches == 0


def test_an_endpoint_alone_turns_introspection_on(issuer: LocalIssuer) -> None:
    validator = issuer.validator(introspection_endpoint=issuer.introspection_endpoint, introspection_client=CLIENT)
    assert validator.validate(issuer.opaque_token())["sub"] == "user-123"


def test_a_refresh_token_is_no_access_token(issuer: LocalIssuer) -> None:
    validator = introspecting(issuer)
    refresh_token = issuer.login()["refresh_token"]
    error = refusal(validator, refresh_token)
    assert (error.code, error.claim) == ("missing_claim", "aud")  # active, but no audience: not for an API


def test_what_is_not_worth_a_request(issuer: LocalIssuer) -> None:
    validator = introspecting(issuer, max_token_size=64)
    assert refusal(validator, "x" * 65).code == "token_too_large"
    assert refusal(validator, "not a token").code == "malformed_token"
    assert refusal(validator, "tök").code == "malformed_token"
    assert issuer.introspection_requests == 0


def test_without_introspection_an_opaque_token_is_malformed(issuer: LocalIssuer) -> None:
    assert refusal(issuer.validator(), issuer.opaque_token()).code == "malformed_token"
    assert issuer.introspection_requests == 0


def test_a_jwt_is_checked_locally_unless_always(clock: Clock) -> None:
    with LocalIssuer(clock=clock) as issuer:
        opaque_only = introspecting(issuer)
        token = issuer.token(scope="read:messages")
        assert opaque_only.validate(token)["scope"] == "read:messages"
        assert issuer.introspection_requests == 0
        always = introspecting(issuer, introspection="always")
        claims = always.validate(token)
        assert claims.header["alg"] == "RS256"  # the JWT's own verified claims
        assert issuer.introspection_requests == 1
        issuer.revoke(token)
        fresh = introspecting(issuer, introspection="always")
        assert refusal(fresh, token).code == "token_inactive"  # valid signature, unexpired, revoked
        assert refusal(fresh, issuer.token(expires_in=-60)).code == "token_expired"  # no request for that
        assert issuer.introspection_requests == 2
        assert fresh.options.token_cache_size == jwtguard.DEFAULT_TOKEN_CACHE_SIZE
        assert fresh._token_cache is None  # "always": no cached JWT is answered without the issuer
        assert refusal(fresh, token).code == "token_inactive"  # no JWT cache answers before the issuer


def test_a_dpop_bound_opaque_token_needs_its_proof(issuer: LocalIssuer, clock: Clock) -> None:
    validator = introspecting(issuer)
    key = DPoPKey.generate(clock=clock)
    token = issuer.opaque_token(cnf=key.cnf)
    url = "https://api.example.test/messages"
    claims = validator.authenticate("GET", url, key.headers("GET", url, token))
    assert claims["cnf"] == {"jkt": key.jkt}
    with pytest.raises(jwtguard.InvalidTokenError) as refused:
        validator.authenticate("GET", url, {"Authorization": f"Bearer {token}"})
    assert refused.value.code == "dpop_bound_token"


class Counting(Hooks):
    def __init__(self) -> None:
        self.validated: list[bool] = []
        self.rejected: list[str] = []

    def on_validated(self, claims: jwtguard.Claims, *, cached: bool) -> None:
        self.validated.append(cached)

    def on_rejected(self, error: jwtguard.AuthError) -> None:
        self.rejected.append(error.code)


def test_hooks_hear_of_introspected_tokens(issuer: LocalIssuer) -> None:
    hooks = Counting()
    validator = introspecting(issuer, hooks=hooks)
    validator.validate(issuer.opaque_token())
    refusal(validator, "unknown-token")
    assert hooks.validated == [False]
    assert hooks.rejected == ["token_inactive"]


# -- concurrency and the event loop ---------------------------------------------------------------


def test_concurrent_requests_for_one_token_share_one_request(issuer: LocalIssuer) -> None:
    validator = introspecting(issuer)
    token = issuer.opaque_token()
    with ThreadPoolExecutor(16) as pool:
        subjects = list(pool.map(lambda _: validator.validate(token)["sub"], range(16)))
    assert subjects == ["user-123"] * 16
    assert issuer.introspection_requests == 1


def test_async_validation_never_blocks_the_event_loop() -> None:
    answered = threading.Event()

    def slow(request: Request) -> Response:
        answered.wait(2)
        return Response(200, {"active": True, "aud": API, "exp": time.time() + 60, "sub": "s"})

    with LocalServer() as server:
        server.route("/introspect", slow)
        validator = jwtguard.Validator(
            issuer=server.url + "/",
            audience=API,
            introspection_endpoint=server.url + "/introspect",
            introspection_client=CLIENT,
        )

        async def main() -> tuple[str, int]:
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while not answered.is_set():
                    ticks += 1
                    await asyncio.sleep(0.01)

            ticker = asyncio.create_task(tick())
            loop = asyncio.get_running_loop()
            loop.call_later(0.3, answered.set)
            claims = await validator.avalidate("opaque-token")
            await ticker
            return claims["sub"], ticks

        sub, ticks = asyncio.run(main())
    assert sub == "s"
    assert ticks >= 10  # the loop kept running while the request was under way


def test_aauthenticate_introspects_too(issuer: LocalIssuer) -> None:
    validator = introspecting(issuer)
    token = issuer.opaque_token()
    claims = asyncio.run(validator.aauthenticate("GET", f"{API}/x", {"authorization": f"Bearer {token}"}))
    assert claims["sub"] == "user-123"


# -- outages are 503, never 401 -------------------------------------------------------------------


def outage_validator(url: str, **options: Any) -> jwtguard.Validator:
    options.setdefault("introspection_client", CLIENT)
    return jwtguard.Validator(
        issuer="http://127.0.0.1:9/", audience=API, introspection_endpoint=url, timeout=0.5, **options
    )


def assert_outage(validator: jwtguard.Validator, token: str = "opaque-token") -> jwtguard.AuthError:
    with pytest.raises(jwtguard.ServiceUnavailableError) as failed:
        validator.validate(token)
    error = failed.value
    assert (error.status_code, error.code) == (503, "introspection_unavailable")
    assert error.headers("api") == {"Retry-After": "5"}
    with pytest.raises(jwtguard.ServiceUnavailableError):
        asyncio.run(validator.avalidate(token))
    return error


def test_an_unreachable_endpoint_is_a_503() -> None:
    assert_outage(outage_validator(f"http://127.0.0.1:{free_port()}/introspect"))


@pytest.mark.parametrize(
    "answer",
    [
        Response(500, {"error": "server_error"}),
        Response(401, {"error": "invalid_client"}),  # our own credentials: never the caller's fault
        Response(200, b"not json"),
        Response(200, ["active", True]),
        Response(200, {"scope": "no active member"}),
        Response(200, {"active": "true"}),
        Response(302, b"", {"Location": "/elsewhere"}),
        Response(200, {"active": True}, {"Content-Encoding": "gzip"}),
    ],
)
def test_a_broken_answer_is_a_503(answer: Response) -> None:
    with LocalServer() as server:
        server.route("/introspect", lambda request: answer)
        assert_outage(outage_validator(server.url + "/introspect"))


def test_an_endpoint_that_hangs_costs_at_most_the_timeout() -> None:
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(5)
        return Response(200, {"active": False})

    with LocalServer() as server:
        server.route("/introspect", hang)
        validator = outage_validator(server.url + "/introspect", max_response_size=1024)
        started = time.monotonic()
        try:
            with pytest.raises(jwtguard.ServiceUnavailableError):
                validator.validate("opaque-token")
        finally:
            release.set()
        assert time.monotonic() - started < 2


def test_a_huge_answer_is_a_503() -> None:
    with LocalServer() as server:
        server.route("/introspect", lambda request: Response(200, {"active": False, "pad": "x" * 5000}))
        assert_outage(outage_validator(server.url + "/introspect", max_response_size=1024))


def test_the_request_carries_the_token_and_the_credentials() -> None:
    seen: list[Request] = []

    def record(request: Request) -> Response:
        seen.append(request)
        return Response(200, {"active": False})

    with LocalServer() as server:
        server.route("/introspect", record)
        validator = outage_validator(server.url + "/introspect", introspection_client=("api client", "s:cr&t"))
        assert refusal(validator, "opaque-token").code == "token_inactive"
    (request,) = seen
    assert request.method == "POST"
    assert request.form() == {"token": "opaque-token", "token_type_hint": "access_token"}
    assert request.header("content-type") == "application/x-www-form-urlencoded"
    assert request.header("authorization") == "Basic YXBpJTIwY2xpZW50OnMlM0FjciUyNnQ="  # RFC 6749 §2.3.1 encoded


def test_a_refresh_token_type_is_refused() -> None:
    answer = {"active": True, "aud": API, "exp": time.time() + 60, "token_type": "refresh_token"}
    with LocalServer() as server:
        server.route("/introspect", lambda request: Response(200, answer))
        error = refusal(outage_validator(server.url + "/introspect"), "opaque-token")
    assert (error.code, error.claim) == ("invalid_claim", "token_type")


def test_discovery_without_an_introspection_endpoint_is_a_503(clock: Clock) -> None:
    with LocalIssuer(clock=clock) as issuer:
        issuer.server.route(
            "/.well-known/openid-configuration", lambda request: Response(200, {"issuer": issuer.issuer}), "GET"
        )
        assert_outage(introspecting(issuer), "opaque-token")


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"introspection": "opaque"}, "introspection_client"),
        ({"introspection": "sometimes", "introspection_client": CLIENT}, "introspection must be one of"),
        ({"introspection": "opaque", "introspection_client": "id:secret"}, "introspection_client"),
        ({"introspection": "opaque", "introspection_client": ("id",)}, "introspection_client"),
        ({"introspection": "opaque", "introspection_client": CLIENT, "introspection_auth_method": "jwt"}, "auth"),
        ({"introspection_endpoint": "http://idp.example.test/i", "introspection_client": CLIENT}, "https"),
        ({"introspection_endpoint": 5, "introspection_client": CLIENT}, "introspection_endpoint"),
        ({"introspection_cache_size": -1}, "introspection_cache_size"),
        ({"introspection_cache_ttl": -1}, "introspection_cache_ttl"),
        (
            {"introspection": "opaque", "introspection_client": CLIENT, "fetch": lambda u, h, t, m: (200, {}, b"")},
            "fetch",
        ),
        (
            {
                "introspection": "opaque",
                "introspection_client": CLIENT,
                "issuer": ["https://a.test/", "https://b.test/"],
            },
            "introspection_endpoint",
        ),
    ],
)
def test_bad_introspection_options_fail_at_construction(options: dict[str, Any], message: str) -> None:
    arguments = {"issuer": "https://idp.example.test/", "audience": API, **options}
    with pytest.raises(jwtguard.ConfigurationError, match=message):
        jwtguard.Validator(**arguments)


def test_introspection_is_off_by_default() -> None:
    validator = jwtguard.Validator(issuer="https://idp.example.test/", audience=API)
    assert validator.options.introspection is None
    assert validator._introspection is None
    assert Introspection.is_opaque("a.b.c") is False
    assert Introspection.is_opaque("a.b.c.d.e") is False
    assert Introspection.is_opaque("ya29.a0Af") is True
