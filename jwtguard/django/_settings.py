"""The ``JWTGUARD`` settings dict, read on first use and reset on ``setting_changed``.

Nothing here touches ``django.conf.settings`` at import time, so importing
:mod:`jwtguard.django` never requires configured settings. The dict is read by
the package's one settings loader (:func:`jwtguard.settings.read_settings`):
every :class:`~jwtguard.Validator` option is an upper-case key (``ISSUER``,
``MAX_TOKEN_AGE``, ``HOOKS`` …), the adapter's own keys are
:data:`jwtguard.settings.ADAPTER_KEYS`, and a typo is refused with the
nearest known key. The result is one :class:`~jwtguard._guard.Guard`, built
at start-up by the system check and ``JWTGuardMiddleware`` (or on first use),
and rebuilt after ``override_settings(JWTGUARD=…)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed

from .._guard import Guard
from .._paths import PathSet
from ..claims import Claims
from ..errors import ConfigurationError
from ..resource_metadata import ProtectedResourceMetadata
from ..settings import ADAPTER_KEYS, read_settings
from ..validator import Validator
from ._user import TokenUser

__all__ = ["JWTGuardSettings", "get_settings", "get_validator", "reset"]

# The older spelling of the Validator options nobody could reach as keys; still read (see docs).
_LEGACY_OPTIONS = "VALIDATOR_OPTIONS"


@dataclass(frozen=True)
class JWTGuardSettings:
    """``settings.JWTGUARD``, resolved: the guard (validator and answers) and the adapter's own keys."""

    guard: Guard
    user_factory: Callable[[Claims], Any]
    token_required: bool

    @property
    def validator(self) -> Validator:
        return self.guard.validator

    @property
    def realm(self) -> str | None:
        return self.guard.realm

    @property
    def resource_metadata(self) -> ProtectedResourceMetadata | None:
        return self.guard.resource_metadata

    @property
    def resource_metadata_url(self) -> str | None:
        return self.guard.resource_metadata.url if self.guard.resource_metadata else None

    def is_excluded(self, path: str) -> bool:
        """``path`` is an entry of ``EXCLUDE_PATHS``, or lies under a ``"/prefix/*"`` entry."""
        return path in self.guard.exclude_paths


def _options(user: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validator keyword arguments and adapter settings, ``VALIDATOR_OPTIONS`` merged in."""
    options, adapter = read_settings(user, where="JWTGUARD", adapter_keys={**ADAPTER_KEYS, _LEGACY_OPTIONS: "json"})
    legacy = adapter.pop(_LEGACY_OPTIONS, None)
    if legacy is not None:
        where = f"JWTGUARD {_LEGACY_OPTIONS}"
        if not isinstance(legacy, Mapping):
            raise ConfigurationError(f"{where} must be a dict of Validator arguments")
        more, _ = read_settings(legacy, where=where, adapter_keys={})  # adapter keys are unknown there
        clashing = sorted(name.upper() for name in set(more) & set(options))
        if clashing:
            raise ConfigurationError(f"{where}: give {', '.join(clashing)} once, as a JWTGUARD key")
        options.update(more)
    return options, adapter


def _validator(options: Mapping[str, Any], given: Any) -> Validator:
    if given is not None:
        if options:
            names = ", ".join(sorted(name.upper() for name in options))
            raise ConfigurationError(f"JWTGUARD: VALIDATOR replaces {names}; give one or the other")
        if not isinstance(given, Validator) and callable(given):
            given = given()
        if not isinstance(given, Validator):
            raise ConfigurationError("JWTGUARD: VALIDATOR must be a Validator, or a callable returning one")
        return given
    for required in ("issuer", "audience"):
        if not options.get(required):
            raise ConfigurationError(f"JWTGUARD: {required.upper()} is required (or give a ready VALIDATOR)")
    try:
        return Validator(**options)
    except ConfigurationError as exc:
        raise ConfigurationError(f"JWTGUARD: {exc}") from exc


def _metadata(value: Any) -> ProtectedResourceMetadata | None:
    if isinstance(value, Mapping):
        try:
            return ProtectedResourceMetadata(**value)
        except (TypeError, ConfigurationError) as exc:
            raise ConfigurationError(f"JWTGUARD: RESOURCE_METADATA: {exc}") from None
    if value is not None and not isinstance(value, ProtectedResourceMetadata):
        raise ConfigurationError("JWTGUARD: RESOURCE_METADATA must be a ProtectedResourceMetadata or a dict")
    return value


def _paths(adapter: Mapping[str, Any], key: str) -> Any:
    value = adapter.get(key, ())
    PathSet(value, f"JWTGUARD: {key}")  # refuses a bad entry under the user's own key name
    return value


def _resolve() -> JWTGuardSettings:
    user = getattr(django_settings, "JWTGUARD", None)
    if not isinstance(user, Mapping):
        raise ConfigurationError("settings.JWTGUARD must be a dict with at least ISSUER and AUDIENCE (or VALIDATOR)")
    options, adapter = _options(user)
    factory = adapter.get("USER_FACTORY") or TokenUser
    if not callable(factory):
        raise ConfigurationError("JWTGUARD: USER_FACTORY must be callable (claims -> user)")
    metadata = _metadata(adapter.get("RESOURCE_METADATA"))
    exclude, optional = _paths(adapter, "EXCLUDE_PATHS"), _paths(adapter, "OPTIONAL_PATHS")
    guard = Guard(
        where="JWTGUARD",
        validator=_validator(options, adapter.get("VALIDATOR")),
        realm=adapter.get("REALM"),
        exclude_paths=exclude,
        optional_paths=optional,
        resource_metadata=metadata,
        protect_preflight=bool(adapter.get("PROTECT_PREFLIGHT", False)),
        public_url=adapter.get("PUBLIC_URL"),
        trusted_proxies=adapter.get("TRUSTED_PROXIES") or (),
        client_cert_header=adapter.get("CLIENT_CERT_HEADER"),
    )
    return JWTGuardSettings(guard=guard, user_factory=factory, token_required=bool(adapter.get("TOKEN_REQUIRED", True)))


_lock = threading.Lock()
_cached: JWTGuardSettings | None = None


def get_settings() -> JWTGuardSettings:
    """Return the resolved ``settings.JWTGUARD`` (built on first use, then cached).

    Raises:
        ConfigurationError: ``JWTGUARD`` is missing or not a dict, has an unknown key
            (the message names the nearest known one), lacks ``ISSUER`` or
            ``AUDIENCE`` (and ``VALIDATOR``), or holds a value the Validator refuses.
    """
    global _cached
    current = _cached
    if current is None:
        with _lock:
            current = _cached = _cached or _resolve()
    return current


def get_validator() -> Validator:
    """Return the :class:`~jwtguard.Validator` built from ``settings.JWTGUARD``.

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
