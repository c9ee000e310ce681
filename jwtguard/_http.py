"""A small, bounded HTTP GET for discovery documents and key sets.

Every wait is bounded (connect, each read, and the whole response by a
deadline), the body is capped, redirects may not leave the origin, and plain
``http://`` is refused unless the host is loopback or the caller opted in.
This is the only module in the core that touches the network.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from .errors import ConfigurationError

__all__ = ["FetchError", "HttpSettings", "check_url", "get_json", "is_loopback"]

_USER_AGENT = "jwtguard"


class FetchError(Exception):
    """A fetch failed; ``reason`` is a short machine word safe to log."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason if status is None else f"{reason} (HTTP {status})")
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class HttpSettings:
    """Network bounds for key-set and discovery fetches."""

    timeout: float = 5.0
    max_bytes: int = 1024 * 1024
    allow_insecure_http: bool = False


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, settings: HttpSettings, what: str) -> str:
    """Return ``url`` if it may be fetched, else raise :class:`ConfigurationError`."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or not parts.hostname:
        raise ConfigurationError(f"{what} must be an absolute https:// URL")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and (is_loopback(parts.hostname) or settings.allow_insecure_http):
        return url
    raise ConfigurationError(
        f"{what} must use https:// (plain http is allowed only for loopback hosts, "
        "or with allow_insecure_http=True, which is unsafe outside development)"
    )


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 3
_TLS = ssl.create_default_context()


def get_json(url: str, settings: HttpSettings, deadline: float | None = None) -> Any:
    """GET ``url`` and decode its JSON body, all before ``deadline`` (``time.monotonic()``).

    Redirects are followed within the same origin only (at most three). No proxy
    is used: environment proxies would silently reroute the fetch.

    Raises:
        FetchError: network error, timeout, non-2xx status, a redirect to another
            origin, a body larger than ``settings.max_bytes``, or a body that is not JSON.
    """
    if deadline is None:
        deadline = time.monotonic() + settings.timeout
    for _ in range(_MAX_REDIRECTS + 1):
        status, location, body = _get(url, settings, deadline)
        if status in _REDIRECTS and location:
            target = urljoin(url, location)
            if _origin(target) != _origin(url):
                raise FetchError("redirect_to_other_origin", status)
            url = target
            continue
        if not 200 <= status < 300:
            raise FetchError("http_status", status)
        try:
            return json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            raise FetchError("invalid_json") from None
    raise FetchError("too_many_redirects")


def _get(url: str, settings: HttpSettings, deadline: float) -> tuple[int, str | None, bytes]:
    """One GET; a watchdog closes the socket at ``deadline``, so no server can hold it longer."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError("timeout")
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=remaining, context=_TLS)
    else:  # http, allowed by check_url for loopback hosts or by an explicit opt-in
        conn = http.client.HTTPConnection(host, port, timeout=remaining)
    expired = threading.Event()

    def abort() -> None:
        expired.set()
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # Socket timeouts bound each wait; the watchdog bounds them all (a server trickling
    # one byte a second never times out a single read).
    watchdog = threading.Timer(remaining, abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", target, headers={"Accept": "application/json", "User-Agent": _USER_AGENT})
        response = conn.getresponse()
        if response.status in _REDIRECTS or not 200 <= response.status < 300:
            return response.status, response.getheader("Location"), b""
        length = response.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > settings.max_bytes:
            raise FetchError("response_too_large")
        chunks: list[bytes] = []
        size = 0
        while chunk := response.read(65536):
            size += len(chunk)
            if size > settings.max_bytes:
                raise FetchError("response_too_large")
            chunks.append(chunk)
        if expired.is_set():
            raise FetchError("timeout")
        return response.status, None, b"".join(chunks)
    except FetchError:
        raise
    except (OSError, http.client.HTTPException, ValueError):
        raise FetchError("timeout" if expired.is_set() or time.monotonic() >= deadline else "network_error") from None
    finally:
        watchdog.cancel()
        conn.close()
