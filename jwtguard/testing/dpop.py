"""DPoP for tests: a client key that makes proofs and binds tokens to itself (RFC 9449).

>>> from jwtguard.testing import DPoPKey, LocalIssuer
>>> with LocalIssuer() as issuer:
...     key = DPoPKey.generate()
...     token = issuer.token(cnf=key.cnf)                       # a DPoP-bound access token
...     headers = key.headers("GET", "https://api.example.test/messages", token)
...     claims = issuer.validator().authenticate("GET", "https://api.example.test/messages", headers)
>>> claims["cnf"]["jkt"] == key.jkt
True
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._dpop import jwk_thumbprint, token_hash
from .keys import SigningKey

__all__ = ["DPoPKey"]


@dataclass(frozen=True)
class DPoPKey:
    """A client's DPoP key pair: proofs for requests, and the ``cnf`` that binds a token to it.

    Args:
        key: the private key (ES256 by default).
        clock: the time proofs are stamped with (share the validator's clock in tests).
    """

    key: SigningKey
    clock: Callable[[], float] = field(default=time.time, repr=False)

    @classmethod
    def generate(cls, alg: str = "ES256", *, clock: Callable[[], float] = time.time) -> DPoPKey:
        """A fresh key for ``alg`` (any asymmetric algorithm :class:`SigningKey` supports)."""
        return cls(SigningKey.generate(alg), clock)

    @property
    def public_jwk(self) -> dict[str, Any]:
        """The public JWK put in every proof's header (no ``kid``, ``alg`` or ``use``)."""
        return {k: v for k, v in self.key.jwk.items() if k not in ("kid", "alg", "use", "key_ops")}

    @property
    def jkt(self) -> str:
        """The RFC 7638 thumbprint of the public key: what a bound token's ``cnf.jkt`` holds."""
        return jwk_thumbprint(self.public_jwk)

    @property
    def cnf(self) -> dict[str, str]:
        """The ``cnf`` claim of a token bound to this key: ``{"jkt": …}``."""
        return {"jkt": self.jkt}

    def proof(
        self,
        method: str,
        url: str,
        access_token: str | None = None,
        *,
        nonce: str | None = None,
        iat: Any = None,
        jti: str | None = None,
        **overrides: Any,
    ) -> str:
        """A proof for one request: ``htm``, ``htu`` (query and fragment dropped), ``iat``, ``jti``,
        ``ath`` when an access token is given, ``nonce`` when the server asked for one.
        ``overrides`` set or (with ``None``) remove claims, to make broken proofs."""
        claims: dict[str, Any] = {
            "htm": method,
            "htu": url.split("?", 1)[0].split("#", 1)[0],
            "iat": int(self.clock()) if iat is None else iat,
            "jti": secrets.token_urlsafe(16) if jti is None else jti,
        }
        if access_token is not None:
            claims["ath"] = token_hash(access_token)
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(overrides)
        payload = {name: value for name, value in claims.items() if value is not None}
        return self.key.sign(payload, {"typ": "dpop+jwt", "kid": None, "jwk": self.public_jwk})

    def headers(self, method: str, url: str, access_token: str, *, nonce: str | None = None) -> dict[str, str]:
        """``Authorization: DPoP <token>`` and a fresh ``DPoP`` proof for one request."""
        return {"Authorization": f"DPoP {access_token}", "DPoP": self.proof(method, url, access_token, nonce=nonce)}
