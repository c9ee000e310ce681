"""What :meth:`~jwtguard.Validator.authenticate` reads of a request, whatever the framework gave.

Headers arrive as a mapping (a ``dict``, Starlette's or werkzeug's
``Headers``, Django's ``request.headers``) or as ``(name, value)`` pairs (raw
ASGI headers), with ``str`` or ``bytes`` names and values. Only the headers
the policy reads are kept, every value of each: a repeated ``Authorization``
is a client error the policy must see, not something a dict may hide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidRequestError

__all__ = ["Headers", "only_authorization", "read_headers"]

#: A request's headers: a mapping, or (name, value) pairs; ``str`` or ``bytes``.
Headers = Mapping[Any, Any] | Iterable[tuple[Any, Any]]

_WANTED = {"authorization": "authorization", b"authorization": "authorization", "dpop": "dpop", b"dpop": "dpop"}


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")  # RFC 9110 §5.5: field values are octets
    raise TypeError("not a header value")


def read_headers(headers: Headers) -> dict[str, list[str]]:
    """The ``Authorization`` and ``DPoP`` values of ``headers``, by lower-case name, in order.

    Raises:
        InvalidRequestError: headers that are not names and values (never a 500).
    """
    found: dict[str, list[str]] = {"authorization": [], "dpop": []}
    items = headers.items() if isinstance(headers, Mapping) else headers
    try:
        for name, value in items:
            key = _WANTED.get(name) or _WANTED.get(name.lower())
            if key is not None:
                found[key].append(_text(value))
    except (TypeError, ValueError, AttributeError):
        raise InvalidRequestError("malformed_authorization") from None
    return found


def only_authorization(environ: Mapping[str, Any]) -> str | None:
    """``HTTP_AUTHORIZATION`` as text, if the request has no ``DPoP`` header (else ``None``).

    A server joins repeated headers with a comma, which the validator's index never holds.
    """
    value = environ.get("HTTP_AUTHORIZATION")
    return value if type(value) is str and "HTTP_DPOP" not in environ else None
