"""Where an issuer's key set lives: OIDC discovery as a sans-I/O flow."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from . import _http

__all__ = ["discovery_flow"]


def discovery_flow(
    issuer: str, jwks_uri: str | None, settings: _http.HttpSettings
) -> Generator[str, Any, tuple[Any, str]]:
    """Yield the URLs to GET, receive their JSON; return ``(jwks_document, jwks_uri)``.

    With an explicit ``jwks_uri`` that is the only request. Otherwise the OIDC
    discovery document at ``{issuer}/.well-known/openid-configuration`` names
    it (its ``issuer`` must equal ours, OIDC Discovery §4.3); when the issuer
    has no discovery document (an HTTP error status), ``{issuer}/.well-known/jwks.json``
    is tried. A :class:`~jwtguard._http.FetchError` is thrown into the flow when
    a GET fails.
    """
    if jwks_uri is not None:
        return (yield jwks_uri), jwks_uri
    base = issuer.rstrip("/")
    try:
        metadata = yield f"{base}/.well-known/openid-configuration"
    except _http.FetchError as exc:
        if exc.reason != "http_status":
            raise
        metadata = None
    if metadata is None:
        uri = f"{base}/.well-known/jwks.json"
    else:
        if not isinstance(metadata, dict) or metadata.get("issuer") != issuer:
            raise _http.FetchError("discovery_issuer_mismatch")
        found = metadata.get("jwks_uri")
        if not isinstance(found, str):
            raise _http.FetchError("discovery_without_jwks_uri")
        uri = found
        try:
            _http.check_url(uri, settings, "jwks_uri")
        except ValueError:
            raise _http.FetchError("discovery_jwks_uri_refused") from None
    return (yield uri), uri
