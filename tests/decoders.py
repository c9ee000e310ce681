"""Run a test under one JSON decoder of the framing (``jwtguard._json``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jwtguard import _json

DECODERS = ("json", "orjson")


def decoding_with(name: str) -> Iterator[str]:
    """For a fixture: frame tokens with ``name``'s decoder until the test ends (skipped if not installed)."""
    if name not in _json.available():
        pytest.skip('orjson is not installed: pip install "jwtguard[orjson]"')
    previous = _json.use(name)
    try:
        yield name
    finally:
        _json.use(previous)
