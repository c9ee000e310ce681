"""Django REST framework: ``JWTAuthentication``, the permission classes, their exceptions, ``exception_handler``.

The permission classes — :class:`TokenHasScope`, :class:`TokenHasRole`,
:class:`TokenHasUserAuthentication` (RFC 9470 step-up) — each read their view's
attributes into a :class:`~jwtguard.Requirement` that
:meth:`jwtguard.Validator.authorize` decides.

DRF renders its own ``{"detail": …}`` bodies; jwtguard makes sure the status
and ``WWW-Authenticate`` are right. Three DRF habits shape this module:

* ``APIView.handle_exception`` overwrites the challenge of every
  ``AuthenticationFailed`` with the *first* authenticator's
  ``authenticate_header()``, and makes it a 403 when that one has none
  (``SessionAuthentication``). A bearer failure is a bearer failure wherever
  ``JWTAuthentication`` is listed, so :class:`TokenAuthenticationFailed` keeps
  its own status and challenge (both are read-only properties). A 403
  (``PermissionDenied``) is never rewritten: it carries its own ``auth_header``;
  ``Retry-After`` comes from DRF's ``wait`` attribute.
* DRF answers only its own ``APIException`` (and Django's ``Http404`` and
  ``PermissionDenied``); anything else, such as an ``AuthError`` raised by
  ``validator.require_scopes`` in a view, is a 500. ``JWTAuthentication`` and
  ``TokenHasScope`` see the view instance (one per request), so they make that
  instance's ``handle_exception`` turn an ``AuthError`` into its DRF exception
  first: no setting needed. :func:`exception_handler` does the same for the
  rare request neither of them saw.
* Without ``JWTAuthentication`` among a view's authenticators, DRF denies a
  perfectly valid bearer token with "Authentication credentials were not
  provided." and no hint why. The permission classes see that case (a
  ``Bearer`` or ``DPoP`` request, no claims, no ``JWTAuthentication``) and
  raise ``ImproperlyConfigured``: a programming error, shown in development.
"""

from __future__ import annotations

from .._extras import require

# ruff: noqa: E402 - the imports below follow this check on purpose
require("rest_framework", "django", "jwtguard.django's DRF classes need Django REST framework")

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import APIException, AuthenticationFailed, ParseError, PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from ..claims import Claims
from ..errors import AuthError, MissingTokenError, ServiceUnavailableError
from ..requirement import Requirement
from ._auth import authorize, log_failure, make_user, passes_preflight, validate
from ._settings import get_settings

if TYPE_CHECKING:  # importing rest_framework.views needs configured settings
    from rest_framework.response import Response
    from rest_framework.views import APIView

__all__ = [
    "JWTAuthentication",
    "KeySetUnavailable",
    "TokenAuthenticationFailed",
    "TokenHasRole",
    "TokenHasScope",
    "TokenHasUserAuthentication",
    "TokenRequestInvalid",
    "TokenScopeDenied",
    "api_exception",
    "exception_handler",
]

_ANSWERING = "_jwtguard_answers_auth_errors"


def _challenge(error: AuthError) -> str:
    return get_settings().guard.challenge(error)


class TokenAuthenticationFailed(AuthenticationFailed):
    """Every 401: ``invalid_token``, the DPoP errors, RFC 9470's ``insufficient_user_authentication``
    (raised by :class:`TokenHasUserAuthentication` after authentication succeeded), a bare
    challenge for a missing token; ``auth_error`` is the jwtguard error.

    ``status_code`` and ``auth_header`` are fixed by the error: DRF's writes of
    the first authenticator's challenge (or of a 403 when it has none) are
    ignored, so the answer does not depend on where ``JWTAuthentication`` is listed.
    """

    def __init__(self, error: AuthError) -> None:
        super().__init__(error.description, error.code)
        self.auth_error = error
        self._auth_header = _challenge(error)

    @property
    def status_code(self) -> int:
        return 401

    @status_code.setter
    def status_code(self, value: int) -> None:
        pass  # APIView.handle_exception's 403 for a first authenticator without a challenge

    @property
    def auth_header(self) -> str:
        return self._auth_header

    @auth_header.setter
    def auth_header(self, value: str) -> None:
        pass  # APIView.handle_exception's challenge of the first authenticator (Basic …)


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

    def __init__(self, error: ServiceUnavailableError) -> None:
        super().__init__({key: value or "" for key, value in error.body().items()}, error.code)
        self.auth_error = error
        self.wait = error.retry_after


def api_exception(error: AuthError) -> APIException:
    """Return the DRF exception that answers ``error`` (for custom authenticators and exception handlers)."""
    log_failure(error)
    if isinstance(error, ServiceUnavailableError):
        return KeySetUnavailable(error)
    if error.status_code == 400:
        return TokenRequestInvalid(error)
    if error.status_code == 403:
        return TokenScopeDenied(error)
    return TokenAuthenticationFailed(error)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's default exception handler, also answering any :class:`~jwtguard.AuthError`.

    Optional: ``JWTAuthentication`` and ``TokenHasScope`` already make their
    view answer an ``AuthError``. Set it to cover the requests they never see
    (another authenticator succeeded first, a view without them)::

        REST_FRAMEWORK = {"EXCEPTION_HANDLER": "jwtguard.django.exception_handler"}

    Returns:
        The response, or ``None`` for an exception DRF does not handle either.
    """
    from rest_framework.views import exception_handler as default_handler

    converted = api_exception(exc) if isinstance(exc, AuthError) else exc
    response: Response | None = _with_extra_headers(default_handler(converted, context), converted)
    return response


def _with_extra_headers(response: Any, exc: Exception) -> Any:
    """Add the headers DRF does not send itself (``DPoP-Nonce``, RFC 9449 §8) to a jwtguard answer."""
    error = getattr(exc, "auth_error", None)
    if isinstance(error, AuthError) and response is not None:
        for name, value in get_settings().guard.answer(error).headers:
            if name not in ("WWW-Authenticate", "Retry-After", "Content-Type") and name not in response:
                response[name] = value
    return response


def answer_auth_errors(view: Any) -> None:
    """Make ``view`` (one instance per request) answer an ``AuthError`` raised later in this request.

    Its ``handle_exception`` (the view's own override, if any) then receives
    the matching DRF exception, so a custom ``EXCEPTION_HANDLER`` sees DRF
    exceptions only. Does nothing without a view or when already done.
    """
    handle = getattr(view, "handle_exception", None)
    if handle is None or getattr(view, _ANSWERING, False):
        return

    def handle_exception(exc: Exception) -> Any:
        converted = api_exception(exc) if isinstance(exc, AuthError) else exc
        return _with_extra_headers(handle(converted), converted)

    view.handle_exception = handle_exception  # shadows the method on this instance only
    setattr(view, _ANSWERING, True)


class JWTAuthentication(BaseAuthentication):
    """DRF authentication with a bearer token validated by ``settings.JWTGUARD``.

    ``authenticate`` returns ``None`` without a ``Bearer`` header (so the next
    authenticator runs), ``(user, claims)`` for a valid token, and raises for a
    bad one, with its own status and challenge wherever it is listed. Its view
    then also answers an ``AuthError`` raised later (``validator.require_scopes``).
    Listed first, it also gives the challenge of requests without credentials.
    """

    def authenticate(self, request: Request) -> tuple[Any, Claims] | None:
        answer_auth_errors(request.parser_context.get("view"))
        try:
            claims = validate(request._request)
            return None if claims is None else (self.get_user(claims), claims)
        except AuthError as error:
            raise api_exception(error) from None

    def get_user(self, claims: Claims) -> Any:
        """Map validated claims to ``request.user``. Override to use a local user model.

        The default uses ``JWTGUARD["USER_FACTORY"]`` (a :class:`TokenUser` when unset).
        Return a user, or raise a :class:`jwtguard.AuthError` (for instance
        ``InvalidTokenError("invalid_claim", claim="sub")``) to refuse the token.
        """
        return make_user(claims)

    def authenticate_header(self, request: Request) -> str:
        """The bare ``Bearer`` challenge: DRF uses it, when listed first, for requests without credentials."""
        return _challenge(MissingTokenError())


class _TokenPermission(BasePermission):
    """What the permission classes share: the view answers ``AuthError``s, preflights pass,
    the decision is :meth:`jwtguard.Validator.authorize`'s (so every refusal reaches the
    validator's hooks), and a view that never validates bearer tokens is reported."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        answer_auth_errors(view)
        if passes_preflight(request._request):
            return True
        requirement = self.get_requirement(request, view)
        claims = request.auth if isinstance(request.auth, Claims) else None
        if claims is None:
            _check_authenticators(request, view, type(self).__name__)
        try:
            authorize(claims, requirement)
        except MissingTokenError:
            return False  # DRF answers, with the first authenticator's challenge
        except AuthError as error:
            raise api_exception(error) from None
        return True

    def get_requirement(self, request: Request, view: APIView) -> Requirement:
        """The :class:`~jwtguard.Requirement` of this request (each subclass reads its view attributes)."""
        raise NotImplementedError


def _check_authenticators(request: Request, view: APIView, permission: str) -> None:
    """Refuse, as a programming error, a bearer request to a view that cannot validate it.

    Without ``JWTAuthentication`` among the view's authenticators no request can ever
    carry jwtguard claims, so the permission would deny every token with DRF's
    "Authentication credentials were not provided." and no hint why.

    Raises:
        ImproperlyConfigured: the request carries ``Bearer`` or ``DPoP`` credentials and
            no authenticator of the view is a :class:`JWTAuthentication`.
    """
    scheme = request._request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")[0].lower()
    if scheme not in ("bearer", "dpop"):
        return
    if any(isinstance(authenticator, JWTAuthentication) for authenticator in request.authenticators or ()):
        return
    raise ImproperlyConfigured(
        f"{type(view).__name__} uses {permission}, but none of its authentication classes is "
        "jwtguard.django.JWTAuthentication, so bearer tokens are never validated and every one is refused: "
        "add it to the view's authentication_classes or to REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES'] "
        "(it reuses the claims JWTGuardMiddleware validated)"
    )


class TokenHasScope(_TokenPermission):
    """Allow requests whose token meets the view's ``required_scopes``.

    ``required_scopes`` is a list of scopes, every one needed (one of them with
    ``required_scopes_any_of = True`` on the view; ``[]``: any valid token), or a
    ready :class:`~jwtguard.Requirement` (``Requirement.of([...], any_of=True)``),
    which checks the scope names when the view's module is imported. The decision
    is :meth:`jwtguard.Validator.authorize`'s, which reports every refusal to the
    validator's hooks.

    No token claims (anonymous): ``False``, which DRF answers with 401 and the
    bearer challenge when ``JWTAuthentication`` is listed first. A missing scope
    raises :class:`TokenScopeDenied` (403 ``insufficient_scope``), so in ``A | B``
    compositions put it last. CORS preflights are allowed (DRF answers
    ``OPTIONS`` with the view's metadata) unless ``PROTECT_PREFLIGHT``.

    Raises:
        ImproperlyConfigured: the view has no ``required_scopes``; or a ``Bearer`` / ``DPoP``
            request reaches a view none of whose authenticators is :class:`JWTAuthentication`.
    """

    def get_requirement(self, request: Request, view: APIView) -> Requirement:
        """The :class:`~jwtguard.Requirement` of this request, from :meth:`get_required_scopes`.

        Raises:
            ImproperlyConfigured: see :meth:`get_required_scopes`.
            ConfigurationError: a scope that is not an RFC 6749 scope-token.
        """
        scopes = self.get_required_scopes(request, view)
        if isinstance(scopes, Requirement):
            return scopes
        return _requirement(scopes=tuple(scopes), any_of=getattr(view, "required_scopes_any_of", False))

    def get_required_scopes(self, request: Request, view: APIView) -> Sequence[str] | Requirement:
        """Return ``view.required_scopes``; override for per-method scopes.

        Raises:
            ImproperlyConfigured: the view has no ``required_scopes`` (use ``[]`` for any token).
        """
        scopes = getattr(view, "required_scopes", None)
        if scopes is None:
            raise ImproperlyConfigured(f"{type(view).__name__} needs required_scopes to use TokenHasScope")
        if isinstance(scopes, Requirement):
            return scopes
        return (scopes,) if isinstance(scopes, str) else tuple(scopes)


class TokenHasRole(_TokenPermission):
    """Allow requests whose token holds the view's ``required_roles`` (``claims.roles``).

    Every role is needed; one of them with ``required_roles_any_of = True``. A
    missing role raises :class:`TokenScopeDenied` (403 ``insufficient_scope``,
    code ``insufficient_role``); an anonymous request is denied as by
    :class:`TokenHasScope`. Override :meth:`get_required_roles` for roles per method.

    Raises:
        ImproperlyConfigured: the view has no ``required_roles``; or a bearer request
            reaches a view that does not list :class:`JWTAuthentication`.
        ConfigurationError: an empty role name (on the first request).
    """

    def get_requirement(self, request: Request, view: APIView) -> Requirement:
        roles = tuple(self.get_required_roles(request, view))
        return _requirement(roles=roles, roles_any_of=getattr(view, "required_roles_any_of", False))

    def get_required_roles(self, request: Request, view: APIView) -> Sequence[str]:
        """Return ``view.required_roles``.

        Raises:
            ImproperlyConfigured: the view has no ``required_roles``.
        """
        roles = getattr(view, "required_roles", None)
        if roles is None:
            raise ImproperlyConfigured(f"{type(view).__name__} needs required_roles to use TokenHasRole")
        return (roles,) if isinstance(roles, str) else tuple(roles)


class TokenHasUserAuthentication(_TokenPermission):
    """RFC 9470 step-up: allow tokens whose user authenticated strongly and recently enough.

    The view sets ``required_acr_values`` (the token's ``acr`` must be one of them)
    and/or ``required_auth_max_age`` (its ``auth_time`` at most that many seconds
    ago). Otherwise :class:`TokenAuthenticationFailed` answers 401 with
    ``WWW-Authenticate: Bearer error="insufficient_user_authentication",
    acr_values="…", max_age="…"``, which tells the client what to ask the
    authorization server for; an anonymous request is denied as by :class:`TokenHasScope`.

    Raises:
        ImproperlyConfigured: the view sets neither attribute; or a bearer request
            reaches a view that does not list :class:`JWTAuthentication`.
        ConfigurationError: an empty acr value or a negative max age (on the first request).
    """

    def get_requirement(self, request: Request, view: APIView) -> Requirement:
        acr_values = getattr(view, "required_acr_values", None)
        max_age = getattr(view, "required_auth_max_age", None)
        if acr_values is None and max_age is None:
            raise ImproperlyConfigured(
                f"{type(view).__name__} needs required_acr_values or required_auth_max_age "
                "to use TokenHasUserAuthentication"
            )
        acr = (acr_values,) if isinstance(acr_values, str) else tuple(acr_values or ())
        return _requirement(acr_values=acr, max_age=max_age)


def _requirement(**values: Any) -> Requirement:
    """Views declare a handful of requirements: each is checked and built once.

    Raises:
        ConfigurationError: a bad value (see :meth:`jwtguard.Requirement.of`).
    """
    try:
        hash(tuple(values.values()))
    except TypeError:
        return Requirement.of(**values)  # refuses the value; nothing to cache
    return _cached_requirement(**values)


@functools.lru_cache(maxsize=256)
def _cached_requirement(**values: Any) -> Requirement:
    return Requirement.of(**values)
