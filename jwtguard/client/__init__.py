"""The client side of the token flow: call APIs with access tokens that renew themselves.

Install with ``pip install "jwtguard[client]"`` (httpx and requests).

* :class:`RefreshingAuth` (httpx, sync and async) and :class:`RequestsRefreshingAuth`
  hold a user's access and refresh tokens: they refresh before the expiry and on
  a 401 ``invalid_token``, one refresh for many concurrent requests, and hand every
  rotated refresh token to ``on_tokens``.
* :class:`ClientCredentialsAuth` and :class:`RequestsClientCredentialsAuth` fetch
  and cache a service's ``client_credentials`` token.
* :class:`LoginRequiredError`: the refresh token was refused; log the user in again.
  :class:`TokenEndpointError`: the token endpoint failed (an outage, a bad configuration).

The httpx classes need only httpx and the requests classes only requests: each is
imported when first used. See docs/client.md.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from ._errors import LoginRequiredError, TokenEndpointError, TokenRequestError
from ._protocol import TokenEndpoint
from ._tokens import TokenSet

if TYPE_CHECKING:
    from ._httpx import ClientCredentialsAuth, RefreshingAuth
    from ._requests import RequestsClientCredentialsAuth, RequestsRefreshingAuth

__all__ = [
    "ClientCredentialsAuth",
    "LoginRequiredError",
    "RefreshingAuth",
    "RequestsClientCredentialsAuth",
    "RequestsRefreshingAuth",
    "TokenEndpoint",
    "TokenEndpointError",
    "TokenRequestError",
    "TokenSet",
]

_INSTALL = 'pip install "jwtguard[client]"'
_LAZY = {
    "ClientCredentialsAuth": "._httpx",
    "RefreshingAuth": "._httpx",
    "RequestsClientCredentialsAuth": "._requests",
    "RequestsRefreshingAuth": "._requests",
}

if importlib.util.find_spec("httpx") is None and importlib.util.find_spec("requests") is None:
    raise ImportError(f"jwtguard.client needs httpx or requests: {_INSTALL}")


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
