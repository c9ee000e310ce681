"""The token endpoint's protocol (RFC 6749 §2.3, §4.4, §5, §6), with no I/O and no clock.

Every transport — httpx sync, httpx async, requests — builds its token requests
and reads the answers here, so client authentication, the form, the parsing of
the JSON and the expiry arithmetic exist once. A *grant* turns the tokens a client
holds into a :class:`TokenRequest`, and the HTTP answer into a new
:class:`~jwtguard.client.TokenSet` or an error:

* :class:`RefreshGrant` — ``grant_type=refresh_token`` (§6). ``invalid_grant``
  means the session is over: :class:`~jwtguard.client.LoginRequiredError`.
* :class:`ClientCredentialsGrant` — ``grant_type=client_credentials`` (§4.4); no
  refresh token, the client simply asks again.

Extension point: a sender-constrained scheme such as DPoP (RFC 9449) would add a
proof header to the :class:`TokenRequest` built here, and present the token with
its own scheme in the transports' ``_authorize``; nothing else changes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlencode

from .._http import HttpSettings, check_url
from ..errors import ConfigurationError
from ._errors import LoginRequiredError, TokenEndpointError
from ._tokens import TokenSet

__all__ = ["AUTH_METHODS", "ClientCredentialsGrant", "Grant", "RefreshGrant", "TokenEndpoint", "TokenRequest"]

#: Client authentication methods (the names of RFC 8414 ``token_endpoint_auth_methods_supported``).
AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")
_MAX_RESPONSE = 1024 * 1024
_RESERVED = frozenset({"grant_type", "refresh_token", "client_id", "client_secret"})


@dataclass(frozen=True)
class TokenRequest:
    """A ``POST`` to the token endpoint, ready to send; its secrets stay out of ``repr``."""

    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)


class TokenEndpoint:
    """One token endpoint and one client: how to authenticate, how to read answers.

    Args:
        url: the token endpoint (``https://``; plain ``http://`` only for loopback
            hosts or with ``allow_insecure_http``).
        client_id: the client's id.
        client_secret: the secret of a confidential client; ``None`` for a public one.
        auth_method: ``"client_secret_basic"`` (the default with a secret),
            ``"client_secret_post"``, or ``"none"`` (the only one without).
        allow_insecure_http: allow ``http://`` to other hosts (unsafe: the
            refresh token and the secret would travel in clear).

    Raises:
        ConfigurationError: a bad URL, an unknown method, or a method that does
            not fit the presence of a secret.
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        auth_method: str | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        self.url = check_url(url, HttpSettings(allow_insecure_http=allow_insecure_http), "token_endpoint")
        if not isinstance(client_id, str) or not client_id:
            raise ConfigurationError("client_id must be a non-empty string")
        if auth_method is None:
            auth_method = "none" if client_secret is None else "client_secret_basic"
        if auth_method not in AUTH_METHODS:
            raise ConfigurationError(f"auth_method must be one of {AUTH_METHODS}")
        if (auth_method == "none") != (client_secret is None):
            raise ConfigurationError('a client_secret goes with "client_secret_basic" or "client_secret_post" only')
        self.client_id = client_id
        self.auth_method = auth_method
        self._secret = client_secret

    def __repr__(self) -> str:
        return f"TokenEndpoint({self.url!r}, client_id={self.client_id!r}, auth_method={self.auth_method!r})"

    def request(self, form: Mapping[str, str]) -> TokenRequest:
        """A token request carrying ``form`` and the client's authentication (RFC 6749 §2.3)."""
        fields = dict(form)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if self.auth_method == "client_secret_basic":
            assert self._secret is not None
            # §2.3.1: both parts are form-urlencoded before they are joined and base64-encoded.
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self._secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        else:
            fields["client_id"] = self.client_id
            if self.auth_method == "client_secret_post":
                assert self._secret is not None
                fields["client_secret"] = self._secret
        return TokenRequest(self.url, headers, urlencode(fields).encode("ascii"))

    def error(self, status: int, body: bytes) -> tuple[str, str]:
        """The ``(error, description)`` of a failed answer (RFC 6749 §5.2), or a generic pair."""
        document = _json(body)
        if isinstance(document, dict) and isinstance(document.get("error"), str) and document["error"]:
            description = document.get("error_description")
            return document["error"], description if isinstance(description, str) else "The token request failed"
        kind = "server_error" if status >= 500 else "invalid_response"
        return kind, f"The token endpoint answered HTTP {status} without an OAuth error"

    def parse(self, status: int, body: bytes, *, now: float, previous: TokenSet | None) -> TokenSet:
        """The tokens of a successful answer received for a request sent at ``now``.

        Raises:
            TokenEndpointError: not a 2xx answer, or not a valid token response.
        """
        if not 200 <= status < 300:
            error, description = self.error(status, body)
            raise TokenEndpointError(error, description, status)
        document = _json(body)
        if not isinstance(document, dict):
            raise TokenEndpointError("invalid_response", "The token response is not a JSON object", status)
        return TokenSet.from_response(document, now=now, previous=previous)


def _json(body: bytes) -> Any:
    if len(body) > _MAX_RESPONSE:
        return None
    try:
        return json.loads(body)
    except ValueError:  # includes UnicodeDecodeError
        return None


def _params(params: Mapping[str, str] | None) -> dict[str, str]:
    extra = dict(params or {})
    if _RESERVED & extra.keys() or not all(isinstance(v, str) for v in extra.values()):
        raise ConfigurationError(f"params are extra string parameters; {sorted(_RESERVED)} are set by the client")
    return extra


class Grant:
    """How a client renews its access token: the request to send, and how to read the answer."""

    def can_renew(self, tokens: TokenSet | None) -> bool:
        """Whether a renewal could be attempted with ``tokens``."""
        raise NotImplementedError

    def request(self, tokens: TokenSet | None) -> TokenRequest:
        """The token request that renews ``tokens``."""
        raise NotImplementedError

    def parse(self, status: int, body: bytes, *, now: float, tokens: TokenSet | None) -> TokenSet:
        """The new tokens from the answer to :meth:`request` (sent at ``now``)."""
        raise NotImplementedError


class RefreshGrant(Grant):
    """``grant_type=refresh_token`` (RFC 6749 §6) at ``endpoint``, with extra ``params``."""

    def __init__(self, endpoint: TokenEndpoint, params: Mapping[str, str] | None = None) -> None:
        self.endpoint = endpoint
        self.params = _params(params)

    def can_renew(self, tokens: TokenSet | None) -> bool:
        return tokens is not None and tokens.refresh_token is not None

    def request(self, tokens: TokenSet | None) -> TokenRequest:
        """Raises :class:`LoginRequiredError` when there is no refresh token to spend."""
        if tokens is None or tokens.refresh_token is None:
            raise LoginRequiredError("no_refresh_token", "There is no refresh token: the user must log in")
        form = {**self.params, "grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
        return self.endpoint.request(form)

    def parse(self, status: int, body: bytes, *, now: float, tokens: TokenSet | None) -> TokenSet:
        """Raises :class:`LoginRequiredError` on ``invalid_grant``, else :class:`TokenEndpointError`."""
        if not 200 <= status < 300:
            error, description = self.endpoint.error(status, body)
            if error == "invalid_grant":  # expired, revoked, or reused (its family is revoked now)
                raise LoginRequiredError(error, description, status)
        return self.endpoint.parse(status, body, now=now, previous=tokens)


class ClientCredentialsGrant(Grant):
    """``grant_type=client_credentials`` (RFC 6749 §4.4): ``scope`` and extra ``params``."""

    def __init__(
        self, endpoint: TokenEndpoint, scope: str | None = None, params: Mapping[str, str] | None = None
    ) -> None:
        if endpoint.auth_method == "none":
            raise ConfigurationError("client credentials need a confidential client (a client_secret)")
        self.endpoint = endpoint
        self.params = _params(params)
        if scope is not None:
            self.params["scope"] = scope

    def can_renew(self, tokens: TokenSet | None) -> bool:
        return True

    def request(self, tokens: TokenSet | None) -> TokenRequest:
        return self.endpoint.request({**self.params, "grant_type": "client_credentials"})

    def parse(self, status: int, body: bytes, *, now: float, tokens: TokenSet | None) -> TokenSet:
        fresh = self.endpoint.parse(status, body, now=now, previous=None)
        # RFC 6749 §4.4.3: no refresh token here; one sent anyway is ignored.
        return TokenSet(fresh.access_token, None, fresh.expires_at, fresh.expires_in, fresh.token_type, fresh.scope)
