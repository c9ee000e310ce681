"""The ``jwtguard`` command (also ``python -m jwtguard``).

* ``jwtguard demo`` — the whole bearer-token flow against a local issuer and API;
* ``jwtguard check TOKEN --issuer … --audience …`` — why a token is accepted or not;
* ``jwtguard serve-issuer`` — a local issuer for development.

Exit status: 0 success (a valid token), 1 failure (an invalid token, a demo
step that misbehaved), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .. import __version__
from .check import add_parser as _add_check
from .demo import add_parser as _add_demo
from .serve import add_parser as _add_serve

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``jwtguard`` command."""
    parser = argparse.ArgumentParser(
        prog="jwtguard",
        description="Protect APIs with OAuth 2.0 / OpenID Connect JWT access tokens: tools for development.",
    )
    parser.add_argument("--version", action="version", version=f"jwtguard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_parser in (_add_demo, _add_check, _add_serve):
        add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error (status 2)
        return exit_.code if isinstance(exit_.code, int) else 2
    status: int = args.run(args)
    return status
