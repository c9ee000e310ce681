"""The examples of the feature pages in docs/ run, each page in order as one script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("page", ["dpop.md", "authorization.md"])
def test_page_examples_run(page: str) -> None:
    path = DOCS / page
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)
    assert blocks
    namespace: dict[str, object] = {"__name__": page}
    for block in blocks:
        exec(compile(block, str(path), "exec"), namespace)  # our own documentation
