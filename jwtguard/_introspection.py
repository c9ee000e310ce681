"""RFC 7662 token introspection: asking the issuer whether an access token is active.

Theory of operation
-------------------
An *opaque* access token (anything that is not a compact JWS or JWE: no
signature to check, no claims to read) can only be judged by the issuer. With
introspection configured, the validator POSTs it to the issuer's introspection
endpoint (``token`` and ``token_type_hint=access_token``, the API authenticated
as a client with ``client_secret_basic`` or ``client_secret_post``) and builds
the claims from the answer, which then pass the same checks as a JWT's
(audience, ``exp``, scopes, authorized parties, revocations). In ``"always"``
mode a JWT is validated locally first, then introspected too: the issuer's word
that it was not revoked, for routes where a revocation must count at once.

Answers are cached by the token's SHA-256 (never the token) in a bounded
``cachetools.TTLCache``: an entry lives at most ``cache_ttl`` seconds, and is
never served once the token's ``exp`` has passed. Inactive answers are cached
too (a token never becomes active again), failures never.

How a request runs: the first caller that needs an answer starts the POST in a
thread of its own; callers presenting the same token meanwhile, threads or
asyncio tasks, wait on the same future (sync callers block on it, async ones
await it without blocking the event loop). The POST has the bounds of a key-set
fetch (:mod:`jwtguard._http`: the ``timeout`` deadline enforced by a watchdog,
``max_response_size``, the proxy and trust store, no redirect), and so has every
wait. A failure — network, timeout, a status other than 2xx, a body that is not
a JSON object with ``active`` — is the issuer's outage, never the client's
fault: :class:`~jwtguard.ServiceUnavailableError` (503,
``code="introspection_unavailable"``), never a 401.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from cachetools import TTLCache

from . import _http
from .errors import ConfigurationError, InvalidTokenError, ServiceUnavailableError

if TYPE_CHECKING:
    from ._config import Options

__all__ = ["INTROSPECTION_AUTH_METHODS", "INTROSPECTION_MODES", "Introspection"]

logger = logging.getLogger("jwtguard")

#: ``introspection=``: opaque tokens only, or every token (JWTs after their local checks).
INTROSPECTION_MODES = ("opaque", "always")
#: How the API authenticates to the introspection endpoint (RFC 6749 §2.3.1).
INTROSPECTION_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 §2.1
_TOKEN_TYPES = frozenset({"bearer", "dpop"})
_WAIT_MARGIN = 0.5
_RETRY_AFTER = 5.0
_WAIT_TIMEOUT = (TimeoutError, concurrent.futures.TimeoutError)
_INSTANCES: weakref.WeakSet[Introspection] = weakref.WeakSet()

Response = Mapping[str, Any]


class Introspection:
    """One validator's introspection: endpoint, credentials, answer cache, requests under way.

    Args:
        mode: ``"opaque"`` or ``"always"``.
        endpoint: the introspection endpoint; ``None`` reads it from ``issuer``'s
            discovery document on first use.
        issuer: the issuer whose discovery names the endpoint (and whose ``iss`` answers carry).
        client: ``(client_id, client_secret)``.
        auth_method: ``"client_secret_basic"`` or ``"client_secret_post"``.
        settings: the network bounds (those of the key-set fetches).
        cache_size: answers remembered at most (0: none).
        cache_ttl: seconds an answer is remembered at most (0: none).
        clock: the wall clock (token ``exp``).
        timer: a monotonic clock (cache lifetimes).
    """

    def __init__(
        self,
        *,
        mode: str,
        endpoint: str | None,
        issuer: str | None,
        client: tuple[str, str],
        auth_method: str,
        settings: _http.HttpSettings,
        cache_size: int,
        cache_ttl: float,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.always = mode == "always"
        self.endpoint = endpoint
        self.issuer = issuer
        self._client = client
        self._auth_method = auth_method
        self._settings = settings
        self._clock = clock
        self._cache: TTLCache[str, tuple[Response, float]] | None = None
        if cache_size and cache_ttl:
            self._cache = TTLCache(cache_size, cache_ttl, timer=timer)
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[Response]] = {}
        _INSTANCES.add(self)
        #: How many introspection requests were started (discovery not counted).
        self.request_count = 0

    @classmethod
    def from_options(cls, options: Options, settings: _http.HttpSettings) -> Introspection | None:
        """The introspection ``options`` describe, or ``None`` when it is off.

        Raises:
            ConfigurationError: no client credentials, an endpoint that may not be
                fetched, no way to find the endpoint, or a ``fetch`` function (GET only).
        """
        mode = options.introspection
        if mode is None:
            return None
        if options.introspection_client is None:
            raise ConfigurationError(
                "introspection needs introspection_client=(client_id, client_secret) (RFC 7662 §2.1)"
            )
        if options.fetch is not None:
            raise ConfigurationError("introspection POSTs with the built-in client: fetch= makes GETs only")
        endpoint = options.introspection_endpoint
        issuers = options.issuer if isinstance(options.issuer, tuple) else ()
        named = [issuer for issuer in issuers if isinstance(issuer, str)]
        if endpoint is not None:
            _http.check_url(endpoint, settings, "introspection_endpoint")
            issuer = named[0] if len(named) == 1 else None
        elif len(named) == 1 and len(issuers) == 1:
            issuer = named[0]
            _http.check_url(issuer, settings, "issuer (used for OIDC discovery)")
        else:
            raise ConfigurationError(
                "give introspection_endpoint=: the endpoint is discovered only for a validator of one issuer"
            )
        client_id, secret = options.introspection_client
        return cls(
            mode=mode,
            endpoint=endpoint,
            issuer=issuer,
            client=(client_id, secret),
            auth_method=options.introspection_auth_method,
            settings=settings,
            cache_size=options.introspection_cache_size,
            cache_ttl=options.introspection_cache_ttl or 0.0,
            clock=options.clock,
            timer=options.timer,
        )

    # -- what goes to the endpoint ------------------------------------------------------

    @staticmethod
    def is_opaque(token: object) -> bool:
        """Whether ``token`` is not a compact JWS or JWE (three or five dot-separated parts)."""
        return isinstance(token, str) and token.count(".") not in (2, 4)

    @staticmethod
    def check_opaque(token: str, max_size: int) -> None:
        """Refuse what is not worth a request: too large, or not an RFC 6750 ``b64token``.

        Raises:
            InvalidTokenError: ``token_too_large`` or ``malformed_token``.
        """
        if len(token) > max_size:
            raise InvalidTokenError("token_too_large")
        if not _B64TOKEN.fullmatch(token):
            raise InvalidTokenError("malformed_token", reason="format")

    # -- the cache and the requests under way ------------------------------------------------

    def _cached(self, key: str) -> Response | None:
        if self._cache is None:
            return None
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            response, not_after = entry
            if self._clock() >= not_after:  # never past the token's exp
                del self._cache[key]
                return None
            return response

    def _remember(self, key: str, response: Response) -> None:
        if self._cache is None:
            return
        exp = response.get("exp")
        not_after = float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else float("inf")
        if response.get("active") is True and not self._clock() < not_after:
            return
        with self._lock:
            self._cache[key] = (response, not_after)

    def _plan(self, token: str) -> Response | Future[Response]:
        key = hashlib.sha256(token.encode("utf-8")).hexdigest()
        cached = self._cached(key)
        if cached is not None:
            return cached
        with self._lock:
            future = self._inflight.get(key)
            if future is None:
                future = self._inflight[key] = Future()
                self.request_count += 1
                thread = threading.Thread(
                    target=self._run, args=(token, key, future), name="jwtguard-introspect", daemon=True
                )
                thread.start()
            return future

    def _run(self, token: str, key: str, future: Future[Response]) -> None:
        try:
            response = self._ask(token)
        except Exception as exc:  # any failure is the endpoint's outage, whatever its cause
            reason = exc.reason if isinstance(exc, _http.FetchError) else "internal_error"
            logger.warning("jwtguard: token introspection at %s failed: %s", self.endpoint or self.issuer, reason)
            future.set_exception(ServiceUnavailableError("introspection_unavailable", retry_after=_RETRY_AFTER))
        else:
            self._remember(key, response)
            future.set_result(response)
        finally:
            with self._lock:
                if self._inflight.get(key) is future:
                    del self._inflight[key]

    def introspect(self, token: str) -> Response:
        """The endpoint's answer for ``token`` (from the cache when it may be).

        Raises:
            ServiceUnavailableError: the endpoint could not be asked (503, ``introspection_unavailable``).
        """
        step = self._plan(token)
        if not isinstance(step, Future):
            return step
        try:
            return step.result(timeout=self._wait)
        except _WAIT_TIMEOUT:
            raise self._timed_out() from None

    async def aintrospect(self, token: str) -> Response:
        """Like :meth:`introspect`; the request runs in a thread, the event loop never blocks."""
        step = self._plan(token)
        if not isinstance(step, Future):
            return step
        waiter = asyncio.wrap_future(step)
        # Whatever happens to this waiter, its outcome counts as seen: asyncio would otherwise log
        # "exception was never retrieved" for a failure nobody awaits any more (a timed-out wait).
        waiter.add_done_callback(_seen)
        # asyncio.wait (unlike wait_for) never cancels the shared future on timeout.
        done, _ = await asyncio.wait({waiter}, timeout=self._wait)
        if not done:
            raise self._timed_out()
        return waiter.result()

    @property
    def _wait(self) -> float:
        return self._settings.timeout + _WAIT_MARGIN

    def _timed_out(self) -> ServiceUnavailableError:
        logger.warning("jwtguard: token introspection at %s timed out", self.endpoint or self.issuer)
        return ServiceUnavailableError("introspection_unavailable", retry_after=_RETRY_AFTER)

    # -- the exchange (runs in its own thread) -------------------------------------------------

    def _ask(self, token: str) -> Response:
        deadline = time.monotonic() + self._settings.timeout
        endpoint = self.endpoint or self._discover(deadline)
        form = {"token": token, "token_type_hint": "access_token"}
        client_id, secret = self._client
        headers: dict[str, str] = {}
        if self._auth_method == "client_secret_basic":
            # RFC 6749 §2.3.1: each part form-urlencoded, then base64.
            pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            form |= {"client_id": client_id, "client_secret": secret}
        answer = _http.post_form(endpoint, form, self._settings, deadline, headers)
        if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
            raise _http.FetchError("invalid_introspection_response")
        return MappingProxyType(answer)

    def _discover(self, deadline: float) -> str:
        """The endpoint named by the issuer's metadata (OIDC Discovery, else RFC 8414)."""
        assert self.issuer is not None
        base = self.issuer.rstrip("/")
        try:
            metadata = _http.get_json(f"{base}/.well-known/openid-configuration", self._settings, deadline)
        except _http.FetchError as exc:
            if exc.reason != "http_status":
                raise
            metadata = _http.get_json(f"{base}/.well-known/oauth-authorization-server", self._settings, deadline)
        if not isinstance(metadata, dict) or metadata.get("issuer") != self.issuer:
            raise _http.FetchError("discovery_issuer_mismatch")
        endpoint = metadata.get("introspection_endpoint")
        if not isinstance(endpoint, str):
            raise _http.FetchError("discovery_without_introspection_endpoint")
        try:
            _http.check_url(endpoint, self._settings, "introspection_endpoint")
        except ConfigurationError:
            raise _http.FetchError("discovery_introspection_endpoint_refused") from None
        self.endpoint = endpoint
        return endpoint


def claims_of(response: Response) -> dict[str, Any]:
    """The claims an active answer describes: every member but ``active``.

    Raises:
        InvalidTokenError: ``token_inactive`` (not active), or ``invalid_claim`` for a
            ``token_type`` other than ``Bearer`` or ``DPoP`` (a refresh token is not an access token).
    """
    if response.get("active") is not True:
        raise InvalidTokenError("token_inactive", reason="inactive")
    token_type = response.get("token_type")
    if token_type is not None and (not isinstance(token_type, str) or token_type.lower() not in _TOKEN_TYPES):
        raise InvalidTokenError("invalid_claim", claim="token_type", reason="not_accepted")
    return {name: value for name, value in response.items() if name != "active"}


def _seen(waiter: asyncio.Future[Response]) -> None:
    if not waiter.cancelled():
        waiter.exception()


def _after_fork_in_child() -> None:
    # A lock held, or a request under way, in another thread of the parent does not exist here.
    for instance in list(_INSTANCES):
        instance._lock = threading.Lock()
        instance._inflight = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
