"""Reading a bearer token from a request (RFC 6750 §2.1), for every adapter.

Only the ``Authorization`` header is read. Form-body and query-string tokens
(RFC 6750 §2.2-2.3) are deliberately unsupported: they leak into logs,
browser history and ``Referer`` headers (RFC 6750 §5.3, RFC 9700 §4.3.2),
and reading a body to look for one would tie authentication to body parsing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from .errors import InvalidRequestError, MissingTokenError

__all__ = ["extract_bearer", "extract_credentials", "is_preflight"]

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# Servers join repeated headers with "," (RFC 9110 §5.3). Authorization is not a list, so a
# "Bearer" after a comma is a second header: split there, and the duplicate answers 400.
# No blanks are matched before the comma: a pattern starting with [ \t]* is quadratic on long
# runs of blanks, and the parts are stripped anyway.
_JOINED = re.compile(r",[ \t]*(?=(?:bearer|dpop)(?:[ \t,]|$))", re.IGNORECASE)
# Longer than any token we accept; parsing stops here (the validator bounds tokens anyway).
MAX_HEADER_LENGTH = 64 * 1024


def extract_bearer(values: Iterable[str]) -> str:
    """Return the bearer token from the request's ``Authorization`` header value(s).

    Pass every ``Authorization`` value the request carries, so a token sent
    twice is caught — also when a server joined the two headers with a comma.

    Raises:
        MissingTokenError: no ``Authorization`` header, or another scheme
            (``Basic`` …): 401 with a bare challenge.
        InvalidRequestError: ``Bearer`` without a token, a token with spaces
            or illegal characters, or several ``Authorization`` headers: 400.
    """
    return extract_credentials(values, dpop=False)[1]


def extract_credentials(values: Iterable[str], *, dpop: bool) -> tuple[str, str]:
    """Return ``(scheme, token)`` from the ``Authorization`` value(s): ``"Bearer"``, or ``"DPoP"`` when ``dpop``.

    RFC 9449 §7.1: a DPoP-bound token is sent with the ``DPoP`` scheme, in the
    same ``token68`` syntax as a bearer token.

    Raises:
        MissingTokenError: no credentials of an accepted scheme.
        InvalidRequestError: as :func:`extract_bearer`.
    """
    # A token never holds a comma: only a joined value needs the (slower) split.
    headers = [
        part for value in values if value is not None for part in (_JOINED.split(value) if "," in value else (value,))
    ]
    if not headers:
        raise MissingTokenError()
    if len(headers) > 1:
        raise InvalidRequestError("duplicate_token")
    value = headers[0]
    if len(value) > MAX_HEADER_LENGTH:
        raise InvalidRequestError("malformed_authorization")
    scheme, _, credentials = value.strip(" \t").partition(" ")
    name = scheme.lower()
    if name != "bearer" and not (dpop and name == "dpop"):
        if not scheme:
            raise InvalidRequestError("malformed_authorization")
        raise MissingTokenError()
    token = credentials.strip(" ")
    if not token or not _B64TOKEN.fullmatch(token):
        raise InvalidRequestError("malformed_authorization")
    return ("Bearer" if name == "bearer" else "DPoP"), token


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    """Whether a request is a CORS preflight (``OPTIONS`` with ``Access-Control-Request-Method``).

    ``headers`` must be keyed by lower-case names.
    """
    return method.upper() == "OPTIONS" and "access-control-request-method" in headers
