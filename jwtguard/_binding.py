"""Credentials of a request and the sender constraint of its token (RFC 9449 DPoP, RFC 8705 mTLS).

A bearer token works for whoever holds it. A *sender-constrained* token names,
in its ``cnf`` claim, a key its client must prove it holds: ``cnf.jkt`` (a DPoP
key, proven by a proof in the ``DPoP`` header of each request) or
``cnf["x5t#S256"]`` (a TLS client certificate). :class:`Binding` holds the
policy: which schemes are accepted (``dpop="disabled" | "allowed" |
"required"``), and that a bound token is only ever accepted with its proof —
never as a plain bearer token, whatever the mode. A ``cnf`` it does not
understand refuses the token (failing closed).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ._challenge import Schemes
from ._dpop import NonceSource, Proof, ReplayCache, verify_proof
from ._request import Headers, read_headers
from .bearer import extract_credentials
from .claims import Claims
from .errors import InvalidDPoPProofError, InvalidTokenError, MissingTokenError, ServiceUnavailableError
from .stores import StoreUnavailableError

__all__ = ["Binding", "Credentials", "certificate_thumbprint"]

_KNOWN_CONFIRMATIONS = frozenset({"jkt", "x5t#S256"})


@dataclass(frozen=True)
class Credentials:
    """What a request presented: the scheme (``Bearer`` or ``DPoP``), the token and any DPoP proofs."""

    scheme: str
    token: str
    proofs: tuple[str, ...]


def certificate_thumbprint(certificate: bytes | str | x509.Certificate) -> str:
    """The base64url SHA-256 of a certificate's DER encoding (RFC 8705 §3.1 ``x5t#S256``).

    Accepts DER bytes, a PEM string (as servers and proxies pass it) or a
    ``cryptography`` certificate.

    Raises:
        ValueError: not a certificate.
    """
    if isinstance(certificate, x509.Certificate):
        der = certificate.public_bytes(Encoding.DER)
    elif isinstance(certificate, str):
        der = x509.load_pem_x509_certificate(certificate.encode("ascii")).public_bytes(Encoding.DER)
    elif isinstance(certificate, (bytes, bytearray)):
        der = bytes(certificate)
        x509.load_der_x509_certificate(der)  # it must be one
    else:
        raise ValueError("not a certificate")
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


class Binding:
    """The sender-constraint policy of one validator."""

    def __init__(
        self,
        *,
        mode: str,
        algorithms: tuple[str, ...],
        max_age: float,
        leeway: float,
        nonce: bool,
        nonce_secret: bytes | None,
        replay_cache_size: int,
        clock: Callable[[], float],
        timer: Callable[[], float] = time.monotonic,
        outage_grace: float = 5.0,
    ) -> None:
        self.mode = mode
        self.algorithms = algorithms
        self.max_age = max_age
        self.leeway = leeway
        self.nonces = NonceSource(nonce_secret) if nonce else None
        self.replay = ReplayCache(replay_cache_size)
        self._replay_lock = threading.Lock()
        self._clock = clock
        self._timer = timer
        self.outage_grace = outage_grace
        self._store_ok_at: float | None = None
        self.schemes = Schemes(bearer=mode != "required", dpop_algs=None if mode == "disabled" else algorithms)

    def credentials(self, headers: Headers, *, optional: bool) -> Credentials | None:
        """The request's credentials; ``None`` when it has none and they are ``optional``.

        Raises:
            MissingTokenError: no credentials of an accepted scheme (unless ``optional``).
            InvalidRequestError: a malformed or repeated ``Authorization`` header.
        """
        found = read_headers(headers)
        try:
            scheme, token = extract_credentials(found["authorization"], dpop=self.mode != "disabled")
        except MissingTokenError:
            if optional:
                return None
            raise
        return Credentials(scheme, token, tuple(found["dpop"]))

    def check(
        self,
        claims: Claims,
        credentials: Credentials,
        *,
        method: str,
        url: str,
        certificate: bytes | str | x509.Certificate | None,
    ) -> Proof | None:
        """Enforce the token's sender constraint for this request.

        Returns the verified DPoP proof, whose replay the caller then checks
        against the store (:meth:`replay_key`, :meth:`replayed`), or ``None``.

        Raises:
            InvalidTokenError: a bound token sent as a bearer token, an unbound one where DPoP
                is required or used, a certificate missing or not the bound one, a ``cnf`` not understood.
            InvalidDPoPProofError: the DPoP proof is missing, invalid, replayed or of another key.
            UseDPoPNonceError: a fresh server nonce is required.
            ServiceUnavailableError: the replay cache is full (503: refusing beats forgetting).
        """
        cnf = claims.get("cnf")
        if cnf is not None and (not isinstance(cnf, Mapping) or not cnf.keys() <= _KNOWN_CONFIRMATIONS or not cnf):
            raise InvalidTokenError("unsupported_binding", claim="cnf", reason="unsupported")
        jkt = cnf.get("jkt") if cnf else None
        x5t = cnf.get("x5t#S256") if cnf else None
        proof = None
        if credentials.scheme == "DPoP":
            if not isinstance(jkt, str):
                raise InvalidTokenError("not_dpop_bound", claim="cnf", reason="missing")
            proof = self._check_proof(jkt, credentials, method, url)
        elif jkt is not None:
            raise InvalidTokenError("dpop_bound_token", claim="cnf", reason="bearer_scheme")  # RFC 9449 §7.2
        elif self.mode == "required":
            raise InvalidTokenError("dpop_required", claim="cnf", reason="missing")
        if x5t is not None:
            _check_certificate(x5t, certificate)
        return proof

    def replay_key(self, proof: Proof) -> tuple[str, float]:
        """The store key of ``proof`` and how long it must be kept (until it could no longer be accepted)."""
        key = hashlib.sha256(f"{proof.jkt}:{proof.jti}".encode()).hexdigest()
        return key, max(1.0, proof.iat + self.max_age + 2 * self.leeway - self._clock())

    def replayed(self, proof: Proof, outcome: bool | StoreUnavailableError | None) -> None:
        """Turn the store's answer for ``proof`` into a decision.

        A store outage falls back to this process's own replay cache for
        ``outage_grace`` seconds after the store last answered (a replay to
        another worker is then missed), and refuses with 503 after that:
        never silently open.

        Raises:
            InvalidDPoPProofError: the proof was seen before.
            ServiceUnavailableError: the replay state is full or out of reach (503).
        """
        now = self._timer()
        if isinstance(outcome, StoreUnavailableError):
            if self._store_ok_at is None or now - self._store_ok_at > self.outage_grace:
                raise ServiceUnavailableError("dpop_replay_unavailable", retry_after=self.outage_grace)
            ttl = self.replay_key(proof)[1]
            with self._replay_lock:
                outcome = self.replay.add(proof, now + ttl, now)
        else:
            self._store_ok_at = now
        if outcome is None:
            raise ServiceUnavailableError("dpop_replay_capacity", retry_after=self.leeway or 1.0)
        if not outcome:
            raise InvalidDPoPProofError("dpop_proof_replayed", claim="jti", reason="replayed")

    def _check_proof(self, jkt: str, credentials: Credentials, method: str, url: str) -> Proof:
        if len(credentials.proofs) != 1:  # RFC 9449 §4.3: exactly one DPoP header
            raise InvalidDPoPProofError("dpop_proof_missing", claim="dpop", reason="count")
        now = self._clock()
        proof = verify_proof(
            credentials.proofs[0],
            method=method,
            url=url,
            access_token=credentials.token,
            now=now,
            algorithms=self.algorithms,
            max_age=self.max_age,
            leeway=self.leeway,
        )
        if proof.jkt != jkt:
            raise InvalidDPoPProofError("dpop_key_mismatch", claim="jkt", reason="mismatch")
        if self.nonces is not None:
            self.nonces.check(proof.nonce, now)
        return proof


def _check_certificate(x5t: Any, certificate: bytes | str | x509.Certificate | None) -> None:
    if certificate is None:
        raise InvalidTokenError("certificate_required", claim="cnf", reason="missing")
    try:
        presented = certificate_thumbprint(certificate)
    except ValueError:
        raise InvalidTokenError("certificate_mismatch", claim="cnf", reason="unreadable") from None
    if not isinstance(x5t, str) or presented != x5t:
        raise InvalidTokenError("certificate_mismatch", claim="cnf", reason="mismatch")
