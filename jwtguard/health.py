"""A readiness report: are the signing keys loaded, and how old are they?

>>> from jwtguard import Validator
>>> validator = Validator(issuer="https://issuer.example/", audience="api")
>>> report = readiness(validator)
>>> report["ready"], report["key_sets"][0]["loaded"]
(False, False)

Serve it from a readiness endpoint (HTTP 200 when ``ready``, else 503); it
reads the cache only and never touches the network. Call
:meth:`~jwtguard.Validator.warm_up` at start-up so a new instance turns ready
before it takes traffic.
"""

from __future__ import annotations

from typing import Any

from .validator import Validator

__all__ = ["readiness"]


def readiness(validator: Validator) -> dict[str, Any]:
    """Return ``{"ready": bool, "key_sets": [...]}``; ready when every issuer has usable keys.

    Each key set reports ``issuer``, ``loaded``, ``key_count``, ``age_seconds``
    (since the last successful fetch; ``None`` for static keys or never),
    ``stale`` (older than the cache's max age, e.g. while the issuer is down)
    and ``last_error``.
    """
    key_sets = [
        {
            "issuer": status.issuer,
            "loaded": status.loaded,
            "key_count": status.key_count,
            "age_seconds": None if status.age is None else round(status.age, 3),
            "stale": status.stale,
            "last_error": status.last_error,
        }
        for status in validator.key_set_status()
    ]
    return {"ready": all(entry["loaded"] for entry in key_sets), "key_sets": key_sets}
