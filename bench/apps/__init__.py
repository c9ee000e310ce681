"""Small apps the HTTP benchmark serves, configured from ``BENCH_*`` environment variables.

``BENCH_AUTH``: ``none`` (no authentication at all), ``jwtguard`` (the framework's own
adapter) or ``wsgi`` (the Flask app behind :class:`jwtguard.wsgi.JWTGuardMiddleware`);
``BENCH_ISSUER`` / ``BENCH_AUDIENCE``: the validator's issuer and audience
(its keys come by OIDC discovery from that issuer, once per process);
``BENCH_TOKEN_CACHE_SIZE``: the validator's ``token_cache_size`` (default: jwtguard's).
"""

from __future__ import annotations

import os

import jwtguard
from jwtguard.validator import DEFAULT_TOKEN_CACHE_SIZE

#: What the unauthenticated endpoint answers: the same body the guarded one sends.
SUBJECT = "user-123"
SCOPE = "read:messages"


def mode() -> str:
    """``none``, ``jwtguard`` or ``wsgi``: how this process's app is protected."""
    value = os.environ.get("BENCH_AUTH", "none")
    if value not in ("none", "jwtguard", "wsgi"):
        raise SystemExit(f"BENCH_AUTH must be 'none', 'jwtguard' or 'wsgi', not {value!r}")
    return value


def guarded() -> bool:
    """Whether this process serves a jwtguard-protected app."""
    return mode() != "none"


def validator() -> jwtguard.Validator:
    """The validator described by the environment."""
    size = os.environ.get("BENCH_TOKEN_CACHE_SIZE")
    return jwtguard.Validator(
        issuer=os.environ["BENCH_ISSUER"],
        audience=os.environ["BENCH_AUDIENCE"],
        token_cache_size=int(size) if size else DEFAULT_TOKEN_CACHE_SIZE,
    )
