"""Which JWS algorithms exist, which key type each needs, and who verifies them.

The cryptography is PyJWT's algorithm objects over ``cryptography``; this table
adds what RFC 8725 §3.1 asks of a verifier: every algorithm is bound to the one
key type (and curve) it may be used with.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from jwt.algorithms import Algorithm, get_default_algorithms

from .errors import ConfigurationError

__all__ = ["AlgorithmSpec", "SPECS", "compile_allowlist"]


@dataclass(frozen=True)
class AlgorithmSpec:
    name: str
    kty: str
    curves: frozenset[str]  # empty: the key type has no curve
    verifier: Algorithm
    #: Bytes in every signature when the algorithm alone fixes it (HMAC); else the key does.
    signature_length: int | None = None

    @property
    def symmetric(self) -> bool:
        return self.kty == "oct"


def _build() -> dict[str, AlgorithmSpec]:
    pyjwt = get_default_algorithms()
    families: dict[str, tuple[str, frozenset[str]]] = {
        **{f"RS{n}": ("RSA", frozenset()) for n in (256, 384, 512)},
        **{f"PS{n}": ("RSA", frozenset()) for n in (256, 384, 512)},
        **{f"HS{n}": ("oct", frozenset()) for n in (256, 384, 512)},
        "ES256": ("EC", frozenset({"P-256"})),
        "ES384": ("EC", frozenset({"P-384"})),
        "ES512": ("EC", frozenset({"P-521"})),
        "ES256K": ("EC", frozenset({"secp256k1"})),
        "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
    }
    return {
        name: AlgorithmSpec(name, kty, curves, pyjwt[name], int(name[2:]) // 8 if kty == "oct" else None)
        for name, (kty, curves) in families.items()
        if name in pyjwt
    }


#: Every algorithm jwtguard can verify, by JWS ``alg`` name.
SPECS: dict[str, AlgorithmSpec] = _build()


def compile_allowlist(algorithms: Sequence[str], *, remote: bool) -> dict[str, AlgorithmSpec]:
    """Check a configured allowlist and return its specs.

    Raises:
        ConfigurationError: empty list, ``none``, an unknown name, or an HMAC
            algorithm with keys fetched from the network (RFC 8725 §3.2).
    """
    if isinstance(algorithms, (str, bytes)) or not isinstance(algorithms, (Sequence, AbstractSet)) or not algorithms:
        raise ConfigurationError("algorithms must be a non-empty list of JWS algorithm names")
    compiled: dict[str, AlgorithmSpec] = {}
    for name in algorithms:
        if not isinstance(name, str) or name.lower() == "none":
            raise ConfigurationError("the 'none' algorithm can never be allowed (RFC 8725 §3.2)")
        spec = SPECS.get(name)
        if spec is None:
            raise ConfigurationError(f"unsupported algorithm {name!r}; choose from {sorted(SPECS)}")
        if spec.symmetric and remote:
            raise ConfigurationError(
                f"{name} is a shared-secret algorithm: it needs a static jwks= with an 'oct' key, "
                "never a key set fetched from the network"
            )
        compiled[name] = spec
    return compiled
