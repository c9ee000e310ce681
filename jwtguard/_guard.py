"""What an adapter does with a request, whatever the framework: the shared policy.

Every adapter (ASGI and WSGI middleware, FastAPI, Flask, Django, DRF) differs
only in how it reads a request and sends an answer. This module holds the
rest: the adapter's set-up is checked when it is built (a ``validator=`` that
is not a :class:`~jwtguard.Validator` is a :class:`~jwtguard.ConfigurationError`
then, never a 500 later), which paths are excluded or optional, that CORS
preflights pass, where the RFC 9728 document is served, that credentials are
checked by :meth:`~jwtguard.Validator.authenticate` and route requirements by
:meth:`~jwtguard.Validator.authorize`, and how an error is answered.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from ._origin import Header, Origin
from ._paths import PathSet
from ._request import Headers
from .claims import Claims
from .errors import AuthError, ConfigurationError
from .requirement import Requirement
from .resource_metadata import ProtectedResourceMetadata
from .responses import ErrorResponse, error_response
from .validator import Validator

__all__ = [
    "ANONYMOUS",
    "CLAIMS_KEY",
    "METADATA",
    "OPTIONAL",
    "REQUIRED",
    "VALIDATOR_KEY",
    "Guard",
    "Route",
    "check_validator",
]

#: Where middleware leave the validated :class:`~jwtguard.Claims` (ASGI scope, WSGI environ).
CLAIMS_KEY = "jwtguard.claims"
#: The :class:`~jwtguard.Validator` that produced them: claims are reused only by the same validator.
VALIDATOR_KEY = "jwtguard.validator"


def check_validator(validator: object, where: str) -> Validator:
    """``validator`` if it is a :class:`~jwtguard.Validator`.

    Raises:
        ConfigurationError: anything else (``None``, a URL, a settings dict …), at set-up time.
    """
    if not isinstance(validator, Validator):
        raise ConfigurationError(
            f"{where}: validator= must be a jwtguard.Validator, not {type(validator).__name__} "
            "(build one with jwtguard.Validator(issuer=..., audience=...) or Validator.from_env())"
        )
    return validator


class Route(enum.Enum):
    METADATA = "metadata"  # serve the RFC 9728 document
    ANONYMOUS = "anonymous"  # no check at all (excluded path, CORS preflight)
    OPTIONAL = "optional"  # claims when a valid token is sent, anonymous when none is
    REQUIRED = "required"  # a valid token or an error


# On Python 3.11 an enum member is looked up through a Python-level descriptor (about 1,000
# instructions, several per request): the request paths compare with these module constants.
METADATA, ANONYMOUS, OPTIONAL, REQUIRED = Route.METADATA, Route.ANONYMOUS, Route.OPTIONAL, Route.REQUIRED


class Guard:
    """The policy of one middleware instance; raises ``ConfigurationError`` for bad paths."""

    __slots__ = (
        "exclude_paths",
        "optional_paths",
        "origin",
        "plain",
        "protect_preflight",
        "realm",
        "resource_metadata",
        "validator",
    )

    def __init__(
        self,
        *,
        validator: Validator,
        realm: str | None = None,
        exclude_paths: Iterable[str] = (),
        optional_paths: Iterable[str] = (),
        resource_metadata: ProtectedResourceMetadata | None = None,
        protect_preflight: bool = False,
        public_url: str | None = None,
        trusted_proxies: Iterable[str] = (),
        client_cert_header: str | None = None,
        where: str = "JWTGuard",
    ) -> None:
        self.validator = check_validator(validator, where)
        self.realm = realm
        self.exclude_paths = PathSet(exclude_paths, "exclude_paths")
        self.optional_paths = PathSet(optional_paths, "optional_paths")
        if resource_metadata is not None and not isinstance(resource_metadata, ProtectedResourceMetadata):
            raise ConfigurationError(f"{where}: resource_metadata must be a ProtectedResourceMetadata")
        if realm is not None and not isinstance(realm, str):
            raise ConfigurationError(f"{where}: realm must be a string")
        self.resource_metadata = resource_metadata
        self.protect_preflight = protect_preflight
        self.plain = resource_metadata is None and not any(
            (
                self.exclude_paths.exact,
                self.exclude_paths.prefixes,
                self.optional_paths.exact,
                self.optional_paths.prefixes,
            )
        )
        try:
            self.origin = Origin(
                public_url=public_url, trusted_proxies=trusted_proxies, client_cert_header=client_cert_header
            )
        except ConfigurationError as error:
            raise ConfigurationError(f"{where}: {error}") from None

    def route(self, path: str, method: str | None, preflight: bool) -> Route:
        """Decide what to do with a request (``preflight``: it carries ``Access-Control-Request-Method``)."""
        if self.plain and not preflight:
            return REQUIRED  # no metadata, excluded or optional paths: every request is checked
        meta = self.resource_metadata
        if meta is not None and path == meta.path and method in ("GET", "HEAD"):
            return METADATA
        if path in self.exclude_paths or (preflight and method == "OPTIONS" and not self.protect_preflight):
            return ANONYMOUS
        return OPTIONAL if path in self.optional_paths else REQUIRED

    def url(self, *, scheme: str, host: str, path: str, peer: str | None, header: Header) -> str:
        """The URL the client used (``public_url``, or trusted proxies' headers; see :mod:`jwtguard._origin`)."""
        return self.origin.url(scheme=scheme, host=host, path=path, peer=peer, header=header)

    def certificate(self, *, tls: bytes | str | None, peer: str | None, header: Header) -> bytes | str | None:
        """The client's TLS certificate: the server's own, or a trusted proxy's header when configured."""
        return self.origin.certificate(tls=tls, peer=peer, header=header)

    def authenticate(
        self,
        method: str,
        url: str,
        headers: Headers,
        route: Route = Route.REQUIRED,
        certificate: bytes | str | None = None,
    ) -> Claims | None:
        """The request's claims; ``None`` on an optional route without bearer credentials.

        Raises:
            AuthError: see :meth:`jwtguard.Validator.authenticate`.
        """
        return self.validator.authenticate(method, url, headers, certificate, optional=route is OPTIONAL)

    async def aauthenticate(
        self,
        method: str,
        url: str,
        headers: Headers,
        route: Route = Route.REQUIRED,
        certificate: bytes | str | None = None,
    ) -> Claims | None:
        """Like :meth:`authenticate`, without blocking the event loop."""
        return await self.validator.aauthenticate(method, url, headers, certificate, optional=route is OPTIONAL)

    def authorize(self, claims: Claims | None, requirement: Requirement) -> Claims:
        """Check a route's requirement (see :meth:`jwtguard.Validator.authorize`)."""
        return self.validator.authorize(claims, requirement)

    def refused(self, error: AuthError) -> AuthError:
        """Report a refusal the adapter decided itself (e.g. claims that fit no model) to the
        validator's log and hooks, like every refusal; return ``error`` to raise."""
        self.validator._rejected(error)
        return error

    def answer(self, error: AuthError) -> ErrorResponse:
        """The response to ``error``: its challenge names every scheme the validator accepts, and
        the resource metadata when configured; also for errors the application raised itself."""
        error.schemes = self.validator.schemes
        url = self.resource_metadata.url if self.resource_metadata else None
        return error_response(error, self.realm, resource_metadata=url)

    def challenge(self, error: AuthError) -> str:
        """``error``'s ``WWW-Authenticate`` value, as :meth:`answer` renders it."""
        error.schemes = self.validator.schemes
        url = self.resource_metadata.url if self.resource_metadata else None
        return error.www_authenticate(self.realm, resource_metadata=url)
