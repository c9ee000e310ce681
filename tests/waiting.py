"""Waiting for a background thread (a key-set refresh nobody waits for) to reach a state."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], seconds: float = 5.0) -> bool:
    """Poll ``condition`` until it holds (``True``) or ``seconds`` of real time pass (``False``)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True
