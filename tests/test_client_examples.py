"""The jwtguard.client examples run as a user runs them, and say what happened."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
JWS = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")

EXPECTED = {
    "client_httpx": [
        "sync call:                       200",
        "sync call after expiry:          200, 1 refresh",
        "on_tokens: stored a new token set",
        "20 async calls after expiry:     20 x 200, 1 refresh (shared)",
        "after a restart:                 200",
        "LoginRequiredError (invalid_grant)",
    ],
    "client_requests": [
        "call:                          200",
        'call after expiry:             401 Bearer realm="api", error="invalid_token"',
        "refreshed, sent again:       200",
        "20 threads after expiry:       20 x 200, 1 refresh (shared)",
        "streamed body after expiry:    401 (not sent again)",
    ],
    "client_credentials": [
        "20 concurrent calls:        20 x 200, 1 token request",
        "5 more calls:               5 x 200, 1 token request (cached)",
        "near the expiry:            200 {'sub': 'test-client@clients'}, 2 token requests",
        "with requests:              200",
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_client_example_runs(name: str) -> None:
    result = subprocess.run(
        [sys.executable, f"examples/{name}.py"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for line in EXPECTED[name]:
        assert line in result.stdout, result.stdout
    assert not JWS.search(result.stdout)  # no token is ever printed
    assert result.stderr == ""
