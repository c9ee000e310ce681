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
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import jwt
import pytest
from fake_clock import FakeClock

import jwtguard
import jwtguard.cli.check as cli_check
from jwtguard.cli import main
from jwtguard.testing import LocalIssuer, LocalServer, Response
from jwtguard.testing.keys import SigningKey

HAS_DEMO_EXTRA = all(importlib.util.find_spec(name) is not None for name in ("starlette", "uvicorn", "httpx"))
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
    assert 'no key with kid "unpublished-key"' in lines(out, "FAIL")["signature"]
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
        jwks_uri = down.url + "/jwks"
        status, out = check(capsys, issuer, issuer.token(), "--jwks-uri", jwks_uri)
    assert status == 2
    assert lines(out, "SKIP")["signature"] == "not checked: the key set could not be fetched (http_status)"
    assert not lines(out, "FAIL")
    assert f'Check --jwks-uri "{jwks_uri}"' in out
    assert "Result: COULD NOT CHECK: the key set could not be fetched (http_status)" in out
    assert "INVALID" not in out


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


# -- check: the verdict, its text and its exit status agree ------------------------------------------


def test_one_table_gives_each_verdict_its_word_and_exit_status() -> None:
    assert {verdict.label: verdict.status for verdict in cli_check.Verdict} == {
        "VALID": 0,
        "INVALID": 1,
        "COULD NOT CHECK": 2,
        "error": 2,
    }


def result_line(out: str) -> str:
    """The one ``Result:`` line of a report."""
    results = [line for line in out.splitlines() if line.startswith("Result: ")]
    assert len(results) == 1, out
    return results[0]


@pytest.mark.parametrize(
    ("case", "expected_status", "expected_result"),
    [
        ("valid", 0, "Result: VALID: the API accepts this token"),
        ("invalid", 1, "Result: INVALID: audience_mismatch (claim=aud, reason=mismatch): "),
        ("key_set_down", 2, "Result: COULD NOT CHECK: the key set could not be fetched (http_status)"),
        ("key_set_empty", 2, "Result: COULD NOT CHECK: the key set holds no key for the allowed algorithms"),
        ("validator_failed", 2, "Result: COULD NOT CHECK: the validator failed (RuntimeError)"),
    ],
)
def test_every_verdict_prints_its_word_and_exits_with_its_status(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    issuer: LocalIssuer,
    case: str,
    expected_status: int,
    expected_result: str,
) -> None:
    token, options = issuer.token(), []
    if case == "invalid":
        token = issuer.factory().wrong_audience()
    elif case == "key_set_down":
        options = ["--jwks-uri", request.getfixturevalue("broken_server").url + "/.well-known/jwks.json"]
    elif case == "validator_failed":

        def crash(self: object, token: str) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(jwtguard.Validator, "validate", crash)
    with LocalServer() as empty:
        empty.route("/jwks", lambda request: Response(200, {"keys": []}))
        if case == "key_set_empty":
            options = ["--jwks-uri", empty.url + "/jwks"]
        status, out = check(capsys, issuer, token, *options)
    assert status == expected_status
    assert result_line(out).startswith(expected_result)
    if expected_status == 2:  # the token was not judged: nothing may call it invalid
        assert "INVALID" not in out
        assert not lines(out, "FAIL")
        assert "not checked" in lines(out, "SKIP")["signature"]


@pytest.mark.parametrize(
    ("argv", "expected_error"),
    [
        (["check", "", "--issuer", "https://issuer.test/", "--audience", "a"], "no token given"),
        (
            ["check", "x.y.z", "--issuer", "https://issuer.test/", "--audience", "a", "--leeway", "-1"],
            "invalid configuration: leeway must be",
        ),
        (["check", "x.y.z", "--audience", "a"], "the following arguments are required: --issuer"),
    ],
    ids=["no_token", "configuration", "usage"],
)
def test_usage_and_configuration_errors_print_error_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected_error: str
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "Result:" not in out
    assert err.strip().splitlines()[-1].startswith(f"jwtguard check: error: {expected_error}")


def test_could_not_check_from_the_command_line(issuer: LocalIssuer, broken_server: LocalServer) -> None:
    argv = ["check", issuer.token(), "--issuer", issuer.issuer, "--audience", issuer.audience, "--algorithm", "ES256"]
    argv += ["--jwks-uri", broken_server.url + "/.well-known/jwks.json"]
    done = subprocess.run(
        [sys.executable, "-m", "jwtguard", *argv], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2
    assert result_line(done.stdout) == "Result: COULD NOT CHECK: the key set could not be fetched (http_status)"
    assert done.stderr == ""  # the library's own warning would report the failure a second time


def test_the_validator_and_the_report_judge_the_same_instant(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, issuer: LocalIssuer
) -> None:
    # A key-set fetch takes time; a token may expire meanwhile. Both verdicts are taken at the first instant.
    start = float(int(time.time()))
    readings = iter([start])
    monkeypatch.setattr(cli_check, "clock", lambda: next(readings, start + 3600))
    status, out = check(capsys, issuer, issuer.token(iat=int(start), exp=int(start) + 60))
    assert status == 0
    assert lines(out, "PASS")["expiry"] == "expires in 60 s"
    assert result_line(out) == "Result: VALID: the API accepts this token"


def test_a_date_within_the_leeway_is_not_described_as_ahead(
    capsys: pytest.CaptureFixture[str], issuer: LocalIssuer, frozen_now: float
) -> None:
    now = int(frozen_now)
    status, out = check(capsys, issuer, issuer.token(iat=now + 3, nbf=now + 3, exp=now - 3))
    assert status == 0
    passed = lines(out, "PASS")
    assert passed["expiry"] == "expired 3 s ago, within the leeway of 5 s"
    assert passed["not before"] == "becomes valid only in 3 s, within the leeway of 5 s"
    assert passed["issued at"] == "was issued 3 s in the future, within the leeway of 5 s"


def test_a_number_too_large_for_a_date_is_reported_not_a_crash(
    capsys: pytest.CaptureFixture[str], issuer: LocalIssuer
) -> None:
    status, out = check(capsys, issuer, issuer.token(exp=10**400))
    assert status == 1
    assert lines(out, "FAIL")["expiry"] == "exp is not a number"
    assert result_line(out) == (
        "Result: INVALID: invalid_claim (claim=exp, reason=not_a_number): The access token has an invalid claim"
    )


# -- check: the clock-skew hint only where skew is plausible -------------------------------------------


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> float:
    """The instant ``jwtguard check`` judges at: a whole second, fixed for the test."""
    clock.now = float(int(clock.now))
    monkeypatch.setattr(cli_check, "clock", clock)
    return clock.now


@pytest.mark.parametrize(
    ("claims", "leeway", "line", "skew"),
    [
        # exp: at most 5 s beyond the leeway
        ({"exp": -5}, 5, "expiry", True),  # the first rejected second
        ({"exp": -10}, 5, "expiry", True),  # 5 s beyond the leeway
        ({"exp": -11}, 5, "expiry", False),  # 6 s beyond
        ({"exp": -14}, 5, "expiry", False),  # expired 14 s ago: expired, not skewed
        ({"exp": -65}, 60, "expiry", True),  # the window is counted beyond the leeway
        ({"exp": -66}, 60, "expiry", False),
        ({"exp": -5}, 0, "expiry", True),
        ({"exp": -6}, 0, "expiry", False),
        # iat and nbf in the future: at most 5 min beyond the leeway
        ({"iat": 6}, 5, "issued at", True),
        ({"iat": 305}, 5, "issued at", True),
        ({"iat": 306}, 5, "issued at", False),
        ({"iat": 3600}, 5, "issued at", False),
        ({"nbf": 6}, 5, "not before", True),
        ({"nbf": 305}, 5, "not before", True),
        ({"nbf": 306}, 5, "not before", False),
        ({"nbf": 360}, 60, "not before", True),
        ({"nbf": 361}, 60, "not before", False),
    ],
    ids=lambda value: "-".join(f"{k}{v:+d}" for k, v in value.items()) if isinstance(value, dict) else str(value),
)
def test_clock_skew_hint_boundaries(
    capsys: pytest.CaptureFixture[str],
    issuer: LocalIssuer,
    frozen_now: float,
    claims: dict[str, int],
    leeway: int,
    line: str,
    skew: bool,
) -> None:
    now = int(frozen_now)
    dates = {"iat": now - 60, "exp": now + 3600, **{name: now + offset for name, offset in claims.items()}}
    status, out = check(capsys, issuer, issuer.token(**dates), "--leeway", str(leeway))
    assert status == 1
    assert result_line(out).startswith("Result: INVALID: ")
    assert set(lines(out, "FAIL")) == {line}
    assert ("Clock skew?" in out) is skew
    if skew:
        assert f"beyond the leeway of {leeway} s" in out
        assert "raise --leeway" in out


@pytest.mark.parametrize(("name", "offset"), [("exp", -5), ("exp", 3600), ("nbf", 4), ("nbf", 5), ("iat", 5)])
def test_dates_on_the_accepting_side_of_the_leeway_pass(
    capsys: pytest.CaptureFixture[str], issuer: LocalIssuer, frozen_now: float, name: str, offset: int
) -> None:
    now = int(frozen_now)
    dates = {"iat": now - 60, "exp": now + 3600, name: now + offset}
    status, out = check(capsys, issuer, issuer.token(**dates))
    expected = 1 if (name, offset) == ("exp", -5) else 0  # exp is refused on the instant it passes the leeway
    assert status == expected
    assert ("FAIL" in out) is (expected == 1)


def test_no_clock_skew_hint_when_the_signature_is_bad(
    capsys: pytest.CaptureFixture[str], issuer: LocalIssuer, frozen_now: float
) -> None:
    # A forged or altered token's dates explain nothing, and no leeway would make it valid.
    status, out = check(capsys, issuer, issuer.factory().other_key(exp=int(frozen_now) - 6))
    assert status == 1
    assert "Clock skew?" not in out


# -- check: each failure reported once -------------------------------------------------------------------


def report_lines(out: str) -> list[tuple[str, str]]:
    return [(line[2:6], line[8:].partition("  ")[0].strip()) for line in out.splitlines() if line[2:6] in _MARKS]


_MARKS = ("PASS", "FAIL", "SKIP")


def test_a_bad_signature_is_reported_once(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    status, out = check(capsys, issuer, issuer.factory().other_key())
    assert status == 1
    assert [name for mark, name in report_lines(out) if mark == "FAIL"] == ["signature"]
    assert [line for line in out.splitlines() if line.startswith("  * ")] == [
        "  * The signature does not match: the token was altered, or signed by another key."
    ]
    assert out.count("bad_signature") == 1  # on the Result line, not on a second check line
    assert result_line(out) == "Result: INVALID: bad_signature (reason=mismatch): The token signature is invalid"


def _hs256(issuer: LocalIssuer) -> str:
    return jwt.encode({"iss": issuer.issuer, "aud": issuer.audience, "exp": time.time() + 60}, "s" * 32, "HS256")


@pytest.mark.parametrize(
    ("make", "line"),
    [
        (lambda issuer: issuer.factory().other_key(), "signature"),
        (lambda issuer: issuer.factory().other_key(same_kid=False), "signature"),
        (lambda issuer: issuer.factory().expired(seconds_ago=60), "expiry"),
        (lambda issuer: issuer.token(exp="tomorrow"), "expiry"),
        (lambda issuer: issuer.token(exp=None), "expiry"),
        (lambda issuer: issuer.token(nbf=int(time.time()) + 60), "not before"),
        (lambda issuer: issuer.token(iat=int(time.time()) + 60), "issued at"),
        (lambda issuer: issuer.factory().wrong_audience(), "audience"),
        (lambda issuer: issuer.token(aud=None), "audience"),
        (lambda issuer: issuer.token(aud=5), "audience"),
        (lambda issuer: issuer.login(nonce="n-1")["id_token"], "audience"),
        (lambda issuer: issuer.token(scope="write:messages"), "scope"),
        (lambda issuer: issuer.factory().mint(headers={"typ": "ID"}), "type"),
        (lambda issuer: issuer.factory().mint(headers={"crit": ["exp"]}), "critical"),
        (lambda issuer: issuer.token(iss=issuer.url), "issuer"),
        (_hs256, "algorithm"),
    ],
    ids=[
        "bad_signature",
        "unknown_kid",
        "expired",
        "exp_not_a_number",
        "exp_missing",
        "nbf_future",
        "iat_future",
        "other_audience",
        "aud_missing",
        "aud_not_a_string",
        "id_token",
        "missing_scope",
        "typ",
        "crit",
        "issuer",
        "hs256",
    ],
)
def test_each_failure_is_reported_once_on_its_own_line(
    capsys: pytest.CaptureFixture[str], issuer: LocalIssuer, make: Callable[[LocalIssuer], str], line: str
) -> None:
    status, out = check(capsys, issuer, make(issuer), "--scope", "read:messages")
    assert status == 1
    names = [name for _, name in report_lines(out)]
    assert len(names) == len(set(names)), names  # one line per check
    hints = [text for text in out.splitlines() if text.startswith("  * ")]
    assert len(hints) == len(set(hints)), hints
    assert line in lines(out, "FAIL")
    assert "rejected by the validator" not in out  # the report's own line already said why
    assert "other" not in names


# -- check: hints only where they fit ------------------------------------------------------------------------


def _unsigned(header: dict[str, object], issuer: LocalIssuer) -> str:
    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"iss": issuer.issuer, "aud": issuer.audience, "exp": int(time.time()) + 60}
    return f"{part(header)}.{part(claims)}.c2lnbmF0dXJl"


def test_a_token_cut_short_is_not_called_opaque(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    token = issuer.token()
    status, out = check(capsys, issuer, token.rsplit(".", 1)[0])
    assert status == 1
    assert lines(out, "FAIL")["format"] == "not a JWT: 2 segments instead of 3"
    assert "opaque" not in out
    assert "Was it cut or joined when copied?" in out


def test_no_other_audience_hint_without_an_audience(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    for token in (issuer.token(aud=None), issuer.token(aud=5)):
        status, out = check(capsys, issuer, token)
        assert status == 1
        assert "for another audience" not in out
    assert "names no audience" in check(capsys, issuer, issuer.token(aud=None))[1]


def test_no_algorithm_hint_that_cannot_help(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    status, out = check(capsys, issuer, _unsigned({"typ": "JWT"}, issuer))
    assert status == 1
    assert lines(out, "FAIL")["algorithm"] == "missing (alg is required)"
    assert "--algorithm" not in out  # no --algorithm accepts a token without alg
    status, out = check(capsys, issuer, _unsigned({"alg": "XS512"}, issuer))
    assert status == 1
    assert "allow it with --algorithm" not in out  # XS512 is no algorithm jwtguard knows
    assert 'jwtguard cannot verify "XS512" tokens' in out
    status, out = check(capsys, issuer, issuer.factory().mint(key=SigningKey.generate("RS256")))
    assert status == 1
    assert 'If the issuer really signs with "RS256", allow it with --algorithm.' in out


def test_no_unknown_key_hint_when_the_key_is_ambiguous(capsys: pytest.CaptureFixture[str]) -> None:
    with LocalIssuer(algorithm="ES256") as two_keys:
        two_keys.rotate()
        status, out = check(capsys, two_keys, two_keys.factory().mint(headers={"kid": None}))
    assert status == 1
    assert lines(out, "FAIL")["signature"] == 'the token names no kid and several "ES256" keys are published'
    assert "not in the issuer's key set" not in out
    assert "must name the signing key (kid)" in out


# -- demo ------------------------------------------------------------------------------------------

DEMO_STEPS = [
    ("1. Log in", "[ok] 200 with an access token, an ID token and a refresh token"),
    ("2. Call the API", "[ok] 200: the API accepted the token"),
    ("3. Let the access token expire", '[ok] 401 with WWW-Authenticate error="invalid_token"'),
    (
        "4. Call again through jwtguard.client",
        "[ok] 401, one refresh with a new refresh token (rotation) saved by on_tokens, then 200",
    ),
    ("5. Call the API once more through the client", "[ok] 200 with the new access token, and no refresh"),
    (
        "6. 10 calls at once with an expired access token",
        "[ok] the naive client's session revoked; jwtguard.client refreshed once: every call 200",
    ),
    ("7. Replay the refresh token of step 1", "[ok] 400 invalid_grant for both: the family is revoked"),
    (
        "8. Log in again, then call POST /transfers",
        '[ok] 401 insufficient_user_authentication, acr_values="mfa": log in again with MFA, then retry',
    ),
    ("9. Log out: revoke the refresh token of step 8", "[ok] 200: the session is revoked"),
    (
        "10. Call the API with the access token of step 8",
        '[ok] 401 invalid_token "The access token was revoked", before its expiry',
    ),
    ("11. Refresh with the refresh token of step 8", "[ok] 400 invalid_grant: the refresh token was revoked"),
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
    assert all("..." in line for line in out.splitlines() if "refresh_token=" in line or "refresh_token:" in line)
    assert "test-password" not in out
    assert "test-secret" not in out
    # Step 6: the naive client's refreshes collide (one wins, the rest are reuse); ours refreshes once.
    assert "1 x 200, 9 x 400 invalid_grant (reuse detected)" in out
    assert "1 refresh request in all" in out
    # Steps 8 to 11: the step-up challenge, the revocation endpoint, the store shared with the API.
    assert re.search(
        r'WWW-Authenticate: Bearer realm="api", error="insufficient_user_authentication".*acr_values="mfa"', out
    )
    assert re.search(r"> POST http://127\.0\.0\.1:\d+/oauth/revoke", out)
    assert 'error_description="The access token was revoked"' in out
    assert all("..." in line for line in out.splitlines() if line.strip().startswith("token="))


@pytest.mark.skipif(not HAS_DEMO_EXTRA, reason="the demo extra (starlette, uvicorn, httpx) is not installed")
def test_demo_plays_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--fast-forward"]) == 0
    assert_demo_output(capsys.readouterr().out)


@pytest.mark.skipif(not HAS_DEMO_EXTRA, reason="the demo extra (starlette, uvicorn, httpx) is not installed")
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


@pytest.mark.skipif(not HAS_DEMO_EXTRA, reason="the demo extra (starlette, uvicorn, httpx) is not installed")
def test_demo_fails_when_a_step_misbehaves(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from jwtguard.cli import demo

    # Without rotation, the refresh step gets no new refresh token: the demo must notice and exit 1.
    monkeypatch.setattr(demo, "LocalIssuer", functools.partial(LocalIssuer, refresh_token_rotation="none"))
    assert main(["demo", "--fast-forward"]) == 1
    out = capsys.readouterr().out
    assert "[FAILED] 401, one refresh with a new refresh token (rotation) saved by on_tokens, then 200" in out
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


def test_serve_issuer_names_revocation_and_introspection(capsys: pytest.CaptureFixture[str]) -> None:
    from jwtguard.cli import build_parser, serve

    stop = threading.Event()
    stop.set()
    args = build_parser().parse_args(
        ["serve-issuer", "--access-token-format", "opaque", "--redis", "redis://127.0.0.1:6379/0"]
    )
    assert serve.run(args, stop) == 0
    out = capsys.readouterr().out
    assert re.search(r"revocation\s+http://127\.0\.0\.1:\d+/oauth/revoke", out)
    assert re.search(r"introspection\s+http://127\.0\.0\.1:\d+/oauth/introspect", out)
    assert '-d "token=$TOKEN" http://127.0.0.1:' in out
