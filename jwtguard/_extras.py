"""Optional dependencies: an adapter imported without its framework says which extra installs it."""

from __future__ import annotations

import importlib

__all__ = ["require"]


def require(module: str, extra: str, what: str) -> None:
    """Import ``module``, or raise :class:`ModuleNotFoundError` naming the extra that installs it.

    Called at the top of an adapter, before its framework imports::

        require("fastapi", "fastapi", "jwtguard.fastapi needs FastAPI")

    raises, when FastAPI (or one of its own dependencies) cannot be imported,
    ``ModuleNotFoundError('jwtguard.fastapi needs FastAPI: pip install "jwtguard[fastapi]"')``,
    chained to the original error.
    """
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(f'{what}: pip install "jwtguard[{extra}]"', name=error.name) from error
