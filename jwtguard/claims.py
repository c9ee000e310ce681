"""The validated payload of an access token."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["Claims"]


def _scopes(payload: Mapping[str, Any]) -> frozenset[str]:
    found: set[str] = set()
    scope = payload.get("scope")  # RFC 8693 §4.2 / RFC 9068 §2.2.3: space-separated string
    if isinstance(scope, str):
        found.update(scope.split())
    scp = payload.get("scp")  # Okta and Azure AD: string or list
    if isinstance(scp, str):
        found.update(scp.split())
    elif isinstance(scp, list):
        found.update(item for item in scp if isinstance(item, str))
    permissions = payload.get("permissions")  # Auth0 RBAC: list
    if isinstance(permissions, list):
        found.update(item for item in permissions if isinstance(item, str))
    return frozenset(found)


class Claims(Mapping[str, Any]):
    """A read-only mapping of a validated token's payload.

    >>> claims = Claims({"sub": "user-1", "scope": "read write", "permissions": ["admin"]})
    >>> claims["sub"], sorted(claims.scopes)
    ('user-1', ['admin', 'read', 'write'])

    ``scopes`` is the union of ``scope`` (space-separated string), ``scp``
    (string or list, as Okta and Azure AD send it) and ``permissions`` (Auth0
    RBAC); values of other types are ignored. ``header`` is the token's
    protected JOSE header.
    """

    __slots__ = ("_payload", "_scopes", "header")

    def __init__(self, payload: Mapping[str, Any], header: Mapping[str, Any] | None = None) -> None:
        self._payload: Mapping[str, Any] = MappingProxyType(dict(payload))
        self._scopes: frozenset[str] | None = None
        self.header: Mapping[str, Any] = MappingProxyType(dict(header or {}))

    @classmethod
    def _adopt(cls, payload: dict[str, Any], header: dict[str, Any]) -> Claims:
        """Wrap dicts nobody else holds, without copying them (the validator's fast path)."""
        claims = cls.__new__(cls)
        claims._payload = MappingProxyType(payload)
        claims._scopes = None
        claims.header = MappingProxyType(header)
        return claims

    @property
    def scopes(self) -> frozenset[str]:
        """Every scope the token grants."""
        if self._scopes is None:
            self._scopes = _scopes(self._payload)
        return self._scopes

    @property
    def subject(self) -> str | None:
        """The ``sub`` claim when it is a string, else ``None``."""
        sub = self._payload.get("sub")
        return sub if isinstance(sub, str) else None

    def __getitem__(self, key: str) -> Any:
        return self._payload[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._payload)

    def __len__(self) -> int:
        return len(self._payload)

    def __repr__(self) -> str:
        # Claim values can be personal data; show only the names.
        return f"Claims(<{', '.join(sorted(self._payload))}>)"
