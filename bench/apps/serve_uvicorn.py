"""Serve an ASGI app with uvicorn on an inherited listening socket.

    python -m bench.apps.serve_uvicorn FD [APP]

``uvicorn --fd`` would wrap the descriptor as a Unix socket, so asyncio would
not set ``TCP_NODELAY`` on its connections and small responses would wait for
delayed ACKs; ``socket.socket(fileno=FD)`` detects the real family instead.
"""

from __future__ import annotations

import socket
import sys

import uvicorn


def main(argv: list[str]) -> None:
    fd = int(argv[0])
    app = argv[1] if len(argv) > 1 else "bench.apps.starlette_app:app"
    listener = socket.socket(fileno=fd)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main(sys.argv[1:])
