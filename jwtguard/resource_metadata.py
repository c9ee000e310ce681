"""OAuth 2.0 Protected Resource Metadata (RFC 9728) for the API jwtguard protects.

When an adapter is given a :class:`ProtectedResourceMetadata`, it serves the
document at :attr:`ProtectedResourceMetadata.path` and adds
``resource_metadata="…"`` to its ``WWW-Authenticate`` challenges (RFC 9728 §5.1),
which is how modern OAuth clients (and MCP clients) discover the issuer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = ["WELL_KNOWN_PREFIX", "ProtectedResourceMetadata"]

WELL_KNOWN_PREFIX = "/.well-known/oauth-protected-resource"


@dataclass(frozen=True)
class ProtectedResourceMetadata:
    """The metadata of a protected resource (RFC 9728 §2).

    >>> meta = ProtectedResourceMetadata("https://api.example.com", ["https://tenant.example.com/"])
    >>> meta.path, meta.url
    ('/.well-known/oauth-protected-resource', 'https://api.example.com/.well-known/oauth-protected-resource')

    Args:
        resource: the resource identifier, an https URL (usually the API's audience).
        authorization_servers: issuer identifiers that issue tokens for it.
        scopes_supported: scopes the API understands.
        resource_name: a human-readable name.
    """

    resource: str
    authorization_servers: Sequence[str] = ()
    scopes_supported: Sequence[str] = ()
    resource_name: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.resource)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
            raise ConfigurationError("resource must be an absolute URL without query or fragment (RFC 9728 §1.2)")

    @property
    def path(self) -> str:
        """Where the document is served: the well-known prefix, then the resource's path (RFC 9728 §3.1)."""
        return WELL_KNOWN_PREFIX + urlsplit(self.resource).path.rstrip("/")

    @property
    def url(self) -> str:
        """The document's absolute URL, as put in ``resource_metadata="…"``."""
        parts = urlsplit(self.resource)
        return f"{parts.scheme}://{parts.netloc}{self.path}"

    def document(self) -> dict[str, Any]:
        """The JSON document (RFC 9728 §2)."""
        doc: dict[str, Any] = {"resource": self.resource, "bearer_methods_supported": ["header"]}
        if self.authorization_servers:
            doc["authorization_servers"] = list(self.authorization_servers)
        if self.scopes_supported:
            doc["scopes_supported"] = list(self.scopes_supported)
        if self.resource_name:
            doc["resource_name"] = self.resource_name
        return doc

    def body(self) -> bytes:
        """The document, encoded."""
        return json.dumps(self.document()).encode("utf-8")
