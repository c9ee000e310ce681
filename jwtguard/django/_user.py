"""The user object of a request authenticated by a bearer token."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..claims import Claims

__all__ = ["TokenUser"]


class TokenUser:
    """An authenticated user built from token claims, not a database row.

    >>> user = TokenUser(Claims({"sub": "user-42", "scope": "read:messages"}))
    >>> user.username, user.is_authenticated, user.is_anonymous, user.pk
    ('user-42', True, False, None)

    ``username`` is the token's ``sub`` (``""`` when the token has none; add
    ``"sub"`` to the validator's ``required_claims`` if you rely on it).
    Django permissions are never granted (``has_perm`` is ``False``): check
    scopes with ``TokenHasScope`` or ``require_token``. To use a local user
    model instead, set ``JWTGUARD["USER_FACTORY"]``.
    """

    id = None
    pk = None
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, claims: Claims) -> None:
        self.claims = claims
        self.username: str = claims.subject or ""

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def scopes(self) -> frozenset[str]:
        """The scopes the token grants."""
        return self.claims.scopes

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perm_list: Iterable[str], obj: Any = None) -> bool:
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        return False

    def get_all_permissions(self, obj: Any = None) -> set[str]:
        return set()

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"<TokenUser: {self.username}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenUser) and other.username == self.username

    def __hash__(self) -> int:
        return hash((TokenUser, self.username))
