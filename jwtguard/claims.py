"""The validated payload of an access token."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from ._frozen import freeze, freeze_members

__all__ = ["DEFAULT_ROLE_CLAIMS", "Claims", "is_scope_token"]

#: Where roles are found by default: Azure AD app roles and generic ``roles``, ``groups``,
#: Amazon Cognito's ``cognito:groups``, Keycloak's realm roles.
DEFAULT_ROLE_CLAIMS: tuple[str, ...] = ("roles", "groups", "cognito:groups", "realm_access.roles")

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by U+0020 only.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def is_scope_token(value: object) -> bool:
    """Whether ``value`` is one RFC 6749 §3.3 scope-token (printable ASCII, no space, ``"`` or ``\\``)."""
    return isinstance(value, str) and _SCOPE_TOKEN.fullmatch(value) is not None


def _granted(items: Iterable[object]) -> Iterator[str]:
    # A scope-token with any other character (a tab, NBSP, U+2028 …) is never a grant: it
    # matches no scope, so "files:read<NBSP>admin" grants neither "files:read" nor "admin".
    return (item for item in items if is_scope_token(item))  # type: ignore[misc]


def _scopes(payload: Mapping[str, Any]) -> frozenset[str]:
    found: set[str] = set()
    scope = payload.get("scope")  # RFC 6749 §3.3, RFC 9068 §2.2.3: space-separated string
    if isinstance(scope, str):
        found.update(_granted(scope.split(" ")))
    scp = payload.get("scp")  # Okta and Azure AD: string or list
    if isinstance(scp, str):
        found.update(_granted(scp.split(" ")))
    elif isinstance(scp, list):
        found.update(_granted(scp))
    permissions = payload.get("permissions")  # Auth0 RBAC: list
    if isinstance(permissions, list):
        found.update(_granted(permissions))
    return frozenset(found)


def _lookup(payload: Mapping[str, Any], path: str) -> Any:
    # A claim named with dots (Auth0's "https://example.com/roles") is found as it is first.
    if path in payload:
        return payload[path]
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _roles(payload: Mapping[str, Any], paths: tuple[str, ...]) -> frozenset[str]:
    found: set[str] = set()
    for path in paths:
        value = _lookup(payload, path)
        if isinstance(value, str) and value:
            found.add(value)
        elif isinstance(value, list):
            found.update(item for item in value if isinstance(item, str) and item)
    return frozenset(found)


class Claims(Mapping[str, Any]):
    """A read-only mapping of a validated token's payload.

    >>> claims = Claims({"sub": "user-1", "scope": "read write", "permissions": ["admin"]})
    >>> claims["sub"], sorted(claims.scopes)
    ('user-1', ['admin', 'read', 'write'])

    ``scopes`` is the union of ``scope`` (a string of scope-tokens separated
    by single spaces, RFC 6749 §3.3), ``scp`` (such a string or a list, as Okta
    and Azure AD send it) and ``permissions`` (Auth0 RBAC); values of other
    types are ignored, and so is any scope-token holding a character outside
    RFC 6749's set (tabs, line breaks, non-ASCII spaces …): it grants nothing.
    ``header`` is the token's protected JOSE header.

    Nothing reachable from a ``Claims`` can be changed: nested lists and
    objects are read-only ``list`` and ``dict`` subclasses, so a cached token's
    claims handed to one request cannot alter what the next request sees.
    """

    __slots__ = ("_payload", "_role_claims", "_roles", "_scopes", "header")

    def __init__(
        self,
        payload: Mapping[str, Any],
        header: Mapping[str, Any] | None = None,
        *,
        role_claims: tuple[str, ...] = DEFAULT_ROLE_CLAIMS,
    ) -> None:
        self._payload: Mapping[str, Any] = MappingProxyType({key: freeze(value) for key, value in payload.items()})
        self._scopes: frozenset[str] | None = None
        self._roles: frozenset[str] | None = None
        self._role_claims = role_claims
        self.header: Mapping[str, Any] = MappingProxyType({key: freeze(value) for key, value in (header or {}).items()})

    @classmethod
    def _adopt(
        cls, payload: dict[str, Any], header: dict[str, Any], role_claims: tuple[str, ...] = DEFAULT_ROLE_CLAIMS
    ) -> Claims:
        """Wrap dicts nobody else holds, freezing their members in place (the validator's fast path)."""
        claims = cls.__new__(cls)
        claims._payload = MappingProxyType(freeze_members(payload))
        claims._scopes = None
        claims._roles = None
        claims._role_claims = role_claims
        claims.header = MappingProxyType(freeze_members(header))
        return claims

    @property
    def scopes(self) -> frozenset[str]:
        """Every scope the token grants."""
        if self._scopes is None:
            self._scopes = _scopes(self._payload)
        return self._scopes

    @property
    def roles(self) -> frozenset[str]:
        """Every role the token carries: the union of the role claims (``roles``, ``groups``,
        ``cognito:groups``, Keycloak's ``realm_access.roles`` by default; the validator's
        ``role_claims=`` dotted paths otherwise). String members of lists count, a single
        string counts as one role."""
        if self._roles is None:
            self._roles = _roles(self._payload, self._role_claims)
        return self._roles

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
