from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import jwtguard
from jwtguard.bearer import extract_bearer, is_preflight


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_scheme_is_case_insensitive(scheme: str) -> None:
    assert extract_bearer([f"{scheme} abc.def-ghi_jkl~+/=="]) == "abc.def-ghi_jkl~+/=="


def test_no_header_is_a_missing_token() -> None:
    with pytest.raises(jwtguard.MissingTokenError):
        extract_bearer([])


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Digest x", "Token abc", "Bearerabc"])
def test_another_scheme_is_a_missing_bearer_token(value: str) -> None:
    with pytest.raises(jwtguard.MissingTokenError):
        extract_bearer([value])


@pytest.mark.parametrize(
    "value",
    ["Bearer", "Bearer ", "Bearer    ", "Bearer abc def", 'Bearer a"b', "Bearer a,b", "Bearer a=b", "Bearer é", ""],
)
def test_malformed_bearer_credentials_are_invalid_requests(value: str) -> None:
    with pytest.raises(jwtguard.InvalidRequestError) as caught:
        extract_bearer([value])
    assert caught.value.status_code == 400


def test_a_token_sent_twice_is_an_invalid_request() -> None:
    with pytest.raises(jwtguard.InvalidRequestError) as caught:
        extract_bearer(["Bearer a", "Bearer a"])
    assert caught.value.code == "duplicate_token"


def test_joined_duplicate_headers_are_an_invalid_request() -> None:
    # WSGI servers join repeated headers with ", ".
    for joined in ("Bearer aaa, Bearer bbb", "Bearer aaa,bearer bbb", "Basic x, Bearer bbb"):
        with pytest.raises(jwtguard.InvalidRequestError) as caught:
            extract_bearer([joined])
        assert caught.value.code == "duplicate_token"


def test_huge_header_is_rejected_without_parsing() -> None:
    with pytest.raises(jwtguard.InvalidRequestError):
        extract_bearer(["Bearer " + "a" * 100_000])


@given(st.lists(st.text(max_size=200), max_size=3))
def test_any_input_is_a_token_or_an_auth_error(values: list[str]) -> None:
    status = 200
    try:
        token = extract_bearer(values)
    except jwtguard.AuthError as error:
        status = error.status_code
    else:
        assert token
        assert " " not in token
    assert status in (200, 400, 401)


def test_preflight_detection() -> None:
    assert is_preflight("OPTIONS", {"access-control-request-method": "GET"})
    assert is_preflight("options", {"access-control-request-method": "GET", "origin": "x"})
    assert not is_preflight("OPTIONS", {})
    assert not is_preflight("GET", {"access-control-request-method": "GET"})
