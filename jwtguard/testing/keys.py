"""Signing keys for tests: generate a key pair, publish its JWK, sign tokens."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

__all__ = ["SUPPORTED_ALGORITHMS", "SigningKey", "b64url", "b64url_json"]

#: Algorithms :meth:`SigningKey.generate` can make keys for.
SUPPORTED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_CURVES: dict[str, ec.EllipticCurve] = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}


def _private_key(alg: str) -> Any:
    if alg[:2] in ("RS", "PS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg in _CURVES:
        return ec.generate_private_key(_CURVES[alg])
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"cannot generate a key for {alg!r}; choose from {SUPPORTED_ALGORITHMS}")


@dataclass(frozen=True)
class SigningKey:
    """A private key with its algorithm and ``kid``, for minting test tokens.

    >>> key = SigningKey.generate("ES256", kid="test-key")
    >>> key.jwk["kty"], key.jwk["crv"], key.jwk["kid"]
    ('EC', 'P-256', 'test-key')
    """

    alg: str
    kid: str
    private_key: Any = field(repr=False)

    @classmethod
    def generate(cls, alg: str = "RS256", kid: str | None = None) -> SigningKey:
        """Generate a fresh key for ``alg`` (RSA 2048, P-256/384/521 or Ed25519)."""
        return cls(alg, kid or secrets.token_urlsafe(8), _private_key(alg))

    @property
    def jwk(self) -> dict[str, Any]:
        """The public key as a JWK, with ``kid``, ``alg`` and ``use: sig``."""
        algorithm = get_default_algorithms()[self.alg]
        public = json.loads(algorithm.to_jwk(self.private_key.public_key()))
        return {**public, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, payload: Mapping[str, Any], headers: Mapping[str, Any] | None = None) -> str:
        """Sign ``payload`` as a compact JWS.

        The header is ``{"alg", "kid", "typ": "JWT"}`` updated with ``headers``;
        a header set to ``None`` is left out (``headers={"kid": None}``).
        """
        merged = {"alg": self.alg, "kid": self.kid, "typ": "JWT", **(headers or {})}
        header = {name: value for name, value in merged.items() if value is not None}
        signing_input = f"{b64url_json(header)}.{b64url_json(payload)}".encode("ascii")
        signature = get_default_algorithms()[self.alg].sign(signing_input, self.private_key)
        return f"{signing_input.decode('ascii')}.{b64url(signature)}"


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    """Compact JSON, then unpadded base64url: one segment of a JWS."""
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))
