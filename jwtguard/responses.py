"""The HTTP answer to an :class:`~jwtguard.AuthError`, shared by every adapter.

Adapters never format headers themselves: they send ``status``, ``headers``
and ``body`` from :func:`error_response` in their framework's response type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import AuthError

__all__ = ["ErrorResponse", "error_response"]


@dataclass(frozen=True)
class ErrorResponse:
    """A ready-to-send error answer."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def content_type(self) -> str:
        return "application/json"


def error_response(
    error: AuthError, realm: str | None = None, *, resource_metadata: str | None = None
) -> ErrorResponse:
    """Build the answer to ``error``: its status, challenge (or ``Retry-After``) and JSON body.

    >>> from jwtguard import ExpiredTokenError
    >>> answer = error_response(ExpiredTokenError(), realm="api")
    >>> answer.status, dict(answer.headers)["WWW-Authenticate"]
    (401, 'Bearer realm="api", error="invalid_token", error_description="The access token expired"')
    """
    headers = [
        *error.headers(realm, resource_metadata=resource_metadata).items(),
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),  # RFC 6750 §5.3 / RFC 9110 §15.5.2: never cache auth failures
    ]
    return ErrorResponse(error.status_code, tuple(headers), json.dumps(error.body()).encode("utf-8"))
