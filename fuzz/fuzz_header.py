#!/usr/bin/env python3
"""Fuzz the ``Authorization`` header: the parser, and the ASGI and WSGI middleware around it.

Run (see fuzz/README.md)::

    python fuzz/fuzz_header.py -max_total_time=60 fuzz/corpus/header

Input layout: the first byte picks the request (bits 0-1: ``GET``, ``HEAD``,
``POST``, or an ``OPTIONS`` CORS preflight; bit 2: the path is excluded from
authentication; bit 3: the path takes optional authentication). The rest,
split at ``\\n``, is the raw bytes of each ``Authorization`` header (none when
empty), as a server hands them over.

Findings: any exception escaping :func:`jwtguard.bearer.extract_credentials` other
than ``MissingTokenError`` / ``InvalidRequestError``; a token that is not an
RFC 6750 ``b64token`` taken from the header; a parse slower than
:data:`TIME_BUDGET`, also once the first header is repeated up to
``MAX_HEADER_LENGTH``; a middleware answer other than what the core decides
(status, challenge), a 5xx, or a header with characters RFC 6750 forbids; the
ASGI and WSGI middleware disagreeing on a single header.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import _harness as h  # fuzz/ is on sys.path: run as a script, or added by the tests

import jwtguard
from jwtguard.asgi import JWTGuardMiddleware as AsgiGuard
from jwtguard.bearer import MAX_HEADER_LENGTH, extract_credentials
from jwtguard.wsgi import JWTGuardMiddleware as WsgiGuard

#: Seconds one parse may take; parsing is linear, so even 64 KiB should take microseconds.
TIME_BUDGET = 0.25
MAX_VALUES = 8
REALM = "api"
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_METHODS = ("GET", "HEAD", "POST", "OPTIONS")
_PATHS = ("/messages", "/health", "/maybe")
_VALIDATOR = h.validators()["cached"]


async def _app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


_ASGI = AsgiGuard(_app, validator=_VALIDATOR, realm=REALM, exclude_paths=["/health"], optional_paths=["/maybe"])
_WSGI = WsgiGuard(_wsgi_app, validator=_VALIDATOR, realm=REALM, exclude_paths=["/health"], optional_paths=["/maybe"])


def request_of(data: bytes) -> tuple[str, str, list[bytes]]:
    """Turn a fuzz input into ``(method, path, raw Authorization values)``."""
    if not data:
        return "GET", "/messages", []
    flags, rest = data[0], data[1:]
    path = _PATHS[1] if flags & 4 else _PATHS[2] if flags & 8 else _PATHS[0]
    values = rest.split(b"\n")[:MAX_VALUES] if rest else []
    return _METHODS[flags & 3], path, values


def expected_status(method: str, path: str, values: list[str]) -> int:
    """What the core decides for this request, computed without any middleware."""
    if path == "/health" or method == "OPTIONS":
        return 200
    headers = [("authorization", value) for value in values]
    try:
        _VALIDATOR.authenticate(method, "http://testserver" + path, headers, optional=path == "/maybe")
    except jwtguard.AuthError as error:
        return error.status_code
    return 200


def _parse(values: list[str]) -> str | None:
    started = time.perf_counter()
    try:
        token = extract_credentials(values, dpop=True)[1]
    except (jwtguard.MissingTokenError, jwtguard.InvalidRequestError) as error:
        h.check_error(error)
        token = None
    elapsed = time.perf_counter() - started
    h.expect(elapsed < TIME_BUDGET, f"parsing {sum(map(len, values))} characters took {elapsed:.2f} s")
    return token


def check_parser(values: list[str]) -> None:
    """Parse the header values; check the token or the error, and the time it took."""
    token = _parse(values)
    if token is not None:
        h.expect(_B64TOKEN.fullmatch(token), f"token outside RFC 6750 b64token: {token!r}")
        h.expect(len(values) == 1 and token in values[0], "token not taken from the one header")
    if values and values[0]:
        # Bounded input, bounded time: the first value repeated up to the length limit must parse
        # as fast. Fuzzers rarely grow inputs to tens of KiB; this finds superlinear patterns anyway.
        filled = values[0] * (MAX_HEADER_LENGTH // len(values[0]) + 1)
        _parse([filled[:MAX_HEADER_LENGTH]])


def _check_headers(status: int, headers: list[tuple[str, str]], body: bytes, method: str) -> dict[str, str]:
    h.expect(status in (200, 400, 401, 403), f"answered {status}")
    for name, value in headers:
        h.expect(re.fullmatch(r"[\x21-\x7e]+", name), f"bad header name {name!r}")
        h.expect(re.fullmatch(r"[\x20-\x7e]*", value), f"bad header value {value!r}")
    named = {name.lower(): value for name, value in headers}
    if status in (400, 401, 403):
        h.check_challenge(named["www-authenticate"])
        if method != "HEAD":
            answer = json.loads(body)
            h.expect(set(answer) == {"error", "error_description"}, f"error body {answer}")
    return named


def run_asgi(method: str, path: str, values: list[bytes]) -> tuple[int, dict[str, str]]:
    """Send the request through the ASGI middleware; return its status and headers."""
    preflight = [(b"access-control-request-method", b"GET")] if method == "OPTIONS" else []
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"authorization", value) for value in values] + preflight,
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(dict(message))

    h.run_sync(_ASGI(scope, receive, send))
    h.expect(messages and messages[0]["type"] == "http.response.start", "no response started")
    start = messages[0]
    headers = [(bytes(name).decode("latin-1"), bytes(value).decode("latin-1")) for name, value in start["headers"]]
    body = b"".join(message.get("body", b"") for message in messages[1:])
    return start["status"], _check_headers(start["status"], headers, body, method)


def run_wsgi(method: str, path: str, value: str | None) -> tuple[int, dict[str, str]]:
    """Send the request through the WSGI middleware (one joined header, as WSGI servers give it)."""
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": ""}
    if value is not None:
        environ["HTTP_AUTHORIZATION"] = value
    if method == "OPTIONS":
        environ["HTTP_ACCESS_CONTROL_REQUEST_METHOD"] = "GET"
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda chunk: None

    body = b"".join(_WSGI(environ, start_response))
    h.expect(len(started) == 1, "start_response not called exactly once")
    status_line, headers = started[0]
    status = int(status_line.split(" ", 1)[0])
    return status, _check_headers(status, headers, body, method)


def one_input(data: bytes) -> None:
    """The fuzz target: raise on any finding, return quietly otherwise."""
    method, path, raw = request_of(data)
    values = [value.decode("latin-1") for value in raw]  # what ASGI and WSGI servers do (RFC 9110 §5.5)
    check_parser(values)
    expected = expected_status(method, path, values)
    status, headers = run_asgi(method, path, raw)
    h.expect(status == expected, f"ASGI answered {status}, the core decided {expected}")
    if len(values) <= 1:
        wsgi_status, wsgi_headers = run_wsgi(method, path, values[0] if values else None)
        h.expect(wsgi_status == status, f"WSGI answered {wsgi_status}, ASGI {status}")
        same = wsgi_headers.get("www-authenticate") == headers.get("www-authenticate")
        h.expect(same, "ASGI and WSGI challenges differ")
    else:
        run_wsgi(method, path, ", ".join(values))  # joined as a server would: any answer but a crash


def main() -> None:
    import atheris  # type: ignore  # untyped, and optional

    h.instrument(atheris)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
