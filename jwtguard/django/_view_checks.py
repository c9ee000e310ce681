"""System checks over the URL configuration: DRF views whose jwtguard permissions cannot work.

Two set-up mistakes would otherwise surface only when a request arrives:

* ``jwtguard.E002`` — a view protected by ``TokenHasScope``, ``TokenHasRole`` or
  ``TokenHasUserAuthentication`` with no :class:`JWTAuthentication` among its
  authentication classes: bearer tokens are never validated, so every one is refused;
* ``jwtguard.E003`` — such a view whose ``required_scopes`` / ``required_roles`` /
  step-up attributes are missing or invalid (a scope with a space, an empty role …).

Views whose requirements depend on the request (an overridden ``get_required_scopes``
that reads it) are checked as far as they can be without one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, get_resolver

from ..errors import ConfigurationError

__all__ = ["check_drf_views"]


def _views(patterns: Any) -> Iterator[tuple[str, type]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            cls = getattr(pattern.callback, "cls", None)
            if isinstance(cls, type):
                yield str(pattern.pattern), cls


def check_drf_views(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``jwtguard.E002`` / ``jwtguard.E003`` for every DRF view that cannot accept a token as configured."""
    from ._drf import JWTAuthentication, _TokenPermission

    messages: list[checks.CheckMessage] = []
    seen: set[type] = set()
    for route, cls in _views(get_resolver().url_patterns):
        if cls in seen:
            continue
        seen.add(cls)
        permissions = [p for p in getattr(cls, "permission_classes", ()) if _is_token_permission(p, _TokenPermission)]
        if not permissions:
            continue
        names = ", ".join(p.__name__ for p in permissions)
        authenticators = getattr(cls, "authentication_classes", ())
        if not any(isinstance(a, type) and issubclass(a, JWTAuthentication) for a in authenticators):
            messages.append(
                checks.Error(
                    f"{cls.__name__} (route {route!r}) uses {names} but none of its authentication classes "
                    "is jwtguard.django.JWTAuthentication: every bearer token would be refused",
                    hint="Add jwtguard.django.JWTAuthentication to the view's authentication_classes or to "
                    "REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES'].",
                    obj=cls,
                    id="jwtguard.E002",
                )
            )
        for permission in permissions:
            problem = _requirement_problem(permission, cls)
            if problem is not None:
                messages.append(
                    checks.Error(
                        f"{cls.__name__} (route {route!r}), {permission.__name__}: {problem}",
                        hint="Fix the view's required_* attributes (see jwtguard's Django documentation).",
                        obj=cls,
                        id="jwtguard.E003",
                    )
                )
    return messages


def _is_token_permission(permission: Any, base: type) -> bool:
    return isinstance(permission, type) and issubclass(permission, base)


def _requirement_problem(permission: type, cls: type) -> str | None:
    try:
        view = cls()
    except Exception:  # a view that needs arguments: nothing to check without a request
        return None
    try:
        permission().get_requirement(None, view)
    except (ConfigurationError, ImproperlyConfigured) as error:
        return str(error)
    except Exception:  # noqa: S110 - requirements that read the request are checked when it comes
        pass
    return None
