"""The JSON of a token's header and payload: decided by the standard library, parsed by orjson when it may.

The rule: a text is accepted, and decodes to the value it decodes to, exactly as
with the standard library alone (:func:`_stdlib`: strict UTF-8, RFC 8259 with
surrounding whitespace, no ``NaN`` or ``Infinity``, integers of any size,
``1e400`` as infinity, nesting bounded by the interpreter's recursion limit).
With the ``jwtguard[orjson]`` extra (orjson 3.9.15 or later; earlier releases do
not bound nesting), orjson parses first, and its value stands only where it
cannot differ:

* a text that is not ASCII is decoded by Python's UTF-8 codec before orjson sees
  it, so both judge the same characters;
* any orjson error hands the text to the standard library, which decides: orjson
  refuses lone-surrogate escapes, numbers beyond the double range and nesting
  beyond 1024, which the standard library may accept (and :mod:`._jose` then
  judges the same value either way);
* a value holding a float of magnitude 2**63 or more (orjson's float for an
  integer beyond 64 bits, which the standard library keeps exact), or nested
  deeper than :data:`MAX_DEPTH`, is decoded again by the standard library, whose
  answer is final.

Anything else orjson accepts is RFC 8259 JSON the standard library accepts with
an equal value: floats correctly rounded by both, the last of duplicate names
wins in both, ``-0`` is the integer 0. ``tests/test_json_decoders.py`` holds the
two to it, on crafted and on random input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from importlib import import_module
from typing import Any, NoReturn

__all__ = ["MAX_DEPTH", "available", "current", "loads", "use"]

#: Nesting orjson's value may have and stand: the standard library's own bound is the recursion
#: limit less the caller's stack, so deeper values are left to it (claims nest a few levels).
MAX_DEPTH = 32
#: orjson keeps integers in [-2**63, 2**64) exact and turns any other into a float this large or larger.
_LOSSY = 2.0**63
_DOUBTFUL = frozenset({float, dict, list})  # what orjson returns besides str, int, bool and None
_FIRST_BOUNDED = (3, 9, 15)  # orjson.loads limits nesting since 3.9.15 (CVE-2024-27454)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"JSON constant {name} is not allowed")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _stdlib(data: bytes) -> Any:
    """The standard library's decision: the value, or ``ValueError`` / ``RecursionError``."""
    text = data.decode("utf-8")
    try:
        value, end = _DECODER.raw_decode(text)
        if end == len(text):
            return value
    except ValueError:
        pass
    return _DECODER.decode(text)  # surrounding whitespace is valid JSON; anything else raises here


def _doubtful(value: Any) -> bool:
    """Whether orjson's ``value`` may differ from the standard library's: a float from a big integer, deep nesting."""
    kind = type(value)
    if kind is float:
        return not -_LOSSY < value < _LOSSY
    if kind is not dict and kind is not list:
        return False
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        container, depth = pending.pop()
        for item in container.values() if type(container) is dict else container:
            kind = type(item)
            if kind is float:
                if not -_LOSSY < item < _LOSSY:
                    return True
            elif kind is dict or kind is list:
                if depth >= MAX_DEPTH:
                    return True
                pending.append((item, depth + 1))
    return False


def _compiled(parse: Callable[[bytes | str], Any]) -> Callable[[bytes], Any]:
    """``loads`` through orjson's ``parse``, deferring to :func:`_stdlib` by the rule above."""

    def orjson_loads(data: bytes) -> Any:
        try:
            value = parse(data if data.isascii() else data.decode("utf-8"))
        except ValueError:  # orjson.JSONDecodeError, or not UTF-8
            return _stdlib(data)
        if type(value) is dict and _DOUBTFUL.isdisjoint(map(type, value.values())):
            return value  # the common case: no float, nothing nested (isdisjoint builds no set)
        if _doubtful(value):
            return _stdlib(data)
        return value

    return orjson_loads


def _version(text: str) -> tuple[int, ...]:
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(map(int, match.groups())) if match else ()


def _import_orjson() -> Callable[[bytes | str], Any] | None:
    try:
        module = import_module("orjson")
    except ImportError:
        return None
    if _version(getattr(module, "__version__", "")) < _FIRST_BOUNDED:
        return None
    parse: Callable[[bytes | str], Any] = module.loads
    return parse


_DECODERS: dict[str, Callable[[bytes], Any]] = {"json": _stdlib}
_orjson_parse = _import_orjson()
if _orjson_parse is not None:
    _DECODERS["orjson"] = _compiled(_orjson_parse)

#: Decode one header or payload (UTF-8 bytes); raises ``ValueError`` or ``RecursionError``.
loads: Callable[[bytes], Any] = _DECODERS.get("orjson", _stdlib)
_current = "orjson" if "orjson" in _DECODERS else "json"
_on_change: list[Callable[[], None]] = []  # caches of decoded values, cleared when the decoder changes


def available() -> tuple[str, ...]:
    """The decoders this interpreter has: ``("json",)``, or ``("json", "orjson")`` with the extra."""
    return tuple(_DECODERS)


def current() -> str:
    """The decoder :data:`loads` uses now."""
    return _current


def use(name: str | None = None) -> str:
    """Decode with ``name`` (``"json"`` or ``"orjson"``; ``None``: the best available); returns the previous.

    For the tests and the benchmark, which hold both decoders to the same results.

    Raises:
        LookupError: ``name`` is not available.
    """
    global loads, _current
    previous = _current
    chosen = name if name is not None else available()[-1]
    if chosen not in _DECODERS:
        raise LookupError(f"JSON decoder {chosen!r} is not available (have: {', '.join(_DECODERS)})")
    loads, _current = _DECODERS[chosen], chosen
    for clear in _on_change:
        clear()
    return previous
