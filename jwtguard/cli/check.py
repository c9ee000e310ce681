"""``jwtguard check TOKEN --issuer … --audience …``: why an API accepts or rejects a token.

Prints the decoded header and claims (never the signature), one line per
check, hints for the usual mistakes, and the :class:`~jwtguard.Validator`'s
verdict. Exit status: 0 valid, 1 invalid, 2 usage or configuration error
(including a key set that cannot be fetched: the token could not be judged).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ..errors import AuthError, ConfigurationError, KeySetUnavailableError
from ..validator import DEFAULT_LEEWAY, Validator
from ._diagnose import Diagnosis, diagnose
from ._format import print_mapping

__all__ = ["add_parser", "run"]

_MARK = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}


def add_parser(commands: Any) -> None:
    """Register ``check`` on the ``jwtguard`` sub-command parsers."""
    parser = commands.add_parser(
        "check",
        help="explain why an access token is accepted or rejected",
        description="Run every check on an access token, print each result, the decoded header and claims, "
        "and hints for the usual mistakes. The verdict is jwtguard.Validator's.",
        epilog="exit status: 0 valid, 1 invalid, 2 usage or configuration error (or key set unreachable)",
    )
    parser.add_argument("token", metavar="TOKEN", help="the access token, or - to read it from standard input")
    parser.add_argument("--issuer", required=True, help="the expected issuer (exact match on iss)")
    parser.add_argument("--audience", required=True, action="append", help="an accepted audience (repeatable)")
    parser.add_argument("--jwks-uri", help="the key set URL (default: OIDC discovery from the issuer)")
    parser.add_argument(
        "--scope", action="append", default=[], help="a scope the token must grant (repeatable, or space-separated)"
    )
    parser.add_argument("--algorithm", action="append", help="an allowed algorithm (repeatable; default RS256)")
    parser.add_argument(
        "--leeway", type=float, default=DEFAULT_LEEWAY, help=f"clock skew allowed, seconds (default {DEFAULT_LEEWAY:g})"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="key set fetch timeout, seconds (default 5)")
    parser.add_argument(
        "--allow-insecure-http", action="store_true", help="allow plain http:// to non-loopback hosts (unsafe)"
    )
    parser.set_defaults(run=run)


def _read_token(argument: str) -> tuple[str, list[str]]:
    raw = sys.stdin.read() if argument == "-" else argument
    token = raw.strip()
    if token[:7].lower() == "bearer ":
        hint = "The token started with 'Bearer ': give only the token, not the Authorization header value."
        return token[7:].strip(), [hint]
    return token, []


def run(args: argparse.Namespace) -> int:
    """Check the token; print the report; return the exit status."""
    token, hints = _read_token(args.token)
    if not token:
        print("jwtguard check: no token given", file=sys.stderr)
        return 2
    scopes = [scope for item in args.scope for scope in item.split()]
    algorithms = args.algorithm or ["RS256"]
    try:
        validator = Validator(
            issuer=args.issuer,
            audience=args.audience,
            algorithms=algorithms,
            jwks_uri=args.jwks_uri,
            leeway=args.leeway,
            timeout=args.timeout,
            allow_insecure_http=args.allow_insecure_http,
            required_scopes=scopes,
        )
    except ConfigurationError as exc:
        print(f"jwtguard check: configuration error: {exc}", file=sys.stderr)
        return 2
    error: AuthError | None = None
    try:
        validator.validate(token)
    except AuthError as exc:
        error = exc
    now = time.time()
    found = diagnose(
        token,
        issuer=args.issuer,
        audiences=args.audience,
        algorithms=algorithms,
        scopes=scopes,
        leeway=args.leeway,
        now=now,
        error=error,
    )
    found.hints[:0] = hints
    _print_report(found, now, error)
    if isinstance(error, KeySetUnavailableError):
        return 2
    return 0 if error is None else 1


def _print_report(found: Diagnosis, now: float, error: AuthError | None) -> None:
    if found.header is not None:
        print("Header")
        print_mapping(found.header, now)
    if found.payload is not None:
        print("Claims (decoded locally; the signature is not shown)")
        print_mapping(found.payload, now)
    print("Checks")
    width = max(len(line.name) for line in found.lines)
    for line in found.lines:
        print(f"  {_MARK[line.status]}  {line.name:<{width}}  {line.detail}")
    if found.hints:
        print("Hints")
        for hint in found.hints:
            print(f"  * {hint}")
    if error is None:
        print("Result: VALID: the API accepts this token")
    else:
        where = ", ".join(
            f"{name}={value}" for name, value in (("claim", error.claim), ("reason", error.reason)) if value
        )
        print(f"Result: INVALID: {error.code}{f' ({where})' if where else ''}: {error.description}")
