"""When to renew and retry: reading the API's ``WWW-Authenticate`` challenges (RFC 9110 §11.6.1).

A client renews its token and retries only when the API answers 401 with a
challenge of its scheme carrying ``error="invalid_token"`` (RFC 6750 §3.1: the
token expired, was revoked or is otherwise invalid). Any other 401 (no token
seen, a malformed request) and every 403 are returned as they are: a new token
would not change them.

>>> wants_new_token(401, ['Bearer realm="api", error="invalid_token", error_description="The access token expired"'])
True
>>> wants_new_token(401, ['Basic realm="x", Bearer realm="api"'])
False
>>> challenges('Basic realm="a, b", Bearer error=invalid_token')
[('basic', {'realm': 'a, b'}), ('bearer', {'error': 'invalid_token'})]
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["challenges", "sent_token", "wants_new_token"]

_NAME = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PARAM = re.compile(rf"({_NAME})[ \t]*=[ \t]*({_NAME}|{_QUOTED})")
_SCHEME = re.compile(_NAME)
_CREDENTIALS68 = re.compile(r"[ \t]+[A-Za-z0-9._~+/-]+=*[ \t]*(?=,|$)")
_ESCAPE = re.compile(r"\\(.)")


def challenges(header: str) -> list[tuple[str, dict[str, str]]]:
    """The challenges of a ``WWW-Authenticate`` value: ``(scheme in lower case, {param: value})``.

    Tolerant: text it cannot read is skipped up to the next comma.
    """
    found: list[tuple[str, dict[str, str]]] = []
    pos, end = 0, len(header)
    while pos < end:
        if header[pos] in " \t,":
            pos += 1
            continue
        param = _PARAM.match(header, pos)
        if param and found:
            value = param.group(2)
            if value.startswith('"'):
                value = _ESCAPE.sub(r"\1", value[1:-1])
            found[-1][1].setdefault(param.group(1).lower(), value)
            pos = param.end()
            continue
        scheme = _SCHEME.match(header, pos)
        if scheme and not param:
            found.append((scheme.group().lower(), {}))
            token68 = _CREDENTIALS68.match(header, scheme.end())  # e.g. "Negotiate abc=="
            pos = token68.end() if token68 else scheme.end()
            continue
        comma = header.find(",", pos)
        pos = end if comma < 0 else comma + 1
    return found


def wants_new_token(status: int, headers: Iterable[str], scheme: str = "bearer") -> bool:
    """Whether a response (its status and ``WWW-Authenticate`` values) asks for a new token."""
    if status != 401:
        return False
    return any(
        name == scheme and params.get("error") == "invalid_token"
        for header in headers
        for name, params in challenges(header)
    )


def sent_token(authorization: str | None, scheme: str = "bearer") -> str | None:
    """The token in an ``Authorization`` value of ``scheme``, or ``None``."""
    if authorization is None:
        return None
    name, _, token = authorization.strip().partition(" ")
    if name.lower() != scheme or not token.strip():
        return None
    return token.strip()
