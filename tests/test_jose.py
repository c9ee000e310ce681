"""Strict framing of compact JWS: as strict as PyJWT, never a crash."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from decoders import decoding_with
from hypothesis import given
from hypothesis import strategies as st

import jwtguard
from jwtguard import _jose, _json
from jwtguard._jose import b64url_decode, parse
from jwtguard.testing.keys import b64url, b64url_json

HEADER = b64url_json({"alg": "RS256", "kid": "k"})
PAYLOAD = b64url_json({"iss": "https://issuer.test/", "sub": "a"})
SIG = b64url(b"\x01" * 32)


@pytest.fixture(scope="module", autouse=True, params=["json", "orjson"])
def decoder(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test of this file once with each JSON decoder (see test_json_decoders.py)."""
    yield from decoding_with(request.param)


def code_of(token: object) -> str:
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        parse(token, 16384)
    return caught.value.code


def test_parses_a_compact_jws() -> None:
    parsed = parse(f"{HEADER}.{PAYLOAD}.{SIG}", 16384)
    assert parsed.header == {"alg": "RS256", "kid": "k"}
    assert parsed.payload["sub"] == "a"
    assert parsed.signing_input == f"{HEADER}.{PAYLOAD}".encode()
    assert parsed.signature == b"\x01" * 32


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        f"{HEADER}.{PAYLOAD}.",  # empty signature (alg "none" style)
        f"{HEADER}.{PAYLOAD}.{SIG}=",  # padding
        f"{HEADER}=.{PAYLOAD}.{SIG}",
        f" {HEADER}.{PAYLOAD}.{SIG}",  # whitespace
        f"{HEADER}.{PAYLOAD}.{SIG}\n",
        f"{HEADER}.{PAYLOAD[:10]} {PAYLOAD[10:]}.{SIG}",
        f"{HEADER}.{PAYLOAD}.{SIG[:-1]}+",  # standard (not url-safe) alphabet
        f"{HEADER}.{PAYLOAD}.{SIG[:-1]}/",
        f"{HEADER}.{PAYLOAD}.A",  # impossible length
    ],
)
def test_rejects_bad_framing(token: str) -> None:
    assert code_of(token) == "malformed_token"


def test_rejects_non_canonical_base64url() -> None:
    # "QR" and "QQ" both decode to b"A" leniently; only "QQ" is canonical.
    assert b64url_decode("QQ") == b"A"
    with pytest.raises(ValueError, match="non-canonical"):
        b64url_decode("QR")
    assert code_of(f"{HEADER}.{PAYLOAD}.QR") == "malformed_token"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"exp": NaN}',
        b'{"exp": Infinity}',
        b'{"exp": -Infinity}',
        b"[1, 2]",
        b'"a string"',
        b"null",
        b"\xff\xfe{}",
        '{"a": 1}'.encode("utf-16"),
        b"{" * 10_000,
        b'{"a": 1',
    ],
)
def test_rejects_bad_json(payload: bytes) -> None:
    segment = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    assert code_of(f"{HEADER}.{segment}.{SIG}") == "malformed_token"


def test_rejects_non_object_header() -> None:
    assert code_of(f"{b64url_json(['RS256'])}.{PAYLOAD}.{SIG}") == "malformed_token"


def test_recognises_an_encrypted_token() -> None:
    jwe = ".".join([b64url_json({"alg": "RSA-OAEP", "enc": "A256GCM"}), "abc", "def", "ghi", "jkl"])
    assert code_of(jwe) == "encrypted_token"


def test_size_is_bounded_before_any_parsing() -> None:
    with pytest.raises(jwtguard.InvalidTokenError) as caught:
        parse("a" * 20000, 16384)
    assert caught.value.code == "token_too_large"


@pytest.mark.parametrize("token", [None, 12, b"a.b.c", ["a", "b", "c"]])
def test_rejects_non_strings(token: object) -> None:
    assert code_of(token) == "malformed_token"


@given(st.text(max_size=300))
def test_any_text_parses_or_raises_invalid_token(token: str) -> None:
    try:
        parsed = parse(token, 16384)
    except jwtguard.InvalidTokenError:
        return
    assert isinstance(parsed.header, dict)


@given(st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10), max_size=5))
def test_any_json_object_round_trips(claims: dict[str, object]) -> None:
    segment = b64url(json.dumps(claims).encode())
    assert parse(f"{HEADER}.{segment}.{SIG}", 16384).payload == claims


def _segment(json_text: str) -> str:
    return b64url(json_text.encode("ascii"))


@pytest.mark.parametrize(
    "text",
    [
        r'{"sub": "\ud800"}',
        r'{"sub": "a\uDFFFb"}',
        r'{"\udbff": 1}',
        r'{"roles": ["ok", {"deep": ["\ud83d"]}]}',
        r'{"sub": "\ude00\ud83d"}',  # a pair in the wrong order is two lone halves
    ],
)
@pytest.mark.parametrize("where", ["header", "payload"])
def test_escaped_lone_surrogates_make_the_token_malformed(text: str, where: str) -> None:
    header, payload = (_segment(text), PAYLOAD) if where == "header" else (HEADER, _segment(text))
    assert code_of(f"{header}.{payload}.{SIG}") == "malformed_token"


@pytest.mark.parametrize("text", [r'{"sub": "\ud83d\ude00"}', r'{"sub": "\\ud800"}', '{"sub": "\\u00e9"}'])
def test_escaped_pairs_and_look_alikes_are_fine(text: str) -> None:
    parsed = parse(f"{HEADER}.{_segment(text)}.{SIG}", 16384)
    json.dumps(parsed.payload, ensure_ascii=False).encode("utf-8")


@given(st.lists(st.integers(0, 0x10FFFF), max_size=6).map(lambda points: "".join(map(chr, points))))
def test_every_accepted_claim_encodes_as_utf8(text: str) -> None:
    token = f"{HEADER}.{_segment(json.dumps({text: [text]}))}.{SIG}"
    try:
        parsed = parse(token, 16384)
    except jwtguard.InvalidTokenError:
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    else:
        json.dumps(parsed.payload, ensure_ascii=False).encode("utf-8")


# -- the decoded headers remembered by their segment ----------------------------------------------


def test_a_remembered_header_is_a_copy_no_caller_can_change() -> None:
    token = f"{HEADER}.{PAYLOAD}.{SIG}"
    first = parse(token, 16384).header
    first["alg"] = "none"
    second = parse(token, 16384).header
    assert second == {"alg": "RS256", "kid": "k"}
    assert second is not parse(token, 16384).header


def test_only_accepted_flat_headers_are_remembered() -> None:
    def remembered(header: str) -> bool:
        return header.replace("-", "+").replace("_", "/").encode() in _jose._HEADERS  # kept in the standard alphabet

    nested = b64url_json({"alg": "ES256", "jwk": {"kty": "EC"}})
    refused = [_segment(r'{"alg": "\ud800"}'), _segment('{"alg": NaN}'), _segment('{"alg": 1e400, "x": [')]
    parse(f"{nested}.{PAYLOAD}.{SIG}", 16384)
    for header in refused:
        assert code_of(f"{header}.{PAYLOAD}.{SIG}") == "malformed_token"
    flat = b64url_json({"alg": "HS256", "typ": "JWT", "n": 1.5, "ok": True, "x": None})
    parse(f"{flat}.{PAYLOAD}.{SIG}", 16384)
    assert remembered(flat)
    assert not any(remembered(header) for header in (nested, *refused))


def test_the_remembered_headers_are_bounded() -> None:
    for n in range(_jose._HEADERS_LIMIT + 10):
        parse(f"{b64url_json({'alg': 'RS256', 'kid': str(n)})}.{PAYLOAD}.{SIG}", 16384)
        assert len(_jose._HEADERS) <= _jose._HEADERS_LIMIT
    long_kid = b64url_json({"alg": "RS256", "kid": "k" * _jose._HEADER_KEY_LIMIT})
    parse(f"{long_kid}.{PAYLOAD}.{SIG}", 16384)
    assert all(len(segment) <= _jose._HEADER_KEY_LIMIT for segment in _jose._HEADERS)


def test_choosing_a_decoder_forgets_the_remembered_headers(decoder: str) -> None:
    parse(f"{HEADER}.{PAYLOAD}.{SIG}", 16384)
    assert _jose._HEADERS
    _json.use(decoder)
    assert not _jose._HEADERS
