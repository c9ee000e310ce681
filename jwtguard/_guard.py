"""What a middleware does with a request, whatever the framework: the shared policy.

The ASGI and WSGI middleware (and any adapter that protects whole path trees)
differ only in how they read a request and send an answer. This module holds
the rest: which paths are excluded or optional, that CORS preflights pass,
where the RFC 9728 document is served, how the token is read, and how an
error is answered.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from ._paths import PathSet
from .bearer import extract_bearer
from .errors import AuthError, MissingTokenError
from .resource_metadata import ProtectedResourceMetadata
from .responses import ErrorResponse, error_response
from .validator import Validator

__all__ = ["CLAIMS_KEY", "VALIDATOR_KEY", "Guard", "Route"]

#: Where middleware leave the validated :class:`~jwtguard.Claims` (ASGI scope, WSGI environ).
CLAIMS_KEY = "jwtguard.claims"
#: The :class:`~jwtguard.Validator` that produced them: claims are reused only by the same validator.
VALIDATOR_KEY = "jwtguard.validator"


class Route(enum.Enum):
    METADATA = "metadata"  # serve the RFC 9728 document
    ANONYMOUS = "anonymous"  # no check at all (excluded path, CORS preflight)
    OPTIONAL = "optional"  # claims when a valid token is sent, anonymous when none is
    REQUIRED = "required"  # a valid token or an error


class Guard:
    """The policy of one middleware instance; raises ``ConfigurationError`` for bad paths."""

    __slots__ = ("exclude_paths", "optional_paths", "protect_preflight", "realm", "resource_metadata", "validator")

    def __init__(
        self,
        *,
        validator: Validator,
        realm: str | None,
        exclude_paths: Iterable[str],
        optional_paths: Iterable[str],
        resource_metadata: ProtectedResourceMetadata | None,
        protect_preflight: bool,
    ) -> None:
        self.validator = validator
        self.realm = realm
        self.exclude_paths = PathSet(exclude_paths, "exclude_paths")
        self.optional_paths = PathSet(optional_paths, "optional_paths")
        self.resource_metadata = resource_metadata
        self.protect_preflight = protect_preflight

    def route(self, path: str, method: str | None, preflight: bool) -> Route:
        """Decide what to do with a request (``preflight``: it carries ``Access-Control-Request-Method``)."""
        meta = self.resource_metadata
        if meta is not None and path == meta.path and method in ("GET", "HEAD"):
            return Route.METADATA
        if path in self.exclude_paths or (preflight and method == "OPTIONS" and not self.protect_preflight):
            return Route.ANONYMOUS
        return Route.OPTIONAL if path in self.optional_paths else Route.REQUIRED

    @staticmethod
    def token(authorization: Iterable[str], route: Route) -> str | None:
        """The bearer token; ``None`` on an optional route without bearer credentials.

        Raises:
            MissingTokenError: no bearer credentials on a required route.
            InvalidRequestError: a malformed ``Authorization`` header, or several.
        """
        try:
            return extract_bearer(authorization)
        except MissingTokenError:
            if route is Route.OPTIONAL:
                return None
            raise

    def answer(self, error: AuthError) -> ErrorResponse:
        """The response to ``error``, naming the resource metadata in the challenge when configured."""
        url = self.resource_metadata.url if self.resource_metadata else None
        return error_response(error, self.realm, resource_metadata=url)
