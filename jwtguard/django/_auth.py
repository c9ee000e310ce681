"""A Django request through the one policy, shared by the decorator, the middleware and DRF.

Every check goes to the core: credentials to :meth:`jwtguard.Validator.authenticate`
(or ``aauthenticate``) with the request's method, the URL the client used and its
certificate (both as the guard's one policy finds them: ``PUBLIC_URL``,
``TRUSTED_PROXIES``, ``CLIENT_CERT_HEADER``) and ``request.headers``; route
requirements to :meth:`jwtguard.Validator.authorize`.
What is left here is Django's side: remembering the claims on the request (so
the middleware, a decorator and DRF validate a token once), setting
``request.auth`` and ``request.user``, and rendering an error as an ``HttpResponse``.
The sync and async functions differ only in the call to the validator.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse

from .._guard import Guard
from .._request import Headers
from ..bearer import is_preflight
from ..claims import Claims
from ..errors import AuthError, InvalidTokenError
from ..requirement import Requirement
from ..validator import Validator
from ._settings import get_settings
from ._user import TokenUser

__all__ = [
    "aauthenticate",
    "authenticate",
    "authorize",
    "avalidate",
    "get_claims",
    "log_failure",
    "passes_preflight",
    "render_error",
    "validate",
]

logger = logging.getLogger("jwtguard.django")

_CLAIMS = "_jwtguard_claims"
_VALIDATOR = "_jwtguard_validator"


def get_claims(request: Any) -> Claims | None:
    """Return the claims of the request's validated token, or ``None`` (no token, or not checked).

    Works on a Django ``HttpRequest`` and on a DRF ``Request``. It never raises:
    an anonymous request under optional authentication gets ``None``.
    """
    claims = getattr(request, _CLAIMS, None)
    return claims if isinstance(claims, Claims) else None


def passes_preflight(request: HttpRequest) -> bool:
    """Whether ``request`` is a CORS preflight let through unchallenged (unless ``PROTECT_PREFLIGHT``)."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    return is_preflight(request.method or "", headers) and not get_settings().guard.protect_preflight


def _known(request: HttpRequest) -> tuple[Guard, Claims | None]:
    """The current guard, and the claims its validator already accepted for this request."""
    guard = get_settings().guard
    validator = guard.validator
    return guard, get_claims(request) if getattr(request, _VALIDATOR, None) is validator else None


def _keep(request: HttpRequest, validator: Validator, claims: Claims | None) -> Claims | None:
    if claims is not None:
        setattr(request, _CLAIMS, claims)
        setattr(request, _VALIDATOR, validator)
    return claims


def _tls_certificate(request: HttpRequest) -> bytes | str | None:
    """The certificate the server's own TLS layer saw: ``SSL_CLIENT_CERT`` (WSGI), or the ASGI ``tls`` extension."""
    certificate = request.META.get("SSL_CLIENT_CERT")
    if certificate:
        return str(certificate)
    scope = getattr(request, "scope", None)  # an ASGIRequest
    if isinstance(scope, dict):
        chain = ((scope.get("extensions") or {}).get("tls") or {}).get("client_cert_chain") or ()
        if chain and isinstance(chain[0], (str, bytes)):
            return chain[0]  # the client's own certificate comes first
    return None


def _read(request: HttpRequest, guard: Guard) -> tuple[str, str, Headers, bytes | str | None]:
    """What the policy reads of a request: method, the URL the client used, the headers, the certificate.

    ``request.get_host()`` refuses a host outside ``ALLOWED_HOSTS`` with ``DisallowedHost``
    (Django answers 400), as ``build_absolute_uri()`` did.
    """
    peer = request.META.get("REMOTE_ADDR")
    header = request.headers.get
    url = guard.url(
        scheme=request.scheme or "http", host=request.get_host(), path=request.path, peer=peer, header=header
    )
    certificate = guard.certificate(tls=_tls_certificate(request), peer=peer, header=header)
    return request.method or "", url, request.headers, certificate


def validate(request: HttpRequest, *, optional: bool = True) -> Claims | None:
    """The request's claims, checked once per request; ``None`` without bearer credentials if ``optional``.

    Raises:
        AuthError: see :meth:`jwtguard.Validator.authenticate`.
    """
    guard, claims = _known(request)
    if claims is None:
        method, url, headers, certificate = _read(request, guard)
        claims = guard.validator.authenticate(method, url, headers, certificate, optional=optional)
    return _keep(request, guard.validator, claims)


async def avalidate(request: HttpRequest, *, optional: bool = True) -> Claims | None:
    """Like :func:`validate`, without blocking the event loop."""
    guard, claims = _known(request)
    if claims is None:
        method, url, headers, certificate = _read(request, guard)
        claims = await guard.validator.aauthenticate(method, url, headers, certificate, optional=optional)
    return _keep(request, guard.validator, claims)


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


def authenticate(request: HttpRequest, *, optional: bool = True) -> Claims | None:
    """Like :func:`validate`, and set ``request.auth`` and ``request.user`` for a token seen the first time."""
    fresh = _known(request)[1] is None
    claims = validate(request, optional=optional)
    if claims is not None and fresh:
        _attach(request, claims, make_user(claims))
    return claims


async def aauthenticate(request: HttpRequest, *, optional: bool = True) -> Claims | None:
    """Like :func:`authenticate`; a custom ``USER_FACTORY`` runs in a thread (it may query the database)."""
    fresh = _known(request)[1] is None
    claims = await avalidate(request, optional=optional)
    if claims is not None and fresh:
        factory = get_settings().user_factory
        user = make_user(claims) if factory is TokenUser else await sync_to_async(make_user)(claims)
        _attach(request, claims, user)
    return claims


def authorize(claims: Claims | None, requirement: Requirement) -> Claims:
    """Check a route's requirement with the current validator (which reports a refusal to its hooks).

    Raises:
        MissingTokenError: ``claims`` is ``None``.
        InsufficientScopeError: the requirement is not met.
    """
    return get_settings().guard.authorize(claims, requirement)


def log_failure(error: AuthError) -> None:
    """Log a failure by its stable code only: never the token, never header values."""
    logger.log(logging.WARNING if error.status_code >= 500 else logging.DEBUG, "bearer auth failed: %s", error.code)


def render_error(error: AuthError) -> HttpResponse:
    """The contract answer to ``error``: status, challenge or ``Retry-After``, JSON body."""
    log_failure(error)
    answer = get_settings().guard.answer(error)
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    for name, value in answer.headers:
        if name.lower() != "content-type":
            response[name] = value
    return response
