"""requests auth classes: :class:`RequestsRefreshingAuth` and :class:`RequestsClientCredentialsAuth`.

requests has no auth flow: an ``AuthBase`` sees the request once, before it is
sent. So ``__call__`` sets the header (renewing first if the token is near its
expiry) and registers a response hook; the hook, on a 401 whose Bearer challenge
says ``error="invalid_token"``, gets a new token (forced, saying which token was
sent, so that a request overtaken by another one's refresh just retries) and
sends a copy of the request once more on the same connection adapter, the way
requests' own digest auth retries. The copy carries no hook of ours: no loop.
Streamed bodies (generators, files) are never sent twice. Single flight, the token
endpoint's protocol and the error kinds are the ones :mod:`jwtguard.client._httpx` uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

try:
    import requests
    from requests.auth import AuthBase
except ImportError as missing:  # pragma: no cover - exercised in a subprocess
    raise ImportError('jwtguard.client\'s requests auth needs requests: pip install "jwtguard[client]"') from missing

from ._challenge import sent_token, wants_new_token
from ._errors import TokenEndpointError
from ._protocol import ClientCredentialsGrant, Grant, RefreshGrant, TokenEndpoint, TokenRequest
from ._state import OnTokens, TokenState, new_state
from ._tokens import TokenSet

__all__ = ["RequestsClientCredentialsAuth", "RequestsRefreshingAuth"]


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request  # the token request carries its own client authentication, never a session's auth


class _BearerAuth(AuthBase):
    """The header, the retry hook and the token endpoint over requests, shared by both grants."""

    #: The challenge scheme that asks for a new token; a DPoP variant would use "dpop".
    scheme = "bearer"

    def __init__(
        self,
        grant: Grant,
        tokens: TokenSet | Mapping[str, Any] | None,
        *,
        on_tokens: OnTokens | None,
        refresh_margin: float,
        clock: Callable[[], float],
        timeout: float,
        session: requests.Session | None,
    ) -> None:
        self._state: TokenState = new_state(
            grant, tokens, clock=clock, refresh_margin=refresh_margin, on_tokens=on_tokens, timeout=timeout
        )
        self._timeout = timeout
        self._session = session

    @property
    def tokens(self) -> TokenSet | None:
        """The current tokens (``None`` before a client-credentials token was first fetched)."""
        return self._state.tokens

    def set_tokens(self, tokens: TokenSet | Mapping[str, Any]) -> None:
        """Install new tokens after a new login (a :class:`TokenSet` or a token response)."""
        self._state.replace(tokens)

    def _authorize(self, request: requests.PreparedRequest, tokens: TokenSet) -> None:
        """Present the access token on ``request``. (A DPoP variant adds its proof here.)"""
        assert tokens.access_token is not None  # TokenState never hands out a token set without one
        request.headers["Authorization"] = f"Bearer {tokens.access_token}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self._authorize(request, self._state.obtain(None, False, self._send))
        if self._on_response not in request.hooks["response"]:
            request.register_hook("response", self._on_response)
        return request

    def _on_response(self, response: requests.Response, **send_options: Any) -> requests.Response:
        request = response.request
        authorization = request.headers.get("Authorization")
        if isinstance(authorization, bytes):
            authorization = authorization.decode("latin-1")
        sent = sent_token(authorization, self.scheme)
        challenge = response.headers.get("WWW-Authenticate")  # several headers arrive joined by commas
        if sent is None or not wants_new_token(response.status_code, [challenge] if challenge else [], self.scheme):
            return response
        if not (request.body is None or isinstance(request.body, (bytes, str))):
            return response  # a streamed body was consumed: it cannot be sent again
        _ = response.content  # read the 401 out, so that its connection goes back to the pool
        response.close()  # (whatever the refresh below raises)
        tokens = self._state.obtain(sent, True, self._send)
        retry = request.copy()
        retry.hooks = {**request.hooks, "response": [h for h in request.hooks["response"] if h != self._on_response]}
        self._authorize(retry, tokens)
        again = response.connection.send(retry, **send_options)
        again.history.append(response)
        again.request = retry
        return again

    def _send(self, request: TokenRequest) -> tuple[int, bytes]:
        try:
            if self._session is not None:
                response = self._post(self._session, request)
            else:
                with requests.Session() as session:
                    response = self._post(session, request)
            return response.status_code, response.content
        except requests.RequestException as error:
            raise TokenEndpointError(
                "network_error", f"The token endpoint could not be reached ({type(error).__name__})"
            ) from error

    def _post(self, session: requests.Session, request: TokenRequest) -> requests.Response:
        return session.post(
            request.url,
            data=request.body,
            headers=dict(request.headers),
            auth=_no_auth,
            timeout=self._timeout,
            allow_redirects=False,  # never follow a redirect with a secret in the body
        )


class RequestsRefreshingAuth(_BearerAuth):
    """requests auth for a user's session: an access token, renewed with a refresh token.

    ::

        auth = RequestsRefreshingAuth("https://tenant.example.com/oauth/token", "spa", tokens=login_response)
        session = requests.Session()
        session.auth = auth

    It behaves as :class:`~jwtguard.client.RefreshingAuth` (single flight across
    threads, rotation, ``on_tokens``, one retry on ``invalid_token``) and takes the
    same arguments, with ``session`` (a ``requests.Session`` for the token endpoint;
    default: a new one per refresh) instead of the httpx clients.
    """

    def __init__(
        self,
        token_endpoint: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        tokens: TokenSet | Mapping[str, Any],
        auth_method: str | None = None,
        on_tokens: OnTokens | None = None,
        params: Mapping[str, str] | None = None,
        refresh_margin: float = 30.0,
        clock: Callable[[], float] = time.time,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        endpoint = TokenEndpoint(
            token_endpoint, client_id, client_secret, auth_method=auth_method, allow_insecure_http=allow_insecure_http
        )
        super().__init__(
            RefreshGrant(endpoint, params),
            tokens,
            on_tokens=on_tokens,
            refresh_margin=refresh_margin,
            clock=clock,
            timeout=timeout,
            session=session,
        )


class RequestsClientCredentialsAuth(_BearerAuth):
    """requests auth for service-to-service calls: a ``client_credentials`` token, cached.

    It behaves as :class:`~jwtguard.client.ClientCredentialsAuth` and takes the same
    arguments, with ``session`` instead of the httpx clients.
    """

    def __init__(
        self,
        token_endpoint: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        auth_method: str | None = None,
        on_tokens: OnTokens | None = None,
        params: Mapping[str, str] | None = None,
        refresh_margin: float = 30.0,
        clock: Callable[[], float] = time.time,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        endpoint = TokenEndpoint(
            token_endpoint, client_id, client_secret, auth_method=auth_method, allow_insecure_http=allow_insecure_http
        )
        super().__init__(
            ClientCredentialsGrant(endpoint, scope, params),
            None,
            on_tokens=on_tokens,
            refresh_margin=refresh_margin,
            clock=clock,
            timeout=timeout,
            session=session,
        )
