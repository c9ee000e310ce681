"""Where an issuer's key set lives: OIDC discovery and RFC 8414 metadata, as a sans-I/O flow."""

from __future__ import annotations

from collections.abc import Collection, Generator
from typing import Any
from urllib.parse import urlsplit

from . import _http

__all__ = ["authority", "discovery_flow", "metadata_urls"]

_DEFAULT_PORTS = {"https": 443, "http": 80}


def authority(url: str) -> str:
    """``url``'s host, lower-case, with its port unless it is the scheme's default (``host:port``)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        return ""
    return host if port is None or port == _DEFAULT_PORTS.get(parts.scheme) else f"{host}:{port}"


def metadata_urls(issuer: str) -> tuple[str, str]:
    """The OIDC discovery URL and the RFC 8414 metadata URL of ``issuer``.

    OIDC Discovery §4 appends ``/.well-known/openid-configuration`` to the
    issuer; RFC 8414 §3.1 inserts ``/.well-known/oauth-authorization-server``
    between the host and the issuer's path (its trailing ``/`` removed):

    >>> metadata_urls("https://host.example/tenant1")[1]
    'https://host.example/.well-known/oauth-authorization-server/tenant1'
    >>> metadata_urls("https://host.example/")[1]
    'https://host.example/.well-known/oauth-authorization-server'
    """
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    origin = f"{parts.scheme}://{parts.netloc}"
    return (
        f"{issuer.rstrip('/')}/.well-known/openid-configuration",
        f"{origin}/.well-known/oauth-authorization-server{path}",
    )


def discovery_flow(
    issuer: str,
    jwks_uri: str | None,
    settings: _http.HttpSettings,
    hosts: Collection[str] | None = None,
) -> Generator[str, Any, tuple[Any, str]]:
    """Yield the URLs to GET, receive their JSON; return ``(jwks_document, jwks_uri)``.

    With an explicit ``jwks_uri`` that is the only request. Otherwise the OIDC
    discovery document at ``{issuer}/.well-known/openid-configuration`` names
    it; when that answers an HTTP error status, the RFC 8414 authorization
    server metadata (``/.well-known/oauth-authorization-server`` inserted before
    the issuer's path); when that fails too, ``{issuer}/.well-known/jwks.json``
    is tried. Either document's ``issuer`` must equal ours (OIDC Discovery §4.3,
    RFC 8414 §3.3). With ``hosts`` (issuers accepted by rule), the discovered
    ``jwks_uri`` must be on one of them (``host`` or ``host:port``). A
    :class:`~jwtguard._http.FetchError` is thrown into the flow when a GET fails.
    """
    if jwks_uri is not None:
        return (yield jwks_uri), jwks_uri
    metadata = None
    for url in metadata_urls(issuer):
        try:
            metadata = yield url
        except _http.FetchError as exc:
            if exc.reason != "http_status":
                raise
            continue
        break
    if metadata is None:
        uri = f"{issuer.rstrip('/')}/.well-known/jwks.json"
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
        if hosts is not None and authority(uri) not in hosts:
            raise _http.FetchError("discovery_jwks_uri_refused")  # no SSRF through a forged iss
    return (yield uri), uri
