"""Bearer authentication of a Django request, shared by the decorator, the middleware and DRF."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse

from ..bearer import extract_bearer, is_preflight
from ..claims import Claims
from ..errors import AuthError, InvalidTokenError, MissingTokenError
from ..responses import error_response
from ._settings import get_settings
from ._user import TokenUser

__all__ = [
    "aauthenticate",
    "authenticate",
    "bearer_token",
    "get_claims",
    "is_preflight_request",
    "log_failure",
    "render_error",
]

logger = logging.getLogger("jwtguard.django")

_CLAIMS = "_jwtguard_claims"


def authorization_values(request: HttpRequest) -> list[str]:
    """Return the request's ``Authorization`` value (servers join repeated ones; ``extract_bearer`` splits them)."""
    value = request.META.get("HTTP_AUTHORIZATION")
    return [value] if isinstance(value, str) else []


def bearer_token(request: HttpRequest) -> str | None:
    """Return the bearer token, or ``None`` when there is none (or another scheme).

    Raises:
        InvalidRequestError: a malformed ``Authorization`` header, or several.
    """
    try:
        return extract_bearer(authorization_values(request))
    except MissingTokenError:
        return None


def is_preflight_request(request: HttpRequest) -> bool:
    """Whether ``request`` is a CORS preflight, which is never challenged."""
    return is_preflight(request.method or "", {name.lower(): value for name, value in request.headers.items()})


def get_claims(request: Any) -> Claims | None:
    """Return the claims of the request's validated token, or ``None``.

    Works on a Django ``HttpRequest`` and on a DRF ``Request``.
    """
    claims = getattr(request, _CLAIMS, None)
    return claims if isinstance(claims, Claims) else None


def validate(request: HttpRequest) -> Claims | None:
    """Validate the request's bearer token once per request; ``None`` without one."""
    claims = get_claims(request)
    if claims is None:
        token = bearer_token(request)
        if token is None:
            return None
        claims = get_settings().validator.validate(token)
        setattr(request, _CLAIMS, claims)
    return claims


async def avalidate(request: HttpRequest) -> Claims | None:
    """Like :func:`validate`, without blocking the event loop."""
    claims = get_claims(request)
    if claims is None:
        token = bearer_token(request)
        if token is None:
            return None
        claims = await get_settings().validator.avalidate(token)
        setattr(request, _CLAIMS, claims)
    return claims


def make_user(claims: Claims) -> Any:
    """Map claims to a user with ``USER_FACTORY`` (default :class:`TokenUser`).

    Raises:
        InvalidTokenError: the factory found no user (returned ``None``).
    """
    user = get_settings().user_factory(claims)
    if user is None:
        raise InvalidTokenError("invalid_claim", claim="sub", reason="unknown_user")
    return user


def _attach(request: HttpRequest, claims: Claims, user: Any) -> None:
    request.auth = claims  # type: ignore[attr-defined]
    request.user = user


def authenticate(request: HttpRequest) -> Claims | None:
    """Validate the token and set ``request.auth`` and ``request.user``; ``None`` without a token."""
    fresh = get_claims(request) is None
    claims = validate(request)
    if claims is not None and fresh:
        _attach(request, claims, make_user(claims))
    return claims


async def aauthenticate(request: HttpRequest) -> Claims | None:
    """Like :func:`authenticate`; a custom ``USER_FACTORY`` runs in a thread (it may query the database)."""
    fresh = get_claims(request) is None
    claims = await avalidate(request)
    if claims is not None and fresh:
        factory = get_settings().user_factory
        user = make_user(claims) if factory is TokenUser else await sync_to_async(make_user)(claims)
        _attach(request, claims, user)
    return claims


def log_failure(error: AuthError) -> None:
    """Log a failure by its stable code only: never the token, never header values."""
    logger.log(logging.WARNING if error.status_code >= 500 else logging.DEBUG, "bearer auth failed: %s", error.code)


def render_error(error: AuthError) -> HttpResponse:
    """The contract answer to ``error``: status, challenge or ``Retry-After``, JSON body."""
    settings = get_settings()
    log_failure(error)
    answer = error_response(error, settings.realm, resource_metadata=settings.resource_metadata_url)
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    for name, value in answer.headers:
        if name.lower() != "content-type":
            response[name] = value
    return response
