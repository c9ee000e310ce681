"""An in-process OpenID issuer on 127.0.0.1: discovery, JWKS and key rotation.

For tests and local development only: it signs whatever it is asked to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..validator import Validator
from ._server import LocalServer, Request, Response
from .keys import SigningKey
from .tokens import TokenFactory

__all__ = ["LocalIssuer"]

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/jwks.json"


class LocalIssuer:
    """A real HTTP issuer on a free loopback port, usable as a context manager.

    >>> with LocalIssuer(audience="https://api.test") as issuer:
    ...     validator = issuer.validator()
    ...     claims = validator.validate(issuer.token(scope="read:messages"))
    >>> sorted(claims.scopes)
    ['read:messages']

    Args:
        algorithm: the algorithm of the first signing key.
        audience: the default ``aud`` of minted tokens (and of :meth:`validator`).
        clock: the time tokens are minted at (share it with the validator in tests).
        port: the port to bind (0: a free one).
    """

    def __init__(
        self,
        *,
        algorithm: str = "RS256",
        audience: str = "https://api.example.test",
        clock: Callable[[], float] = time.time,
        port: int = 0,
    ) -> None:
        self.audience = audience
        self.clock = clock
        self.server = LocalServer(port=port)
        self._lock = threading.Lock()
        self.signing_key = SigningKey.generate(algorithm)
        self._published: dict[str, SigningKey] = {self.signing_key.kid: self.signing_key}
        self.server.route(DISCOVERY_PATH, self._discovery, "GET")
        self.server.route(JWKS_PATH, self._jwks, "GET")

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> LocalIssuer:
        """Start serving; return ``self``."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()

    def __enter__(self) -> LocalIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what it serves -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's base URL (no trailing slash)."""
        return self.server.url

    @property
    def issuer(self) -> str:
        """The issuer identifier, with a trailing slash as Auth0 writes it."""
        return self.server.url + "/"

    @property
    def jwks_uri(self) -> str:
        return self.server.url + JWKS_PATH

    def discovery_document(self) -> dict[str, Any]:
        """The OIDC discovery document this issuer serves."""
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "id_token_signing_alg_values_supported": sorted({k.alg for k in self.keys}),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
        }

    def _discovery(self, request: Request) -> Response:
        return Response(200, self.discovery_document())

    def _jwks(self, request: Request) -> Response:
        return Response(200, self.jwks(), {"Cache-Control": "max-age=600"})

    def jwks(self) -> dict[str, Any]:
        """The JWKS document currently published."""
        return {"keys": [key.jwk for key in self.keys]}

    @property
    def keys(self) -> list[SigningKey]:
        """The keys currently published."""
        with self._lock:
            return list(self._published.values())

    @property
    def jwks_fetches(self) -> int:
        """How many times the JWKS was requested."""
        return self.server.hits[JWKS_PATH]

    @property
    def discovery_fetches(self) -> int:
        """How many times the discovery document was requested."""
        return self.server.hits[DISCOVERY_PATH]

    # -- keys ---------------------------------------------------------------------

    def rotate(self, algorithm: str | None = None, kid: str | None = None) -> SigningKey:
        """Publish a new key and sign with it from now on; the old keys stay published."""
        key = SigningKey.generate(algorithm or self.signing_key.alg, kid)
        with self._lock:
            self._published[key.kid] = key
            self.signing_key = key
        return key

    def retire(self, kid: str) -> None:
        """Stop publishing the key ``kid`` (tokens it signed stop validating once caches refresh)."""
        with self._lock:
            self._published.pop(kid, None)

    # -- tokens -------------------------------------------------------------------

    def factory(self, **options: Any) -> TokenFactory:
        """A :class:`TokenFactory` for this issuer, signing with the current key."""
        return TokenFactory(
            self.issuer, options.pop("audience", self.audience), key=self.signing_key, clock=self.clock, **options
        )

    def token(self, **claims: Any) -> str:
        """Mint a token with the current key (see :meth:`TokenFactory.mint`)."""
        return self.factory().mint(**claims)

    def validator(self, *, audience: str | Sequence[str] | None = None, **options: Any) -> Validator:
        """A :class:`~jwtguard.Validator` wired to this issuer (discovery over loopback HTTP)."""
        options.setdefault("algorithms", sorted({key.alg for key in self.keys}))
        options.setdefault("clock", self.clock)
        return Validator(issuer=self.issuer, audience=audience or self.audience, **options)
