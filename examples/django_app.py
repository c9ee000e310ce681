"""A Django + Django REST framework API protected by jwtguard, in one file.

    GET  /messages         DRF view: a token with read:messages (TokenHasScope)
    GET  /plain/messages   plain Django view: the same, with @require_token
    GET  /admin            DRF view: a token with the role admin (TokenHasRole)
    POST /transfers        DRF view: write:transfers, and a user who logged in with MFA in the
                           last 5 minutes (TokenHasUserAuthentication: RFC 9470 step-up)
    POST /plain/transfers  plain Django view: the same, with @require_token(..., acr_values=, max_age=)
    GET  /health           public

Bearer tokens and DPoP-bound tokens (with their proofs) are both accepted. Behind a
TLS-terminating proxy, set ``JWTGUARD["PUBLIC_URL"]`` (or ``TRUSTED_PROXIES``) so DPoP
proofs are checked against the URL clients call.

Run it against a local issuer (keys and tokens on 127.0.0.1, no account needed):

    python examples/django_app.py

or against your tenant: ``JWTGUARD_ISSUER=https://tenant.example.com/
JWTGUARD_AUDIENCE=https://api.example.com python examples/django_app.py``.

``settings.JWTGUARD`` is read on first use, so tests swap the validator with
``override_settings(JWTGUARD={"VALIDATOR": validator})``.
"""

from __future__ import annotations

import os
import sys
import types

import django
from django.conf import settings
from django.http import HttpRequest, JsonResponse

LOCAL_ISSUER_PORT = 8001
PORT = 8000

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="example-only-not-a-secret",  # noqa: S106
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        ROOT_URLCONF=f"{__name__}.urls",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework", "jwtguard.django"],
        MIDDLEWARE=[],
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": ["jwtguard.django.JWTAuthentication"],
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        },
        JWTGUARD={
            "ISSUER": os.environ.get("JWTGUARD_ISSUER", f"http://127.0.0.1:{LOCAL_ISSUER_PORT}/"),
            "AUDIENCE": os.environ.get("JWTGUARD_AUDIENCE", "https://api.example.com"),
            "ALGORITHMS": ["RS256"],
            "REALM": "api",
        },
    )
    django.setup()

from django.urls import path  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from jwtguard.django import (  # noqa: E402
    TokenHasRole,
    TokenHasScope,
    TokenHasUserAuthentication,
    require_token,
)


class MessageView(APIView):
    permission_classes = (TokenHasScope,)
    required_scopes = ("read:messages",)

    def get(self, request: Request) -> Response:
        # request.auth: the token's Claims; request.user: a TokenUser named after "sub".
        return Response({"sub": request.auth["sub"], "user": request.user.username})


@require_token("read:messages")
def plain_messages(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sub": request.auth["sub"]})


class AdminView(APIView):
    permission_classes = (TokenHasRole,)
    required_roles = ("admin",)

    def get(self, request: Request) -> Response:
        return Response({"sub": request.auth["sub"], "roles": sorted(request.auth.roles)})


class TransferView(APIView):
    permission_classes = (TokenHasScope, TokenHasUserAuthentication)
    required_scopes = ("write:transfers",)
    required_acr_values = ("mfa",)
    required_auth_max_age = 300

    def post(self, request: Request) -> Response:
        return Response({"by": request.auth["sub"]}, status=201)


@require_token("write:transfers", acr_values=["mfa"], max_age=300)
def plain_transfer(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"by": request.auth["sub"]}, status=201)


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


# ROOT_URLCONF names this module; it lives in sys.modules so the name resolves
# however this file was loaded (script, import, or by path from a test).
urls = types.ModuleType(f"{__name__}.urls")
urls.urlpatterns = [
    path("messages", MessageView.as_view()),
    path("plain/messages", plain_messages),
    path("admin", AdminView.as_view()),
    path("transfers", TransferView.as_view()),
    path("plain/transfers", plain_transfer),
    path("health", health),
]
sys.modules[urls.__name__] = urls


def main() -> None:
    from wsgiref.simple_server import make_server

    from django.core.wsgi import get_wsgi_application

    from jwtguard.testing import LocalIssuer

    local = None
    if "JWTGUARD_ISSUER" not in os.environ:
        audience = settings.JWTGUARD["AUDIENCE"]
        local = LocalIssuer(port=LOCAL_ISSUER_PORT, audience=audience).start()
        token = local.token(scope="read:messages", sub="user-42")
        print(f'curl -H "Authorization: Bearer {token}" http://127.0.0.1:{PORT}/messages')
    print(f"serving on http://127.0.0.1:{PORT} (Ctrl-C to stop)")
    try:
        with make_server("127.0.0.1", PORT, get_wsgi_application()) as server:
            server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if local is not None:
            local.stop()


if __name__ == "__main__":
    main()
