"""Strict framing of a compact JWS (RFC 7515 §7.1): split, base64url, JSON.

This module does no cryptography and no claim checks: it turns an untrusted
string into a header, a payload and the bytes to verify, or raises
:class:`~jwtguard.InvalidTokenError`. It is as strict as PyJWT: no padding,
no whitespace, only the base64url alphabet, canonical final characters, UTF-8
JSON objects without ``NaN`` or ``Infinity``. The JSON is decoded by
:mod:`._json` (orjson when installed, with the standard library's decisions).
"""

from __future__ import annotations

import binascii
import re
from typing import Any, NamedTuple, NoReturn

from . import _json
from .errors import InvalidTokenError

__all__ = ["ParsedToken", "b64url_decode", "parse"]

_COMPACT_JWE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]*){4}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# A final character may only carry bits that are really used (RFC 4648 §3.5):
# with 2 characters left over the last one encodes 2 bits, with 3 it encodes 4.
_CANONICAL_LAST = {2: frozenset(_ALPHABET[::16]), 3: frozenset(_ALPHABET[::4])}
# The same, as bytes of a segment (none of them is "-" or "_", which the translation below changes).
_CANONICAL_LAST_BYTE = {leftover: frozenset(map(ord, chars)) for leftover, chars in _CANONICAL_LAST.items()}


def _standard_alphabet() -> bytes:
    """A ``bytes.translate`` table: base64url to base64 ("-" to "+", "_" to "/"), "." kept, anything else to "!".

    One pass over the token then both checks its alphabet (no "!" may remain) and
    makes its segments ready for ``binascii.a2b_base64``.
    """
    table = bytearray(b"!" * 256)
    for char in _ALPHABET[:62] + ".":
        table[ord(char)] = ord(char)
    table[ord("-")], table[ord("_")] = ord("+"), ord("/")
    return bytes(table)


_TO_STANDARD = _standard_alphabet()
_NESTED = frozenset({dict, list})
# Tokens of one issuer share their header segment: its decoded form is remembered, bounded, for
# headers without nested members (copied out, so no caller shares one). Only segments that passed
# every check are kept, under their exact bytes: a hit is the answer a decode would give.
_HEADERS: dict[bytes, dict[str, Any]] = {}
_HEADERS_LIMIT = 256
_HEADER_KEY_LIMIT = 512
_json._on_change.append(_HEADERS.clear)  # a test forcing a decoder decodes headers with it


class ParsedToken(NamedTuple):
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


_new_parsed = tuple.__new__  # ParsedToken(...) less its Python-level __new__: a frame per token


def _malformed(reason: str) -> NoReturn:
    raise InvalidTokenError("malformed_token", reason=reason)


def _not_compact(token: str) -> NoReturn:
    if _COMPACT_JWE.fullmatch(token):
        raise InvalidTokenError("encrypted_token")
    _malformed("format")


def b64url_decode(segment: str) -> bytes:
    """Decode one unpadded, canonical base64url segment.

    Raises:
        ValueError: any character outside the alphabet, padding, or a
            non-canonical encoding.
    """
    if not _B64URL.fullmatch(segment):
        raise ValueError("not base64url")
    return _decode_alphabet_checked(segment)


def _decode_alphabet_checked(segment: str) -> bytes:
    # The caller has matched the base64url alphabet already.
    leftover = len(segment) % 4
    if leftover == 1:
        raise ValueError("impossible base64url length")
    if leftover and segment[-1] not in _CANONICAL_LAST[leftover]:
        raise ValueError("non-canonical base64url")
    try:
        # Excess "=" is ignored by a2b_base64; str.replace is the fastest alphabet swap.
        return binascii.a2b_base64(segment.replace("-", "+").replace("_", "/") + "==")
    except binascii.Error as exc:  # pragma: no cover - excluded by the checks above
        raise ValueError("not base64url") from exc


def _has_lone_surrogate(value: Any) -> bool:
    """Whether any string in a decoded JSON value (keys included) holds an unpaired surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _json_object(segment: bytes, what: str) -> dict[str, Any]:
    """Decode one segment, already in the standard base64 alphabet, to a JSON object."""
    leftover = len(segment) % 4
    if leftover == 1 or (leftover and segment[-1] not in _CANONICAL_LAST_BYTE[leftover]):
        _malformed(what)
    try:
        data = binascii.a2b_base64(segment + b"==")  # excess "=" is ignored
        value = _json.loads(data)
    except (ValueError, RecursionError):
        _malformed(what)
    if not isinstance(value, dict):
        _malformed(what)
    # RFC 8259 §8.2, RFC 8725 §3.7: a "\ud800" escape alone decodes to a string that no later
    # UTF-8 encode (a response, a log line, a database) accepts. Raw UTF-8 cannot carry one, so
    # only texts with such an escape need the walk.
    # (bytes.find: ``in`` on bytes first tries its operand as an integer, an exception raised and cleared.)
    if data.find(b"\\u") >= 0 and _SURROGATE_ESCAPE.search(data) is not None and _has_lone_surrogate(value):
        _malformed(what)
    return value


def _new_header(segment: bytes) -> dict[str, Any]:
    header = _json_object(segment, "header")
    if len(segment) <= _HEADER_KEY_LIMIT and _NESTED.isdisjoint(map(type, header.values())):
        if len(_HEADERS) >= _HEADERS_LIMIT:
            _HEADERS.clear()
        _HEADERS[segment] = header.copy()
    return header


def parse(token: object, max_size: int) -> ParsedToken:
    """Split and decode a compact JWS.

    Raises:
        InvalidTokenError: ``token_too_large``, ``encrypted_token`` or
            ``malformed_token``.
    """
    if not isinstance(token, str):
        _malformed("type")
    if len(token) > max_size:
        raise InvalidTokenError("token_too_large")
    # What the pattern [A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){2} accepts, in three passes of C (a regular
    # expression is a few times slower): ASCII, the alphabet (no "!" after the translation), three
    # segments, none empty.
    try:
        data = token.encode("ascii")
        standard = data.translate(_TO_STANDARD)
        header_b64, payload_b64, signature_b64 = standard.split(b".")
    except ValueError:  # not ASCII (UnicodeEncodeError), or not three segments
        _not_compact(token)
    if not (header_b64 and payload_b64 and signature_b64) or standard.find(b"!") >= 0:
        _not_compact(token)
    known = _HEADERS.get(header_b64)
    header = known.copy() if known is not None else _new_header(header_b64)
    payload = _json_object(payload_b64, "payload")
    leftover = len(signature_b64) % 4
    if leftover == 1 or (leftover and signature_b64[-1] not in _CANONICAL_LAST_BYTE[leftover]):
        _malformed("signature")
    signature = binascii.a2b_base64(signature_b64 + b"==")
    signing_input = data[: len(header_b64) + 1 + len(payload_b64)]
    return _new_parsed(ParsedToken, (header, payload, signing_input, signature))
