"""``JWTGuardMiddleware``: bearer authentication for a whole Django project."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from .._guard import ANONYMOUS, METADATA, OPTIONAL, REQUIRED, Route
from ..errors import AuthError
from ._auth import aauthenticate, authenticate, render_error
from ._settings import get_settings

__all__ = ["JWTGuardMiddleware"]


class JWTGuardMiddleware:
    """Validate the bearer token of every request (sync and async stacks).

    Add it to ``MIDDLEWARE`` *after* ``AuthenticationMiddleware`` (which would
    otherwise replace ``request.user``). Django builds it at start-up, and it
    reads ``settings.JWTGUARD`` then: a bad configuration raises
    :class:`~jwtguard.ConfigurationError` there, never a 500 per request. Then,
    for every request:

    * the RFC 9728 document is served at ``RESOURCE_METADATA``'s path, when set;
    * CORS preflights and ``EXCLUDE_PATHS`` pass through unchecked;
    * a valid token sets ``request.auth`` (the claims) and ``request.user``;
    * a bad token or a malformed header is answered 400/401 (503 when the key
      set is down) and never reaches a view;
    * no token: 401 when ``TOKEN_REQUIRED`` (the default), except on
      ``OPTIONAL_PATHS``; otherwise the request goes on anonymously with
      ``request.auth = None`` — optional authentication, with
      ``require_token`` or ``TokenHasScope`` on the views that need a token.

    Scopes are per view: use ``require_token(*scopes)`` or ``TokenHasScope``.

    Raises:
        ConfigurationError: a bad ``settings.JWTGUARD`` (see :func:`get_settings`).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        get_settings()  # at start-up; requests read the settings again, so override_settings still works
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self.__acall__(request)
        route = _route(request)
        if route is METADATA:
            return _metadata()
        if route is not ANONYMOUS:
            try:
                authenticate(request, optional=route is OPTIONAL)
            except AuthError as error:
                return render_error(error)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        route = _route(request)
        if route is METADATA:
            return _metadata()
        if route is not ANONYMOUS:
            try:
                await aauthenticate(request, optional=route is OPTIONAL)
            except AuthError as error:
                return render_error(error)
        response: Awaitable[HttpResponseBase] = self.get_response(request)
        return await response

    @staticmethod
    def process_exception(request: HttpRequest, exception: Exception) -> HttpResponseBase | None:
        """Answer an ``AuthError`` raised by a view (``validator.require_scopes(...)``) instead of a 500."""
        return render_error(exception) if isinstance(exception, AuthError) else None


def _route(request: HttpRequest) -> Route:
    """What the guard decides for this request (``TOKEN_REQUIRED=False`` makes every checked path optional)."""
    request.auth = None  # type: ignore[attr-defined]
    settings = get_settings()
    preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    route = settings.guard.route(request.path_info, request.method, preflight)
    return OPTIONAL if route is REQUIRED and not settings.token_required else route


def _metadata() -> HttpResponse:
    meta = get_settings().resource_metadata
    assert meta is not None
    return HttpResponse(meta.body(), content_type="application/json")
