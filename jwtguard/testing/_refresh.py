"""Refresh tokens of the local issuer: opaque strings, families, rotation, reuse detection.

Theory of operation. A user login that asks for ``offline_access`` starts a
*family*: the grant (client, user, scopes, audience) plus the refresh tokens
derived from it. A refresh token is a random 256-bit string; the store keeps
only its SHA-256, never the token itself, and it is never a JWT.

Redeeming a token depends on the rotation mode:

* ``none`` — the token stays valid until its expiry, which is fixed when the
  family starts (issue time + lifetime); no new refresh token is issued.
* ``rotate`` (default) — the token is spent and a new one is issued. Every
  token of the family expires at the family's *absolute* expiry (first login
  + lifetime): rotation never extends a session.
* ``rotate-sliding`` — as ``rotate``, but each new token gets a full new
  lifetime from the moment it is issued: the lifetime is an *inactivity*
  lifetime and an active session never ends.

With rotation, presenting a spent token again is treated as theft (RFC 9700
§4.14.2): the request fails and the whole family is revoked, so the tokens
derived from the spent one (held by the legitimate client or by the thief)
stop working too. There is no reuse grace period.

The store does no I/O and reads no clock: callers pass ``now``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ROTATION_MODES", "Grant", "RefreshTokenError", "RefreshTokenInfo", "RefreshTokens"]

#: The refresh-token rotation modes.
ROTATION_MODES = ("none", "rotate", "rotate-sliding")
_PRUNE_EVERY = 256


class RefreshTokenError(Exception):
    """A refresh token was refused; ``reason`` is one of ``unknown``,
    ``other_client``, ``revoked``, ``reused`` or ``expired``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Grant:
    """What a refresh token stands for."""

    client_id: str
    subject: str
    scopes: tuple[str, ...]
    audience: str
    auth_time: int
    profile: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class _Family:
    grant: Grant
    expires_at: float
    revoked: bool = False


@dataclass
class _Record:
    family: _Family
    expires_at: float
    used: bool = False
    issued_at: float = 0.0


@dataclass(frozen=True)
class RefreshTokenInfo:
    """What :meth:`RefreshTokens.find` tells of a refresh token: its grant, dates, and whether it is live."""

    grant: Grant
    issued_at: float
    expires_at: float
    active: bool


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class RefreshTokens:
    """A thread-safe store of refresh tokens for one issuer.

    Args:
        rotation: ``"none"``, ``"rotate"`` or ``"rotate-sliding"``.
        lifetime: seconds a refresh token lives (see the module docstring for
            how rotation treats it).
    """

    def __init__(self, rotation: str = "rotate", lifetime: float = 30 * 86400) -> None:
        if rotation not in ROTATION_MODES:
            raise ValueError(f"refresh_token_rotation must be one of {ROTATION_MODES}")
        self.rotation = rotation
        self.lifetime = lifetime
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()
        self._issued = 0

    def issue(self, grant: Grant, now: float) -> str:
        """Start a family for ``grant`` and return its first refresh token."""
        with self._lock:
            return self._add(_Family(grant, now + self.lifetime), now + self.lifetime, now)

    def redeem(self, token: str, client_id: str, now: float) -> tuple[Grant, str | None]:
        """Spend ``token`` for ``client_id``; return its grant and the new refresh token.

        The new token is ``None`` when rotation is off (the same one stays valid).

        Raises:
            RefreshTokenError: unknown, issued to another client, revoked,
                already spent (the family is revoked now), or expired.
        """
        with self._lock:
            record = self._records.get(_digest(token))
            if record is None:
                raise RefreshTokenError("unknown")
            family = record.family
            if family.grant.client_id != client_id:
                raise RefreshTokenError("other_client")
            if family.revoked:
                raise RefreshTokenError("revoked")
            if record.used:
                family.revoked = True
                raise RefreshTokenError("reused")
            if now >= record.expires_at:
                raise RefreshTokenError("expired")
            if self.rotation == "none":
                return family.grant, None
            record.used = True
            expires_at = family.expires_at if self.rotation == "rotate" else now + self.lifetime
            return family.grant, self._add(family, expires_at, now)

    def revoke(self, token: str) -> bool:
        """Revoke the family of ``token``; return whether the token was known."""
        with self._lock:
            record = self._records.get(_digest(token))
            if record is not None:
                record.family.revoked = True
            return record is not None

    def find(self, token: str, now: float) -> RefreshTokenInfo | None:
        """What is known of ``token`` (``None``: never issued here); ``active``: it could be redeemed at ``now``."""
        with self._lock:
            record = self._records.get(_digest(token))
            if record is None:
                return None
            active = not (record.used or record.family.revoked or now >= record.expires_at)
            return RefreshTokenInfo(record.family.grant, record.issued_at, record.expires_at, active)

    def revoke_subject(self, subject: str) -> int:
        """Revoke every family of ``subject`` (a logout everywhere); return how many were live."""
        with self._lock:
            families = {id(r.family): r.family for r in self._records.values() if r.family.grant.subject == subject}
            live = [family for family in families.values() if not family.revoked]
            for family in live:
                family.revoked = True
            return len(live)

    def active(self, now: float) -> int:
        """How many refresh tokens could still be redeemed at ``now``."""
        with self._lock:
            return sum(1 for r in self._records.values() if not (r.used or r.family.revoked or now >= r.expires_at))

    def _add(self, family: _Family, expires_at: float, now: float) -> str:
        self._issued += 1
        if self._issued % _PRUNE_EVERY == 0:
            # Forget what can never be redeemed again, so a long-running issuer stays small.
            self._records = {k: r for k, r in self._records.items() if r.expires_at > now and not r.family.revoked}
        token = secrets.token_urlsafe(32)
        self._records[_digest(token)] = _Record(family, expires_at, issued_at=now)
        return token
