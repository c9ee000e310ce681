"""The framing's two JSON decoders — the standard library's and orjson's — accept the same texts with equal values.

``jwtguard._json`` parses a token's header and payload with orjson when the
``jwtguard[orjson]`` extra is installed and hands every text where the two could
differ to the standard library. Here both are forced in turn on crafted texts
(every known difference: big integers, ``NaN``, lone surrogates, invalid UTF-8,
nesting, ``1e400`` …), on random bytes, random JSON values and their mutations,
and on whole tokens; and jwtguard must work without orjson. ``test_jose.py`` runs
its framing tests once per decoder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import test_properties as properties
from decoders import DECODERS, decoding_with
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jwtguard
from jwtguard import _jose, _json
from jwtguard.testing import SigningKey, TokenFactory
from jwtguard.testing.keys import b64url

ROOT = Path(__file__).resolve().parent.parent
HAS_ORJSON = "orjson" in _json.available()
needs_orjson = pytest.mark.skipif(not HAS_ORJSON, reason='orjson is not installed: pip install "jwtguard[orjson]"')
MANY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(params=DECODERS)
def decoder(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each test with the standard library's decoder, then with orjson's (skipped without orjson)."""
    yield from decoding_with(request.param)


def typed(value: Any) -> list[Any]:
    """``value`` spelled out with every type and order visible (1, 1.0 and True differ; so do 0.0 and -0.0).

    Iterative: the deepest values the decoders accept are deeper than Python's recursion limit.
    """
    spelled: list[Any] = []
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is tuple:  # a member's name, pushed below (JSON has no tuples)
            spelled.append(item)
        elif kind is dict:
            spelled.append(("object", len(item)))
            for name, member in reversed(item.items()):
                pending += (member, ("name", name))
        elif kind is list:
            spelled.append(("array", len(item)))
            pending.extend(reversed(item))
        elif kind is float:
            spelled.append(("float", repr(item)))
        else:
            spelled.append((kind.__name__, item))
    return spelled


def decoded(name: str, data: bytes) -> tuple[Any, ...]:
    """What decoder ``name`` makes of ``data``: ``("value", spelled out)`` or ``("refused",)``."""
    previous = _json.use(name)
    try:
        value = _json.loads(data)
    except (ValueError, RecursionError):
        return ("refused",)
    finally:
        _json.use(previous)
    return ("value", typed(value))


def assert_agree(data: bytes) -> tuple[Any, ...]:
    """Both decoders give ``data`` the same outcome; return it."""
    stdlib = decoded("json", data)
    if HAS_ORJSON:
        assert decoded("orjson", data) == stdlib, data[:200]
    return stdlib


def nested(depth: int, opening: str = "[", closing: str = "]", inner: str = "1") -> bytes:
    return (opening * depth + inner + closing * depth).encode()


ACCEPTED = {
    "object": b'{"a": 1}',
    "surrounding whitespace": b' \t\r\n{"a": 1}\n ',
    "duplicate names, the last wins in first place": b'{"a": 1, "b": 2, "a": 3}',
    "largest unsigned 64-bit": b'{"a": 18446744073709551615}',
    "2**64: exact int, not orjson's float": b'{"a": 18446744073709551616}',
    "smallest signed 64-bit": b'{"a": -9223372036854775808}',
    "below it": b'{"a": -9223372036854775809}',
    "30 digits": b'{"a": 123456789012345678901234567890}',
    "big integer nested": b'{"a": {"b": [1, 18446744073709551616]}}',
    "big integer at the top": b"99999999999999999999999",
    "4300 digits": b'{"a": ' + b"9" * 4300 + b"}",
    "1e400 is infinity for the standard library": b'{"a": 1e400}',
    "-1e400": b'{"a": [-1e400]}',
    "1e-400 is zero": b'{"a": 1e-400}',
    "minus zero integer": b'{"a": -0}',
    "minus zero float": b'{"a": -0.0}',
    "largest double": b'{"a": 1.7976931348623157e308}',
    "rounds to infinity": b'{"a": 1.7976931348623159e308}',
    "smallest subnormal": b'{"a": 5e-324}',
    "half the smallest subnormal, rounded up": b'{"a": 2.4703282292062328e-324}',
    "halfway between two doubles": b'{"a": 1.00000000000000011102230246251565404236316680908203125}',
    "2**53 + 1 as a float": b'{"a": 9007199254740993.0}',
    "1e19, a float that large": b'{"a": 1e19}',
    "exponents": b'{"a": [1E5, 1e+5, 1.5e-3, 0.0]}',
    "constants": b'{"a": [true, false, null]}',
    "escaped pair": rb'{"a": "\ud83d\ude00"}',
    "lone high surrogate escape (refused later by _jose)": rb'{"a": "\ud800"}',
    "lone low surrogate escape": rb'{"\udc00": 1}',
    "pair in the wrong order": rb'{"a": "\ude00\ud83d"}',
    "escaped NUL": rb'{"a": "\u0000"}',
    "escapes": rb'{"a": "\/\b\f\n\r\t\"\\"}',
    "DEL raw": b'{"a": "\x7f"}',
    "UTF-8": '{"é": "naïve 😀 \u2028"}'.encode(),
    "nested 32": nested(32),
    "nested 33 (left to the standard library)": nested(33),
    "objects nested 100": nested(100, '{"a":', "}"),
    "nested 500": nested(500),
    "array": b"[1, 2]",
    "string": b'"s"',
    "null": b"null",
}

REFUSED = {
    "empty": b"",
    "blank": b" \n",
    "BOM": b'\xef\xbb\xbf{"a": 1}',
    "NUL after": b'{"a": 1}\x00',
    "vertical tab after": b'{"a": 1}\x0b',
    "form feed before": b'\x0c{"a": 1}',
    "no-break space after": '{"a": 1}\u00a0'.encode(),
    "two values": b'{"a": 1} {}',
    "trailing comma": b'{"a": 1,}',
    "unclosed": b'{"a": 1',
    "NaN": b'{"a": NaN}',
    "Infinity": b'{"a": Infinity}',
    "-Infinity": b'{"a": [-Infinity]}',
    "nan": b'{"a": nan}',
    "leading zero": b'{"a": 01}',
    "bare point": b'{"a": 1.}',
    "leading point": b'{"a": .5}',
    "plus sign": b'{"a": +1}',
    "bare exponent": b'{"a": 1e}',
    "4301 digits (Python's int limit)": b'{"a": ' + b"9" * 4301 + b"}",
    "raw control character": b'{"a": "\x1f"}',
    "raw NUL": b'{"a": "\x00"}',
    "bad escape": rb'{"a": "\x"}',
    "short unicode escape": rb'{"a": "\u00"}',
    "capital U escape": rb'{"a": "\U0041"}',
    "invalid UTF-8": b'{"a": "\xff"}',
    "overlong UTF-8": b'{"a": "\xc0\x80"}',
    "UTF-8 surrogate": b'{"a": "\xed\xa0\x80"}',
    "beyond U+10FFFF": b'{"a": "\xf4\x90\x80\x80"}',
    "truncated UTF-8": b'{"a": "\xe2\x82"}',
    "UTF-16": '{"a": 1}'.encode("utf-16"),
    "misspelled constant": b'{"a": tru}',
    "opened 10000 times": b"{" * 10_000,
}

# Whether the standard library accepts these depends on the recursion limit and the stack below the
# call (hypothesis raises the limit while it runs, for one): the two must only agree.
DEEP = {
    "nested 900": nested(900),
    "nested 1023": nested(1023),
    "nested 1024 (orjson's limit)": nested(1024),
    "nested 1025": nested(1025),
    "objects nested 1100": nested(1100, '{"a":', "}"),
    "nested 3000": nested(3000),
}


@pytest.mark.parametrize("data", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_both_accept_with_equal_values(data: bytes) -> None:
    outcome = assert_agree(data)
    assert outcome[0] == "value"
    assert decoded("json", data) == ("value", typed(_json._stdlib(data)))


@pytest.mark.parametrize("data", list(REFUSED.values()), ids=list(REFUSED))
def test_both_refuse(data: bytes) -> None:
    assert assert_agree(data) == ("refused",)


@pytest.mark.parametrize("data", list(DEEP.values()), ids=list(DEEP))
def test_both_agree_on_deep_nesting(data: bytes) -> None:
    assert_agree(data)


@needs_orjson
def test_integers_stay_exact_where_orjson_would_round() -> None:
    previous = _json.use("orjson")
    try:
        assert _json.loads(b'{"a": 18446744073709551616, "b": [-9223372036854775809]}') == {
            "a": 2**64,
            "b": [-(2**63) - 1],
        }
        assert type(_json.loads(b'{"a": 18446744073709551616}')["a"]) is int
    finally:
        _json.use(previous)


@MANY
@given(st.binary(max_size=64))
def test_random_bytes_agree(data: bytes) -> None:
    assert_agree(data)


JSONISH = st.text(alphabet='{}[]",:0123456789.eE+- tfnrulasINy\t\n\r\\/ud8Ab\x00é\ufeff', max_size=48)


@MANY
@given(JSONISH)
def test_json_like_texts_agree(text: str) -> None:
    assert_agree(text.encode("utf-8"))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**70).flatmap(lambda n: st.sampled_from([n, -n]))
    | st.floats()
    | st.text(max_size=6),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


@MANY
@given(json_values, st.booleans(), st.sampled_from([None, 0, 2]), st.sampled_from([(",", ":"), (", ", ": ")]))
def test_serialized_values_agree(value: Any, ascii_only: bool, indent: int | None, separators: tuple[str, str]) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent, separators=separators)
    outcome = assert_agree(text.encode("utf-8", "surrogatepass"))  # a raw lone surrogate is invalid UTF-8
    if outcome[0] == "value":
        assert outcome[1] == typed(json.loads(text, parse_constant=float))


@MANY
@given(json_values, st.integers(min_value=0), st.sampled_from(["insert", "delete", "replace"]), st.characters())
def test_mutated_values_agree(value: Any, where: int, how: str, char: str) -> None:
    text = json.dumps(value)
    at = where % (len(text) + 1)
    if how == "insert":
        text = text[:at] + char + text[at:]
    elif how == "delete":
        text = text[:at] + text[at + 1 :]
    else:
        text = text[:at] + char + text[at + 1 :]
    assert_agree(text.encode("utf-8", "surrogatepass"))


# -- whole tokens: the framing's answer does not depend on the decoder --------------------------


def framed(name: str, token: str) -> tuple[Any, ...]:
    previous = _json.use(name)
    try:
        parsed = _jose.parse(token, 16384)
    except jwtguard.InvalidTokenError as error:
        return ("refused", error.code, error.reason)
    finally:
        _json.use(previous)
    return ("parsed", typed(parsed.header), typed(parsed.payload), parsed.signing_input, parsed.signature)


def segment(data: bytes) -> str:
    return b64url(data)


@needs_orjson
@MANY
@given(st.one_of(JSONISH.map(str.encode), json_values.map(lambda value: json.dumps(value).encode())), st.booleans())
def test_tokens_frame_alike(json_text: bytes, in_header: bool) -> None:
    other = segment(b'{"alg": "RS256"}')
    token = f"{segment(json_text)}.{other}.AQ" if in_header else f"{other}.{segment(json_text)}.AQ"
    assert framed("orjson", token) == framed("json", token)


@needs_orjson
@pytest.mark.parametrize(
    "data", [*ACCEPTED.values(), *REFUSED.values(), *DEEP.values()], ids=[*ACCEPTED, *REFUSED, *DEEP]
)
def test_crafted_payloads_frame_alike(data: bytes) -> None:
    token = f"{segment(b'{}')}.{segment(data)}.AQ"
    assert framed("orjson", token) == framed("json", token)


FRAMING_PROPERTIES = [
    properties.test_any_json_header_and_payload_frame_and_parse_back,
    properties.test_any_dotted_string_parses_or_is_malformed_or_encrypted,
    properties.test_random_text_is_an_invalid_token,
]


@pytest.mark.parametrize("check", FRAMING_PROPERTIES, ids=lambda check: check.__name__)
def test_framing_properties_hold_with_each_decoder(decoder: str, check: Any) -> None:
    check()


@pytest.mark.parametrize("token", list(properties.TOKENS.values()), ids=list(properties.TOKENS))
def test_framing_stays_bounded_with_each_decoder(decoder: str, token: str) -> None:
    properties.test_token_parsing_is_bounded(token)


def test_a_validator_gives_equal_claims_with_each_decoder() -> None:
    key = SigningKey.generate("ES256", kid="k")
    factory = TokenFactory("https://issuer.test/", "https://api.test", key=key)
    token = factory.mint(
        scope="read write",
        big=2**64,
        small=-(2**63) - 1,
        ratio=0.1,
        huge=1e300,
        name="José 😀",
        roles=["a", "b"],
        realm_access={"roles": ["admin"], "deep": [[[1.5]]]},
    )
    seen = []
    for name in _json.available():
        previous = _json.use(name)
        try:
            validator = jwtguard.Validator(
                issuer="https://issuer.test/",
                audience="https://api.test",
                algorithms=["ES256"],
                jwks={"keys": [key.jwk]},
            )
            claims = validator.validate(token)
        finally:
            _json.use(previous)
        seen.append((name, typed(dict(claims.items())), claims.roles, claims.scopes))
    assert all(entry[1:] == seen[0][1:] for entry in seen)
    assert type(claims["big"]) is int
    assert claims["big"] == 2**64
    assert claims["realm_access"]["deep"] == [[[1.5]]]


# -- choosing the decoder -------------------------------------------------------------------------


def test_the_best_decoder_is_the_default() -> None:
    expected = "orjson" if HAS_ORJSON else "json"
    previous = _json.use(None)
    try:
        assert _json.current() == expected
        assert _json.available()[0] == "json"
    finally:
        _json.use(previous)


def test_an_unknown_decoder_is_refused() -> None:
    with pytest.raises(LookupError, match="ujson"):
        _json.use("ujson")


@pytest.mark.parametrize(
    ("version", "used"),
    [("3.9.15", True), ("3.11.0", True), ("4.0.0", True), ("3.9.14", False), ("3.8.3", False), ("", False)],
)
def test_orjson_is_used_only_from_the_release_that_bounds_nesting(
    monkeypatch: pytest.MonkeyPatch, version: str, used: bool
) -> None:
    fake = SimpleNamespace(__version__=version, loads=json.loads) if version else SimpleNamespace(loads=json.loads)
    monkeypatch.setattr(_json, "import_module", lambda name: fake)
    assert (_json._import_orjson() is fake.loads) is used


def test_orjson_missing_is_the_standard_library(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> Any:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(_json, "import_module", missing)
    assert _json._import_orjson() is None


WITHOUT_ORJSON = """
import sys
sys.modules["orjson"] = None  # an import of orjson now fails, as when it is not installed
import jwtguard
from jwtguard import _json
from jwtguard.testing import SigningKey, TokenFactory

assert _json.available() == ("json",) and _json.current() == "json", _json.available()
key = SigningKey.generate("RS256", kid="k")
token = TokenFactory("https://issuer.test/", "https://api.test", key=key).mint(big=2**64)
validator = jwtguard.Validator(issuer="https://issuer.test/", audience="https://api.test", jwks={"keys": [key.jwk]})
assert validator.validate(token)["big"] == 2**64
print("ok")
"""


def test_jwtguard_works_without_orjson() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_ORJSON], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
