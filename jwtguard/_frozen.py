"""Read-only JSON containers: what a validated token's nested claims are handed out as.

A cached :class:`~jwtguard.Claims` is returned to every later request that
sends the same token, so nothing reachable from it may change: one request's
``claims["permissions"].append("admin")`` would otherwise grant ``admin`` to
the next. :func:`freeze` turns a decoded JSON value's lists and objects into
:class:`FrozenList` and :class:`FrozenDict`: subclasses of ``list`` and
``dict`` (so ``json.dumps``, ``isinstance`` checks and ``==`` against plain
lists and dicts keep working) whose every mutating method raises
``TypeError``. Freezing happens once, when a token is first validated; a
cache hit costs nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn, SupportsIndex

__all__ = ["FrozenDict", "FrozenList", "freeze"]


def _read_only(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(f"{type(self).__name__} is read-only: validated claims cannot be changed")


class FrozenList(list[Any]):
    """A ``list`` that refuses every change."""

    __slots__ = ()

    append = extend = insert = pop = remove = clear = sort = reverse = _read_only
    __setitem__ = __delitem__ = _read_only

    def __iadd__(self, other: Iterable[Any]) -> NoReturn:  # type: ignore[misc]
        _read_only(self)

    def __imul__(self, count: SupportsIndex) -> NoReturn:
        _read_only(self)

    def __reduce__(self) -> tuple[type[FrozenList], tuple[list[Any]]]:
        # copy, deepcopy and pickle rebuild through the constructor, never through append.
        return (FrozenList, (list(self),))

    def __hash__(self) -> int:  # type: ignore[override]
        raise TypeError("unhashable type: 'FrozenList'")


class FrozenDict(dict[str, Any]):
    """A ``dict`` that refuses every change."""

    __slots__ = ()

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _read_only

    def __ior__(self, other: object) -> NoReturn:  # type: ignore[misc]
        _read_only(self)

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        return (FrozenDict, (dict(self),))

    def __hash__(self) -> int:  # type: ignore[override]
        raise TypeError("unhashable type: 'FrozenDict'")


_SCALARS = frozenset({str, int, float, bool, type(None)})


def freeze(value: Any) -> Any:
    """``value`` with every nested list and mapping replaced by a read-only twin (scalars as they are)."""
    if isinstance(value, Mapping):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return FrozenList([freeze(item) for item in value])
    if isinstance(value, tuple):
        return tuple(freeze(item) for item in value)
    return value


def freeze_members(payload: dict[str, Any]) -> dict[str, Any]:
    """Freeze the containers inside a decoded JSON object, in place; return it.

    Only for what ``json`` decoded (plain dicts, lists and scalars), which this
    walks faster than :func:`freeze` does.
    """
    for key, item in payload.items():
        kind = type(item)
        if kind is list:
            payload[key] = FrozenList(item) if _SCALARS.issuperset(map(type, item)) else freeze(item)
        elif kind is dict:
            payload[key] = freeze(item)
    return payload
