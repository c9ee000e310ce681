"""Checking and normalising the options a :class:`~jwtguard.Validator` is given."""

from __future__ import annotations

import math
from collections.abc import Sequence
from collections.abc import Set as AbstractSet

from ._checks import as_number
from .errors import ConfigurationError

__all__ = ["media_type", "number", "seconds", "strings"]


def strings(value: str | Sequence[str] | None, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items: tuple[object, ...] = (value,)
    elif isinstance(value, (Sequence, AbstractSet)) and not isinstance(value, (bytes, bytearray)):
        items = tuple(value)
    else:
        raise ConfigurationError(f"{what} must be a non-empty string or a sequence of them")
    if not all(isinstance(item, str) and item for item in items):
        raise ConfigurationError(f"{what} must be a non-empty string or a sequence of them")
    return items  # type: ignore[return-value]


def seconds(value: float | None, what: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    number = as_number(value)
    if number is None or number < 0:
        raise ConfigurationError(f"{what} must be a finite number of seconds >= 0")
    return number


def number(value: object) -> float:
    """A finite JSON number as float, anything else as NaN."""
    number = as_number(value)
    return math.nan if number is None else number


def media_type(value: str) -> str:
    # RFC 7515 §4.1.9: "typ" is case-insensitive and may omit the "application/" prefix.
    value = value.lower()
    return value[len("application/") :] if value.startswith("application/") else value
