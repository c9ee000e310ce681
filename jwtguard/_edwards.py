"""Edwards-curve public keys that no signature check can trust (RFC 8725 §3.4).

An Ed25519 or Ed448 public key of small order — the identity point above all —
makes the signature ``R = identity, S = 0`` verify for *any* message: a
universal forgery, which OpenSSL's verification does not prevent. Nor does it
reject encodings that are not points of the curve, or whose ``y`` is not
reduced modulo ``p``. :func:`is_weak_point` decodes the point (RFC 8032
§5.1.3 and §5.2.3) and multiplies it by the curve's cofactor: a point that
fails to decode, or that the cofactor sends to the identity, is refused.
This runs once per key when a key set is loaded, never per token.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["is_weak_point"]


@dataclass(frozen=True)
class _Curve:
    p: int
    a: int  # -1 for edwards25519 (twisted), 1 for edwards448
    d: int
    size: int  # bytes in an encoded point
    cofactor_doublings: int  # log2 of the cofactor: 8 = 2**3, 4 = 2**2


_P25519 = 2**255 - 19
_P448 = 2**448 - 2**224 - 1
_CURVES = {
    "Ed25519": _Curve(_P25519, -1, -121665 * pow(121666, -1, _P25519) % _P25519, 32, 3),
    "Ed448": _Curve(_P448, 1, -39081 % _P448, 57, 2),
}


def _sqrt(value: int, p: int) -> int | None:
    if p % 4 == 3:
        root = pow(value, (p + 1) // 4, p)
    else:  # p ≡ 5 (mod 8): Atkin's method as in RFC 8032 §5.1.3
        root = pow(value, (p + 3) // 8, p)
        if root * root % p != value % p:
            root = root * pow(2, (p - 1) // 4, p) % p
    return root if root * root % p == value % p else None


def _decode(curve: _Curve, data: bytes) -> tuple[int, int] | None:
    if len(data) != curve.size:
        return None
    number = int.from_bytes(data, "little")
    sign = number >> (8 * curve.size - 1)
    y = number & ((1 << (8 * curve.size - 1)) - 1)
    if y >= curve.p:
        return None  # a non-canonical encoding: a second spelling of another point
    p = curve.p
    # a*x^2 + y^2 = 1 + d*x^2*y^2, so x^2 = (y^2 - 1) / (d*y^2 - a)
    y2 = y * y % p
    x2 = (y2 - 1) * pow((curve.d * y2 - curve.a) % p, -1, p) % p
    x = _sqrt(x2, p)
    if x is None:
        return None  # not on the curve
    if x == 0 and sign:
        return None  # RFC 8032: -0 is not a valid encoding
    if x & 1 != sign:
        x = p - x
    return x, y


def _double(curve: _Curve, point: tuple[int, int]) -> tuple[int, int]:
    # The complete Edwards addition law (d is not a square), applied to (x, y) + (x, y).
    p = curve.p
    x, y = point
    t = curve.d * x * x * y * y % p
    x3 = 2 * x * y * pow((1 + t) % p, -1, p) % p
    y3 = (y * y - curve.a * x * x) * pow((1 - t) % p, -1, p) % p
    return x3, y3


def is_weak_point(curve_name: str, data: bytes) -> bool:
    """Whether the encoded public key ``data`` on ``curve_name`` must be refused.

    True for encodings that are not canonical points of the curve and for
    points of small order; False for every honest key.
    """
    curve = _CURVES[curve_name]
    point = _decode(curve, data)
    if point is None:
        return True
    for _ in range(curve.cofactor_doublings):
        point = _double(curve, point)
    return point == (0, 1)
