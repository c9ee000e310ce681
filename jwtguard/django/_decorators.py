"""``require_token``: protect a plain Django function view, sync or async."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from ..errors import AuthError
from ..requirement import Requirement
from ._auth import aauthenticate, authenticate, authorize, passes_preflight, render_error

__all__ = ["require_token"]

View = TypeVar("View", bound=Callable[..., Any])


def require_token(
    *scopes: str,
    any_of: bool = False,
    roles: Iterable[str] = (),
    roles_any_of: bool = False,
    acr_values: Iterable[str] = (),
    max_age: float | None = None,
) -> Callable[[View], View]:
    """Decorate a function view so it runs only for a valid token carrying every scope::

        @require_token("read:messages")
        def messages(request):
            return JsonResponse({"sub": request.auth["sub"]})

    With ``any_of=True`` one of the scopes suffices; without scopes, any valid
    token passes. ``roles``: every one of these roles (``claims.roles``; one of
    them with ``roles_any_of=True``), else 403. ``acr_values`` / ``max_age``:
    RFC 9470 step-up — the token's ``acr`` must be one of ``acr_values`` and its
    ``auth_time`` at most ``max_age`` seconds old, else 401
    ``insufficient_user_authentication``. The :class:`~jwtguard.Requirement` is
    built here, when the module is imported, so a bad value fails then, not per request.

    The view sees ``request.auth`` (the :class:`~jwtguard.Claims`) and
    ``request.user`` (from ``JWTGUARD["USER_FACTORY"]``, by default a
    :class:`TokenUser`): the token is this request's authentication, so it
    replaces a session user. ``async def`` views are checked with
    ``Validator.aauthenticate``.

    Failures are answered with the contract: 400, 401, 403 with their
    ``WWW-Authenticate`` challenge, or 503 with ``Retry-After``, and a JSON
    body ``{"error", "error_description"}``; each is reported to the
    validator's hooks. A CORS preflight is answered with an empty 200 and
    never reaches the view unauthenticated (``PROTECT_PREFLIGHT``: challenged).

    Raises:
        TypeError: used without parentheses, or with a scope that is not a string.
        ConfigurationError: a scope that is not a scope-token, ``any_of`` without scopes, an
            empty role or acr value, a negative ``max_age``.
    """
    if not all(isinstance(scope, str) and scope for scope in scopes):
        raise TypeError("require_token takes scope strings: write @require_token() or @require_token('read:x')")
    requirement = Requirement.of(
        scopes, any_of=any_of, roles=roles, roles_any_of=roles_any_of, acr_values=acr_values, max_age=max_age
    )

    def decorator(view: View) -> View:
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
                if passes_preflight(request):
                    return HttpResponse()
                try:
                    authorize(await aauthenticate(request), requirement)
                    # An AuthError from the view itself (validator.require_scopes(...)) is answered too.
                    return await cast(Callable[..., Awaitable[HttpResponseBase]], view)(request, *args, **kwargs)
                except AuthError as error:
                    return render_error(error)

            return cast(View, async_view)

        @functools.wraps(view)
        def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if passes_preflight(request):
                return HttpResponse()
            try:
                authorize(authenticate(request), requirement)
                return cast(HttpResponseBase, view(request, *args, **kwargs))
            except AuthError as error:
                return render_error(error)

        return cast(View, sync_view)

    return decorator
