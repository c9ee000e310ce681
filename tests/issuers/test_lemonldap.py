"""Tokens from LemonLDAP::NG (Debian package ``liblemonldap-ng-portal-perl``), an independent OpenID Provider.

The portal runs under ``plackup`` on 127.0.0.1 (``issuer_servers.running_lemonldap``);
jwtguard finds its keys through discovery at the issuer URL. Skipped without the
packages, except in CI, where that is a failure. See docs/interop.md.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fake_clock import OffsetClock
from issuer_servers import (
    API,
    CLIENT_ID,
    OTHER_API,
    SHORT_CLIENT_ID,
    SHORT_TTL,
    LemonLDAP,
    call_starlette,
    claims_of,
    header_of,
    running_lemonldap,
    tamper,
)

import jwtguard

pytestmark = [pytest.mark.issuers, pytest.mark.slow]
TOKEN_LIFETIME = 600  # oidcRPMetaDataOptionsAccessTokenExpiration of CLIENT_ID


@pytest.fixture(scope="module")
def lemonldap() -> Iterator[LemonLDAP]:
    with running_lemonldap() as server:
        yield server


@pytest.fixture(scope="module")
def token(lemonldap: LemonLDAP) -> str:
    """A client_credentials access token with ``read:messages``."""
    return lemonldap.client_credentials()


@pytest.fixture(scope="module")
def user_tokens(lemonldap: LemonLDAP) -> dict[str, Any]:
    """The token response of the password grant for the Demo user ``dwho``: access, ID and refresh tokens."""
    return lemonldap.password_grant()


def validator_for(server: LemonLDAP, audience: str = API, **options: Any) -> jwtguard.Validator:
    """Default settings: the issuer URL only; keys through its discovery document."""
    return jwtguard.Validator(issuer=server.issuer, audience=audience, **options)


# -- the core -----------------------------------------------------------------------------


def test_discovery_names_the_issuer_and_its_key_set(lemonldap: LemonLDAP) -> None:
    metadata = lemonldap.http.get(lemonldap.issuer + "/.well-known/openid-configuration").json()
    assert metadata["issuer"] == lemonldap.issuer
    assert metadata["jwks_uri"] == lemonldap.issuer + "/oauth2/jwks"
    assert {"client_credentials", "password", "refresh_token"} <= set(metadata["grant_types_supported"])
    keys = lemonldap.http.get(metadata["jwks_uri"]).json()["keys"]
    assert [(key["kid"], key["kty"]) for key in keys] == [("key-1", "RSA")]
    assert not {"d", "p", "q"} & set(keys[0])


def test_client_credentials_token_validates(lemonldap: LemonLDAP, token: str) -> None:
    assert header_of(token) == {"typ": "JWT", "alg": "RS256", "kid": "key-1"}  # not at+jwt
    validator = validator_for(lemonldap, authorized_parties=[CLIENT_ID])
    for claims in (validator.validate(token), asyncio.run(validator_for(lemonldap).avalidate(token))):
        assert claims["iss"] == lemonldap.issuer
        assert claims["aud"] == [CLIENT_ID, API]  # the client, then oidcRPMetaDataOptionsAdditionalAudiences
        assert claims["sub"] == claims["client_id"] == CLIENT_ID
        assert claims["exp"] - claims["iat"] == TOKEN_LIFETIME
        assert claims.scopes == frozenset({"read:messages"})
    validator.require_scopes(claims, "read:messages")
    with pytest.raises(jwtguard.InsufficientScopeError):
        validator.require_scopes(claims, "write:messages")


def test_strict_rfc9068_profile_refuses_lemonldap_tokens(lemonldap: LemonLDAP, token: str) -> None:
    """LemonLDAP::NG types its JWT access tokens ``JWT``: a validator that insists on ``at+jwt`` refuses them."""
    validator = validator_for(lemonldap, token_types=jwtguard.RFC9068_TOKEN_TYPES)
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        validator.validate(token)
    assert caught.value.code == "invalid_typ"


def test_user_access_token_validates(lemonldap: LemonLDAP, user_tokens: dict[str, Any]) -> None:
    claims = validator_for(lemonldap).validate(user_tokens["access_token"])
    assert claims["sub"] == "dwho"
    assert claims["client_id"] == CLIENT_ID
    assert claims.scopes == frozenset({"openid", "read:messages"})


def test_wrong_audience_rejected(lemonldap: LemonLDAP, token: str) -> None:
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        validator_for(lemonldap, audience=OTHER_API).validate(token)
    assert caught.value.status_code == 401


@pytest.mark.parametrize("changes", [{"sub": "someone-else"}, {"scope": "read:messages write:messages"}])
def test_tampered_token_rejected(lemonldap: LemonLDAP, token: str, changes: dict[str, str]) -> None:
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        validator_for(lemonldap).validate(tamper(token, **changes))
    assert caught.value.code == "bad_signature"


def test_expired_token_rejected(lemonldap: LemonLDAP) -> None:
    """``short-client``'s tokens live 2 s: wait that out for real; also with a clock moved forward."""
    short = lemonldap.client_credentials(client_id=SHORT_CLIENT_ID)
    validator = validator_for(lemonldap, leeway=0)
    assert validator.validate(short)["client_id"] == SHORT_CLIENT_ID
    assert claims_of(short)["exp"] - claims_of(short)["iat"] == SHORT_TTL
    time.sleep(max(0.0, claims_of(short)["exp"] - time.time()) + 0.2)
    with pytest.raises(jwtguard.ExpiredTokenError) as caught:
        validator.validate(short)
    assert (caught.value.status_code, caught.value.code) == (401, "token_expired")

    clock = OffsetClock()
    long_lived = lemonldap.client_credentials()
    assert validator_for(lemonldap, clock=clock).validate(long_lived)
    clock.advance(TOKEN_LIFETIME + 120)
    with pytest.raises(jwtguard.ExpiredTokenError):
        validator_for(lemonldap, clock=clock).validate(long_lived)


def test_refresh_token_gives_a_new_access_token(lemonldap: LemonLDAP, user_tokens: dict[str, Any]) -> None:
    refreshed = lemonldap.refresh(user_tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    claims = validator_for(lemonldap).validate(refreshed.json()["access_token"])
    assert claims["sub"] == "dwho"


# -- ID tokens are not access tokens ----------------------------------------------------------


def test_id_token_looks_like_an_access_token(user_tokens: dict[str, Any]) -> None:
    """What makes LemonLDAP::NG's ID token pass: same ``typ``, same key, and ``aud`` names the API too."""
    id_token, access_token = user_tokens["id_token"], user_tokens["access_token"]
    assert header_of(id_token)["typ"] == header_of(access_token)["typ"] == "JWT"
    claims = claims_of(id_token)
    assert claims["aud"] == [CLIENT_ID, API]  # additional audiences go into the ID token as well
    assert claims["azp"] == CLIENT_ID
    assert "at_hash" in claims
    assert not {"scope", "client_id", "jti"} & set(claims)  # what only the access token carries


def test_id_token_refused_with_refuse_id_tokens(lemonldap: LemonLDAP, user_tokens: dict[str, Any]) -> None:
    """LemonLDAP::NG's ID token carries ``at_hash``; its access token none of the ID-token claims."""
    validator = validator_for(lemonldap, refuse_id_tokens=True)
    assert validator.validate(user_tokens["access_token"])["sub"] == "dwho"
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        validator.validate(user_tokens["id_token"])
    assert (caught.value.code, caught.value.claim) == ("id_token", "at_hash")


def test_id_token_accepted_by_the_default_oidc_profile(lemonldap: LemonLDAP, user_tokens: dict[str, Any]) -> None:
    """Documents the default: typ JWT, aud [client_id, API] and a valid signature pass as an access token."""
    validator = jwtguard.profiles.oidc(lemonldap.issuer, API)
    assert validator.options.refuse_id_tokens is False
    claims = validator.validate(user_tokens["id_token"])
    assert "at_hash" in claims
    assert "client_id" not in claims


def test_id_token_refused_when_the_api_requires_access_token_claims(
    lemonldap: LemonLDAP, user_tokens: dict[str, Any]
) -> None:
    """The workaround today: require a claim only access tokens carry (``client_id``), or a scope."""
    for options in ({"required_claims": ["client_id"]}, {"required_scopes": ["read:messages"]}):
        validator = validator_for(lemonldap, **options)
        assert validator.validate(user_tokens["access_token"])["sub"] == "dwho"
        with pytest.raises(jwtguard.AuthError):
            validator.validate(user_tokens["id_token"])


# -- an adapter: the Starlette example app ------------------------------------------------------


def test_starlette_app_accepts_and_refuses(lemonldap: LemonLDAP, token: str) -> None:
    validator = validator_for(lemonldap)
    status, _, body = call_starlette(validator, token)
    assert (status, body["sub"]) == (200, CLIENT_ID)

    status, headers, _ = call_starlette(validator, lemonldap.client_credentials(scope="write:messages"))
    assert status == 403
    assert 'error="insufficient_scope"' in headers["www-authenticate"]

    status, headers, _ = call_starlette(validator, tamper(token, sub="someone-else"))
    assert status == 401
    assert headers["www-authenticate"].startswith('Bearer realm="api", error="invalid_token"')

    status, headers, _ = call_starlette(validator_for(lemonldap, audience=OTHER_API), token)
    assert status == 401


# -- key rotation (last in the module: it changes the server's key) -------------------------


def test_rotate_oidc_keys(lemonldap: LemonLDAP, token: str) -> None:
    """``rotateOidcKeys`` (LemonLDAP::NG 2.16) replaces the signing key: the JWKS then holds only the new key.

    jwtguard finds the new kid with one refetch; that refetch also drops the old
    key, so tokens signed before the rotation are refused from then on.
    """
    validator = validator_for(lemonldap)
    assert validator.validate(token)
    new_kid = lemonldap.rotate_keys()
    assert lemonldap.published_kids() == [new_kid]
    new_token = lemonldap.client_credentials()
    assert header_of(new_token)["kid"] == new_kid != "key-1"
    assert validator.validate(new_token)["sub"] == CLIENT_ID  # unknown kid: one refetch
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        validator.validate(token)
    assert caught.value.code == "unknown_key"
