"""The one place where ``WWW-Authenticate`` challenges are rendered (RFC 6750 §3).

Every adapter obtains its headers from :meth:`jwtguard.AuthError.www_authenticate`,
which calls :func:`render_challenge`. Values are filtered to the characters that
RFC 6750 §3 allows, so nothing a client sent can break out of the header.
"""

from __future__ import annotations

import re

__all__ = ["render_challenge"]

# RFC 6750 §3: error and error_description use %x20-21 / %x23-5B / %x5D-7E
# (printable ASCII without '"' and '\').
_NOT_ERROR_CHAR = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
# RFC 6750 §3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), tokens separated by SP.
_NOT_SCOPE_TOKEN_CHAR = re.compile(r"[^\x21\x23-\x5b\x5d-\x7e]")


def _clean(value: str) -> str:
    return _NOT_ERROR_CHAR.sub("", value)


def _clean_scope(scopes: str) -> str:
    tokens = (_NOT_SCOPE_TOKEN_CHAR.sub("", token) for token in scopes.split(" "))
    return " ".join(token for token in tokens if token)


def render_challenge(
    realm: str | None = None,
    *,
    error: str | None = None,
    description: str | None = None,
    scope: str | None = None,
    resource_metadata: str | None = None,
) -> str:
    """Return a ``Bearer`` challenge with only the parameters that are set.

    >>> render_challenge("api", error="invalid_token", description="The access token expired")
    'Bearer realm="api", error="invalid_token", error_description="The access token expired"'
    """
    params: list[str] = []
    if realm is not None:
        params.append(f'realm="{_clean(realm)}"')
    if error is not None:
        params.append(f'error="{_clean(error)}"')
    if description:
        params.append(f'error_description="{_clean(description)}"')
    if scope:
        params.append(f'scope="{_clean_scope(scope)}"')
    if resource_metadata is not None:
        # RFC 9728 §5.1: the URL of the protected resource metadata document.
        params.append(f'resource_metadata="{_clean(resource_metadata)}"')
    if not params:
        return "Bearer"
    return "Bearer " + ", ".join(params)
