"""The URL the client used, and its TLS certificate, as seen behind proxies (opt-in trust).

A DPoP proof names the URL the *client* called (``htu``); behind a
TLS-terminating proxy the application sees ``http://internal:8000``. And a
certificate-bound token needs the client's certificate, which a proxy that
terminates TLS can only pass on in a header. Neither header is ever trusted by
default: a client could send them itself.

:class:`Origin` is the adapters' one policy for both:

* ``public_url="https://api.example.com/v1"`` fixes scheme, host and base path:
  the request's path is appended (the simplest and safest set-up);
* ``trusted_proxies=["10.0.0.0/8", "127.0.0.1"]``: from a peer in these
  networks, ``Forwarded`` (RFC 7239: the first element's ``proto`` and
  ``host``) or else ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` (first value)
  give the scheme and host; from any other peer they are ignored;
* ``client_cert_header="Client-Cert"`` (RFC 9440: ``:base64 DER:``) or
  ``"X-SSL-Client-Cert"`` (nginx: URL-encoded PEM): read only from trusted
  proxies; a certificate from the server's own TLS layer always wins.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Callable, Iterable
from urllib.parse import unquote, urlsplit

from .errors import ConfigurationError

__all__ = ["Origin"]

Header = Callable[[str], "str | None"]


def _first(value: str | None) -> str | None:
    if not value:
        return None
    first = value.split(",", 1)[0].strip()
    return first or None


def _forwarded(value: str | None) -> tuple[str | None, str | None]:
    """``proto`` and ``host`` of the first element of an RFC 7239 ``Forwarded`` value."""
    element = _first(value)
    proto = host = None
    for pair in (element or "").split(";"):
        name, _, raw = pair.strip().partition("=")
        text = raw.strip().strip('"')
        if name.lower() == "proto":
            proto = text.lower() or None
        elif name.lower() == "host":
            host = text or None
    return proto, host


class Origin:
    """How an adapter reconstructs the request URL and finds the client certificate.

    Raises:
        ConfigurationError: a ``public_url`` that is not an absolute http(s) URL, or
            a ``trusted_proxies`` entry that is not an IP address or network.
    """

    def __init__(
        self,
        *,
        public_url: str | None = None,
        trusted_proxies: Iterable[str] = (),
        client_cert_header: str | None = None,
    ) -> None:
        self.public_url: str | None = None
        if public_url is not None:
            parts = urlsplit(public_url) if isinstance(public_url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
                raise ConfigurationError("public_url must be an absolute http(s) URL without a query")
            self.public_url = public_url.rstrip("/")
        if isinstance(trusted_proxies, str):
            trusted_proxies = [trusted_proxies]
        try:
            self.trusted = tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted_proxies)
        except (TypeError, ValueError):
            raise ConfigurationError("trusted_proxies entries must be IP addresses or networks") from None
        if client_cert_header is not None and (not isinstance(client_cert_header, str) or not client_cert_header):
            raise ConfigurationError("client_cert_header must be a header name")
        if client_cert_header is not None and not self.trusted:
            raise ConfigurationError("client_cert_header needs trusted_proxies: only a proxy may set that header")
        self.client_cert_header = client_cert_header

    def _trusted(self, peer: str | None) -> bool:
        if not self.trusted or not peer:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    def url(self, *, scheme: str, host: str, path: str, peer: str | None, header: Header) -> str:
        """The URL the client used: ``scheme://host`` + ``path`` (the path as routed, no query)."""
        if self.public_url is not None:
            return self.public_url + path
        if self._trusted(peer):
            proto, forwarded_host = _forwarded(header("forwarded"))
            scheme = proto or _first(header("x-forwarded-proto")) or scheme
            host = forwarded_host or _first(header("x-forwarded-host")) or host
        return f"{scheme}://{host}{path}"

    def certificate(self, *, tls: bytes | str | None, peer: str | None, header: Header) -> bytes | str | None:
        """The client certificate: from the server's TLS layer, else from a trusted proxy's header."""
        if tls:
            return tls
        if self.client_cert_header is None or not self._trusted(peer):
            return None
        value = header(self.client_cert_header.lower())
        if not value:
            return None
        value = value.strip()
        if value.startswith(":") and value.endswith(":"):  # RFC 9440 §2.2: a structured-field byte sequence
            try:
                return base64.b64decode(value[1:-1], validate=True)
            except (binascii.Error, ValueError):
                return b""  # present but unreadable: refused as a mismatch, never as "no certificate"
        return unquote(value)  # nginx's $ssl_client_escaped_cert: URL-encoded PEM
