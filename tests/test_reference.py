"""The examples of docs/reference.md run, in order, as one script."""

from __future__ import annotations

import re
from pathlib import Path

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference.md"


def test_reference_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", REFERENCE.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "reference"}
    for block in blocks:
        exec(compile(block, str(REFERENCE), "exec"), namespace)  # our own documentation
