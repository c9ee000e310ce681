"""``require_token``: protect a plain Django function view, sync or async."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from ..claims import Claims
from ..errors import AuthError, InsufficientScopeError, MissingTokenError
from ._auth import aauthenticate, authenticate, is_preflight_request, render_error

__all__ = ["require_token"]

View = TypeVar("View", bound=Callable[..., Any])


def _check(claims: Claims | None, scopes: tuple[str, ...]) -> None:
    if claims is None:
        raise MissingTokenError()
    if not claims.scopes.issuperset(scopes):
        raise InsufficientScopeError(scopes)


def require_token(*scopes: str) -> Callable[[View], View]:
    """Decorate a function view so it runs only for a valid token carrying every scope::

        @require_token("read:messages")
        def messages(request):
            return JsonResponse({"sub": request.auth["sub"]})

    The view sees ``request.auth`` (the :class:`~jwtguard.Claims`) and
    ``request.user`` (from ``JWTGUARD["USER_FACTORY"]``, by default a
    :class:`TokenUser`): the token is this request's authentication, so it
    replaces a session user. ``async def`` views are validated with
    ``Validator.avalidate``. Without arguments, any valid token passes.

    Failures are answered with the contract: 400, 401, 403 with their
    ``WWW-Authenticate`` challenge, or 503 with ``Retry-After``, and a JSON
    body ``{"error", "error_description"}``. A CORS preflight is answered with
    an empty 200 and never reaches the view unauthenticated.

    Raises:
        TypeError: used without parentheses, or with a scope that is not a string.
    """
    if not all(isinstance(scope, str) and scope for scope in scopes):
        raise TypeError("require_token takes scope strings: write @require_token() or @require_token('read:x')")

    def decorator(view: View) -> View:
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
                if is_preflight_request(request):
                    return HttpResponse()
                try:
                    _check(await aauthenticate(request), scopes)
                    # An AuthError from the view itself (validator.require_scopes(...)) is answered too.
                    return await cast(Callable[..., Awaitable[HttpResponseBase]], view)(request, *args, **kwargs)
                except AuthError as error:
                    return render_error(error)

            return cast(View, async_view)

        @functools.wraps(view)
        def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if is_preflight_request(request):
                return HttpResponse()
            try:
                _check(authenticate(request), scopes)
                return cast(HttpResponseBase, view(request, *args, **kwargs))
            except AuthError as error:
                return render_error(error)

        return cast(View, sync_view)

    return decorator
