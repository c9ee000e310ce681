"""Django and Django REST framework adapters.

Settings (read by :func:`jwtguard.settings.read_settings`, reset by ``override_settings``)::

    INSTALLED_APPS = [..., "jwtguard.django"]  # manage.py check reports a bad JWTGUARD (jwtguard.E001)
    JWTGUARD = {"ISSUER": "https://tenant.example.com/", "AUDIENCE": "https://api.example.com"}
    REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": ["jwtguard.django.JWTAuthentication"]}

Plain Django views use :func:`require_token` (or :class:`JWTGuardMiddleware`);
DRF views use :class:`JWTAuthentication` and :class:`TokenHasScope`,
:class:`TokenHasRole` or :class:`TokenHasUserAuthentication` (and,
optionally, :func:`exception_handler` as ``EXCEPTION_HANDLER``). The DRF
names are imported on first access, so plain Django projects need no DRF.
"""

from __future__ import annotations

from .._extras import require

# ruff: noqa: E402 - the imports below follow this check on purpose
require("django", "django", "jwtguard.django needs Django")

import importlib
from typing import TYPE_CHECKING, Any

from ._auth import get_claims
from ._decorators import require_token
from ._middleware import JWTGuardMiddleware
from ._settings import get_settings, get_validator
from ._user import TokenUser

if TYPE_CHECKING:
    from ._drf import (
        JWTAuthentication,
        KeySetUnavailable,
        TokenAuthenticationFailed,
        TokenHasRole,
        TokenHasScope,
        TokenHasUserAuthentication,
        TokenRequestInvalid,
        TokenScopeDenied,
        api_exception,
        exception_handler,
    )

__all__ = [
    "JWTAuthentication",
    "JWTGuardMiddleware",
    "KeySetUnavailable",
    "TokenAuthenticationFailed",
    "TokenHasRole",
    "TokenHasScope",
    "TokenHasUserAuthentication",
    "TokenRequestInvalid",
    "TokenScopeDenied",
    "TokenUser",
    "api_exception",
    "exception_handler",
    "get_claims",
    "get_settings",
    "get_validator",
    "require_token",
]

# The names of __all__ not defined by now live in _drf, imported on first use (it needs DRF).
_DRF_NAMES = frozenset(name for name in __all__ if name not in globals())


def __getattr__(name: str) -> Any:
    if name in _DRF_NAMES:
        return getattr(importlib.import_module("._drf", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
