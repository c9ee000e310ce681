"""A tiny threaded HTTP server on 127.0.0.1 with a route table and hit counts."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["LocalServer", "Request", "Response"]


@dataclass
class Request:
    """What a route handler sees of a request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)

    def form(self) -> dict[str, str]:
        """The body as ``application/x-www-form-urlencoded`` (first value of each name)."""
        return {name: values[0] for name, values in parse_qs(self.body.decode("utf-8", "replace")).items()}


@dataclass
class Response:
    """What a route handler returns; a ``dict``/``list`` body is sent as JSON."""

    status: int = 200
    body: bytes | dict[str, Any] | list[Any] | str = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, (dict, list)):
            headers.setdefault("Content-Type", "application/json")
            body = json.dumps(self.body).encode()
        elif isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            body = self.body.encode()
        else:
            body = self.body
        return body, headers


Handler = Callable[[Request], Response]
#: Largest request body read, in bytes.
MAX_BODY = 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: LocalServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away (a reset, a broken pipe: a fetch that gave up) is not the
        # server's error. Printing its traceback from this thread would also race the main
        # thread's ast.parse on Python 3.11 ("AST constructor recursion depth mismatch").
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read hits instead
        pass

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length_header = self.headers.get("Content-Length") or "0"
        length = int(length_header) if length_header.isascii() and length_header.isdigit() else -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._send(Response(413 if length > MAX_BODY else 400, {"error": "invalid_request"}))
            return
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
        owner = self.server.owner
        with owner._lock:
            owner.hits[parts.path] += 1
            handler = owner.routes.get((self.command, parts.path)) or owner.routes.get(("*", parts.path))
        try:
            response = handler(request) if handler else Response(404, {"error": "not_found"})
        except Exception:  # a broken handler answers 500, it does not kill the connection
            response = Response(500, {"error": "server_error"})
        self._send(response)

    def _send(self, response: Response) -> None:
        payload, headers = response.encoded()
        self.send_response(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = _handle


class LocalServer:
    """A real HTTP server on 127.0.0.1 (a free port), run in a background thread.

    Routes map ``(method, path)`` (``"*"`` for any method) to a handler;
    ``hits`` counts requests per path. Use it as a context manager, or call
    :meth:`start` and :meth:`stop`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def route(self, path: str, handler: Handler, method: str = "*") -> None:
        """Serve ``path`` with ``handler``; ``method="*"`` replaces every earlier handler of ``path``."""
        with self._lock:
            if method == "*":
                for key in [key for key in self.routes if key[1] == path]:
                    del self.routes[key]
            self.routes[(method, path)] = handler

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the server is not running")
        return f"http://{self._host}:{self._server.server_address[1]}"

    def start(self) -> LocalServer:
        """Bind and serve in a background thread; return ``self``."""
        if self._server is None:
            self._server = _Server((self._host, self._port), _RequestHandler)
            self._server.owner = self
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                args=(0.05,),  # poll interval: stop() returns quickly
                name="jwtguard-local-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
