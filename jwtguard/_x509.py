"""Keys published as X.509 certificates: a ``{kid: PEM}`` document, as Google and Firebase serve them.

``https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com``
answers ``{"<kid>": "-----BEGIN CERTIFICATE-----…"}`` instead of a JWKS. Such a
document is recognised by its shape (an object without ``keys`` whose every
value is a PEM certificate) and read into the JWKS the rest of jwtguard
understands: each certificate's public key becomes a JWK with the entry's name
as ``kid``. Only the key is used: the certificate's dates, issuer and chain are
not (the issuer signs with the key; the document's URL is what is trusted).
The same bounds hold as for a JWKS: the response size, and at most
``max_keys`` certificates parsed (the rest are counted as dropped).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ._keys import MAX_KEYS

__all__ = ["is_certificate_map", "jwks_of"]

logger = logging.getLogger("jwtguard")

_PEM = "-----BEGIN CERTIFICATE-----"
_CURVES = {"secp256r1": ("P-256", 32), "secp384r1": ("P-384", 48), "secp521r1": ("P-521", 66)}


def is_certificate_map(document: object) -> bool:
    """Whether ``document`` is a non-empty ``{kid: PEM certificate}`` object (and not a JWKS)."""
    return (
        isinstance(document, Mapping)
        and "keys" not in document
        and bool(document)
        and all(
            isinstance(kid, str) and isinstance(pem, str) and pem.lstrip().startswith(_PEM)
            for kid, pem in document.items()
        )
    )


def jwks_of(document: Any, max_keys: int = MAX_KEYS) -> Any:
    """``document`` as a JWKS if it is a certificate map, else ``document`` unchanged.

    Entries past ``max_keys`` are left unparsed (empty placeholders, which the
    key set counts as dropped); a certificate that cannot be read, or whose key
    is neither RSA nor EC, becomes an empty entry that no algorithm uses.
    """
    if not is_certificate_map(document):
        return document
    keys = [_jwk(kid, pem) if index < max_keys else {} for index, (kid, pem) in enumerate(document.items())]
    return {"keys": keys}


def _jwk(kid: str, pem: str) -> dict[str, Any]:
    try:
        key = x509.load_pem_x509_certificate(pem.encode("ascii")).public_key()
    except (ValueError, UnicodeError):
        logger.debug("jwtguard: ignoring an unreadable certificate in a certificate map")
        return {}
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"kty": "RSA", "kid": kid, "use": "sig", "n": _uint(numbers.n), "e": _uint(numbers.e)}
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _CURVES:
        crv, size = _CURVES[key.curve.name]
        point = key.public_numbers()
        x, y = (b64url(value.to_bytes(size, "big")) for value in (point.x, point.y))
        return {"kty": "EC", "kid": kid, "use": "sig", "crv": crv, "x": x, "y": y}
    return {}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))
