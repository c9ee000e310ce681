"""``jwtguard serve-issuer``: run a local issuer for development until Ctrl-C.

Prints the issuer URL, its endpoints, the test client and user, and
ready-to-paste ``curl`` requests that obtain, introspect and revoke tokens;
``--redis URL`` publishes revocations to Redis, where APIs whose validators
use a :class:`~jwtguard.stores.RedisStore` on it pick them up. Development only: the
issuer signs tokens for anyone who knows the test client's secret.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from typing import Any

from ..stores import Store
from ..testing import LocalIssuer
from ..testing._refresh import ROTATION_MODES
from ..testing.keys import SUPPORTED_ALGORITHMS
from ..testing.oauth import ACCESS_TOKEN_FORMATS, DEFAULT_CLIENT, DEFAULT_USER

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> None:
    """Register ``serve-issuer`` on the ``jwtguard`` sub-command parsers."""
    parser = commands.add_parser(
        "serve-issuer",
        help="run a local OAuth 2.0 / OIDC issuer for development",
        description="Run a local issuer (discovery, JWKS, POST /oauth/token, /oauth/revoke and "
        "/oauth/introspect) on 127.0.0.1 until Ctrl-C. For development only, never for production.",
    )
    parser.add_argument("--port", type=int, default=0, help="the port (default: a free one)")
    parser.add_argument("--audience", default="https://api.example.test", help="the default audience of tokens")
    parser.add_argument(
        "--algorithm",
        default="RS256",
        choices=SUPPORTED_ALGORITHMS,
        metavar="ALG",
        help="the signing algorithm (default RS256)",
    )
    parser.add_argument(
        "--access-token-lifetime", type=float, default=3600, help="access token lifetime, seconds (default 3600)"
    )
    parser.add_argument(
        "--refresh-token-rotation", default="rotate", choices=ROTATION_MODES, help="rotation mode (default rotate)"
    )
    parser.add_argument(
        "--access-token-format",
        default="jwt",
        choices=ACCESS_TOKEN_FORMATS,
        help="signed JWTs, or opaque strings that only introspection explains (default jwt)",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="publish revocations to this Redis (redis://127.0.0.1:6379/0), for APIs using RedisStore on it",
    )
    parser.set_defaults(run=run)


def _curl(endpoint: str, *fields: str) -> str:
    data = " ".join(f"-d {shlex.quote(field)}" for field in fields)
    client = f"{DEFAULT_CLIENT.client_id}:{DEFAULT_CLIENT.client_secret}"
    return f"curl -s -u {shlex.quote(client)} {data} {shlex.quote(endpoint)}"


def print_banner(issuer: LocalIssuer) -> None:
    """Print where the issuer is and how to get a token from it."""
    audience = f"audience={issuer.audience}"
    print("jwtguard local issuer: for development only, never for production")
    print(f"  issuer          {issuer.issuer}")
    print(f"  discovery       {issuer.url}/.well-known/openid-configuration")
    print(f"  JWKS            {issuer.jwks_uri}")
    print(f"  token endpoint  {issuer.token_endpoint}")
    print(f"  revocation      {issuer.revocation_endpoint}")
    print(f"  introspection   {issuer.introspection_endpoint}")
    print(f"  client          {DEFAULT_CLIENT.client_id} / {DEFAULT_CLIENT.client_secret}")
    print(f"  user            {DEFAULT_USER.username} / {DEFAULT_USER.password}")
    print(f"  audience        {issuer.audience}")
    print()
    print("Get an access token (client credentials):")
    print("  " + _curl(issuer.token_endpoint, "grant_type=client_credentials", "scope=read:messages", audience))
    print()
    print("Log the test user in (ID, access and refresh tokens):")
    user = (f"username={DEFAULT_USER.username}", f"password={DEFAULT_USER.password}")
    scope = "scope=openid profile email offline_access read:messages"
    print("  " + _curl(issuer.token_endpoint, "grant_type=password", *user, scope, audience))
    print()
    print("Get a token into $TOKEN and check it:")
    extract = shlex.quote('import json, sys; print(json.load(sys.stdin)["access_token"])')
    request = _curl(issuer.token_endpoint, "grant_type=client_credentials", "scope=read:messages", audience)
    print(f"  TOKEN=$({request} | python3 -c {extract})")
    issuer_arg, audience_arg = shlex.quote(issuer.issuer), shlex.quote(issuer.audience)
    print(f'  jwtguard check "$TOKEN" --issuer {issuer_arg} --audience {audience_arg}')
    client = f"{DEFAULT_CLIENT.client_id}:{DEFAULT_CLIENT.client_secret}"
    print()
    print("Introspect it (RFC 7662), then revoke it (RFC 7009; a refresh token logs its user out):")
    for endpoint in (issuer.introspection_endpoint, issuer.revocation_endpoint):
        print(f'  curl -s -u {shlex.quote(client)} -d "token=$TOKEN" {shlex.quote(endpoint)}')
    print()
    print("Press Ctrl-C to stop.", flush=True)


def _store(redis_url: str | None) -> Store | None:
    """The store revocations are published to (``--redis``), or ``None``.

    Raises:
        ImportError: redis-py is not installed.
        ValueError: a URL redis-py cannot read.
    """
    if redis_url is None:
        return None
    from ..stores import RedisStore

    return RedisStore(redis_url)


def run(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Serve until Ctrl-C (or until ``stop`` is set); return the exit status."""
    try:
        issuer = LocalIssuer(
            audience=args.audience,
            algorithm=args.algorithm,
            port=args.port,
            access_token_lifetime=args.access_token_lifetime,
            refresh_token_rotation=args.refresh_token_rotation,
            access_token_format=args.access_token_format,
            store=_store(args.redis),
        ).start()
    except (OSError, ValueError, OverflowError, ImportError) as exc:
        print(f"jwtguard serve-issuer: cannot start: {exc}", file=sys.stderr)
        return 2
    stop = stop or threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        # A container or process manager stops us with SIGTERM: shut down as cleanly as on Ctrl-C.
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        print_banner(issuer)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        issuer.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print("stopped")
    return 0
