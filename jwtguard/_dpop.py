"""DPoP proofs (RFC 9449): what a proof must be, decided without I/O.

Theory of operation
-------------------
A DPoP-bound access token carries ``cnf.jkt``, the RFC 7638 thumbprint of a
key its client holds. With every request the client sends a *proof*: a JWT in
the ``DPoP`` header, signed with that key, whose public half is in the proof's
own header. :func:`verify_proof` checks one proof against one request:

* framing and size (a proof is small: :data:`MAX_PROOF_SIZE`), ``typ:
  dpop+jwt``, an asymmetric ``alg`` from the allowlist, a public ``jwk`` of a
  type that ``alg`` uses (never a private or symmetric key; degenerate keys are
  refused as in any key set), and a valid signature by it;
* ``htm`` equal to the request method, ``htu`` equal to the request URL without
  query and fragment after RFC 3986 §6.2.2 and §6.2.3 normalisation, ``iat`` inside
  ``[now - max_age - leeway, now + leeway]``, a ``jti``, and ``ath`` equal to the
  base64url SHA-256 of the access token;
* the key's thumbprint equal to the token's ``cnf.jkt``.

Replay (:class:`ReplayCache`) and server nonces (:class:`NonceSource`) are
state; each is a small pure object that is given ``now`` by the caller. Every
failure is an :class:`~jwtguard.InvalidDPoPProofError` with a fixed
description; nothing of the proof is echoed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import struct
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from cachetools import LRUCache

from . import _jose
from ._algorithms import SPECS, AlgorithmSpec
from ._checks import as_number
from ._keys import Key, KeySet
from .errors import AuthError, InvalidDPoPProofError, UseDPoPNonceError

__all__ = [
    "DEFAULT_DPOP_ALGORITHMS",
    "MAX_PROOF_SIZE",
    "NonceSource",
    "Proof",
    "ReplayCache",
    "jwk_thumbprint",
    "normalize_htu",
    "token_hash",
    "verify_proof",
]

#: Proof algorithms accepted by default: asymmetric only (RFC 9449 §4.2).
DEFAULT_DPOP_ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA")
#: Longest proof accepted, in characters (a proof with a 4096-bit RSA key is about 1.5 KiB).
MAX_PROOF_SIZE = 8 * 1024
#: Longest ``jti`` accepted: the replay cache keeps each one for the proof's lifetime.
MAX_JTI_LENGTH = 256
# RFC 7638 §3.2: the members a thumbprint covers, by key type.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = re.compile(r"%(?:[46][1-9A-Fa-f]|[57][0-9Aa]|3[0-9]|2[Dd]|2[Ee]|5[Ff]|7[Ee]|[46]0)")


def _invalid(code: str = "invalid_dpop_proof", reason: str | None = None, claim: str | None = None) -> AuthError:
    return InvalidDPoPProofError(code, claim=claim, reason=reason)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def token_hash(access_token: str) -> str:
    """``ath``: the base64url SHA-256 of the access token (RFC 9449 §4.2)."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url (what ``cnf.jkt`` holds).

    Raises:
        ValueError: a key type without a thumbprint rule, or a required member missing.
    """
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty"))  # type: ignore[arg-type]
    if members is None or not all(isinstance(jwk.get(name), str) for name in members):
        raise ValueError("not a public EC, RSA or OKP JWK")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def _normalize_path(path: str) -> str:
    # RFC 3986 §6.2.2.2: upper-case percent-encodings, decode the unreserved ones.
    path = re.sub(r"%[0-9a-fA-F]{2}", lambda m: m.group(0).upper(), path)
    path = _UNRESERVED.sub(lambda m: unquote(m.group(0)), path)
    # RFC 3986 §5.2.4 / §6.2.2.3: remove dot segments.
    output: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(output) > 1:
                output.pop()
        elif segment != ".":
            output.append(segment)
    if path.endswith(("/.", "/..")):
        output.append("")
    normal = "/".join(output)
    return normal if normal.startswith("/") else "/" + normal


def normalize_htu(url: str) -> str | None:
    """``url`` without query and fragment, normalised (RFC 3986 §6.2.2, §6.2.3); ``None`` if not absolute."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return f"{scheme}://{netloc}{_normalize_path(quote(parts.path, safe='/%:@!$&()*+,;=-._~'))}"


@dataclass(frozen=True)
class Proof:
    """A verified proof: the key thumbprint, ``jti`` and ``iat`` (for the replay cache), its ``nonce``."""

    jkt: str
    jti: str
    iat: float
    nonce: object = None


def verify_proof(
    proof: str,
    *,
    method: str,
    url: str,
    access_token: str | None,
    now: float,
    algorithms: Collection[str],
    max_age: float,
    leeway: float,
) -> Proof:
    """Check one DPoP proof against one request; return what the replay cache needs.

    Raises:
        InvalidDPoPProofError: anything wrong with the proof.
    """
    try:
        parsed = _jose.parse(proof, MAX_PROOF_SIZE)
    except AuthError:
        raise _invalid(reason="malformed") from None
    header, claims = parsed.header, parsed.payload
    if header.get("typ") != "dpop+jwt":
        raise _invalid(reason="typ", claim="typ")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms or alg not in SPECS or SPECS[alg].symmetric:
        raise _invalid(reason="alg", claim="alg")
    if "crit" in header:
        raise _invalid(reason="crit", claim="crit")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or _PRIVATE_MEMBERS & jwk.keys():
        raise _invalid(reason="jwk", claim="jwk")
    spec = SPECS[alg]
    try:
        jkt = jwk_thumbprint(jwk)
        key = _proof_key(jkt, jwk, spec)
    except (ValueError, AuthError, KeyError):
        raise _invalid(reason="jwk", claim="jwk") from None
    if not key.verify(spec, parsed.signing_input, parsed.signature):
        raise _invalid(reason="signature")
    if claims.get("htm") != method:
        raise _invalid(reason="htm", claim="htm")
    htu = claims.get("htu")
    proof_htu = normalize_htu(htu) if isinstance(htu, str) else None
    if proof_htu is None or proof_htu != normalize_htu(url):
        raise _invalid(reason="htu", claim="htu")
    iat = as_number(claims.get("iat"))
    if iat is None or not now - max_age - leeway <= iat <= now + leeway:
        raise _invalid(reason="iat", claim="iat")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise _invalid(reason="jti", claim="jti")
    if access_token is not None:  # a proof sent with an access token must hash it (RFC 9449 §4.3 step 11)
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(ath.encode(), token_hash(access_token).encode()):
            raise _invalid(reason="ath", claim="ath")
    return Proof(jkt, jti, iat, claims.get("nonce"))


# A client signs every proof with the same key: its parsed form is kept, keyed by its RFC 7638
# thumbprint (a SHA-256 of exactly the members that make the key), so a repeat costs a look-up
# instead of building the key again (about half of a proof's cost otherwise).
_KEYS: LRUCache[str, Key] = LRUCache(maxsize=4096)
_KEYS_LOCK = threading.Lock()


def _proof_key(jkt: str, jwk: Mapping[str, Any], spec: AlgorithmSpec) -> Key:
    with _KEYS_LOCK:
        key = _KEYS.get(jkt)
    if key is None:
        public = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
        key = KeySet({"keys": [public]}, [spec.name]).find(None, spec)
        with _KEYS_LOCK:
            _KEYS[jkt] = key
    elif not key.fits(spec):
        raise ValueError("the key does not fit the proof's alg")
    return key


class ReplayCache:
    """Each proof ``jti`` (per key) accepted once while the proof could still be accepted.

    Bounded: entries leave when they expire. A cache full of unexpired entries
    refuses new proofs rather than forget old ones (forgetting would let a
    captured proof be replayed): the caller answers 503.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def add(self, proof: Proof, expires_at: float, now: float) -> bool | None:
        """Record ``proof``: ``True`` if new, ``False`` if seen before, ``None`` if full."""
        entries = self._expiry
        key = f"{proof.jkt}:{proof.jti}"
        if key in entries:
            if entries[key] > now:
                return False
            del entries[key]
        while entries:
            first_key, first_expiry = next(iter(entries.items()))
            if first_expiry > now:
                break
            del entries[first_key]
        if len(entries) >= self.size:
            # Insertion order is nearly expiry order; drop any expired entry before giving up.
            for stale in [k for k, expiry in entries.items() if expiry <= now]:
                del entries[stale]
            if len(entries) >= self.size:
                return None
        entries[key] = expires_at
        return True

    def __len__(self) -> int:
        return len(self._expiry)


class NonceSource:
    """Stateless server nonces (RFC 9449 §8): an HMAC of the current time window.

    A nonce is valid in the window it was made in and the next one, so every
    nonce lives between one and two ``lifetime`` s. Processes that share the
    ``secret`` accept each other's nonces.
    """

    def __init__(self, secret: bytes | None = None, lifetime: float = 300.0) -> None:
        self._secret = secret or secrets.token_bytes(32)
        self.lifetime = lifetime

    def _make(self, window: int) -> str:
        stamp = struct.pack(">Q", window)
        return b64url(stamp + hmac.new(self._secret, stamp, hashlib.sha256).digest()[:16])

    def current(self, now: float) -> str:
        """The nonce to hand out now."""
        return self._make(int(now // self.lifetime))

    def check(self, nonce: object, now: float) -> None:
        """Accept a nonce of this window or the previous one.

        Raises:
            UseDPoPNonceError: missing, forged or stale; carries the current nonce.
        """
        window = int(now // self.lifetime)
        if isinstance(nonce, str) and any(hmac.compare_digest(nonce, self._make(w)) for w in (window, window - 1)):
            return
        raise UseDPoPNonceError(self.current(now))
