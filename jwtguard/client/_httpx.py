"""httpx auth classes: :class:`RefreshingAuth` and :class:`ClientCredentialsAuth`, sync and async.

As httpx's own schemes do, the logic is one generator, :meth:`_BearerAuth._flow`:
it yields either an API request (the client sends it and sends the response back)
or a :class:`_Renew` instruction (the driver answers with the tokens to use). Two
short drivers run it: :meth:`~_BearerAuth.sync_auth_flow` for ``httpx.Client``
(threads wait on the single renewal in flight) and
:meth:`~_BearerAuth.async_auth_flow` for ``httpx.AsyncClient`` (tasks await it).
The flow:

1. ask for a token (renewed first if it is within the margin of its expiry) and send;
2. on a 401 whose Bearer challenge says ``error="invalid_token"``, ask for a new
   one, forced, saying which token was sent (nothing is renewed if another request
   already did), and send again — once, and only if the body can be sent again
   (bytes, form data, JSON; never a streamed body); any other answer is returned.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, cast

try:
    import httpx
except ImportError as missing:  # pragma: no cover - exercised in a subprocess
    raise ImportError('jwtguard.client\'s httpx auth needs httpx: pip install "jwtguard[client]"') from missing

from ._challenge import wants_new_token
from ._errors import TokenEndpointError
from ._protocol import ClientCredentialsGrant, Grant, RefreshGrant, TokenEndpoint, TokenRequest
from ._state import OnTokens, TokenState, new_state
from ._tokens import TokenSet

__all__ = ["ClientCredentialsAuth", "RefreshingAuth"]


@dataclass(frozen=True)
class _Renew:
    """To the driver: answer with the tokens to use (``sent``: the token a 401 refused)."""

    sent: str | None
    force: bool


class _BearerAuth(httpx.Auth):
    """The flow and its drivers, shared by both grants."""

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
        token_client: httpx.Client | None,
        async_token_client: httpx.AsyncClient | None,
    ) -> None:
        self._state: TokenState = new_state(
            grant, tokens, clock=clock, refresh_margin=refresh_margin, on_tokens=on_tokens, timeout=timeout
        )
        self._timeout = timeout
        self._token_client = token_client
        self._async_token_client = async_token_client
        self._tls: ssl.SSLContext | None = None  # loaded once: a new client per refresh reuses it

    @property
    def tokens(self) -> TokenSet | None:
        """The current tokens (``None`` before a client-credentials token was first fetched)."""
        return self._state.tokens

    def set_tokens(self, tokens: TokenSet | Mapping[str, Any]) -> None:
        """Install new tokens after a new login (a :class:`TokenSet` or a token response)."""
        self._state.replace(tokens)

    def _authorize(self, request: httpx.Request, tokens: TokenSet) -> str:
        """Present the access token on ``request``; return it. (A DPoP variant adds its proof here.)"""
        token = tokens.access_token
        assert token is not None  # TokenState never hands out a token set without one
        request.headers["Authorization"] = f"Bearer {token}"
        return token

    # -- the one flow -----------------------------------------------------------------

    def _flow(self, request: httpx.Request) -> Generator[httpx.Request | _Renew, httpx.Response | TokenSet, None]:
        tokens = cast(TokenSet, (yield _Renew(None, force=False)))
        sent = self._authorize(request, tokens)
        response = cast(httpx.Response, (yield request))
        challenges = response.headers.get_list("www-authenticate")
        if not wants_new_token(response.status_code, challenges, self.scheme) or not _replayable(request):
            return
        tokens = cast(TokenSet, (yield _Renew(sent, force=True)))
        self._authorize(request, tokens)
        yield request  # once: whatever this answers is the answer

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Not used: the flow needs the drivers below, which httpx's clients call."""
        raise RuntimeError("use this auth through httpx.Client or httpx.AsyncClient")

    # -- the drivers ------------------------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self._flow(request)
        try:
            step = next(flow)
            while True:
                if isinstance(step, _Renew):
                    reply: httpx.Response | TokenSet = self._state.obtain(step.sent, step.force, self._send)
                else:
                    reply = yield step
                step = flow.send(reply)
        except StopIteration:
            return
        finally:
            flow.close()

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self._flow(request)
        try:
            step = next(flow)
            while True:
                if isinstance(step, _Renew):
                    reply: httpx.Response | TokenSet = await self._state.aobtain(step.sent, step.force, self._asend)
                else:
                    reply = yield step
                step = flow.send(reply)
        except StopIteration:
            return
        finally:
            flow.close()

    # -- the token endpoint, over httpx -----------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = httpx.create_ssl_context()  # httpx's default trust store, read once
        return self._tls

    def _send(self, request: TokenRequest) -> tuple[int, bytes]:
        try:
            if self._token_client is not None:
                response = _post(self._token_client, request)
            else:
                with httpx.Client(timeout=self._timeout, verify=self._tls_context()) as client:
                    response = _post(client, request)
        except httpx.HTTPError as error:
            raise _unreachable(error) from error
        return response.status_code, response.content

    async def _asend(self, request: TokenRequest) -> tuple[int, bytes]:
        try:
            if self._async_token_client is not None:
                response = await _apost(self._async_token_client, request)
            else:
                async with httpx.AsyncClient(timeout=self._timeout, verify=self._tls_context()) as client:
                    response = await _apost(client, request)
        except httpx.HTTPError as error:
            raise _unreachable(error) from error
        return response.status_code, response.content


#: A no-op auth: the token request carries its own client authentication, never a client's default auth.
_NO_AUTH = httpx.Auth()


def _post(client: httpx.Client, request: TokenRequest) -> httpx.Response:
    # No redirects: the body holds a refresh token or a secret.
    return client.post(
        request.url, content=request.body, headers=request.headers, auth=_NO_AUTH, follow_redirects=False
    )


async def _apost(client: httpx.AsyncClient, request: TokenRequest) -> httpx.Response:
    return await client.post(
        request.url, content=request.body, headers=request.headers, auth=_NO_AUTH, follow_redirects=False
    )


def _unreachable(error: httpx.HTTPError) -> TokenEndpointError:
    return TokenEndpointError("network_error", f"The token endpoint could not be reached ({type(error).__name__})")


def _replayable(request: httpx.Request) -> bool:
    # Bytes, form data and JSON are held in memory; an iterator or file is streamed once.
    return isinstance(request.stream, httpx.ByteStream)


class RefreshingAuth(_BearerAuth):
    """httpx auth for a user's session: an access token, renewed with a refresh token.

    ::

        auth = RefreshingAuth("https://tenant.example.com/oauth/token", "spa", tokens=login_response)
        client = httpx.Client(auth=auth)  # or httpx.AsyncClient(auth=auth)

    Before a request, a token within ``refresh_margin`` of its expiry (from
    ``expires_in``) is refreshed. On a 401 with ``error="invalid_token"`` the token
    is refreshed once and the request sent again once (not a streamed body).
    Concurrent requests share one refresh (threads with ``httpx.Client``, tasks with
    ``httpx.AsyncClient``); a rotated refresh token replaces the old one and is
    handed to ``on_tokens`` before anything uses it. ``refresh_token_rotation``
    ``none`` works too: the refresh token is kept.

    Args:
        token_endpoint: the issuer's token endpoint URL.
        client_id: the client's id.
        client_secret: a confidential client's secret; ``None`` for a public client.
        tokens: a :class:`TokenSet`, or the token response of the login.
        auth_method: ``"client_secret_basic"`` (default with a secret) or
            ``"client_secret_post"``; ``"none"`` for a public client.
        on_tokens: called with every new :class:`TokenSet`: persist the refresh token there.
        params: extra form parameters of every refresh request (e.g. ``{"scope": "…"}``).
        refresh_margin: refresh this many seconds before the expiry (at most half
            the lifetime; default 30).
        clock: the current time in seconds (default :func:`time.time`).
        timeout: seconds for each token request (default 10).
        token_client: an ``httpx.Client`` for the token endpoint (default: a new one per refresh).
        async_token_client: an ``httpx.AsyncClient`` for the token endpoint.
        allow_insecure_http: allow a plain-http endpoint that is not loopback (unsafe).

    Raises:
        ConfigurationError: bad options (at construction).

    Requests made with it raise :class:`LoginRequiredError` when the refresh token is
    refused (log in again) and :class:`TokenEndpointError` when the token endpoint fails.
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
        token_client: httpx.Client | None = None,
        async_token_client: httpx.AsyncClient | None = None,
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
            token_client=token_client,
            async_token_client=async_token_client,
        )


class ClientCredentialsAuth(_BearerAuth):
    """httpx auth for service-to-service calls: a ``client_credentials`` token, cached.

    The token is fetched on the first request and kept until ``refresh_margin``
    before its expiry; concurrent requests share one fetch. A 401 with
    ``error="invalid_token"`` fetches a new one and retries once.

    Args are those of :class:`RefreshingAuth`, without ``tokens``, plus ``scope``
    (``params`` carries e.g. Auth0's ``audience`` or RFC 8707's ``resource``). The
    client must be confidential (a ``client_secret``).
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
        token_client: httpx.Client | None = None,
        async_token_client: httpx.AsyncClient | None = None,
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
            token_client=token_client,
            async_token_client=async_token_client,
        )
