"""One worker of the fleet the multi-process tests start: a plain ASGI app over validator.aauthenticate.

Configured by the environment: ``JWTGUARD_*`` (read by ``Validator.from_env``) and
``FLEET_REDIS_URL`` (the shared store). The URL is fixed, as a public URL behind a
load balancer would be, so a DPoP proof made for one worker is valid for all.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jwtguard
from jwtguard.stores import RedisStore

PUBLIC_URL = "https://api.example.test/messages"
validator = jwtguard.Validator.from_env(store=RedisStore(os.environ["FLEET_REDIS_URL"]), store_sync_interval=0.1)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/health":
        status, body, headers = 200, {"pid": os.getpid()}, []
    else:
        try:
            claims = await validator.aauthenticate(scope["method"], PUBLIC_URL, scope["headers"])
            status, body, headers = 200, {"sub": claims.get("sub"), "pid": os.getpid()}, []
        except jwtguard.AuthError as error:
            status, body = error.status_code, {"error": error.code}
            headers = [(name.lower().encode(), value.encode()) for name, value in error.headers("api").items()]
    payload = json.dumps(body).encode()
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), *headers]}
    )
    await send({"type": "http.response.body", "body": payload})
