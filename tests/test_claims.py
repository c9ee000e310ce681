"""Claims: what counts as a granted scope (RFC 6749 §3.3), and that nothing handed out can change."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest
from fake_clock import FakeClock
from hypothesis import given
from hypothesis import strategies as st

import jwtguard
from jwtguard.claims import is_scope_token
from jwtguard.testing import SigningKey, TokenFactory

ISSUER = "https://issuer.example.com/"
AUDIENCE = "https://api.example.com"
KEY = SigningKey.generate("RS256", kid="k")

# Every character str.split() splits on besides U+0020: each one once glued two scopes together.
OTHER_WHITESPACE = [c for c in map(chr, range(0x3001)) if c.isspace() and c != " "] + ["\u2028", "\u2029", "\u3000"]


@pytest.mark.parametrize("separator", OTHER_WHITESPACE, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("claim", ["scope", "scp"])
def test_only_a_space_separates_scope_tokens(claim: str, separator: str) -> None:
    claims = jwtguard.Claims({claim: f"files:read{separator}admin other"})
    assert "admin" not in claims.scopes
    assert "files:read" not in claims.scopes  # the glued token is not a scope-token: it grants nothing
    assert claims.scopes == {"other"}


@pytest.mark.parametrize(
    "token", ["a\x00b", 'quote"d', "back\\slash", "caf\u00e9", "\x7f", "tab\there", "nb\u00a0sp", ""]
)
@pytest.mark.parametrize("claim", ["scp", "permissions"])
def test_list_members_outside_the_scope_token_set_grant_nothing(claim: str, token: str) -> None:
    claims = jwtguard.Claims({claim: [token, "read"]})
    assert claims.scopes == {"read"}


def test_repeated_spaces_leave_no_empty_scope() -> None:
    assert jwtguard.Claims({"scope": "  a   b "}).scopes == {"a", "b"}


@given(st.text(max_size=40))
def test_every_granted_scope_is_a_scope_token_that_was_sent(text: str) -> None:
    scopes = jwtguard.Claims({"scope": text, "scp": text}).scopes
    for scope in scopes:
        assert is_scope_token(scope)
        assert scope in text.split(" ")


@pytest.mark.parametrize("option", [["read\u00a0admin"], ["a b"], [""], ['x"y']])
def test_required_scopes_must_be_scope_tokens(option: list[str]) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        jwtguard.Validator(issuer=ISSUER, audience=AUDIENCE, jwks={"keys": [KEY.jwk]}, required_scopes=option)


def test_require_scopes_refuses_a_name_that_can_never_be_granted() -> None:
    validator = jwtguard.Validator(issuer=ISSUER, audience=AUDIENCE, jwks={"keys": [KEY.jwk]})
    claims = jwtguard.Claims({"scope": "read admin"})
    with pytest.raises(jwtguard.ConfigurationError):
        validator.require_scopes(claims, "read admin")


# -- immutability ---------------------------------------------------------------------


NESTED: dict[str, Any] = {
    "permissions": ["read"],
    "realm_access": {"roles": ["user"]},
    "deep": [{"a": [1, {"b": []}]}],
}

MUTATIONS = [
    lambda c: c["permissions"].append("admin"),
    lambda c: c["permissions"].extend(["admin"]),
    lambda c: c["permissions"].insert(0, "admin"),
    lambda c: c["permissions"].__setitem__(0, "admin"),
    lambda c: c["permissions"].__iadd__(["admin"]),
    lambda c: c["permissions"].__imul__(2),
    lambda c: c["permissions"].pop(),
    lambda c: c["permissions"].remove("read"),
    lambda c: c["permissions"].clear(),
    lambda c: c["permissions"].sort(),
    lambda c: c["permissions"].reverse(),
    lambda c: c["permissions"].__delitem__(0),
    lambda c: c["realm_access"].__setitem__("roles", ["admin"]),
    lambda c: c["realm_access"].update(roles=["admin"]),
    lambda c: c["realm_access"].setdefault("admin", True),
    lambda c: c["realm_access"].pop("roles"),
    lambda c: c["realm_access"].popitem(),
    lambda c: c["realm_access"].clear(),
    lambda c: c["realm_access"].__delitem__("roles"),
    lambda c: c["realm_access"].__ior__({"roles": ["admin"]}),
    lambda c: c["realm_access"]["roles"].append("admin"),
    lambda c: c["deep"][0]["a"][1]["b"].append("admin"),
    lambda c: c.header["extra"].append("admin"),
]


@pytest.mark.parametrize("mutate", MUTATIONS)
def test_nothing_reachable_from_validated_claims_can_change(mutate: Any) -> None:
    clock = FakeClock()
    validator = jwtguard.Validator(issuer=ISSUER, audience=AUDIENCE, jwks={"keys": [KEY.jwk]}, clock=clock)
    token = TokenFactory(ISSUER, AUDIENCE, key=KEY, clock=clock).mint(NESTED, headers={"extra": ["x"]})
    for _ in range(3):  # the third validation is a cache hit: the same Claims object again
        claims = validator.validate(token)
        with pytest.raises(TypeError):
            mutate(claims)
    assert validator.validate(token) is claims
    assert claims["permissions"] == ["read"]
    assert claims["realm_access"] == {"roles": ["user"]}
    assert claims["deep"] == [{"a": [1, {"b": []}]}]


@pytest.mark.parametrize("mutate", MUTATIONS[:-1])
def test_claims_built_by_hand_do_not_share_the_callers_containers(mutate: Any) -> None:
    payload = copy.deepcopy(NESTED)
    claims = jwtguard.Claims(payload)
    with pytest.raises(TypeError):
        mutate(claims)
    payload["permissions"].append("admin")
    assert claims["permissions"] == ["read"]


def test_frozen_claims_still_serialise_copy_and_compare_like_json() -> None:
    claims = jwtguard.Claims(NESTED)
    as_dict = dict(claims)
    assert json.loads(json.dumps(as_dict)) == NESTED
    assert as_dict == NESTED
    assert isinstance(claims["permissions"], list)
    assert isinstance(claims["realm_access"], dict)
    for clone in (copy.copy(as_dict["deep"]), copy.deepcopy(as_dict), pickle.loads(pickle.dumps(as_dict))):
        assert clone == (NESTED["deep"] if isinstance(clone, list) else NESTED)
    thawed = copy.deepcopy(as_dict)  # a user who wants a mutable copy builds one
    thawed["extra"] = 1
    assert "extra" not in claims


def test_claims_built_from_other_container_types_are_frozen_too() -> None:
    from collections import OrderedDict

    claims = jwtguard.Claims({"a": OrderedDict(b=[1]), "t": ([2],)})
    with pytest.raises(TypeError):
        claims["a"]["b"].append(2)
    with pytest.raises(TypeError):
        claims["t"][0].append(3)
