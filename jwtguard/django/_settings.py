"""The ``JWTGUARD`` settings dict, read on first use and reset on ``setting_changed``.

Nothing here touches ``django.conf.settings`` at import time, so importing
:mod:`jwtguard.django` never requires configured settings; the validator is
built when the first request needs it, and rebuilt after
``override_settings(JWTGUARD=…)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from .._paths import PathSet
from ..claims import Claims
from ..errors import ConfigurationError
from ..resource_metadata import ProtectedResourceMetadata
from ..validator import DEFAULT_LEEWAY, Validator
from ._user import TokenUser

__all__ = ["DEFAULTS", "JWTGuardSettings", "get_settings", "get_validator", "reset"]

#: Every key of ``settings.JWTGUARD`` and its default.
DEFAULTS: Mapping[str, Any] = {
    # Passed to jwtguard.Validator (ignored when VALIDATOR is set).
    "ISSUER": None,
    "AUDIENCE": None,
    "ALGORITHMS": ("RS256",),
    "JWKS_URI": None,
    "JWKS": None,
    "LEEWAY": DEFAULT_LEEWAY,
    "AUTHORIZED_PARTIES": None,
    "REQUIRED_SCOPES": (),
    "VALIDATOR_OPTIONS": {},  # any other Validator keyword argument
    # A ready Validator, a callable returning one, or a dotted path to either.
    "VALIDATOR": None,
    # How answers look.
    "REALM": None,
    "RESOURCE_METADATA": None,  # ProtectedResourceMetadata, or a dict of its arguments
    # Claims -> user object (callable or dotted path); default: TokenUser.
    "USER_FACTORY": None,
    # JWTGuardMiddleware only.
    "EXCLUDE_PATHS": (),
    "TOKEN_REQUIRED": True,
}

# The keys passed to Validator, as their lower-case names.
_ARGS = ("ISSUER", "AUDIENCE", "ALGORITHMS", "JWKS_URI", "JWKS", "LEEWAY", "AUTHORIZED_PARTIES", "REQUIRED_SCOPES")


@dataclass(frozen=True)
class JWTGuardSettings:
    """``settings.JWTGUARD``, resolved: the validator is built, dotted paths imported."""

    validator: Validator
    realm: str | None
    resource_metadata: ProtectedResourceMetadata | None
    user_factory: Callable[[Claims], Any]
    exclude_paths: PathSet
    token_required: bool

    @property
    def resource_metadata_url(self) -> str | None:
        return self.resource_metadata.url if self.resource_metadata else None

    def is_excluded(self, path: str) -> bool:
        """``path`` is an entry of ``EXCLUDE_PATHS``, or lies under a ``"/prefix/*"`` entry."""
        return path in self.exclude_paths


def _load(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return import_string(value)
        except ImportError as exc:
            raise ConfigurationError(f"JWTGUARD: cannot import {value!r}") from exc
    return value


def _validator(user: Mapping[str, Any], merged: Mapping[str, Any]) -> Validator:
    given = user.get("VALIDATOR")
    if given is not None:
        clashing = sorted(key for key in (*_ARGS, "VALIDATOR_OPTIONS") if key in user)
        if clashing:
            raise ConfigurationError(f"JWTGUARD: VALIDATOR replaces {', '.join(clashing)}; give one or the other")
        found = _load(given)
        if not isinstance(found, Validator) and callable(found):
            found = found()
        if not isinstance(found, Validator):
            raise ConfigurationError("JWTGUARD: VALIDATOR must be a Validator, or a callable returning one")
        return found
    if not merged["ISSUER"]:
        raise ConfigurationError("JWTGUARD: ISSUER is required (or give a ready VALIDATOR)")
    options = {key.lower(): merged[key] for key in _ARGS}
    extra = merged["VALIDATOR_OPTIONS"]
    if not isinstance(extra, Mapping) or set(extra) & set(options):
        raise ConfigurationError("JWTGUARD: VALIDATOR_OPTIONS must be a dict of the Validator's other arguments")
    try:
        return Validator(**options, **extra)
    except TypeError as exc:  # an unknown argument name
        raise ConfigurationError(f"JWTGUARD: VALIDATOR_OPTIONS: {exc}") from None


def _resolve() -> JWTGuardSettings:
    user = getattr(django_settings, "JWTGUARD", None)
    if not isinstance(user, Mapping):
        raise ConfigurationError("settings.JWTGUARD must be a dict with at least ISSUER (or VALIDATOR)")
    unknown = sorted(set(user) - set(DEFAULTS))
    if unknown:
        raise ConfigurationError(f"JWTGUARD: unknown keys {unknown}")
    merged = {**DEFAULTS, **user}
    metadata = merged["RESOURCE_METADATA"]
    if isinstance(metadata, Mapping):
        try:
            metadata = ProtectedResourceMetadata(**metadata)
        except TypeError as exc:
            raise ConfigurationError(f"JWTGUARD: RESOURCE_METADATA: {exc}") from None
    if metadata is not None and not isinstance(metadata, ProtectedResourceMetadata):
        raise ConfigurationError("JWTGUARD: RESOURCE_METADATA must be a ProtectedResourceMetadata or a dict")
    factory = _load(merged["USER_FACTORY"]) or TokenUser
    if not callable(factory):
        raise ConfigurationError("JWTGUARD: USER_FACTORY must be callable (claims -> user)")
    excluded = PathSet(merged["EXCLUDE_PATHS"], "JWTGUARD: EXCLUDE_PATHS")
    return JWTGuardSettings(
        validator=_validator(user, merged),
        realm=merged["REALM"],
        resource_metadata=metadata,
        user_factory=factory,
        exclude_paths=excluded,
        token_required=bool(merged["TOKEN_REQUIRED"]),
    )


_lock = threading.Lock()
_cached: JWTGuardSettings | None = None


def get_settings() -> JWTGuardSettings:
    """Return the resolved ``settings.JWTGUARD`` (built on first use, then cached).

    Raises:
        ConfigurationError: ``JWTGUARD`` is missing, has unknown keys, lacks
            ``ISSUER`` (and ``VALIDATOR``), or holds an invalid option.
    """
    global _cached
    current = _cached
    if current is None:
        with _lock:
            current = _cached = _cached or _resolve()
    return current


def get_validator() -> Validator:
    """Return the :class:`~jwtguard.Validator` built from ``settings.JWTGUARD``.

    Call it from ``AppConfig.ready()`` to fail at start-up on a bad configuration.

    Raises:
        ConfigurationError: see :func:`get_settings`.
    """
    return get_settings().validator


def reset() -> None:
    """Forget the cached settings (and validator); the next use reads them again."""
    global _cached
    with _lock:
        _cached = None


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "JWTGUARD":
        reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="jwtguard.django.settings")
