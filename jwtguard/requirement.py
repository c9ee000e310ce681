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
from dataclasses import dataclass

from ._config import scope_tokens
from .claims import Claims
from .errors import ConfigurationError, InsufficientScopeError

__all__ = ["Requirement"]


@dataclass(frozen=True)
class Requirement:
    """Scopes a route needs: every one of ``scopes``, or one of them with ``any_of``.

    >>> need = Requirement.of(["read:messages", "admin"], any_of=True)
    >>> need.check(Claims({"scope": "admin"}))

    An empty requirement accepts any valid token.
    """

    scopes: tuple[str, ...] = ()
    any_of: bool = False

    @classmethod
    def of(cls, scopes: Iterable[str] = (), *, any_of: bool = False) -> Requirement:
        """Build a requirement, checking every scope name.

        Raises:
            ConfigurationError: a scope that is not an RFC 6749 scope-token, or ``any_of`` with no scope.
        """
        if isinstance(scopes, str):
            scopes = (scopes,)
        checked = scope_tokens(tuple(scopes), "scopes") if scopes else ()
        if not isinstance(any_of, bool):
            raise ConfigurationError("any_of must be True or False")
        if any_of and not checked:
            raise ConfigurationError("any_of=True needs at least one scope")
        return cls(checked, any_of)

    def check(self, claims: Claims) -> None:
        """Return when ``claims`` meet the requirement.

        Raises:
            InsufficientScopeError: they do not; its challenge lists ``scopes``.
        """
        granted = claims.scopes
        if self.any_of:
            if granted.isdisjoint(self.scopes):
                raise InsufficientScopeError(self.scopes)
        elif not granted.issuperset(self.scopes):
            raise InsufficientScopeError(self.scopes)
