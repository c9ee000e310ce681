"""Explain a token: one line per check, and hints for the usual mistakes.

The lines come from an unverified decode of the token, so that every check is
reported rather than only the first failure; the verdict is the
:class:`~jwtguard.Validator`'s, and a line the validator contradicts (its error
names that claim) is marked failed with the validator's reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..claims import Claims
from ..errors import AuthError, KeySetUnavailableError
from ..validator import DEFAULT_TOKEN_TYPES
from ._format import decode_segment, duration, show

__all__ = ["Diagnosis", "Line", "diagnose"]

# Codes raised before the signature is checked: the signature line is then skipped.
_BEFORE_SIGNATURE = frozenset(
    {"malformed_token", "token_too_large", "encrypted_token", "alg_not_allowed", "unsupported_crit", "invalid_typ"}
)
# The report line of each claim or header parameter a validator error can name.
_LINE_OF_CLAIM = {
    "alg": "algorithm",
    "crit": "critical",
    "typ": "type",
    "iss": "issuer",
    "kid": "signature",
    "exp": "expiry",
    "nbf": "not before",
    "iat": "issued at",
    "aud": "audience",
    "scope": "scope",
}
_ACCEPTED_TYPES = {None if t is None else t.lower().removeprefix("application/") for t in DEFAULT_TOKEN_TYPES}
# How far off a date may be and still look like clock skew rather than a wrong token.
_SKEW_WINDOW = 600.0

HINT_OPAQUE = (
    "This is not a JWT but an opaque token. Auth0 issues opaque (or encrypted) access tokens when the "
    "token request names no audience: request the token with audience=<your API identifier>. "
    "An API cannot validate an opaque token itself."
)
HINT_JWE = (
    "This is an encrypted token (JWE, 5 segments). Auth0 issues such tokens when the token request "
    "names no audience (they are meant for its /userinfo endpoint): request the token with "
    "audience=<your API identifier>. jwtguard does not decrypt tokens."
)


@dataclass
class Line:
    """One check: ``status`` is ``"pass"``, ``"fail"`` or ``"skip"``."""

    status: str
    name: str
    detail: str


@dataclass
class Diagnosis:
    """What :func:`diagnose` found."""

    header: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    lines: list[Line] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    id_token: bool = False  # it looks like an ID token: other audience and scope hints would be noise

    def add(self, ok: bool | None, name: str, detail: str) -> None:
        self.lines.append(Line("skip" if ok is None else "pass" if ok else "fail", name, detail))

    def status(self, name: str) -> str | None:
        return next((line.status for line in self.lines if line.name == name), None)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def diagnose(
    token: str,
    *,
    issuer: str,
    audiences: Sequence[str],
    algorithms: Sequence[str],
    scopes: Sequence[str],
    leeway: float,
    now: float,
    error: AuthError | None,
) -> Diagnosis:
    """Run every check on ``token``, reconciled with the validator's ``error`` (``None``: valid)."""
    found = Diagnosis()
    segments = token.split(".")
    if len(segments) == 5:
        found.header = decode_segment(segments[0])
        found.add(False, "format", "an encrypted token (JWE, 5 segments)")
        found.hints.append(HINT_JWE)
        return found
    if len(segments) != 3:
        found.add(False, "format", f"not a JWT ({len(segments)} segment(s) instead of 3): an opaque token?")
        found.hints.append(HINT_OPAQUE)
        return found
    found.header, found.payload = decode_segment(segments[0]), decode_segment(segments[1])
    code = error.code if error else None
    if found.header is None or found.payload is None or code in ("malformed_token", "token_too_large"):
        found.add(False, "format", "a malformed JWT" if code != "token_too_large" else "the token is too large")
        return found
    found.add(True, "format", f"a signed JWT (JWS compact serialization), {len(token)} characters")
    _header_checks(found, algorithms)
    _issuer_check(found, issuer)
    _signature_check(found, error)
    _date_checks(found, leeway, now)
    _audience_check(found, audiences)
    _scope_check(found, scopes)
    if error is not None and not isinstance(error, KeySetUnavailableError):
        name = _LINE_OF_CLAIM.get(error.claim or "", error.claim or "other")
        if found.status(name) != "fail":
            found.lines = [line for line in found.lines if line.name != name]
            reason = f" ({error.reason})" if error.reason else ""
            found.add(False, name, f"rejected by the validator: {error.code}{reason}")
    return found


def _header_checks(found: Diagnosis, algorithms: Sequence[str]) -> None:
    header = found.header or {}
    alg = header.get("alg")
    if alg in algorithms:
        found.add(True, "algorithm", f"{alg} is allowed")
    else:
        found.add(False, "algorithm", f"{show(alg)} is not allowed (allowed: {', '.join(algorithms)})")
        if isinstance(alg, str) and alg.upper().startswith("HS"):
            found.hints.append(
                f"{show(alg)} tokens are signed with a shared secret, which an issuer's public key set cannot "
                "verify. Configure the issuer (e.g. the Auth0 API's signing algorithm) to use RS256."
            )
        elif isinstance(alg, str) and alg.lower() == "none":
            found.hints.append('The token is unsigned (alg "none"): no API may accept it.')
        else:
            found.hints.append(f"If the issuer really signs with {show(alg)}, allow it with --algorithm.")
    found.add("crit" not in header, "critical", "no crit header" if "crit" not in header else "unsupported crit")
    typ = header.get("typ")
    accepted = typ is None or (isinstance(typ, str) and typ.lower().removeprefix("application/") in _ACCEPTED_TYPES)
    found.add(accepted, "type", f"typ {show(typ)} is {'accepted' if accepted else 'not an access token type'}")


def _issuer_check(found: Diagnosis, issuer: str) -> None:
    iss = (found.payload or {}).get("iss")
    if iss == issuer:
        found.add(True, "issuer", f"{show(iss)} is the expected issuer")
        return
    found.add(False, "issuer", "missing" if iss is None else f"{show(iss)} is not {show(issuer)}")
    if isinstance(iss, str) and iss.rstrip("/") == issuer.rstrip("/"):
        found.hints.append(
            f"The issuer differs only by a trailing slash: the token says {show(iss)}, you configured "
            f"{show(issuer)}. Issuers are compared exactly; use --issuer {show(iss)} (Auth0's ends with /)."
        )


def _signature_check(found: Diagnosis, error: AuthError | None) -> None:
    kid = (found.header or {}).get("kid")
    if isinstance(error, KeySetUnavailableError):
        found.add(False, "signature", f"not checked: the key set could not be fetched ({error.reason or 'error'})")
        found.hints.append(
            "The issuer's key set could not be fetched: check --issuer (its discovery document is at "
            "<issuer>/.well-known/openid-configuration) or give --jwks-uri."
        )
    elif error is not None and (error.code in _BEFORE_SIGNATURE or error.claim == "iss"):
        found.add(None, "signature", "not checked: an earlier check failed")
    elif error is not None and error.code == "unknown_key":
        found.add(False, "signature", f"no key fits kid {show(kid)} in the issuer's key set ({error.reason})")
        found.hints.append(
            "The signing key is not in the issuer's key set: is the token from another tenant or environment, "
            "or was the key retired? Compare the token's kid with the key set's."
        )
    elif error is not None and error.code == "bad_signature":
        found.add(False, "signature", f"does not verify with the key {show(kid)}")
        found.hints.append("The signature does not match: the token was altered, or signed by another key.")
    else:
        found.add(True, "signature", f"verified with the issuer's key {show(kid)}")


def _date_checks(found: Diagnosis, leeway: float, now: float) -> None:
    payload = found.payload or {}
    skew = ""
    exp, nbf, iat = payload.get("exp"), payload.get("nbf"), payload.get("iat")
    if exp is None or not _number(exp):
        found.add(False, "expiry", "missing (exp is required)" if exp is None else "exp is not a number")
    elif now - leeway >= exp:
        found.add(False, "expiry", f"expired {duration(now - exp)} ago (leeway {leeway:g} s)")
        if now - exp <= _SKEW_WINDOW:
            skew = f"it expired only {duration(now - exp)} ago"
    else:
        found.add(True, "expiry", f"expires in {duration(exp - now)}")
    if nbf is not None and not _number(nbf):
        found.add(False, "not before", "nbf is not a number")
    elif nbf is not None and now + leeway < nbf:
        found.add(False, "not before", f"not valid for another {duration(nbf - now)}")
        skew = skew or (f"it becomes valid only in {duration(nbf - now)}" if nbf - now <= _SKEW_WINDOW else "")
    else:
        found.add(True, "not before", "not present" if nbf is None else "already valid")
    if iat is not None and not _number(iat):
        found.add(False, "issued at", "iat is not a number")
    elif iat is not None and iat > now + leeway:
        found.add(False, "issued at", f"issued {duration(iat - now)} in the future")
        skew = f"it was issued {duration(iat - now)} in the future"
    else:
        found.add(True, "issued at", "not present" if iat is None else f"issued {duration(now - iat)} ago")
    if skew:
        found.hints.append(
            f"Clock skew? {skew[0].upper()}{skew[1:]}, beyond the leeway of {leeway:g} s. If the token is "
            "fresh, this machine's clock and the issuer's disagree: synchronise them (NTP) or raise --leeway."
        )


def _audience_check(found: Diagnosis, audiences: Sequence[str]) -> None:
    payload = found.payload or {}
    aud = payload.get("aud")
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    matched = [value for value in values if value in audiences]
    if matched:
        found.add(True, "audience", f"{show(matched[0])} is accepted")
        return
    found.add(False, "audience", "missing" if aud is None else f"{show(aud)} is not {show(list(audiences))}")
    reasons = [f"it has {name}" for name in ("nonce", "at_hash", "c_hash") if name in payload]
    if values and payload.get("azp") in values:
        reasons.append("its aud is its azp (a client id)")
    elif values and not any("://" in str(value) for value in values) and "scope" not in payload:
        reasons.append("its aud looks like a client id and it has no scope")
    if payload.get("typ") == "ID":
        reasons.append('its typ claim is "ID"')
    if reasons:
        found.id_token = True
        found.hints.append(
            f"This looks like an ID token ({', '.join(reasons)}). ID tokens are for the client that logged the "
            "user in; send the access token to the API instead."
        )
    else:
        found.hints.append(
            f"The token is for another audience. Request it for this API (Auth0: audience={audiences[0]}), "
            "or configure --audience with the API identifier the issuer uses."
        )


def _scope_check(found: Diagnosis, scopes: Sequence[str]) -> None:
    granted = Claims(found.payload or {}).scopes
    if not scopes:
        found.add(None, "scope", f"no --scope given; the token grants {show(sorted(granted))}")
        return
    missing = [scope for scope in scopes if scope not in granted]
    found.add(not missing, "scope", f"missing {show(missing)}" if missing else f"grants {show(list(scopes))}")
    if missing and not found.id_token:
        found.hints.append(
            "The token lacks a required scope: request it in the token request's scope, and make sure the "
            "client may have it (Auth0: the API's permissions granted to the application or user)."
        )
