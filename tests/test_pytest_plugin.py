"""The pytest plugin: its fixtures work in a user's test run, through the ``pytest11`` entry point.

Also runs every example of docs/testing.md: the test modules with ``pytester``
(one per framework adapter), the other snippets as plain code.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import flask
import pytest
import starlette.exceptions

import jwtguard.asgi
import jwtguard.fastapi
import jwtguard.flask

with warnings.catch_warnings():
    # Starlette >= 1 warns that its TestClient prefers httpx2 over httpx (see LENIENT below).
    warnings.simplefilter("ignore", getattr(starlette.exceptions, "StarletteDeprecationWarning", UserWarning))
    import fastapi.testclient
    import starlette.testclient

pytest_plugins = ["pytester"]
# In-process pytester runs re-import every module that was not loaded before them; two copies of a
# framework in one process break it. The imports above pin the frameworks the examples use.
PINNED = (fastapi.testclient, flask, starlette.testclient, jwtguard.asgi, jwtguard.fastapi, jwtguard.flask)

DOC = Path(__file__).resolve().parent.parent / "docs" / "testing.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
TEST_MODULES = [block for block in BLOCKS if "def test_" in block]
DJANGO_CONFTEST = next(block for block in BLOCKS if "settings.configure(" in block)
SNIPPETS = [block for block in BLOCKS if block not in TEST_MODULES and block is not DJANGO_CONFTEST]


# Plugins the inner runs do not need: hypothesis's is slow to import (and pytester re-imports it each run).
QUIET = ("-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:randomly", "-p", "no:cacheprovider")
# The httpx2 warning is the framework's business, not the example's.
_STARLETTE_WARNING = "starlette.exceptions.StarletteDeprecationWarning"
LENIENT = (
    ("-W", f"ignore::{_STARLETTE_WARNING}") if hasattr(starlette.exceptions, "StarletteDeprecationWarning") else ()
)


def _name(block: str) -> str:
    for framework in ("django", "starlette", "fastapi", "flask"):
        if f"from {framework}" in block:
            return framework
    return re.search(r"def (test_\w+)", block).group(1)  # type: ignore[union-attr]


USER_TESTS = """
import jwtguard


def test_issuer_and_validator(jwtguard_issuer, jwtguard_validator, jwtguard_token):
    claims = jwtguard_validator.validate(jwtguard_token(scope="read:messages", sub="user-7"))
    assert claims["sub"] == "user-7"
    assert claims["iss"] == jwtguard_issuer.issuer


def test_expired_token_is_refused(jwtguard_validator, jwtguard_token):
    try:
        jwtguard_validator.validate(jwtguard_token(expires_in=-60))
    except jwtguard.ExpiredTokenError:
        return
    raise AssertionError("an expired token validated")


PORTS = set()


def test_each_test_gets_its_own_issuer_1(jwtguard_issuer):
    PORTS.add(jwtguard_issuer.url)


def test_each_test_gets_its_own_issuer_2(jwtguard_issuer):
    PORTS.add(jwtguard_issuer.url)
    assert len(PORTS) == 2


SESSION = set()


def test_session_issuer_is_shared_1(jwtguard_session_issuer):
    SESSION.add(id(jwtguard_session_issuer))


def test_session_issuer_is_shared_2(jwtguard_session_issuer):
    SESSION.add(id(jwtguard_session_issuer))
    assert len(SESSION) == 1
    assert jwtguard_session_issuer.validator().validate(jwtguard_session_issuer.token())
"""


def test_fixtures_work_in_a_user_test_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plugin_user=USER_TESTS)
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=6)


def test_fixtures_come_from_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plugin_user=USER_TESTS)
    result = pytester.runpytest(*QUIET, "-p", "no:jwtguard")
    result.assert_outcomes(errors=6)
    result.stdout.fnmatch_lines(["*fixture 'jwtguard_*' not found*"])


def test_the_issuer_stops_after_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plugin_lifecycle="""
        import pytest

        SEEN = []


        def test_one(jwtguard_issuer):
            SEEN.append(jwtguard_issuer)


        def test_two():
            with pytest.raises(RuntimeError):
                SEEN[0].url  # stopped: no longer serving
        """
    )
    pytester.runpytest(*QUIET).assert_outcomes(passed=2)


@pytest.mark.parametrize("block", [b for b in TEST_MODULES if "django" not in b], ids=_name)
def test_docs_example_test_modules_pass(pytester: pytest.Pytester, block: str) -> None:
    pytester.makepyfile(**{f"test_docs_example_{_name(block)}": block})
    result = pytester.runpytest(*QUIET, *LENIENT)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1, result.stdout.str()
    assert set(outcomes) <= {"passed", "warnings"}, result.stdout.str()


def test_docs_django_example_passes(pytester: pytest.Pytester) -> None:
    # Django's settings are process-wide: run it in a fresh interpreter.
    (block,) = [b for b in TEST_MODULES if "django" in b]
    pytester.makeconftest(DJANGO_CONFTEST)
    pytester.makepyfile(test_docs_example_django=block)
    result = pytester.runpytest_subprocess(*QUIET, *LENIENT)
    result.assert_outcomes(passed=2)


def test_docs_cover_every_adapter() -> None:
    assert {_name(block) for block in TEST_MODULES} >= {"starlette", "fastapi", "flask", "django"}
    assert len(SNIPPETS) >= 3


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda s: s.splitlines()[0][:40])
def test_docs_snippets_run(snippet: str) -> None:
    exec(compile(snippet, str(DOC), "exec"), {"__name__": "docs_testing"})
