"""A local, immutable key set: JWKS parsed once into verification keys.

Only keys fit for verifying signatures are kept (RFC 7517 §4.2-4.3): no
``use: enc``, ``key_ops`` must allow ``verify``, and the key type must be one
an allowed algorithm can use. Symmetric (``oct``) keys are kept only when the
caller says the set is trusted local configuration, never for a fetched set.
RSA keys shorter than 2048 bits and HMAC secrets shorter than the hash output
are refused (RFC 7518 §3.3, §3.2), and so are Ed25519 / Ed448 keys that are
not canonical curve points or have small order (RFC 8725 §3.4; see
:mod:`jwtguard._edwards`). EC points off their curve are refused by
``cryptography`` when the key is built.

Every signature has exactly one valid spelling: :meth:`Key.verify` refuses a
signature whose length is not the one the key and algorithm produce (RFC 8017
§8.1.2 and §8.2.2 for RSA, whose leading zero bytes some verifiers would let a
client strip; RFC 7518 §3.4 for ECDSA), so a deny-list keyed on the token
string cannot be bypassed by re-spelling a token.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ._algorithms import SPECS, AlgorithmSpec
from ._edwards import is_weak_point
from .errors import InvalidTokenError

__all__ = ["Key", "KeySet"]

logger = logging.getLogger("jwtguard")

#: The default of ``max_keys``: more keys than any real issuer publishes; the rest of a larger set is
#: ignored (and counted in :attr:`KeySet.dropped`).
MAX_KEYS = 100
MIN_RSA_BITS = 2048
_EC_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521", "secp256k1": "secp256k1"}


@dataclass(frozen=True, slots=True)
class Key:
    """One verification key: its ``kid``, type, curve, optional ``alg`` and key object.

    ``signature_length`` is the length in bytes of every signature the key
    makes (``None`` for an HMAC secret, whose length depends on the algorithm).
    """

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: Any
    signature_length: int | None = None

    def verify(self, spec: AlgorithmSpec, signing_input: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's ``spec`` signature of ``signing_input``, in its one spelling."""
        if len(signature) != (self.signature_length or spec.signature_length):
            return False
        try:
            return bool(spec.verifier.verify(signing_input, self.key, signature))
        except Exception:  # malformed signature bytes are just a bad signature
            return False

    def fits(self, spec: AlgorithmSpec) -> bool:
        """Whether this key may verify ``spec``'s signatures (RFC 8725 §3.1)."""
        if self.alg is not None and self.alg != spec.name:
            return False
        if self.kty != spec.kty:
            return False
        if spec.symmetric:
            return len(self.key) >= _hmac_min_bytes(spec.name)
        return not spec.curves or self.crv in spec.curves


def _hmac_min_bytes(alg: str) -> int:
    # RFC 7518 §3.2: a key of the same size as the hash output (or larger).
    return int(alg[2:]) // 8


def _signature_length(key: Any) -> int | None:
    if isinstance(key, rsa.RSAPublicKey):
        return (key.key_size + 7) // 8  # RFC 8017 §8.1.2 step 1, §8.2.2 step 1
    if isinstance(key, ec.EllipticCurvePublicKey):
        return 2 * ((key.curve.key_size + 7) // 8)  # RFC 7518 §3.4: R and S, each padded
    if isinstance(key, ed25519.Ed25519PublicKey):
        return 64  # RFC 8032 §5.1.6
    if isinstance(key, ed448.Ed448PublicKey):
        return 114  # RFC 8032 §5.2.6
    return None


def _weak_edwards_key(key: Any, crv: str | None) -> bool:
    if crv not in ("Ed25519", "Ed448"):
        return False
    return is_weak_point(crv, key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def _curve_of(key: Any) -> str | None:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _EC_CURVES.get(key.curve.name)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    return None


def _load(jwk: Mapping[str, Any], allowed: Mapping[str, AlgorithmSpec], symmetric_ok: bool) -> Key | None:
    kty = jwk.get("kty")
    kid = jwk.get("kid")
    alg = jwk.get("alg")
    if kid is not None and not isinstance(kid, str):
        return None
    if jwk.get("use", "sig") != "sig":
        return None
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    if alg is not None and (not isinstance(alg, str) or alg not in allowed):
        return None
    spec = next((s for s in allowed.values() if s.kty == kty and (alg is None or s.name == alg)), None)
    if spec is None or (spec.symmetric and not symmetric_ok):
        return None
    try:
        key = spec.verifier.from_jwk(dict(jwk))
    except Exception:  # any malformed JWK is simply not a usable key
        logger.debug("jwtguard: ignoring an unparsable JWK (kid present: %s)", kid is not None)
        return None
    if hasattr(key, "public_key") and not isinstance(key, bytes):
        key = key.public_key()  # a published private key still only verifies
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return None
    if isinstance(key, bytes) and not any(Key(None, "oct", None, None, key).fits(s) for s in allowed.values()):
        return None  # too short for every allowed HMAC algorithm
    crv = _curve_of(key)
    if kty in ("EC", "OKP") and crv != jwk.get("crv"):
        return None
    if _weak_edwards_key(key, crv):
        logger.warning("jwtguard: ignoring an Ed25519/Ed448 key of small order or off the curve")
        return None
    return Key(kid, str(kty), crv, alg if isinstance(alg, str) else None, key, _signature_length(key))


class KeySet:
    """Verification keys indexed by ``kid``, built from a JWKS document.

    Args:
        jwks: a JWKS document (``{"keys": [...]}``).
        algorithms: the allowed algorithm names; keys no allowed algorithm can
            use are dropped.
        symmetric_ok: keep ``oct`` keys (only for trusted, local configuration).
        max_keys: how many entries of ``keys`` are read; the rest are ignored
            and counted in :attr:`dropped` (parsing each key costs time).

    Raises:
        ValueError: the document is not a JWKS object.
    """

    __slots__ = ("_by_kid", "_found", "_ids", "_keys", "dropped")

    def __init__(
        self,
        jwks: Mapping[str, Any],
        algorithms: Iterable[str],
        *,
        symmetric_ok: bool = False,
        max_keys: int = MAX_KEYS,
    ) -> None:
        keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(keys, list):
            raise ValueError("a JWKS must be an object with a 'keys' list")
        allowed = {name: SPECS[name] for name in algorithms}
        #: How many entries past ``max_keys`` were ignored unread.
        self.dropped = max(0, len(keys) - max_keys)
        loaded = (_load(jwk, allowed, symmetric_ok) for jwk in keys[:max_keys] if isinstance(jwk, Mapping))
        self._keys: tuple[Key, ...] = tuple(key for key in loaded if key is not None)
        by_kid: dict[str | None, list[Key]] = {}
        for key in self._keys:
            by_kid.setdefault(key.kid, []).append(key)
        self._by_kid = {kid: tuple(keys) for kid, keys in by_kid.items()}
        self._ids = frozenset(map(id, self._keys))
        # (kid, algorithm) -> the one fitting key, as found: the set never changes, so neither does
        # the answer. Only answers are kept, at most one per key and allowed algorithm.
        self._found: dict[tuple[str | None, str], Key] = {}

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def kids(self) -> frozenset[str | None]:
        """The key ids present (``None`` for keys without one)."""
        return frozenset(self._by_kid)

    def holds(self, key: Key) -> bool:
        """Whether this very key object belongs to this set."""
        return id(key) in self._ids  # the set holds its keys, so their ids stay theirs

    def find(self, kid: str | None, spec: AlgorithmSpec) -> Key:
        """Return the key for a token's ``kid`` and algorithm.

        A token without ``kid`` is accepted only when exactly one key fits its
        algorithm: trying several keys would multiply the cost of a forged token.

        Raises:
            InvalidTokenError: ``unknown_key`` (no key fits).
        """
        found = self._found.get((kid, spec.name))
        if found is not None:
            return found
        candidates = self._by_kid.get(kid, ()) if kid is not None else self._keys
        fitting = [key for key in candidates if key.fits(spec)]
        if len(fitting) == 1:
            self._found[(kid, spec.name)] = fitting[0]
            return fitting[0]
        reason = "ambiguous" if fitting else ("type_mismatch" if candidates else "not_found")
        raise InvalidTokenError("unknown_key", claim="kid", reason=reason)
