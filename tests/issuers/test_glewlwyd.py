"""Tokens from Glewlwyd (Debian package ``glewlwyd``), an independent OpenID Provider written in C.

Glewlwyd runs on 127.0.0.1 (``issuer_servers.running_glewlwyd``); jwtguard finds
its keys through discovery at the plugin's issuer URL. Skipped without the
package, except in CI, where that is a failure. See docs/interop.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fake_clock import OffsetClock
from issuer_servers import (
    API,
    CLIENT_ID,
    OTHER_API,
    Glewlwyd,
    call_starlette,
    claims_of,
    header_of,
    refused_soon,
    running_glewlwyd,
    tamper,
)

import jwtguard

pytestmark = [pytest.mark.issuers, pytest.mark.slow]
TOKEN_LIFETIME = 600  # the plugin's access-token-duration, in seconds


@pytest.fixture(scope="module")
def glewlwyd() -> Iterator[Glewlwyd]:
    with running_glewlwyd(access_token_duration=TOKEN_LIFETIME) as server:
        yield server


@pytest.fixture(scope="module")
def token(glewlwyd: Glewlwyd) -> str:
    """A client_credentials access token for API with ``read:messages``."""
    return glewlwyd.client_credentials()


def validator_for(server: Glewlwyd, audience: str = API, **options: Any) -> jwtguard.Validator:
    """Default settings: the issuer URL only; keys through its discovery document."""
    return jwtguard.Validator(issuer=server.issuer, audience=audience, **options)


# -- the core -----------------------------------------------------------------------------


def test_discovery_names_the_plugin_issuer_and_its_key_set(glewlwyd: Glewlwyd) -> None:
    metadata = glewlwyd.http.get(glewlwyd.issuer + "/.well-known/openid-configuration").json()
    assert metadata["issuer"] == glewlwyd.issuer  # http://127.0.0.1:<port>/api/oidc, no trailing slash
    assert metadata["jwks_uri"] == glewlwyd.issuer + "/jwks"
    assert "RS256" in metadata["id_token_signing_alg_values_supported"]
    keys = glewlwyd.http.get(metadata["jwks_uri"]).json()["keys"]
    assert [(key["kid"], key["kty"], key["alg"]) for key in keys] == [("key-1", "RSA", "RS256")]
    assert not {"d", "p", "q"} & set(keys[0])  # the private parts stay private


def test_client_credentials_token_validates(glewlwyd: Glewlwyd, token: str) -> None:
    assert header_of(token) == {"typ": "at+jwt", "alg": "RS256", "kid": "key-1"}  # RFC 9068
    validator = validator_for(glewlwyd, authorized_parties=[CLIENT_ID])
    for claims in (validator.validate(token), asyncio.run(validator_for(glewlwyd).avalidate(token))):
        assert claims["iss"] == glewlwyd.issuer
        assert claims["aud"] == API  # the `resource` asked for, a single string
        assert claims["sub"] == claims["client_id"] == CLIENT_ID
        assert claims["type"] == "access_token"  # Glewlwyd's own claim
        assert claims["exp"] - claims["iat"] == TOKEN_LIFETIME
        assert claims.scopes == frozenset({"read:messages"})
    validator.require_scopes(claims, "read:messages")
    with pytest.raises(jwtguard.InsufficientScopeError):
        validator.require_scopes(claims, "write:messages")


def test_without_resource_the_audience_is_the_scope_list(glewlwyd: Glewlwyd) -> None:
    """Glewlwyd's documented fallback: no ``resource``, so ``aud`` is the scope string. An API refuses it."""
    token = glewlwyd.client_credentials(resource=None)
    assert claims_of(token)["aud"] == "read:messages"
    with pytest.raises(jwtguard.InvalidTokenError):
        validator_for(glewlwyd).validate(token)


def test_wrong_audience_rejected(glewlwyd: Glewlwyd, token: str) -> None:
    other = glewlwyd.client_credentials(resource=OTHER_API)
    assert validator_for(glewlwyd, audience=OTHER_API).validate(other)["aud"] == OTHER_API
    for validator, foreign in ((validator_for(glewlwyd), other), (validator_for(glewlwyd, audience=OTHER_API), token)):
        with pytest.raises(jwtguard.InvalidTokenError) as caught:
            validator.validate(foreign)
        assert caught.value.status_code == 401


@pytest.mark.parametrize("changes", [{"sub": "someone-else"}, {"scope": "read:messages write:messages"}])
def test_tampered_token_rejected(glewlwyd: Glewlwyd, token: str, changes: dict[str, str]) -> None:
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        validator_for(glewlwyd).validate(tamper(token, **changes))
    assert caught.value.code == "bad_signature"


def test_expired_token_rejected(glewlwyd: Glewlwyd, token: str) -> None:
    clock = OffsetClock()
    validator = validator_for(glewlwyd, clock=clock)
    assert validator.validate(token)
    clock.advance(TOKEN_LIFETIME + 120)  # past exp and the default leeway
    with pytest.raises(jwtguard.ExpiredTokenError) as caught:
        validator.validate(token)
    assert (caught.value.status_code, caught.value.code) == (401, "token_expired")


def test_another_issuer_rejected(glewlwyd: Glewlwyd, token: str) -> None:
    """The issuer is Glewlwyd's plugin URL exactly: the server's root is another issuer."""
    validator = jwtguard.Validator(issuer=f"http://127.0.0.1:{glewlwyd.port}", audience=API)
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        validator.validate(token)
    assert caught.value.code == "unknown_issuer"


# -- a user's tokens --------------------------------------------------------------------


def test_authorization_code_flow_token_and_refresh_rotation(glewlwyd: Glewlwyd) -> None:
    tokens = glewlwyd.login()
    validator = validator_for(glewlwyd)
    claims = validator.validate(tokens["access_token"])
    assert claims["aud"] == API
    assert claims["client_id"] == CLIENT_ID
    assert claims["sub"] != CLIENT_ID  # the user's subject identifier (Glewlwyd makes one per user)
    assert claims.scopes == frozenset({"openid", "read:messages"})

    first = tokens["refresh_token"]
    refreshed = glewlwyd.refresh(first)
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()["refresh_token"]
    assert second != first  # one-time refresh tokens: a new one each time
    assert validator.validate(refreshed.json()["access_token"])["sub"] == claims["sub"]
    assert glewlwyd.refresh(first).status_code == 400  # spent
    assert glewlwyd.refresh(second).status_code == 400  # the replay disabled the chain's last token


def test_password_grant_ignores_resource(glewlwyd: Glewlwyd) -> None:
    """Recorded behaviour: the password grant's ``aud`` is the scope string, whatever ``resource`` says."""
    tokens = glewlwyd.password_grant(resource=API)
    assert claims_of(tokens["access_token"])["aud"] == "openid read:messages"
    with pytest.raises(jwtguard.InvalidTokenError):
        validator_for(glewlwyd).validate(tokens["access_token"])
    assert validator_for(glewlwyd, audience="openid read:messages").validate(tokens["access_token"])


def test_id_token_is_refused_for_the_api(glewlwyd: Glewlwyd) -> None:
    """Glewlwyd's ID token names only the client in ``aud``: an API validator refuses it on audience."""
    id_token = glewlwyd.login()["id_token"]
    assert header_of(id_token)["typ"] == "JWT"
    assert claims_of(id_token)["aud"] == CLIENT_ID
    with pytest.raises(jwtguard.InvalidTokenError):
        validator_for(glewlwyd).validate(id_token)


# -- key rotation (last in the module: it changes the server's keys) ------------------------


def test_signing_key_rotation(glewlwyd: Glewlwyd, token: str) -> None:
    """A new key, published beside the old: one refetch. The old key retired: refused once our keys refresh."""
    clock = OffsetClock()
    validator = validator_for(glewlwyd, clock=clock, timer=clock)
    assert validator.validate(token)

    new_kid = glewlwyd.rotate_keys()
    assert glewlwyd.published_kids() == [new_kid, "key-1"]
    new_token = glewlwyd.client_credentials()
    assert header_of(new_token)["kid"] == new_kid
    assert validator.validate(new_token)["sub"] == CLIENT_ID  # unknown kid: one refetch finds it
    assert validator.validate(token)  # the old key is still published

    glewlwyd.retire_old_keys()
    assert glewlwyd.published_kids() == [new_kid]
    assert validator.validate(token)  # our cached key set still holds the old key
    clock.advance(601)  # past the cached key set's max age: the next use refetches (in the background)
    assert refused_soon(validator, token).status_code == 401
    assert validator.validate(new_token)["sub"] == CLIENT_ID


# -- an adapter: the Starlette example app ------------------------------------------------------


def test_starlette_app_accepts_and_refuses(glewlwyd: Glewlwyd) -> None:
    validator = validator_for(glewlwyd)
    good = glewlwyd.client_credentials()
    status, _, body = call_starlette(validator, good)
    assert (status, body["sub"]) == (200, CLIENT_ID)

    status, headers, _ = call_starlette(validator, glewlwyd.client_credentials(scope="write:messages"))
    assert status == 403
    assert 'error="insufficient_scope"' in headers["www-authenticate"]

    for bad in (tamper(good, sub="someone-else"), glewlwyd.client_credentials(resource=OTHER_API)):
        status, headers, _ = call_starlette(validator, bad)
        assert status == 401
        assert headers["www-authenticate"].startswith('Bearer realm="api", error="invalid_token"')

    clock = OffsetClock()
    clock.advance(TOKEN_LIFETIME + 120)
    status, headers, _ = call_starlette(validator_for(glewlwyd, clock=clock), good)
    assert status == 401
    assert 'error="invalid_token"' in headers["www-authenticate"]
