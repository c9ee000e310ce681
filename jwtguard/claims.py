"""The validated payload of an access token."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ._frozen import FrozenDict, FrozenList

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
    elif isinstance(scp, (list, tuple)):
        found.update(_granted(scp))
    permissions = payload.get("permissions")  # Auth0 RBAC: list
    if isinstance(permissions, (list, tuple)):
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
        elif isinstance(value, (list, tuple)):
            found.update(item for item in value if isinstance(item, str) and item)
    return frozenset(found)


# How a Claims keeps its values: arrays as tuples, and objects as tuples too, marked by a leading
# Ellipsis (which JSON cannot hold) and followed by their keys and values in turn. Unlike list and
# dict subclasses (or a dict holding any container), exact tuples of scalars and tuples are
# untracked by the cyclic garbage collector once it has seen them, and so is a payload dict
# holding only such tuples: a cached token costs the collector one object (the Claims), however
# many arrays and objects it carries. Each read of one hands out a new read-only twin (_thaw).
_SCALARS = frozenset({str, int, float, bool, type(None)})
_OBJECT = ...


def _cold(value: Any) -> Any:
    """The stored form of a claim value (see above), recursively."""
    if isinstance(value, Mapping):
        stored: list[Any] = [_OBJECT]
        for key, item in value.items():
            stored += (key, _cold(item))
        return tuple(stored)
    if isinstance(value, (list, tuple)):
        if _SCALARS.issuperset(map(type, value)):
            return tuple(value)
        return tuple(_cold(item) for item in value)
    return value


def _cold_members(payload: dict[str, Any]) -> dict[str, Any]:
    """:func:`_cold` on the members of a dict ``json`` decoded, in place (the validator's fast path)."""
    for key, item in payload.items():
        kind = type(item)
        if kind is list or kind is dict:
            payload[key] = _cold(item)
    return payload


def _thaw(value: Any) -> Any:
    """The handed-out form of a stored value: FrozenList and FrozenDict, recursively."""
    if type(value) is not tuple:
        return value
    if value and value[0] is _OBJECT:
        return FrozenDict({value[i]: _thaw(value[i + 1]) for i in range(1, len(value), 2)})
    if _SCALARS.issuperset(map(type, value)):
        return FrozenList(value)
    return FrozenList([_thaw(item) for item in value])


# Most tokens of an API share their JOSE header and their sets of scopes and roles: one copy of
# each is kept (bounded), so a cached token holds no frozenset or header of its own, which the
# collector would have to visit. These objects are never changed once made.
_COMMON_LIMIT = 4096
_common_sets: dict[frozenset[str], frozenset[str]] = {}
_common_headers: dict[bytes, dict[str, Any]] = {}  # by the header's base64url segment: exact


def _interned(found: frozenset[str]) -> frozenset[str]:
    common = _common_sets.get(found)
    if common is not None:
        return common
    if len(_common_sets) >= _COMMON_LIMIT:
        _common_sets.clear()
    _common_sets[found] = found
    return found


def _common_header(key: bytes, header: dict[str, Any]) -> dict[str, Any]:
    """The stored form of ``header``, shared by every token whose header segment is ``key``."""
    common = _common_headers.get(key)
    if common is None:
        common = _cold_members(header)
        if len(_common_headers) >= _COMMON_LIMIT:
            _common_headers.clear()
        _common_headers[key] = common
    return common


_MISSING = object()


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
    claims handed to one request cannot alter what the next request sees. Each
    read of a nested value hands out a new read-only twin (equal every time, not
    the same object): what is kept inside stays untracked by the garbage collector.
    """

    # The payload and header are plain dicts nobody else holds, reached only through this
    # read-only interface: no ``MappingProxyType`` wrappers, so a dict holding only scalars is
    # untracked by the cyclic GC. The ``_cache_*`` slots belong to the validator's token cache
    # (see :mod:`jwtguard._token_cache`): they make a cached token one object, not two.
    __slots__ = (
        "_cache_freshness",
        "_cache_generation",
        "_cache_keys",
        "_cache_window",
        "_header",
        "_payload",
        "_role_claims",
        "_roles",
        "_scopes",
    )

    if TYPE_CHECKING:  # set by the token cache on the claims it keeps
        _cache_generation: int
        _cache_keys: Any
        _cache_freshness: Any
        _cache_window: tuple[float, float]

    def __init__(
        self,
        payload: Mapping[str, Any],
        header: Mapping[str, Any] | None = None,
        *,
        role_claims: tuple[str, ...] = DEFAULT_ROLE_CLAIMS,
    ) -> None:
        self._payload: dict[str, Any] = {key: _cold(value) for key, value in payload.items()}
        self._scopes: frozenset[str] | None = None
        self._roles: frozenset[str] | None = None
        self._role_claims = role_claims
        self._header: dict[str, Any] = {key: _cold(value) for key, value in (header or {}).items()}

    @classmethod
    def _adopt(
        cls,
        payload: dict[str, Any],
        header: dict[str, Any],
        role_claims: tuple[str, ...] = DEFAULT_ROLE_CLAIMS,
        header_segment: bytes | None = None,
    ) -> Claims:
        """Wrap dicts nobody else holds, storing their members in place (the validator's fast path).

        ``header_segment``: the token's encoded header, whose decoded form is then shared.
        """
        claims = cls.__new__(cls)
        claims._payload = _cold_members(payload)
        claims._scopes = None
        claims._roles = None
        claims._role_claims = role_claims
        claims._header = _cold_members(header) if header_segment is None else _common_header(header_segment, header)
        return claims

    @property
    def header(self) -> Mapping[str, Any]:
        """The token's protected JOSE header (read-only)."""
        return MappingProxyType({key: _thaw(value) for key, value in self._header.items()})

    @property
    def scopes(self) -> frozenset[str]:
        """Every scope the token grants."""
        if self._scopes is None:
            self._scopes = _interned(_scopes(self))
        return self._scopes

    @property
    def roles(self) -> frozenset[str]:
        """Every role the token carries: the union of the role claims (``roles``, ``groups``,
        ``cognito:groups``, Keycloak's ``realm_access.roles`` by default; the validator's
        ``role_claims=`` dotted paths otherwise). String members of lists count, a single
        string counts as one role."""
        if self._roles is None:
            self._roles = _interned(_roles(self, self._role_claims))
        return self._roles

    @property
    def subject(self) -> str | None:
        """The ``sub`` claim when it is a string, else ``None``."""
        sub = self._payload.get("sub")
        return sub if isinstance(sub, str) else None

    def __getitem__(self, key: str) -> Any:
        value = self._payload[key]
        return _thaw(value) if type(value) is tuple else value

    def get(self, key: str, default: Any = None) -> Any:
        value = self._payload.get(key, _MISSING)
        if value is _MISSING:
            return default
        return _thaw(value) if type(value) is tuple else value

    def __contains__(self, key: object) -> bool:
        return key in self._payload

    def __iter__(self) -> Iterator[str]:
        return iter(self._payload)

    def __len__(self) -> int:
        return len(self._payload)

    def __repr__(self) -> str:
        # Claim values can be personal data; show only the names.
        return f"Claims(<{', '.join(sorted(self._payload))}>)"
