"""The examples run as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quickstart_validates_end_to_end() -> None:
    result = subprocess.run(
        [sys.executable, "examples/quickstart.py"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("valid token") and "-> 200 sub=user-42" in line for line in lines)
    assert any(line.startswith("expired token") and "-> 401 token_expired" in line for line in lines)
    assert any(line.startswith("missing scope") and "-> 403 insufficient_scope" in line for line in lines)
    assert 'error_description="The access token expired"' in result.stdout
    assert "fetched 1 time(s) for 5 validations" in result.stdout
