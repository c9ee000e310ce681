"""What a route asks of a valid token beyond validity: :class:`Requirement`.

Every route-level form — ``@guard.require("a")`` in Flask, ``@require_token("a")``
in Django, ``TokenHasScope`` in DRF, ``Security(bearer, scopes=["a"])`` in
FastAPI, ``validator.require_scopes(claims, "a")`` anywhere — builds one
``Requirement`` (at start-up: a bad scope name is a
:class:`~jwtguard.ConfigurationError` there, never a request-time 500) and
hands it to :meth:`jwtguard.Validator.authorize`, which decides, logs and
counts the refusal the same way for every framework.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ._checks import as_number
from ._config import scope_tokens
from ._options import strings
from .claims import Claims
from .errors import (
    ConfigurationError,
    InsufficientRoleError,
    InsufficientScopeError,
    InsufficientUserAuthenticationError,
)

__all__ = ["Requirement"]


def _names(values: Iterable[str] | str, what: str) -> tuple[str, ...]:
    return strings(values if isinstance(values, str) else tuple(values), what)


@dataclass(frozen=True)
class Requirement:
    """What a route needs beyond a valid token.

    >>> need = Requirement.of(["read:messages", "admin"], any_of=True)
    >>> need.check(Claims({"scope": "admin"}))

    * ``scopes``: every one of them (or one of them with ``any_of``), from ``claims.scopes``;
    * ``roles``: every one of them (or one with ``roles_any_of``), from ``claims.roles``;
    * ``acr_values``: the token's ``acr`` must be one of them, and ``max_age``: its
      ``auth_time`` no older than that many seconds (RFC 9470 step-up).

    An empty requirement accepts any valid token.
    """

    scopes: tuple[str, ...] = ()
    any_of: bool = False
    roles: tuple[str, ...] = ()
    roles_any_of: bool = False
    acr_values: tuple[str, ...] = ()
    max_age: float | None = None
    #: ``scopes`` when they are all the requirement asks (every one of them), else ``None``:
    #: :meth:`jwtguard.Validator.authorize` then decides a granted request without :meth:`check`.
    all_scopes: tuple[str, ...] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        plain = not (self.any_of or self.roles or self.acr_values or self.max_age is not None)
        object.__setattr__(self, "all_scopes", self.scopes if plain else None)

    @classmethod
    def of(
        cls,
        scopes: Iterable[str] = (),
        *,
        any_of: bool = False,
        roles: Iterable[str] = (),
        roles_any_of: bool = False,
        acr_values: Iterable[str] = (),
        max_age: float | None = None,
    ) -> Requirement:
        """Build a requirement, checking every value.

        Raises:
            ConfigurationError: a scope that is not an RFC 6749 scope-token, an empty
                role or acr value, ``any_of`` with nothing to choose from, a negative ``max_age``.
        """
        checked = scope_tokens(scopes if isinstance(scopes, str) else tuple(scopes), "scopes") if scopes else ()
        role_names = _names(roles, "roles")
        acr = _names(acr_values, "acr_values")
        for flag, name in ((any_of, "any_of"), (roles_any_of, "roles_any_of")):
            if not isinstance(flag, bool):
                raise ConfigurationError(f"{name} must be True or False")
        if any_of and not checked:
            raise ConfigurationError("any_of=True needs at least one scope")
        if roles_any_of and not role_names:
            raise ConfigurationError("roles_any_of=True needs at least one role")
        if max_age is not None and (as_number(max_age) is None or max_age < 0):
            raise ConfigurationError("max_age must be a number of seconds >= 0")
        return cls(checked, any_of, role_names, roles_any_of, acr, None if max_age is None else float(max_age))

    def check(self, claims: Claims, now: float | None = None, leeway: float = 0.0) -> None:
        """Return when ``claims`` meet the requirement (``now`` is needed for ``max_age``).

        Raises:
            InsufficientScopeError: a scope is missing (403); its challenge lists ``scopes``.
            InsufficientRoleError: a role is missing (403).
            InsufficientUserAuthenticationError: ``acr`` or ``auth_time`` falls short (401, RFC 9470).
        """
        scopes = self.scopes
        if scopes and not (
            not claims.scopes.isdisjoint(scopes) if self.any_of else claims.scopes.issuperset(scopes)
        ):  # _meets, inlined: this runs on every request of a route with scopes
            raise InsufficientScopeError(scopes)
        if self.roles and not _meets(claims.roles, self.roles, self.roles_any_of):
            raise InsufficientRoleError(self.roles)
        if self.acr_values and claims.get("acr") not in self.acr_values:
            raise InsufficientUserAuthenticationError(self.acr_values, self.max_age, reason="acr")
        if self.max_age is not None:
            auth_time = as_number(claims.get("auth_time"))
            if auth_time is None or now is None or now - auth_time > self.max_age + leeway:
                raise InsufficientUserAuthenticationError(self.acr_values, self.max_age, reason="auth_time")


def _meets(granted: frozenset[str], needed: tuple[str, ...], any_of: bool) -> bool:
    return not granted.isdisjoint(needed) if any_of else granted.issuperset(needed)
