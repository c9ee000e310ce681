"""What can go wrong when a client gets tokens; two kinds that never blur.

* :class:`LoginRequiredError` — the refresh token is refused (``invalid_grant``:
  expired, revoked, already used so its family was revoked) or there is none.
  Retrying cannot help: the application must send the user to log in again.
* :class:`TokenEndpointError` — anything else: the token endpoint could not be
  reached, answered 5xx or something that is not a token response, or refused
  the client itself (``invalid_client``, ``unauthorized_client``, ``invalid_scope``…).
  A transient outage or a configuration mistake, not the user's session.

Both carry ``error`` (the RFC 6749 §5.2 code, or ``network_error``,
``server_error``, ``invalid_response``), ``status_code`` (``None`` without an
HTTP answer) and ``description``. No token or secret ever appears in them.
"""

from __future__ import annotations

__all__ = ["LoginRequiredError", "TokenEndpointError", "TokenRequestError"]

_MAX_DESCRIPTION = 200


class TokenRequestError(Exception):
    """A token request failed; the base of :class:`LoginRequiredError` and :class:`TokenEndpointError`."""

    def __init__(self, error: str, description: str, status_code: int | None = None) -> None:
        self.error = error
        self.description = _printable(description)
        self.status_code = status_code
        status = "" if status_code is None else f" (HTTP {status_code})"
        super().__init__(f"{self.error}{status}: {self.description}")


class LoginRequiredError(TokenRequestError):
    """The session is over: the refresh token was refused (``invalid_grant``) or there is none.

    Send the user to log in again; refreshing again will not help.
    """


class TokenEndpointError(TokenRequestError):
    """The token endpoint failed or refused the client: an outage or a configuration mistake."""


def _printable(text: str) -> str:
    # The issuer's error_description goes into logs: keep it short and on one line.
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return cleaned[:_MAX_DESCRIPTION]
