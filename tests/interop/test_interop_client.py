"""Interoperability of jwtguard.client with a real provider (panva's oidc-provider, see provider.mjs).

The provider's ``web-app`` client gets refresh tokens that rotate on every use,
and a spent one presented again revokes the whole grant. Ten requests that all
come back 401 at once must cost one refresh there; the rotated refresh token is
handed to ``on_tokens``; once the provider has revoked the grant the client says
``LoginRequiredError``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from interop_provider import ALGORITHMS, API, WEB_APP, running_provider, tamper

import jwtguard
from jwtguard.cli._demo_api import ApiServer, build_api
from jwtguard.client import LoginRequiredError, RefreshingAuth, TokenSet

pytestmark = pytest.mark.slow


def test_refreshing_auth_against_the_provider() -> None:
    with running_provider() as provider:
        login = provider.login()  # authorization code + PKCE: access, ID and refresh tokens
        validator = jwtguard.Validator(issuer=provider.issuer, audience=API, algorithms=list(ALGORITHMS))
        with ApiServer(build_api(validator)) as api:
            # The app holds an access token the API refuses (as one signed with a key since retired would be).
            refused = tamper(login["access_token"], sub="someone-else")
            saved: list[TokenSet] = []
            auth = RefreshingAuth(
                provider.token_endpoint,
                WEB_APP,
                f"{WEB_APP}-secret",
                tokens={**login, "access_token": refused},
                on_tokens=saved.append,
            )
            with httpx.Client(auth=auth, trust_env=False, timeout=20) as client, ThreadPoolExecutor(10) as pool:
                statuses = list(pool.map(lambda _: client.get(api.url + "/messages").status_code, range(10)))
            assert statuses == [200] * 10
            assert len(saved) == 1  # one refresh at the provider for ten 401s
            assert saved[0].refresh_token not in (None, login["refresh_token"])  # rotated
            assert validator.validate(saved[0].access_token or "")["sub"] == "test-user"

            # The provider spent the login's refresh token: replaying it revokes the grant...
            replay = provider.refresh(login["refresh_token"])
            assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
            # ...so the rotated one, held by our client, is refused too: the user must log in again.
            again = RefreshingAuth(
                provider.token_endpoint, WEB_APP, f"{WEB_APP}-secret", tokens=TokenSet(refused, saved[0].refresh_token)
            )
            with pytest.raises(LoginRequiredError) as caught, httpx.Client(auth=again, trust_env=False) as client:
                client.get(api.url + "/messages")
            assert (caught.value.error, caught.value.status_code) == ("invalid_grant", 400)
