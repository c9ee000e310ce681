"""Write the seed corpus: real tokens and headers, and the adversarial ones attackers send.

    python fuzz/make_corpus.py          # rewrites fuzz/corpus/validate and fuzz/corpus/header

Tokens are signed with the harness keys (fuzz/_harness.py) for the harness
clock, so the valid ones stay valid. ECDSA and RSA signatures are randomised
(and the RSA key is fresh per process), so those files change on every run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from pathlib import Path
from typing import Any

import _harness as h
from cryptography.hazmat.primitives import serialization
from fuzz_validate import make_token

from jwtguard.testing.keys import b64url, b64url_json

HERE = Path(__file__).resolve().parent
NOW = int(h.NOW)
HEADER = {"typ": "at+jwt"}
CLAIMS: dict[str, Any] = {
    "iss": h.ISSUER,
    "sub": "user-1",
    "aud": h.AUDIENCE,
    "iat": NOW - 60,
    "exp": NOW + 3600,
    "azp": h.CLIENT,
    "scope": "read write",
    "jti": "corpus-1",
}


def signed(alg: str = "ES256", header: dict[str, Any] | None = None, **claims: Any) -> str:
    """A token signed by the harness key for ``alg``; ``None`` drops a claim or header parameter."""
    head = {"alg": alg, "kid": h.KEYS[alg].kid if alg in h.KEYS else "fuzz-hs256", **HEADER, **(header or {})}
    body = {**CLAIMS, **claims}
    raw_head = json.dumps({k: v for k, v in head.items() if v is not None}).encode()
    raw_body = json.dumps({k: v for k, v in body.items() if v is not None}).encode()
    return make_token(alg, raw_head, raw_body, force_key=False)


def unsigned(header: object, payload: object, signature: bytes = b"") -> str:
    return f"{b64url_json(header)}.{b64url_json(payload)}.{b64url(signature)}"


def raw_segments(header: bytes, payload: bytes, signature: bytes = b"sig") -> str:
    return f"{b64url(header)}.{b64url(payload)}.{b64url(signature)}"


def alg_confusion() -> str:
    """HS256 "signed" with the RSA public key's PEM: the classic algorithm-confusion forgery."""
    pem = (
        h.KEYS["RS256"]
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    head = b64url_json({"alg": "HS256", "kid": h.KEYS["RS256"].kid})
    body = b64url_json(CLAIMS)
    mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def tokens() -> dict[str, str]:
    good = signed()
    head, body, sig = good.split(".")
    return {
        # accepted by every validator, one per algorithm
        "valid-es256": good,
        "valid-eddsa": signed("EdDSA"),
        "valid-hs256": signed("HS256"),
        "valid-rs256-fresh-key": signed("RS256"),  # the RSA key changes per run: a bad signature later
        # accepted by the default validator only
        "valid-jwt-typ": signed(header={"typ": "JWT"}),
        "valid-no-typ": signed(header={"typ": None}),
        "valid-aud-list-scp-list": signed(aud=["other", h.AUDIENCE], scope=None, scp=["read"]),
        "valid-permissions-client-id": signed(azp=None, client_id=h.CLIENT, scope=None, permissions=["read"]),
        "valid-no-kid-hs256": signed("HS256", header={"kid": None}),
        "valid-nbf": signed(nbf=NOW - 10),
        "valid-float-dates": signed(exp=NOW + 0.5, iat=NOW - 0.5),
        "valid-big-int-exp": signed(exp=10**300),
        "valid-unicode-claims": signed(sub="\u00fcser-\u2603", name="\ud83d\ude00"),
        # refused claims
        "expired": signed(exp=NOW - 3600),
        "not-yet-valid": signed(nbf=NOW + 3600),
        "iat-future": signed(iat=NOW + 3600),
        "too-old": signed(iat=NOW - 7200),
        "wrong-audience": signed(aud="https://other.test"),
        "wrong-issuer": signed(iss="https://attacker.test/"),
        "no-issuer": signed(iss=None),
        "no-exp": signed(exp=None),
        "exp-string": signed(exp=str(NOW + 3600)),
        "exp-bool": signed(exp=True),
        "exp-max-float": signed(exp=1.7976931348623157e308),
        "aud-mixed-list": signed(aud=[1, {}, None, h.AUDIENCE + "x"]),
        "aud-object": signed(aud={"aud": h.AUDIENCE}),
        "azp-list": signed(azp=[h.CLIENT]),
        "scope-list": signed(scope=["read"]),
        "scp-object": signed(scope=None, scp={"read": True}),
        "no-sub": signed(sub=None),
        "nested-claims": signed(extra={"a": [{"b": [1, 2, {"c": None}]}]}),
        # header attacks (RFC 8725 §2)
        "alg-none": unsigned({"alg": "none"}, CLAIMS),
        "alg-none-signed": unsigned({"alg": "none"}, CLAIMS, b"x"),
        "alg-None": unsigned({"alg": "None", "kid": "fuzz-es256"}, CLAIMS, b"x"),
        "alg-confusion-hs256-rsa-pem": alg_confusion(),
        "alg-unknown": unsigned({"alg": "XS256", "kid": "fuzz-es256"}, CLAIMS, b"x" * 64),
        "alg-list": unsigned({"alg": ["ES256"], "kid": "fuzz-es256"}, CLAIMS, b"x" * 64),
        "alg-null": unsigned({"alg": None}, CLAIMS, b"x" * 64),
        "kid-of-other-key-type": signed("ES256", header={"kid": "fuzz-rs256"}),
        "kid-int": signed(header={"kid": 1}),
        "kid-list": signed(header={"kid": ["fuzz-es256"]}),
        "kid-absent": signed(header={"kid": None}),
        "kid-json-null": raw_segments(b'{"alg":"ES256","kid":null}', json.dumps(CLAIMS).encode()),
        "kid-path-traversal": signed(header={"kid": "../../../../dev/null"}),
        "kid-sql": signed(header={"kid": "x' UNION SELECT 'key"}),
        "kid-long": signed(header={"kid": "k" * 2000}),
        "jku": signed(header={"jku": "https://attacker.test/jwks"}),
        "x5u": signed(header={"x5u": "https://attacker.test/cert"}),
        "jwk-embedded": signed(header={"jwk": h.KEYS["EdDSA"].jwk}),
        "x5c": signed(header={"x5c": ["MIIB"]}),
        "crit-exp": signed(header={"crit": ["exp"]}),
        "crit-empty": signed(header={"crit": []}),
        "crit-b64": signed(header={"crit": ["b64"], "b64": False}),
        "typ-int": signed(header={"typ": 1}),
        "typ-jose": signed(header={"typ": "JOSE"}),
        "typ-application-at-jwt": signed(header={"typ": "application/at+jwt"}),
        # framing (RFC 7515 §7.1)
        "empty": "",
        "one-segment": "abc",
        "two-segments": f"{head}.{body}",
        "four-segments": f"{good}.x",
        "jwe": ".".join([b64url_json({"alg": "RSA-OAEP", "enc": "A256GCM"}), "a", "b", "c", "d"]),
        "empty-signature": f"{head}.{body}.",
        "padding": f"{head}.{body}.{sig}==",
        "whitespace": f" {good}\n",
        "std-alphabet": f"{head}.{body}.{sig[:-1]}+",
        "non-canonical-last-char": f"{head}.{body}.{b64url(b'AB')[:-1]}D",
        "dots": "." * 64,
        "header-array": raw_segments(b"[1,2]", json.dumps(CLAIMS).encode()),
        "header-nan": raw_segments(b'{"alg":"ES256","x":NaN}', json.dumps(CLAIMS).encode()),
        "payload-infinity": raw_segments(b'{"alg":"ES256"}', b'{"exp":Infinity}'),
        "payload-bom": raw_segments(b'{"alg":"ES256"}', b"\xef\xbb\xbf{}"),
        "payload-utf16": raw_segments(b'{"alg":"ES256"}', '{"a":1}'.encode("utf-16")),
        "payload-latin1": raw_segments(b'{"alg":"ES256"}', b'{"sub":"\xe9"}'),
        "payload-deep": raw_segments(b'{"alg":"ES256"}', b"[" * 3000 + b"]" * 3000),
        "payload-duplicate-keys": raw_segments(b'{"alg":"HS256","alg":"ES256"}', b'{"iss":"a","iss":"b"}'),
        "payload-int-over-digit-limit": raw_segments(b'{"alg":"ES256"}', b'{"exp":1' + b"0" * 5000 + b"}"),
        "oversize": "a" * (16 * 1024 + 1),
    }


def signed_inputs() -> dict[str, bytes]:
    """Inputs for the harness's signing mode: raw header and payload JSON, signed at fuzz time."""
    body = json.dumps(CLAIMS).encode()
    odd_body = json.dumps({**CLAIMS, "exp": NOW + 1e-9, "nbf": NOW + 5, "aud": [h.AUDIENCE] * 3}).encode()
    inputs = {}
    for index, alg in enumerate(h.ALGORITHMS):
        kid = h.KEYS[alg].kid if alg in h.KEYS else "fuzz-hs256"
        head = json.dumps({"alg": alg, "kid": kid, "typ": "at+jwt"}).encode()
        inputs[f"sign-{alg}"] = bytes([1, index]) + head + b"\x00" + body
        inputs[f"sign-forced-key-{alg}"] = bytes([3, index]) + b'{"typ":"at+jwt"}\x00' + body
    inputs["sign-forced-odd-dates"] = bytes([3, 1]) + b"{}\x00" + odd_body
    inputs["sign-forced-minimal"] = (
        bytes([3, 0]) + b"{}\x00" + json.dumps({"iss": h.ISSUER, "aud": h.AUDIENCE, "exp": NOW + 1}).encode()
    )
    inputs["sign-forced-exp-overflows-to-inf"] = (
        bytes([3, 1]) + b"{}\x00" + body.replace(b'"exp": ', b'"exp": 1e400, "x": ')
    )
    inputs["sign-garbage-json"] = bytes([1, 0]) + b"{\x00{"
    return inputs


def headers(valid: str, expired: str) -> dict[str, bytes]:
    get, head, post, options, excluded, optional = 0, 1, 2, 3, 4, 8
    cases: dict[str, tuple[int, list[bytes]]] = {
        "valid": (get, [b"Bearer " + valid.encode()]),
        "valid-head": (head, [b"Bearer " + valid.encode()]),
        "valid-lowercase-scheme": (post, [b"bearer " + valid.encode()]),
        "valid-optional": (optional, [b"Bearer " + valid.encode()]),
        "expired": (get, [b"Bearer " + expired.encode()]),
        "expired-head": (head, [b"Bearer " + expired.encode()]),
        "preflight": (options, []),
        "excluded": (excluded, [b"garbage"]),
        "optional-none": (optional, []),
        "optional-basic": (optional, [b"Basic dXNlcjpwYXNz"]),
        "optional-bad": (optional, [b"Bearer a b"]),
        "none": (get, []),
        "empty": (get, [b""]),
        "spaces": (get, [b"   "]),
        "basic": (get, [b"Basic dXNlcjpwYXNz"]),
        "digest": (get, [b'Digest username="x", realm="y"']),
        "dpop": (get, [b"DPoP abc"]),
        "bearer-only": (get, [b"Bearer"]),
        "bearer-space": (get, [b"Bearer "]),
        "bearer-glued": (get, [b"Bearerabc"]),
        "bearer-tab": (get, [b"Bearer\tabc"]),
        "leading-tab": (get, [b"\tBearer abc"]),
        "two-spaces": (get, [b"Bearer  abc"]),
        "trailing-spaces": (get, [b"Bearer abc   "]),
        "token-with-space": (get, [b"Bearer abc def"]),
        "token-equals-inside": (get, [b"Bearer a=b"]),
        "token-only-equals": (get, [b"Bearer ==="]),
        "token-padding": (get, [b"Bearer abc=="]),
        "token-all-chars": (get, [b"Bearer AZaz09-._~+/=="]),
        "token-quote": (get, [b'Bearer a"b']),
        "token-latin1": (get, [b"Bearer \xe9\xff"]),
        "token-nul": (get, [b"Bearer a\x00b"]),
        "token-crlf-injection": (get, [b"Bearer a\r\nSet-Cookie: x=1"]),
        "comma": (get, [b","]),
        "comma-bearer": (get, [b", Bearer abc"]),
        "trailing-comma": (get, [b"Bearer abc,"]),
        "joined-duplicate": (get, [b"Bearer abc, Bearer def"]),
        "joined-no-space": (get, [b"Bearer abc,bearer def"]),
        "joined-basic-bearer": (get, [b"Basic x, Bearer def"]),
        "joined-whitespace": (get, [b"Bearer abc \t ,\t  Bearer def"]),
        "whitespace-before-comma": (get, [b"Bearer abc" + b" " * 200 + b",x"]),
        "two-headers": (get, [b"Bearer abc", b"Bearer abc"]),
        "two-headers-basic": (get, [b"Basic x", b"Bearer abc"]),
        "two-empty-headers": (get, [b"", b""]),
        "many-headers": (get, [b"Bearer a"] * 8),
        "jwe-token": (get, [b"Bearer a.b.c.d.e"]),
        "long-token": (get, [b"Bearer " + b"a" * 4000]),
    }
    return {name: bytes([flags]) + b"\n".join(values) for name, (flags, values) in cases.items()}


def write(directory: Path, files: dict[str, bytes]) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)


def main() -> None:
    raw = {name: b"\x00" + token.encode("utf-8", "surrogatepass") for name, token in tokens().items()}
    raw["lone-surrogates"] = b"\x00" + b"\xed\xa0\x80.\xff\xfe.\xc3"
    write(HERE / "corpus" / "validate", {**raw, **signed_inputs()})
    write(HERE / "corpus" / "header", headers(signed(header={"typ": "JWT"}), signed(exp=NOW - 3600)))
    total = sum(path.stat().st_size for path in (HERE / "corpus").rglob("*") if path.is_file())
    print(f"wrote the seed corpus: {total} bytes")


if __name__ == "__main__":
    main()
