"""``JWTGuardMiddleware``: bearer authentication for a whole Django project."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase, JsonResponse

from ..claims import Claims
from ..errors import AuthError, MissingTokenError
from ._auth import aauthenticate, authenticate, is_preflight_request, render_error
from ._settings import get_settings

__all__ = ["JWTGuardMiddleware"]


class JWTGuardMiddleware:
    """Validate the bearer token of every request (sync and async stacks).

    Add it to ``MIDDLEWARE`` *after* ``AuthenticationMiddleware`` (which would
    otherwise replace ``request.user``). Then, for every request:

    * the RFC 9728 document is served at ``RESOURCE_METADATA``'s path, when set;
    * CORS preflights and ``EXCLUDE_PATHS`` pass through unchecked;
    * a valid token sets ``request.auth`` (the claims) and ``request.user``;
    * a bad token or a malformed header is answered 400/401 (503 when the key
      set is down) and never reaches a view;
    * no token: 401 when ``TOKEN_REQUIRED`` (the default); otherwise the
      request goes on anonymously with ``request.auth = None`` — optional
      authentication, with ``require_token`` or ``TokenHasScope`` on the views
      that need a token.

    Scopes are per view: use ``require_token(*scopes)`` or ``TokenHasScope``.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self.__acall__(request)
        answer = self._before(request)
        if answer is not None:
            return answer
        if self._checked(request):
            try:
                self._after(authenticate(request))
            except AuthError as error:
                return render_error(error)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        answer = self._before(request)
        if answer is not None:
            return answer
        if self._checked(request):
            try:
                self._after(await aauthenticate(request))
            except AuthError as error:
                return render_error(error)
        response: Awaitable[HttpResponseBase] = self.get_response(request)
        return await response

    @staticmethod
    def process_exception(request: HttpRequest, exception: Exception) -> HttpResponseBase | None:
        """Answer an ``AuthError`` raised by a view (``validator.require_scopes(...)``) instead of a 500."""
        return render_error(exception) if isinstance(exception, AuthError) else None

    @staticmethod
    def _before(request: HttpRequest) -> HttpResponseBase | None:
        request.auth = None  # type: ignore[attr-defined]
        metadata = get_settings().resource_metadata
        if metadata is not None and request.path == metadata.path and request.method in ("GET", "HEAD"):
            return JsonResponse(metadata.document())
        return None

    @staticmethod
    def _checked(request: HttpRequest) -> bool:
        return not (is_preflight_request(request) or get_settings().is_excluded(request.path_info))

    @staticmethod
    def _after(claims: Claims | None) -> None:
        if claims is None and get_settings().token_required:
            raise MissingTokenError()
