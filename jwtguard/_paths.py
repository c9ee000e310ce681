"""Path sets for adapters' ``exclude_paths`` and ``optional_paths`` options."""

from __future__ import annotations

from collections.abc import Iterable

from .errors import ConfigurationError

__all__ = ["PathSet"]


class PathSet:
    """Exact paths, plus ``"/prefix/*"`` entries matching ``/prefix`` and everything below it.

    >>> paths = PathSet(["/health", "/public/*"], "exclude_paths")
    >>> "/health" in paths, "/public/docs/a" in paths, "/public/../admin" in paths, "/healthz" in paths
    (True, True, False, False)

    Raises:
        ConfigurationError: an entry that is not a path starting with ``/``.
    """

    __slots__ = ("exact", "prefixes")

    def __init__(self, paths: Iterable[str], option: str) -> None:
        paths = [paths] if isinstance(paths, str) else list(paths)
        if any(not isinstance(p, str) or not p.startswith("/") for p in paths):
            raise ConfigurationError(f"{option} entries must be paths starting with '/'")
        self.exact = frozenset(p for p in paths if not p.endswith("/*"))
        self.prefixes = tuple(p[:-2] for p in paths if p.endswith("/*"))

    def __contains__(self, path: str) -> bool:
        if path in self.exact:
            return True
        # A prefix never matches a path with dot segments ("/public/../admin"): routers may resolve them.
        if not self.prefixes or any(segment in (".", "..") for segment in path.split("/")):
            return False
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self.prefixes)
