"""``INSTALLED_APPS = [..., "jwtguard.django"]``: a bad ``JWTGUARD`` fails ``manage.py check`` and start-up.

The app has no models. Its :meth:`~JWTGuardConfig.ready` registers a system
check that builds the settings, so a typo (``"AUDIANCE"``), a missing
``AUDIENCE``, an ``http://`` issuer or a ``VALIDATOR`` that is not a
:class:`~jwtguard.Validator` is reported as ``jwtguard.E001`` by ``manage.py
check``, ``runserver`` and ``migrate`` — before the first request. With Django
REST framework installed, the URL configuration is checked too
(:mod:`jwtguard.django._view_checks`: ``jwtguard.E002``, ``jwtguard.E003``).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from django.apps import AppConfig
from django.core import checks

from ..errors import ConfigurationError
from ._settings import get_settings

__all__ = ["JWTGuardConfig", "check_settings"]


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The system check: ``jwtguard.E001`` when ``settings.JWTGUARD`` cannot be used, else nothing."""
    try:
        get_settings()
    except ConfigurationError as exc:
        return [
            checks.Error(
                str(exc),
                hint="Fix settings.JWTGUARD: see the JWTGUARD settings table in jwtguard's Django documentation.",
                id="jwtguard.E001",
            )
        ]
    return []


class JWTGuardConfig(AppConfig):
    """The ``jwtguard.django`` app: registers :func:`check_settings`."""

    name = "jwtguard.django"
    label = "jwtguard"
    verbose_name = "jwtguard"

    def ready(self) -> None:
        checks.register(check_settings)
        if importlib.util.find_spec("rest_framework") is not None:
            from ._view_checks import check_drf_views

            checks.register(check_drf_views, checks.Tags.urls)
