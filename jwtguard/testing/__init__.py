"""Test your own protected API: signing keys, a token factory and a local issuer.

The local issuer also runs a token endpoint (client credentials, a test-user
login, refresh-token rotation) for development and CI: never for production.

>>> from jwtguard.testing import LocalIssuer
>>> with LocalIssuer() as issuer:
...     claims = issuer.validator().validate(issuer.token(scope="read:messages"))
>>> claims["iss"].startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

from .._binding import certificate_thumbprint
from .._dpop import jwk_thumbprint
from ._server import LocalServer, Request, Response
from .dpop import DPoPKey
from .issuer import LocalIssuer
from .keys import SUPPORTED_ALGORITHMS, SigningKey
from .oauth import LocalClient, LocalUser, OAuthError
from .tokens import TokenFactory

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "DPoPKey",
    "LocalClient",
    "LocalIssuer",
    "LocalServer",
    "LocalUser",
    "OAuthError",
    "Request",
    "Response",
    "SigningKey",
    "TokenFactory",
    "certificate_thumbprint",
    "jwk_thumbprint",
]
