"""A small, bounded HTTP GET for discovery documents and key sets.

Every wait is bounded (connect, each read, and the whole response by a
deadline), the body is capped, redirects may not leave the origin, and plain
``http://`` is refused unless the host is loopback or the caller opted in.
This is the only module in the core that touches the network.
"""

from __future__ import annotations

import ipaddress
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

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


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = 3

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        if _origin(newurl) != _origin(req.full_url):
            raise FetchError("redirect_to_other_origin", code)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


# No proxy handler: key sets are fetched directly (set one up outside if needed
# with a custom fetcher); environment proxies would silently reroute loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _SameOriginRedirects())


def get_json(url: str, settings: HttpSettings, deadline: float | None = None) -> Any:
    """GET ``url`` and decode its JSON body, all before ``deadline`` (``time.monotonic()``).

    Raises:
        FetchError: network error, timeout, non-2xx status, a body larger than
            ``settings.max_bytes``, or a body that is not JSON.
    """
    if deadline is None:
        deadline = time.monotonic() + settings.timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError("timeout")
    # The scheme was checked by check_url (https, or http for loopback / opt-in).
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": _USER_AGENT})  # noqa: S310
    try:
        with _OPENER.open(request, timeout=remaining) as response:
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > settings.max_bytes:
                raise FetchError("response_too_large")
            chunks: list[bytes] = []
            size = 0
            while True:
                if time.monotonic() > deadline:
                    raise FetchError("timeout")
                chunk = response.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > settings.max_bytes:
                    raise FetchError("response_too_large")
                chunks.append(chunk)
    except FetchError:
        raise
    except urllib.error.HTTPError as exc:
        exc.close()
        raise FetchError("http_status", exc.code) from None
    except TimeoutError:
        raise FetchError("timeout") from None
    except (OSError, ValueError, urllib.error.URLError):
        raise FetchError("network_error") from None
    try:
        return json.loads(b"".join(chunks).decode("utf-8"))
    except (ValueError, RecursionError):
        raise FetchError("invalid_json") from None
