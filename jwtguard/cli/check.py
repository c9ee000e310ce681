"""``jwtguard check TOKEN --issuer … --audience …``: why an API accepts or rejects a token.

Prints the decoded header and claims (never the signature), one line per
check, hints for the usual mistakes, and the :class:`~jwtguard.Validator`'s
verdict. The verdict's word and the exit status come from one table,
:class:`Verdict`: ``VALID`` 0, ``INVALID`` 1, ``COULD NOT CHECK`` 2 (the key set
could not be fetched or used, or the validator failed: the token was not
judged), and 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any

from ..errors import AuthError, ConfigurationError, KeySetUnavailableError
from ..validator import DEFAULT_LEEWAY, Validator
from ._diagnose import Diagnosis, diagnose, key_set_problem
from ._format import print_mapping

__all__ = ["Verdict", "add_parser", "conclude", "judge", "run"]

_MARK = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}

#: The wall clock, read once per check: the validator and the report judge the same instant
#: (a key-set fetch may take seconds, in which a token can expire).
clock: Callable[[], float] = time.time


class Verdict(Enum):
    """The outcomes of ``jwtguard check``: the word printed for each, and its exit status.

    The one table of both: :func:`conclude` prints the word and returns the status.
    """

    VALID = ("VALID", 0)
    INVALID = ("INVALID", 1)
    COULD_NOT_CHECK = ("COULD NOT CHECK", 2)
    USAGE_ERROR = ("error", 2)

    @property
    def label(self) -> str:
        label: str = self.value[0]
        return label

    @property
    def status(self) -> int:
        status: int = self.value[1]
        return status


def judge(error: BaseException | None) -> tuple[Verdict, str]:
    """The verdict on what :meth:`~jwtguard.Validator.validate` raised (``None``: nothing), and why."""
    if error is None:
        return Verdict.VALID, "the API accepts this token"
    if isinstance(error, KeySetUnavailableError):
        return Verdict.COULD_NOT_CHECK, key_set_problem(error)
    if isinstance(error, AuthError):
        where = ", ".join(
            f"{name}={value}" for name, value in (("claim", error.claim), ("reason", error.reason)) if value
        )
        return Verdict.INVALID, f"{error.code}{f' ({where})' if where else ''}: {error.description}"
    return Verdict.COULD_NOT_CHECK, f"the validator failed ({type(error).__name__})"


def conclude(verdict: Verdict, detail: str) -> int:
    """Print the verdict (a usage error on standard error) and return its exit status."""
    if verdict is Verdict.USAGE_ERROR:
        print(f"jwtguard check: {verdict.label}: {detail}", file=sys.stderr)
    else:
        print(f"Result: {verdict.label}: {detail}")
    return verdict.status


def add_parser(commands: Any) -> None:
    """Register ``check`` on the ``jwtguard`` sub-command parsers."""
    parser = commands.add_parser(
        "check",
        help="explain why an access token is accepted or rejected",
        description="Run every check on an access token, print each result, the decoded header and claims, "
        "and hints for the usual mistakes. The verdict is jwtguard.Validator's.",
        epilog="exit status: 0 valid, 1 invalid, 2 could not check (key set unavailable) or usage error",
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


@contextlib.contextmanager
def _quiet_library_log() -> Iterator[None]:
    """Keep jwtguard's own warnings (a failed key-set fetch) off the terminal: the report says it once."""
    logger = logging.getLogger("jwtguard")
    handler = logging.NullHandler()
    logger.addHandler(handler)  # a handler found: Python's last-resort stderr handler stays silent
    try:
        yield
    finally:
        logger.removeHandler(handler)


def run(args: argparse.Namespace) -> int:
    """Check the token; print the report; return the exit status."""
    try:
        token, hints = _read_token(args.token)
    except (OSError, UnicodeDecodeError) as exc:
        return conclude(Verdict.USAGE_ERROR, f"cannot read the token from standard input ({type(exc).__name__})")
    if not token:
        return conclude(Verdict.USAGE_ERROR, "no token given")
    scopes = [scope for item in args.scope for scope in item.split()]
    now = clock()
    try:
        validator = Validator(
            issuer=args.issuer,
            audience=args.audience,
            algorithms=args.algorithm or ["RS256"],
            jwks_uri=args.jwks_uri,
            leeway=args.leeway,
            timeout=args.timeout,
            allow_insecure_http=args.allow_insecure_http,
            required_scopes=scopes,
            token_cache_size=0,
            clock=lambda: now,
        )
    except ConfigurationError as exc:
        return conclude(Verdict.USAGE_ERROR, f"invalid configuration: {exc}")
    error: Exception | None = None
    with _quiet_library_log():
        try:
            validator.validate(token)
        except Exception as exc:  # an AuthError is the verdict; anything else leaves the token unjudged
            error = exc
    verdict, detail = judge(error)
    try:
        found = diagnose(
            token,
            issuer=args.issuer,
            audiences=args.audience,
            algorithms=validator.algorithms,
            scopes=validator.required_scopes,
            leeway=validator.leeway,
            now=now,
            error=error,
            jwks_uri=args.jwks_uri,
        )
        found.hints[:0] = hints
        _print_report(found, now)
    except Exception as exc:  # the report is an aid; the verdict and its exit status stand
        print(f"jwtguard check: the report failed ({type(exc).__name__})", file=sys.stderr)
    return conclude(verdict, detail)


def _print_report(found: Diagnosis, now: float) -> None:
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
