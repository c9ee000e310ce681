"""manage.py check reports DRF views whose jwtguard permissions cannot work (jwtguard.E002, E003)."""

from __future__ import annotations

import re
import sys
import types

import pytest
from conftest import load_example

load_example("django_app")  # configures Django once

from django.core.management import call_command  # noqa: E402
from django.core.management.base import SystemCheckError  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.authentication import BasicAuthentication  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from jwtguard.django import JWTAuthentication, TokenHasRole, TokenHasScope  # noqa: E402


class Fine(APIView):
    authentication_classes = (JWTAuthentication,)
    permission_classes = (TokenHasScope,)
    required_scopes = ("read:messages",)

    def get(self, request: object) -> Response:  # pragma: no cover - never requested
        return Response({})


class BasicOnly(Fine):
    authentication_classes = (BasicAuthentication,)  # bearer tokens never validated


class BadScope(Fine):
    required_scopes = ("read messages",)  # a space: no token can ever carry it


class NoRoles(Fine):
    permission_classes = (TokenHasRole,)  # required_roles missing


def _urlconf(*views: type) -> str:
    name = f"jwtguard_check_urls_{'_'.join(v.__name__ for v in views)}"
    module = types.ModuleType(name)
    module.urlpatterns = [path(f"v{n}", view.as_view()) for n, view in enumerate(views)]  # type: ignore[attr-defined]
    sys.modules[name] = module
    return name


def _check_ids(*views: type) -> list[str]:
    with override_settings(ROOT_URLCONF=_urlconf(*views)):
        try:
            call_command("check", "--tag", "urls", verbosity=0)
        except SystemCheckError as error:
            return sorted(set(re.findall(r"jwtguard\.E00\d", str(error))))
    return []


def test_a_correct_view_passes() -> None:
    assert _check_ids(Fine) == []


@pytest.mark.parametrize(
    ("view", "expected"),
    [(BasicOnly, ["jwtguard.E002"]), (BadScope, ["jwtguard.E003"]), (NoRoles, ["jwtguard.E003"])],
    ids=["no JWTAuthentication", "scope with a space", "no required_roles"],
)
def test_each_view_mistake_is_reported_before_any_request(view: type, expected: list[str]) -> None:
    assert _check_ids(Fine, view) == expected
