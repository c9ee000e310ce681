"""Strict framing of a compact JWS (RFC 7515 §7.1): split, base64url, JSON.

This module does no cryptography and no claim checks: it turns an untrusted
string into a header, a payload and the bytes to verify, or raises
:class:`~jwtguard.InvalidTokenError`. It is as strict as PyJWT: no padding,
no whitespace, only the base64url alphabet, canonical final characters, UTF-8
JSON objects without ``NaN`` or ``Infinity``.
"""

from __future__ import annotations

import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn

from .errors import InvalidTokenError

__all__ = ["ParsedToken", "b64url_decode", "parse"]

_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_COMPACT_JWE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]*){4}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# A final character may only carry bits that are really used (RFC 4648 §3.5):
# with 2 characters left over the last one encodes 2 bits, with 3 it encodes 4.
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_CANONICAL_LAST = {2: frozenset(_ALPHABET[::16]), 3: frozenset(_ALPHABET[::4])}


@dataclass(frozen=True, slots=True)
class ParsedToken:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _malformed(reason: str) -> NoReturn:
    raise InvalidTokenError("malformed_token", reason=reason)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"JSON constant {name} is not allowed")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


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


def _loads(text: str) -> Any:
    try:
        value, end = _DECODER.raw_decode(text)
        if end == len(text):
            return value
    except ValueError:
        pass
    return _DECODER.decode(text)  # surrounding whitespace is valid JSON; anything else raises here


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


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        text = _decode_alphabet_checked(segment).decode("utf-8")
        value = _loads(text)
    except (ValueError, RecursionError):
        _malformed(what)
    if not isinstance(value, dict):
        _malformed(what)
    # RFC 8259 §8.2, RFC 8725 §3.7: a "\ud800" escape alone decodes to a string that no later
    # UTF-8 encode (a response, a log line, a database) accepts. Raw UTF-8 cannot carry one, so
    # only texts with such an escape need the walk.
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None and _has_lone_surrogate(value):
        _malformed(what)
    return value


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
    if not _COMPACT_JWS.fullmatch(token):
        if _COMPACT_JWE.fullmatch(token):
            raise InvalidTokenError("encrypted_token")
        _malformed("format")
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = _json_object(header_b64, "header")
    payload = _json_object(payload_b64, "payload")
    try:
        signature = _decode_alphabet_checked(signature_b64)
    except ValueError:
        _malformed("signature")
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    return ParsedToken(header, payload, signing_input, signature)
