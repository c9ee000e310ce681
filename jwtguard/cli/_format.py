"""Terminal output helpers: safe values, dates, shortened tokens, decoded segments.

Everything printed that comes from a token goes through :func:`show`, which
escapes control characters, so a hostile claim cannot drive the terminal.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

from .._checks import as_number
from .._jose import b64url_decode

__all__ = ["DATE_CLAIMS", "abbreviate", "decode_segment", "duration", "print_mapping", "show", "when"]

#: Claims holding NumericDates (RFC 7519 §2), printed with a readable date.
DATE_CLAIMS = frozenset({"exp", "nbf", "iat", "auth_time", "updated_at"})
_MAX_SHOWN = 160


def show(value: Any) -> str:
    """A value as JSON with every non-ASCII and control character escaped, shortened."""
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def duration(seconds: float) -> str:
    """``42 s``, ``5 min``, ``3 h``, ``2 days``."""
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def when(timestamp: Any, now: float) -> str:
    """A NumericDate with its UTC date and how far from ``now`` it is."""
    if as_number(timestamp) is None:
        return show(timestamp) + " (not a number)"
    try:
        date = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        date = "out of range"
    delta = timestamp - now
    relative = "now" if abs(delta) < 1 else (f"in {duration(delta)}" if delta > 0 else f"{duration(delta)} ago")
    return f"{show(timestamp)} ({date}, {relative})"


def abbreviate(token: str, keep: int = 16) -> str:
    """The start of a token and its length: enough to tell tokens apart, not to use one."""
    return f"{token[:keep]}... ({len(token)} chars)"


def decode_segment(segment: str) -> dict[str, Any] | None:
    """A base64url JSON object segment of a JWS, or ``None`` when it is not one."""
    try:
        value = json.loads(b64url_decode(segment).decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def print_mapping(mapping: Mapping[str, Any], now: float, indent: str = "  ") -> None:
    """Print ``name: value`` lines, with readable dates for NumericDate claims."""
    labels = {name: show(name)[1:-1] if isinstance(name, str) else show(name) for name in mapping}
    width = max((len(label) for label in labels.values()), default=0)
    for name, value in mapping.items():
        text = when(value, now) if name in DATE_CLAIMS else show(value)
        print(f"{indent}{labels[name]:<{width}}  {text}")
