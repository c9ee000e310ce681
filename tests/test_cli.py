"""The ``jwtguard`` command: ``check`` (a test per hint), ``demo`` end to end, ``serve-issuer``."""

from __future__ import annotations

import base64
import functools
import importlib.util
import io
import json
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlencode

import jwt
import pytest

from jwtguard.cli import main
from jwtguard.testing import LocalIssuer, LocalServer, Response

HAS_DEMO_EXTRA = all(importlib.util.find_spec(name) is not None for name in ("starlette", "uvicorn"))
JWS = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(algorithm="ES256") as running:
        yield running


def check(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer, token: str, *options: str) -> tuple[int, str]:
    argv = ["check", token, "--issuer", issuer.issuer, "--audience", issuer.audience, "--algorithm", "ES256", *options]
    status = main(argv)
    return status, capsys.readouterr().out


def lines(output: str, mark: str) -> dict[str, str]:
    """The check lines with ``mark`` (PASS/FAIL/SKIP): name -> detail."""
    found = {}
    for line in output.splitlines():
        if line.startswith(f"  {mark}  "):
            name, _, detail = line[8:].partition("  ")
            found[name.strip()] = detail.strip()
    return found


# -- check: verdicts and exit status --------------------------------------------------------


def test_check_a_valid_token(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    token = issuer.token(scope="read:messages", sub="user-42")
    status, out = check(capsys, issuer, token, "--scope", "read:messages")
    assert status == 0
    assert "Result: VALID" in out
    assert set(lines(out, "PASS")) == {
        "format",
        "algorithm",
        "critical",
        "type",
        "issuer",
        "signature",
        "expiry",
        "not before",
        "issued at",
        "audience",
        "scope",
    }
    assert not lines(out, "FAIL")
    assert '"user-42"' in out  # the decoded claims
    assert "Header" in out
    assert token.split(".")[2] not in out  # never the signature
    assert "Hints" not in out


def test_check_reads_stdin(
    capsys: pytest.CaptureFixture[str], issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(issuer.token() + "\n"))
    status, out = check(capsys, issuer, "-")
    assert status == 0
    assert "Result: VALID" in out


def test_check_reports_every_failure_not_only_the_first(
    capsys: pytest.CaptureFixture[str], issuer: LocalIssuer
) -> None:
    token = issuer.factory().expired(seconds_ago=7200, aud="https://other.test", scope="")
    status, out = check(capsys, issuer, token, "--scope", "read:messages")
    assert status == 1
    assert {"expiry", "audience", "scope"} <= set(lines(out, "FAIL"))
    assert "Result: INVALID: token_expired" in out  # the validator's verdict: its first failure


def test_the_verdict_is_the_validators(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    # "exp" as a string: the unverified report and the validator agree it is invalid, and say which claim.
    status, out = check(capsys, issuer, issuer.token(exp="tomorrow"))
    assert status == 1
    assert "not a number" in lines(out, "FAIL")["expiry"]
    assert "Result: INVALID: invalid_claim (claim=exp, reason=not_a_number)" in out


def test_check_escapes_hostile_claims(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    status, out = check(capsys, issuer, issuer.token(sub="\x1b[2Jevil\r\n"))
    assert status == 0
    assert "\x1b" not in out
    assert "\\u001b[2Jevil\\r\\n" in out


# -- check: one test per hint ------------------------------------------------------------------


def test_hint_opaque_token(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    status, out = check(capsys, issuer, "Q3JhY2tlZCB0b2tlbi13aXRob3V0LWRvdHM")
    assert status == 1
    assert "opaque" in lines(out, "FAIL")["format"]
    assert "audience=<your API identifier>" in out
    assert "Result: INVALID: malformed_token" in out


def test_hint_encrypted_token(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "dir", "enc": "A256GCM"}).encode()).rstrip(b"=").decode()
    status, out = check(capsys, issuer, f"{header}..aXYtaXYtaXY.Y2lwaGVydGV4dA.dGFnLXRhZy10YWc")
    assert status == 1
    assert "JWE" in lines(out, "FAIL")["format"]
    assert '"A256GCM"' in out  # the readable JWE header
    assert "encrypted token" in out
    assert "audience=<your API identifier>" in out
    assert "Result: INVALID: encrypted_token" in out


def test_hint_id_token_sent_as_access_token(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    id_token = issuer.login(nonce="n-1")["id_token"]
    status, out = check(capsys, issuer, id_token)
    assert status == 1
    assert "audience" in lines(out, "FAIL")
    assert "looks like an ID token (it has nonce" in out
    assert "send the access token" in out


def test_hint_id_token_without_nonce(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    status, out = check(capsys, issuer, issuer.factory(client_id="spa").id_token(azp="spa"))
    assert status == 1
    assert "its aud is its azp (a client id)" in out


def test_hint_other_audience(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    status, out = check(capsys, issuer, issuer.factory().wrong_audience(scope="read:messages"))
    assert status == 1
    assert "ID token" not in out
    assert f"audience={issuer.audience}" in out


def test_hint_issuer_trailing_slash(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    argv = ["check", issuer.token(), "--issuer", issuer.url, "--audience", issuer.audience, "--algorithm", "ES256"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "differs only by a trailing slash" in out
    assert lines(out, "SKIP")["signature"] == "not checked: an earlier check failed"
    assert "Result: INVALID: unknown_issuer" in out


@pytest.mark.parametrize(
    ("claims", "line"),
    [
        ({"iat": "future"}, "issued at"),
        ({"nbf": "future"}, "not before"),
        ({"exp": "just_passed"}, "expiry"),
    ],
    ids=["iat_in_future", "nbf_in_future", "just_expired"],
)
def test_hint_clock_skew(
    capsys: pytest.CaptureFixture[str], issuer: LocalIssuer, claims: dict[str, str], line: str
) -> None:
    now = int(time.time())
    values = {"future": now + 90, "just_passed": now - 30}
    status, out = check(capsys, issuer, issuer.token(**{name: values[value] for name, value in claims.items()}))
    assert status == 1
    assert line in lines(out, "FAIL")
    assert "Clock skew?" in out
    assert "--leeway" in out


def test_no_clock_skew_hint_for_a_long_expired_token(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    status, out = check(capsys, issuer, issuer.factory().expired(seconds_ago=86400))
    assert status == 1
    assert "Clock skew?" not in out


def test_hint_shared_secret_algorithm(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    token = jwt.encode({"iss": issuer.issuer, "aud": issuer.audience, "exp": time.time() + 60}, "s" * 32, "HS256")
    status, out = check(capsys, issuer, token)
    assert status == 1
    assert '"HS256" is not allowed' in lines(out, "FAIL")["algorithm"]
    assert "shared secret" in out
    assert "Result: INVALID: alg_not_allowed" in out


def test_hint_missing_scope(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    status, out = check(capsys, issuer, issuer.token(scope="write:messages"), "--scope", "read:messages admin")
    assert status == 1
    assert lines(out, "FAIL")["scope"] == 'missing ["read:messages", "admin"]'
    assert "lacks a required scope" in out
    assert "Result: INVALID: insufficient_scope" in out


def test_hint_unknown_key(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    status, out = check(capsys, issuer, issuer.factory().other_key(same_kid=False))
    assert status == 1
    assert "no key fits" in lines(out, "FAIL")["signature"]
    assert "not in the issuer's key set" in out


def test_hint_bad_signature(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    status, out = check(capsys, issuer, issuer.factory().other_key())
    assert status == 1
    assert "does not verify" in lines(out, "FAIL")["signature"]
    assert "signature does not match" in out


def test_hint_bearer_prefix(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    status, out = check(capsys, issuer, "Bearer " + issuer.token())
    assert status == 0
    assert "give only the token" in out


def test_key_set_unreachable_is_exit_2(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    with LocalServer() as down:
        down.route("/jwks", lambda request: Response(500, "down"))
        status, out = check(capsys, issuer, issuer.token(), "--jwks-uri", down.url + "/jwks")
    assert status == 2
    assert "could not be fetched" in lines(out, "FAIL")["signature"]
    assert "--jwks-uri" in out
    assert "Result: INVALID: keyset_unavailable" in out


# -- check: usage and configuration errors --------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "x.y.z", "--issuer", "ftp://issuer.test/", "--audience", "a"],
        ["check", "x.y.z", "--issuer", "https://issuer.test/", "--audience", "a", "--algorithm", "none"],
        ["check", "x.y.z", "--issuer", "https://issuer.test/", "--audience", "a", "--leeway", "-1"],
        ["check", "x.y.z", "--issuer", "http://issuer.example/", "--audience", "a"],  # plain http, not loopback
        ["check", "x.y.z", "--audience", "a"],  # --issuer missing
        ["check"],
        ["no-such-command"],
    ],
)
def test_usage_and_configuration_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err


def test_empty_stdin_is_a_usage_error(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert main(["check", "-", "--issuer", "https://issuer.test/", "--audience", "a"]) == 2
    assert "no token" in capsys.readouterr().err


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "serve-issuer" in capsys.readouterr().out
    assert main(["check", "--help"]) == 0
    assert "--jwks-uri" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("jwtguard ")


# -- demo ------------------------------------------------------------------------------------------

DEMO_STEPS = [
    ("1. Log in", "[ok] 200 with an access token, an ID token and a refresh token"),
    ("2. Call the API", "[ok] 200: the API accepted the token"),
    ("3. Let the access token expire", '[ok] 401 with WWW-Authenticate error="invalid_token"'),
    ("4. Refresh", "[ok] 200 with a new access token and a new refresh token (rotation)"),
    ("5. Call the API with the new access token", "[ok] 200: the API accepted the token"),
    ("6. Replay the old", "[ok] 400 invalid_grant for both: the family is revoked"),
]


def assert_demo_output(out: str) -> None:
    position = 0
    for title, outcome in DEMO_STEPS:
        position = out.index(title, position)
        position = out.index(outcome, position)
    assert out.rstrip().endswith("Every step behaved as described.")
    assert "[FAILED]" not in out
    assert (
        'WWW-Authenticate: Bearer realm="api", error="invalid_token", error_description="The access token expired"'
        in out
    )
    assert '"error": "invalid_grant"' in out
    assert '"aud": ' not in out  # claims are printed as a table, not raw JSON
    assert re.search(r'aud\s+"test-client"', out)  # the ID token's audience is the client
    assert not JWS.search(out)  # tokens are shortened, never printed whole
    assert "test-password" not in out


@pytest.mark.skipif(not HAS_DEMO_EXTRA, reason="the demo extra (starlette, uvicorn) is not installed")
def test_demo_plays_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--fast-forward"]) == 0
    assert_demo_output(capsys.readouterr().out)


@pytest.mark.skipif(not HAS_DEMO_EXTRA, reason="the demo extra (starlette, uvicorn) is not installed")
def test_demo_waits_for_real_expiry_under_python_m() -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "jwtguard", "demo", "--access-token-lifetime", "1", "--leeway", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert_demo_output(result.stdout)
    assert "... waiting" in result.stdout
    assert time.monotonic() - started < 20


@pytest.mark.skipif(not HAS_DEMO_EXTRA, reason="the demo extra (starlette, uvicorn) is not installed")
def test_demo_fails_when_a_step_misbehaves(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from jwtguard.cli import demo

    # Without rotation, the refresh step gets no new refresh token: the demo must notice and exit 1.
    monkeypatch.setattr(demo, "LocalIssuer", functools.partial(LocalIssuer, refresh_token_rotation="none"))
    assert main(["demo", "--fast-forward"]) == 1
    out = capsys.readouterr().out
    assert "[FAILED] 200 with a new access token and a new refresh token (rotation)" in out
    assert "Step 4 did not behave as described." in out


def test_demo_without_the_extra_says_how_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real_find_spec(name, *a)
    )
    assert main(["demo"]) == 2
    assert 'pip install "jwtguard[demo]"' in capsys.readouterr().err


def test_demo_refuses_a_bad_lifetime(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--access-token-lifetime", "0"]) == 2
    assert "lifetime" in capsys.readouterr().err


# -- serve-issuer -------------------------------------------------------------------------------------


def test_serve_issuer_prints_a_working_request_and_stops_on_ctrl_c(capsys: pytest.CaptureFixture[str]) -> None:
    command = [sys.executable, "-m", "jwtguard", "serve-issuer", "--audience", "https://my-api.test"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            banner = []
            for line in process.stdout:
                banner.append(line)
                if line.startswith("Press Ctrl-C"):
                    break
            text = "".join(banner)
            issuer_url = re.search(r"issuer\s+(http://127\.0\.0\.1:\d+/)", text)
            assert issuer_url, text
            assert "for development only" in text
            curl = next(
                line.strip() for line in banner if line.strip().startswith("curl") and "client_credentials" in line
            )
            words = shlex.split(curl)
            form = dict(words[i + 1].split("=", 1) for i, word in enumerate(words) if word == "-d")
            client_id, secret = words[words.index("-u") + 1].split(":")
            request = urllib.request.Request(words[-1], data=urlencode(form).encode(), method="POST")
            request.add_header("Authorization", "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode())
            with _OPENER.open(request, timeout=5) as response:
                token = json.loads(response.read())["access_token"]
            assert main(["check", token, "--issuer", issuer_url.group(1), "--audience", "https://my-api.test"]) == 0
            assert "Result: VALID" in capsys.readouterr().out
        finally:
            process.send_signal(signal.SIGINT)
            try:
                rest, errors = process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
    assert process.returncode == 0
    assert rest.strip().endswith("stopped")
    assert "Traceback" not in errors


def test_serve_issuer_stops_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    from jwtguard.cli import build_parser, serve

    stop = threading.Event()
    stop.set()
    handler = signal.getsignal(signal.SIGTERM)
    assert serve.run(build_parser().parse_args(["serve-issuer", "--algorithm", "ES256"]), stop) == 0
    assert signal.getsignal(signal.SIGTERM) is handler  # restored
    out = capsys.readouterr().out
    assert "grant_type=password" in out
    assert out.rstrip().endswith("stopped")


def test_serve_issuer_on_a_busy_port_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["serve-issuer", "--port", str(busy.getsockname()[1])]) == 2
    assert "cannot start" in capsys.readouterr().err
