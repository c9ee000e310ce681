"""A small, bounded HTTP GET for discovery documents and key sets (and a POST for token introspection).

Every wait is bounded (connect, each read, and the whole response by a
deadline), the body is capped, compressed encodings are neither asked for nor
accepted, redirects may not leave the origin, and plain ``http://`` is refused
unless the host is loopback or the caller opted in. A proxy is used only when
configured (``proxy=``) or explicitly allowed from the environment
(``trust_env_proxies=True``); ``https://`` goes through it in a ``CONNECT``
tunnel, so TLS still ends at the issuer. This is the only module in the core
that touches the network; a ``fetch`` function given by the application
replaces the socket work, and every bound but the deadline is checked on what
it returns.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import inspect
import ipaddress
import json
import os
import re
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode, urljoin, urlsplit
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]

from .errors import ConfigurationError

if TYPE_CHECKING:
    from ._config import Options

__all__ = [
    "Fetch",
    "FetchError",
    "HttpSettings",
    "check_fetch",
    "check_headers",
    "check_proxy",
    "check_url",
    "fetch_json",
    "get_json",
    "is_loopback",
    "max_age_of",
    "post_form",
    "tls_context",
]

_USER_AGENT = "jwtguard"

#: ``fetch(url, headers, timeout, max_bytes) -> (status, headers, body)``: one GET, no redirect followed.
Fetch = Callable[[str, Mapping[str, str], float, int], tuple[int, Mapping[str, str], bytes]]


class FetchError(Exception):
    """A fetch failed; ``reason`` is a short machine word safe to log."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason if status is None else f"{reason} (HTTP {status})")
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class HttpSettings:
    """Network bounds and transport for key-set and discovery fetches.

    ``tls`` replaces the default trust store; ``headers`` are sent with every
    request; ``fetch`` replaces the built-in transport (``proxy``,
    ``trust_env_proxies`` and ``tls`` are then unused).
    """

    timeout: float = 5.0
    max_bytes: int = 1024 * 1024
    allow_insecure_http: bool = False
    proxy: str | None = None
    trust_env_proxies: bool = False
    tls: ssl.SSLContext | None = None
    headers: tuple[tuple[str, str], ...] = ()
    fetch: Fetch | None = None

    @classmethod
    def from_options(cls, options: Options) -> HttpSettings:
        """The settings a validator's checked options describe."""
        return cls(
            timeout=options.timeout,
            max_bytes=options.max_response_size,
            allow_insecure_http=options.allow_insecure_http,
            proxy=options.proxy,
            trust_env_proxies=options.trust_env_proxies,
            tls=options.ca_bundle,  # type: ignore[arg-type]  # normalised to an SSLContext
            headers=tuple((options.fetch_headers or {}).items()),
            fetch=options.fetch,
        )


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


# -- configuration: proxy, trust store, headers ------------------------------------------------


def check_proxy(proxy: object) -> str | None:
    """``proxy`` if it is an ``http://host:port`` URL (credentials allowed), else raise.

    Raises:
        ConfigurationError: not a string, another scheme, no host, or a path.
    """
    if proxy is None:
        return None
    parts = urlsplit(proxy) if isinstance(proxy, str) else None
    try:
        port = parts.port if parts is not None else None
    except ValueError:
        port = -1
    if parts is None or parts.scheme != "http" or not parts.hostname or port == -1 or parts.path not in ("", "/"):
        raise ConfigurationError(
            "proxy must be an http:// URL such as http://proxy.internal:3128 (https:// URLs go through "
            "it in a CONNECT tunnel; for a proxy reached over TLS, give a fetch function instead)"
        )
    return proxy  # type: ignore[return-value]


def tls_context(ca_bundle: object) -> ssl.SSLContext | None:
    """The TLS context for ``ca_bundle``: a PEM file or directory of CA certificates, or a context.

    A file or directory *replaces* the system trust store. A context must verify
    certificates and host names.

    Raises:
        ConfigurationError: an unreadable or certificate-less bundle, or a context that does not verify.
    """
    if ca_bundle is None:
        return None
    if isinstance(ca_bundle, ssl.SSLContext):
        if ca_bundle.verify_mode != ssl.CERT_REQUIRED or not ca_bundle.check_hostname:
            raise ConfigurationError("ca_bundle: the SSLContext must verify certificates and host names")
        return ca_bundle
    if not isinstance(ca_bundle, (str, os.PathLike)):
        raise ConfigurationError("ca_bundle must be the path of a PEM file of CA certificates, or an ssl.SSLContext")
    path = os.fspath(ca_bundle)
    try:
        if os.path.isdir(path):
            context = ssl.create_default_context(capath=path)
        else:
            context = ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ConfigurationError(f"ca_bundle: cannot load CA certificates from {path!r}") from exc
    if not os.path.isdir(path) and not context.get_ca_certs():
        raise ConfigurationError(f"ca_bundle: {path!r} holds no CA certificate")
    return context


def check_fetch(fetch: object) -> Fetch | None:
    """``fetch`` if it can be called as ``fetch(url, headers, timeout, max_bytes)``, else raise.

    Raises:
        ConfigurationError: not callable, or its signature does not take those four arguments.
    """
    if fetch is None:
        return None
    try:
        if not callable(fetch):
            raise TypeError
        inspect.signature(fetch).bind("https://issuer.example/jwks", {}, 5.0, 1024)
    except TypeError:
        raise ConfigurationError(
            "fetch must be a callable (url, headers, timeout, max_bytes) -> (status, headers, body)"
        ) from None
    except ValueError:
        pass  # a callable without an introspectable signature: trusted as given
    return fetch  # type: ignore[return-value]


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.6.2
_RESERVED = frozenset({"host", "accept-encoding", "content-length", "transfer-encoding", "connection", "te"})


def check_headers(headers: object) -> dict[str, str]:
    """``headers`` as a dict of extra request headers, else raise.

    Raises:
        ConfigurationError: not a mapping of strings, a name that is not an RFC 9110
            token or that jwtguard sets itself (``Host``, ``Accept-Encoding`` …), or a
            value holding a control character.
    """
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ConfigurationError("fetch_headers must be a mapping of header names to values")
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name) or name.lower() in _RESERVED:
            raise ConfigurationError(f"fetch_headers: {name!r} is not a header name jwtguard may send")
        if not isinstance(value, str) or any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
            raise ConfigurationError(f"fetch_headers: the value of {name!r} must be text without control characters")
    return dict(headers)


# -- freshness announced by the response -------------------------------------------------------

_DIRECTIVE = re.compile(r'^\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*(?:=\s*"?(\d+)"?)?\s*$')


def max_age_of(headers: Mapping[str, str]) -> float | None:
    """Seconds the response may be reused (RFC 9111 §5.2.2.1 ``max-age``, less ``Age``), or ``None``.

    ``no-store`` and ``no-cache`` count as 0; without ``max-age`` the answer is ``None``.
    """
    value = headers.get("cache-control")
    if not value:
        return None
    max_age: float | None = None
    for item in value.split(","):
        match = _DIRECTIVE.match(item)
        if match is None:
            continue
        name = match.group(1).lower()
        if name in ("no-store", "no-cache"):
            return 0.0
        if name == "max-age" and match.group(2) is not None and max_age is None:
            max_age = float(match.group(2))
    if max_age is None:
        return None
    age = headers.get("age", "").strip()
    return max(0.0, max_age - float(age)) if age.isdigit() else max_age


# -- the fetch -----------------------------------------------------------------------------------


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 3
_TLS = ssl.create_default_context()


def get_json(url: str, settings: HttpSettings, deadline: float | None = None) -> Any:
    """The JSON document at ``url`` (see :func:`fetch_json`)."""
    return fetch_json(url, settings, deadline)[0]


def fetch_json(url: str, settings: HttpSettings, deadline: float | None = None) -> tuple[Any, Mapping[str, str]]:
    """GET ``url``; return its JSON body and its headers (lower-case names), all before ``deadline``.

    ``deadline`` is on ``time.monotonic()``. Redirects are followed within the
    same origin only (at most three).

    Raises:
        FetchError: network error, timeout, non-2xx status, a redirect to another
            origin, a body larger than ``settings.max_bytes`` or compressed, or a body that is not JSON.
    """
    if deadline is None:
        deadline = time.monotonic() + settings.timeout
    for _ in range(_MAX_REDIRECTS + 1):
        status, headers, body = _one_get(url, settings, deadline)
        location = headers.get("location")
        if status in _REDIRECTS and location:
            target = urljoin(url, location)
            if _origin(target) != _origin(url):
                raise FetchError("redirect_to_other_origin", status)
            url = target
            continue
        if not 200 <= status < 300:
            raise FetchError("http_status", status)
        try:
            return json.loads(body.decode("utf-8")), headers
        except (ValueError, RecursionError):
            raise FetchError("invalid_json") from None
    raise FetchError("too_many_redirects")


def post_form(
    url: str, form: Mapping[str, str], settings: HttpSettings, deadline: float, headers: Mapping[str, str] | None = None
) -> Any:
    """POST ``form`` (``application/x-www-form-urlencoded``) to ``url``; return the JSON body, all before ``deadline``.

    The same bounds as a GET: the deadline (a watchdog), ``settings.max_bytes``,
    no compressed body, the proxy and trust store of ``settings``. No redirect is
    followed (it would resend the form, credentials included, elsewhere). An
    application's ``fetch`` function is never used: it makes GETs only.

    Raises:
        FetchError: network error, timeout, a status other than 2xx, a body too large,
            compressed or not JSON.
    """
    if time.monotonic() >= deadline:
        raise FetchError("timeout")
    sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    status, found, body = _get(url, settings, deadline, method="POST", body=urlencode(form).encode(), headers=sent)
    if time.monotonic() > deadline:
        raise FetchError("timeout")
    if not 200 <= status < 300:
        raise FetchError("http_status", status)
    if found.get("content-encoding", "identity").strip().lower() != "identity":
        raise FetchError("compressed_response")
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        raise FetchError("invalid_json") from None


def _request_headers(settings: HttpSettings) -> dict[str, str]:
    # identity only: a compressed body could expand far beyond max_bytes once decoded.
    fixed = {"Accept": "application/json", "Accept-Encoding": "identity", "User-Agent": _USER_AGENT}
    return {**dict(settings.headers), **fixed}


def _one_get(url: str, settings: HttpSettings, deadline: float) -> tuple[int, dict[str, str], bytes]:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError("timeout")
    if settings.fetch is None:
        status, headers, body = _get(url, settings, deadline)
    else:
        status, headers, body = _call(settings.fetch, url, settings, remaining)
    if time.monotonic() > deadline:
        raise FetchError("timeout")
    if 200 <= status < 300:
        if headers.get("content-encoding", "identity").strip().lower() != "identity":
            raise FetchError("compressed_response")
        if len(body) > settings.max_bytes:
            raise FetchError("response_too_large")
    return status, headers, body


def _call(fetch: Fetch, url: str, settings: HttpSettings, timeout: float) -> tuple[int, dict[str, str], bytes]:
    try:
        status, headers, body = fetch(url, _request_headers(settings), timeout, settings.max_bytes)
    except TimeoutError:
        raise FetchError("timeout") from None
    except Exception:  # the application's transport failed: an outage, whatever its message
        raise FetchError("network_error") from None
    if not isinstance(status, int) or not isinstance(body, (bytes, bytearray)) or not isinstance(headers, Mapping):
        raise FetchError("invalid_fetch_result")
    return status, {str(k).lower(): str(v) for k, v in headers.items()}, bytes(body)


def _proxy_for(url: str, settings: HttpSettings) -> str | None:
    if settings.proxy is not None:
        return settings.proxy
    if not settings.trust_env_proxies:
        return None  # environment proxies would silently reroute the fetch
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()  # HTTPS_PROXY, HTTP_PROXY, NO_PROXY (any case)
    proxy = proxies.get(parts.scheme)
    if not proxy or proxy_bypass_environment(parts.hostname or "", proxies):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _connection(
    url: str, settings: HttpSettings, timeout: float
) -> tuple[http.client.HTTPConnection, str, dict[str, str] | None]:
    """An unconnected connection for ``url``, the request target, and the headers for the proxy (``None``: none)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    context = settings.tls or _TLS
    proxy = _proxy_for(url, settings)
    if proxy is None:
        if parts.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=context), target, None
        return http.client.HTTPConnection(host, port, timeout=timeout), target, None
    via = urlsplit(proxy)
    if via.scheme != "http" or not via.hostname:
        raise FetchError("proxy_unsupported")
    auth = {}
    if via.username is not None:
        pair = f"{unquote(via.username)}:{unquote(via.password or '')}".encode()
        auth["Proxy-Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    if parts.scheme == "https":  # a CONNECT tunnel: TLS, and its verification, end at the issuer
        conn = http.client.HTTPSConnection(via.hostname, via.port or 80, timeout=timeout, context=context)
        conn.set_tunnel(host, port or 443, headers=auth)
        return conn, target, {}
    # plain http through a proxy: the absolute URL is the request target (RFC 9112 §3.2.2)
    return http.client.HTTPConnection(via.hostname, via.port or 80, timeout=timeout), url, auth


def _headers_of(response: http.client.HTTPResponse) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in response.getheaders():
        key = name.lower()
        found[key] = f"{found[key]}, {value}" if key in found else value  # RFC 9110 §5.3
    return found


def _connect_via_proxy(conn: http.client.HTTPConnection, expired: threading.Event) -> None:
    try:
        conn.connect()  # the CONNECT exchange, then TLS with the issuer, for https
    except ssl.SSLError:
        raise  # the issuer's TLS, not the proxy's doing
    except (OSError, http.client.HTTPException):
        raise FetchError("timeout" if expired.is_set() else "proxy_error") from None


def _get(
    url: str,
    settings: HttpSettings,
    deadline: float,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request (a GET unless ``method``); a watchdog closes the socket at ``deadline``, so no server
    (or proxy) can hold it longer. ``headers`` win over the fixed ones."""
    remaining = deadline - time.monotonic()
    conn, target, proxy_headers = _connection(url, settings, remaining)
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
        if proxy_headers is not None:  # through a proxy: its failures get their own reason
            _connect_via_proxy(conn, expired)
        sent = {**_request_headers(settings), **(headers or {}), **(proxy_headers or {})}
        conn.request(method, target, body=body, headers=sent)
        response = conn.getresponse()
        found = _headers_of(response)
        if response.status in _REDIRECTS or not 200 <= response.status < 300:
            return response.status, found, b""
        length = found.get("content-length")
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
        return response.status, found, b"".join(chunks)
    except FetchError:
        raise
    except ssl.SSLCertVerificationError:
        raise FetchError("timeout" if expired.is_set() else "tls_verification_failed") from None
    except (OSError, http.client.HTTPException, ValueError):
        raise FetchError("timeout" if expired.is_set() or time.monotonic() >= deadline else "network_error") from None
    finally:
        watchdog.cancel()
        conn.close()
