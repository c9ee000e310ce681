"""The tokens a client holds, renewed by one request at a time (single flight).

Theory of operation
-------------------
A :class:`TokenState` holds the current :class:`~jwtguard.client.TokenSet` and a
:class:`~jwtguard.client._protocol.Grant` that renews it. A request asks for a
token with :meth:`TokenState.obtain` (threads) or :meth:`TokenState.aobtain`
(asyncio tasks), saying which access token it *sent* when it is back with a 401,
and whether renewal is *forced* (the API refused the token):

* If the request sent a token that is no longer the current one, someone renewed
  it meanwhile: the current one is returned and nothing is renewed again.
* Otherwise, if renewal is not forced and the token is not within ``margin`` of
  its expiry (computed from ``expires_in``), the current token is returned.
* Otherwise a renewal is needed. If one is in flight, the caller waits for it
  (a caller whose token has not expired yet just uses it meanwhile). If none is,
  the caller leads one: it sends the grant's token request and settles a shared
  future with the answer. Every waiter gets the same tokens or the same error.

The state is replaced only when a renewal succeeds. The new tokens are handed to
``on_tokens`` (to be persisted: a rotated refresh token is the only valid one)
*before* the flight ends, so no second renewal can start, and spend the new
refresh token, before the application has stored it. ``invalid_grant`` ends the
session: every later call raises :class:`~jwtguard.client.LoginRequiredError` at
once, without network, until :meth:`TokenState.replace` installs new tokens. A
failed proactive renewal (an outage) keeps using the current token until it
actually expires.

Threads and tasks share one flight: the future is a :class:`concurrent.futures.Future`,
awaited by tasks through :func:`asyncio.wrap_future`; an async leader runs the
renewal in a task of its own, so cancelling the request that started it cannot
lose a rotated refresh token half-way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from ._errors import LoginRequiredError, TokenEndpointError
from ._protocol import Grant, TokenRequest
from ._tokens import TokenSet

__all__ = ["AsyncSend", "OnTokens", "Send", "TokenState", "new_state"]

logger = logging.getLogger("jwtguard.client")

#: A transport: send a token request, return ``(status, body)``; raise TokenEndpointError if there is no answer.
Send = Callable[[TokenRequest], tuple[int, bytes]]
AsyncSend = Callable[[TokenRequest], Awaitable[tuple[int, bytes]]]
OnTokens = Callable[[TokenSet], None]


@dataclass
class _Outcome:
    tokens: TokenSet | None = None
    error: BaseException | None = None


@dataclass
class _Flight:
    future: concurrent.futures.Future[TokenSet]
    tokens: TokenSet | None  # what the renewal starts from


class TokenState:
    """The current tokens of one client and the single renewal in flight.

    Args:
        tokens: the tokens to start with (``None``: renew before the first request).
        grant: how to renew them.
        clock: the current time, in seconds (injectable for tests).
        margin: renew this many seconds before the expiry (at most half the lifetime).
        on_tokens: called with every renewed :class:`TokenSet`, before it is used.
        wait_timeout: the longest a caller waits for a renewal another one leads.
    """

    def __init__(
        self,
        tokens: TokenSet | None,
        grant: Grant,
        *,
        clock: Callable[[], float],
        margin: float,
        on_tokens: OnTokens | None,
        wait_timeout: float,
    ) -> None:
        self.grant = grant
        self._tokens = tokens
        self._clock = clock
        self._margin = margin
        self._on_tokens = on_tokens
        self._wait_timeout = wait_timeout
        self._lock = threading.Lock()
        self._flight: _Flight | None = None
        self._ended: LoginRequiredError | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def tokens(self) -> TokenSet | None:
        """The current tokens."""
        with self._lock:
            return self._tokens

    def replace(self, tokens: TokenSet | Mapping[str, Any] | None) -> None:
        """Install new tokens (after a new login; a token response is parsed); an ended session starts again."""
        if isinstance(tokens, Mapping):
            tokens = TokenSet.from_response(tokens, now=self._clock())
        with self._lock:
            self._tokens = tokens
            self._ended = None

    # -- the decision, under the lock ------------------------------------------------

    def _plan(self, sent: str | None, force: bool) -> TokenSet | tuple[_Flight, bool]:
        now = self._clock()
        with self._lock:
            if self._ended is not None:
                raise LoginRequiredError(self._ended.error, self._ended.description, self._ended.status_code)
            current = self._tokens
            if current is not None and current.access_token is not None:
                if sent is not None and current.access_token != sent:
                    return current  # renewed since this request was sent: retry with it, renew nothing
                if not force:
                    if not (current.needs_renewal(now, self._margin) and self.grant.can_renew(current)):
                        return current
                    if self._flight is not None and not current.expired(now):
                        return current  # still valid: no need to wait for the renewal under way
            if self._flight is not None:
                return self._flight, False
            self._flight = _Flight(concurrent.futures.Future(), current)
            self._flight.future.set_running_or_notify_cancel()  # nobody can cancel the shared result
            return self._flight, True

    def _settle(self, flight: _Flight, tokens: TokenSet | None, error: BaseException | None) -> None:
        try:
            if tokens is not None:
                with self._lock:
                    self._tokens = tokens
                rotated = flight.tokens is None or tokens.refresh_token != flight.tokens.refresh_token
                logger.debug(
                    "access token renewed (expires in %s s; new refresh token: %s)", tokens.expires_in, rotated
                )
                if self._on_tokens is not None:
                    self._on_tokens(tokens)  # persisted before any other renewal can start
            elif isinstance(error, LoginRequiredError):
                logger.info("the refresh token was refused (%s): the user must log in again", error.error)
                with self._lock:
                    self._ended = error
        finally:
            with self._lock:
                self._flight = None
            if tokens is not None:
                flight.future.set_result(tokens)
            else:
                failure = error if isinstance(error, Exception) else TokenEndpointError("interrupted", "Interrupted")
                flight.future.set_exception(failure)

    @contextlib.contextmanager
    def _leading(self, flight: _Flight) -> Iterator[_Outcome]:
        """Around the leader's renewal: whatever happens, the flight is settled and its waiters woken.

        An ``Exception`` is handed to the waiters (the leader reads it from the future too);
        anything else (``KeyboardInterrupt``, a cancelled task) goes on up.
        """
        outcome = _Outcome()
        try:
            yield outcome
        except Exception as failure:
            outcome.error = failure
        except BaseException as failure:
            outcome.error = failure
            raise
        finally:
            self._settle(flight, outcome.tokens, outcome.error)

    def _renewal(self, flight: _Flight) -> tuple[TokenRequest, float]:
        return self.grant.request(flight.tokens), self._clock()  # expiry counts from before the request

    def _fallback(self, error: TokenEndpointError, force: bool) -> TokenSet:
        # An outage during a proactive renewal: the current token serves until it really expires.
        current = self.tokens
        if force or current is None or current.expired(self._clock()):
            raise error
        logger.warning("token renewal failed (%s); using the current access token until it expires", error.error)
        return current

    # -- threads -------------------------------------------------------------------------

    def obtain(self, sent: str | None, force: bool, send: Send) -> TokenSet:
        """The tokens to send (see the module docstring), renewing them through ``send`` if needed.

        Raises:
            LoginRequiredError: the refresh token was refused, or there is none.
            TokenEndpointError: the renewal failed and no usable token is left.
        """
        plan = self._plan(sent, force)
        if isinstance(plan, TokenSet):
            return plan
        flight, lead = plan
        if lead:
            with self._leading(flight) as outcome:
                request, now = self._renewal(flight)
                status, body = send(request)
                outcome.tokens = self.grant.parse(status, body, now=now, tokens=flight.tokens)
        try:
            return flight.future.result(timeout=self._wait_timeout)
        except concurrent.futures.TimeoutError:
            raise TokenEndpointError("timeout", "A token renewal in progress did not finish in time") from None
        except TokenEndpointError as failure:
            return self._fallback(failure, force)

    # -- asyncio tasks -------------------------------------------------------------------

    async def aobtain(self, sent: str | None, force: bool, send: AsyncSend) -> TokenSet:
        """:meth:`obtain` for asyncio tasks: the same decision, the renewal awaited."""
        plan = self._plan(sent, force)
        if isinstance(plan, TokenSet):
            return plan
        flight, lead = plan
        if lead:
            task = asyncio.get_running_loop().create_task(self._arenew(flight, send))
            self._tasks.add(task)  # keep a reference until it ends
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved
            await asyncio.shield(task)  # the leader sees on_tokens' errors; cancelling it spares the task
        try:
            waiting = asyncio.shield(asyncio.wrap_future(flight.future))
            return await asyncio.wait_for(waiting, self._wait_timeout)
        except asyncio.TimeoutError:
            raise TokenEndpointError("timeout", "A token renewal in progress did not finish in time") from None
        except TokenEndpointError as failure:
            return self._fallback(failure, force)

    async def _arenew(self, flight: _Flight, send: AsyncSend) -> None:
        with self._leading(flight) as outcome:
            request, now = self._renewal(flight)
            status, body = await send(request)
            outcome.tokens = self.grant.parse(status, body, now=now, tokens=flight.tokens)


def new_state(
    grant: Grant,
    tokens: TokenSet | Mapping[str, Any] | None,
    *,
    clock: Callable[[], float],
    refresh_margin: float,
    on_tokens: OnTokens | None,
    timeout: float,
) -> TokenState:
    """A :class:`TokenState` from the options every transport takes; ``tokens`` may be a token response.

    Raises:
        ConfigurationError: a margin or timeout that is not a finite number of seconds.
        TokenEndpointError: ``tokens`` is a mapping that is not a token response.
    """
    for name, value, low in (("refresh_margin", refresh_margin, 0.0), ("timeout", timeout, 1e-3)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value < math.inf:
            raise ConfigurationError(f"{name} must be a finite number of seconds (at least {low:g})")
    # A waiter gives up on a renewal led elsewhere after the leader's own worst case, with room to spare.
    state = TokenState(
        None, grant, clock=clock, margin=refresh_margin, on_tokens=on_tokens, wait_timeout=3 * timeout + 1
    )
    state.replace(tokens)
    return state
