"""The fuzz harnesses, run by the test suite: the seed corpus and every reproducer found so far.

Each file under ``fuzz/corpus/<target>/`` and ``fuzz/regressions/<target>/`` goes
through the same function atheris calls (``fuzz/fuzz_<target>.py::one_input``),
so the harness code and its oracles are exercised on every run, with or without
atheris installed. A reproducer of a bug not fixed yet is listed in ``OPEN``: a
strict ``xfail``, so the fix shows up as a failure asking to remove the entry.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from bounds import deadline
from conftest import load_example
from starlette.exceptions import StarletteDeprecationWarning

import jwtguard
from jwtguard.testing import TokenFactory

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
TARGETS = ("validate", "header")

#: Inputs that hit a bug still open: ``<corpus|regressions>/<target>/<name>`` -> what is wrong.
OPEN: dict[str, str] = {}


def harness(target: str) -> ModuleType:
    """Import ``fuzz/fuzz_<target>.py`` (its directory holds ``_harness.py``, which it imports)."""
    if str(FUZZ) not in sys.path:
        sys.path.insert(0, str(FUZZ))
    __import__(f"fuzz_{target}")
    return sys.modules[f"fuzz_{target}"]


def inputs(kind: str) -> list[object]:
    params: list[object] = []
    for target in TARGETS:
        for path in sorted((FUZZ / kind / target).iterdir()):
            name = f"{kind}/{target}/{path.name}"
            marks = []
            if name in OPEN:
                marks.append(pytest.mark.xfail(strict=True, reason=OPEN[name]))
            params.append(pytest.param(target, path, id=f"{target}/{path.name}", marks=marks))
    return params


def replay(target: str, path: Path) -> None:
    one_input: Callable[[bytes], None] = harness(target).one_input  # imported before the clock starts
    with deadline(1.0):
        one_input(path.read_bytes())


@pytest.mark.parametrize(("target", "path"), inputs("corpus"))
def test_seed_corpus(target: str, path: Path) -> None:
    replay(target, path)


@pytest.mark.parametrize(("target", "path"), inputs("regressions"))
def test_reproducer(target: str, path: Path) -> None:
    replay(target, path)


def test_every_open_entry_names_a_reproducer() -> None:
    for name in OPEN:
        assert (FUZZ / name).is_file(), name


def test_the_seed_corpus_is_small_and_reaches_every_outcome() -> None:
    files = [path for target in TARGETS for path in (FUZZ / "corpus" / target).iterdir()]
    assert sum(path.stat().st_size for path in files) < 200 * 1024
    validate = harness("validate")
    outcomes = set()
    for path in (FUZZ / "corpus" / "validate").iterdir():
        try:
            validate.VALIDATORS["strict"].validate(validate.token_of(path.read_bytes()))
        except jwtguard.AuthError as error:
            outcomes.add(error.code)
        else:
            outcomes.add("accepted")
    # The corpus starts the fuzzer at every outcome, from acceptance to each kind of refusal.
    assert outcomes >= {
        "accepted",
        "malformed_token",
        "encrypted_token",
        "token_too_large",
        "alg_not_allowed",
        "unsupported_crit",
        "invalid_typ",
        "unknown_issuer",
        "unknown_key",
        "bad_signature",
        "token_expired",
        "token_not_yet_valid",
        "iat_in_future",
        "token_too_old",
        "audience_mismatch",
        "unauthorized_party",
        "missing_claim",
        "invalid_claim",
        "insufficient_scope",
    }


def test_the_harness_catches_what_it_should() -> None:
    # The oracles must be able to fail: a wrong claim, a broken challenge, a suspended coroutine.
    h = harness("validate").h
    with pytest.raises(h.InvariantError):
        harness("validate").check_accepted("a.b.c", {"iss": h.ISSUER}, {"alg": "none"}, strict=False)
    with pytest.raises(h.InvariantError):
        h.check_challenge('Bearer realm="a\r\n"')
    with pytest.raises(h.InvariantError):
        h.check_error(jwtguard.KeySetUnavailableError(5))

    async def suspends() -> None:
        import asyncio

        await asyncio.sleep(0)

    with pytest.raises(h.InvariantError):
        h.run_sync(suspends())


# -- bugs found and fixed, stated at the API level ---------------------------------------------------


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_an_integer_date_beyond_float_range_is_an_invalid_claim(claim: str) -> None:
    h = harness("validate").h
    factory = TokenFactory(h.ISSUER, h.AUDIENCE, key=h.KEYS["ES256"], clock=lambda: h.NOW)
    token = factory.mint({claim: 10**309})  # JSON allows it; a float cannot hold it
    with pytest.raises(jwtguard.InvalidTokenError):
        h.validators()["cached"].validate(token)


def test_an_integer_date_beyond_float_range_is_a_401_not_a_500() -> None:
    h = harness("validate").h
    factory = TokenFactory(h.ISSUER, h.AUDIENCE, key=h.KEYS["ES256"], clock=lambda: h.NOW)
    app = load_example("starlette_app").create_app(h.validators()["cached"])
    token = factory.mint(exp=10**309, scope="read:messages")
    response = TestClient(app, raise_server_exceptions=False).get(
        "/messages", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
