"""Django REST framework: ``JWTAuthentication``, ``TokenHasScope`` and their exceptions.

DRF renders its own ``{"detail": …}`` bodies; jwtguard makes sure the status
and ``WWW-Authenticate`` are right. Two DRF habits shape this module: on a 401,
DRF replaces the exception's challenge with the first authenticator's
``authenticate_header()``, so the failure is kept on the request and rendered
from there; on a 403 nothing is replaced, so the exception carries its own
``auth_header``. ``Retry-After`` comes from DRF's ``wait`` attribute.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import APIException, AuthenticationFailed, ParseError, PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from ..claims import Claims
from ..errors import AuthError, InsufficientScopeError, KeySetUnavailableError, MissingTokenError
from ._auth import is_preflight_request, log_failure, make_user, validate
from ._settings import get_settings

if TYPE_CHECKING:  # importing rest_framework.views needs configured settings
    from rest_framework.views import APIView

__all__ = [
    "JWTAuthentication",
    "KeySetUnavailable",
    "TokenAuthenticationFailed",
    "TokenHasScope",
    "TokenRequestInvalid",
    "TokenScopeDenied",
    "api_exception",
]

_ERROR = "_jwtguard_error"


def _challenge(error: AuthError) -> str:
    settings = get_settings()
    return error.www_authenticate(settings.realm, resource_metadata=settings.resource_metadata_url)


class TokenAuthenticationFailed(AuthenticationFailed):
    """401 ``invalid_token``; ``auth_error`` is the jwtguard error."""

    def __init__(self, error: AuthError) -> None:
        super().__init__(error.description, error.code)
        self.auth_error = error


class TokenRequestInvalid(ParseError):
    """400 ``invalid_request`` (malformed ``Authorization``), with its challenge."""

    def __init__(self, error: AuthError) -> None:
        super().__init__(error.description, error.code)
        self.auth_error = error
        self.auth_header = _challenge(error)


class TokenScopeDenied(PermissionDenied):
    """403 ``insufficient_scope``, with its challenge listing the needed scopes."""

    def __init__(self, error: AuthError) -> None:
        super().__init__(error.description, error.code)
        self.auth_error = error
        self.auth_header = _challenge(error)


class KeySetUnavailable(APIException):
    """503: the issuer's key set is down. ``Retry-After`` via DRF's ``wait``; contract body."""

    status_code = 503

    def __init__(self, error: KeySetUnavailableError) -> None:
        super().__init__({key: value or "" for key, value in error.body().items()}, error.code)
        self.auth_error = error
        self.wait = error.retry_after


def api_exception(error: AuthError) -> APIException:
    """Return the DRF exception that answers ``error`` (for custom authenticators)."""
    log_failure(error)
    if isinstance(error, KeySetUnavailableError):
        return KeySetUnavailable(error)
    if error.status_code == 400:
        return TokenRequestInvalid(error)
    if error.status_code == 403:
        return TokenScopeDenied(error)
    return TokenAuthenticationFailed(error)


class JWTAuthentication(BaseAuthentication):
    """DRF authentication with a bearer token validated by ``settings.JWTGUARD``.

    ``authenticate`` returns ``None`` without a ``Bearer`` header (so the next
    authenticator runs), ``(user, claims)`` for a valid token, and raises for a
    bad one. List it *first* in ``DEFAULT_AUTHENTICATION_CLASSES``: DRF takes
    the 401 challenge from the first authenticator.
    """

    def authenticate(self, request: Request) -> tuple[Any, Claims] | None:
        try:
            claims = validate(request._request)
            return None if claims is None else (self.get_user(claims), claims)
        except AuthError as error:
            setattr(request, _ERROR, error)  # DRF rebuilds the 401 challenge from it
            raise api_exception(error) from None

    def get_user(self, claims: Claims) -> Any:
        """Map validated claims to ``request.user``. Override to use a local user model.

        The default uses ``JWTGUARD["USER_FACTORY"]`` (a :class:`TokenUser` when unset).
        Return a user, or raise a :class:`jwtguard.AuthError` (for instance
        ``InvalidTokenError("invalid_claim", claim="sub")``) to refuse the token.
        """
        return make_user(claims)

    def authenticate_header(self, request: Request) -> str:
        error = getattr(request, _ERROR, None)
        if not isinstance(error, AuthError) or error.status_code != 401:
            error = MissingTokenError()
        return _challenge(error)


class TokenHasScope(BasePermission):
    """Allow requests whose token carries every scope in the view's ``required_scopes``.

    No token claims (anonymous): ``False``, which DRF answers with 401 and the
    bearer challenge. A missing scope raises :class:`TokenScopeDenied` (403
    ``insufficient_scope``), so in ``A | B`` compositions put it last. CORS
    preflights are allowed (DRF answers ``OPTIONS`` with the view's metadata).
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        if is_preflight_request(request._request):
            return True
        claims = request.auth
        if not isinstance(claims, Claims):
            return False
        scopes = self.get_required_scopes(request, view)
        if not claims.scopes.issuperset(scopes):
            raise api_exception(InsufficientScopeError(scopes))
        return True

    def get_required_scopes(self, request: Request, view: APIView) -> Sequence[str]:
        """Return ``view.required_scopes``; override for per-method scopes.

        Raises:
            ImproperlyConfigured: the view has no ``required_scopes`` (use ``[]`` for any token).
        """
        scopes = getattr(view, "required_scopes", None)
        if scopes is None:
            raise ImproperlyConfigured(f"{type(view).__name__} needs required_scopes to use TokenHasScope")
        return (scopes,) if isinstance(scopes, str) else tuple(scopes)
