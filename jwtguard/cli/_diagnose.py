"""Explain a token: one line per check, and hints for the usual mistakes.

The lines come from an unverified decode of the token, so that every check is
reported rather than only the first failure. They cannot contradict the
verdict, which is the :class:`~jwtguard.Validator`'s:

* the claim checks (``exp``, ``nbf``, ``iat``, ``aud``) are the validator's own
  (:mod:`jwtguard._checks`), run with the same leeway at the same instant;
* the validator's failure is reported on exactly one line, the line of that
  check (:func:`line_of`): a line that had passed is turned into a failure in
  place, a line that had already failed is left alone, never repeated;
* each hint explains one failure and appears at most once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._algorithms import SPECS
from .._checks import Check, as_number, aud_check, exp_check, iat_check, nbf_check
from .._options import media_type
from ..claims import Claims
from ..errors import AuthError, InvalidTokenError, KeySetUnavailableError
from ..validator import DEFAULT_TOKEN_TYPES
from ._format import decode_segment, duration, show

__all__ = [
    "Diagnosis",
    "Line",
    "SKEW_EXPIRED_WINDOW",
    "SKEW_FUTURE_WINDOW",
    "diagnose",
    "key_set_problem",
    "line_of",
]

#: Clock skew is offered as an explanation only when a date misses by little, counted
#: beyond the leeway: an ``iat`` or ``nbf`` at most this many seconds further in the future…
SKEW_FUTURE_WINDOW = 300.0
#: …or an ``exp`` passed at most this many seconds beyond the leeway. Every token expires:
#: one that expired longer ago is simply expired, not a sign of skew.
SKEW_EXPIRED_WINDOW = 5.0

# The report's lines, in order; the validator checks the first five before the signature.
_BEFORE_SIGNATURE = ("format", "algorithm", "critical", "type", "issuer")
# The line reporting each failure the validator can raise, by code…
_LINE_OF_CODE = {
    "malformed_token": "format",
    "token_too_large": "format",
    "encrypted_token": "format",
    "alg_not_allowed": "algorithm",
    "unsupported_crit": "critical",
    "invalid_typ": "type",
    "unknown_issuer": "issuer",
    "unknown_key": "signature",
    "bad_signature": "signature",
    "keyset_unavailable": "signature",
    "token_expired": "expiry",
    "token_not_yet_valid": "not before",
    "iat_in_future": "issued at",
    "token_too_old": "issued at",
    "audience_mismatch": "audience",
    "insufficient_scope": "scope",
}
# …and, for the generic codes (missing_claim, invalid_claim), by the claim it names.
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
_ACCEPTED_TYPES = frozenset(None if t is None else media_type(t) for t in DEFAULT_TOKEN_TYPES)

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
HINT_CUT = (
    "A JWT is three base64url segments separated by dots: this one has {count}. Was it cut or joined "
    "when copied? Copy the whole access_token value of the token response."
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

    def hint(self, text: str) -> None:
        if text not in self.hints:
            self.hints.append(text)

    def status(self, name: str) -> str | None:
        return next((line.status for line in self.lines if line.name == name), None)


def line_of(error: AuthError) -> str:
    """The report line that carries ``error``: by its code, else by the claim it names."""
    line = _LINE_OF_CODE.get(error.code)
    if line is None:
        line = _LINE_OF_CLAIM.get(error.claim or "", error.claim or error.code)
    return line


def key_set_problem(error: KeySetUnavailableError) -> str:
    """Why no key could be chosen, for the signature line and the verdict alike."""
    reason = error.reason or "unknown"
    if reason == "no_usable_keys":
        what = "the key set holds no key for the allowed algorithms"
    elif reason == "invalid_jwks":
        what = "the key set is not a JWKS document"
    else:
        what = "the key set could not be fetched"
    return f"{what} ({reason})"


def diagnose(
    token: str,
    *,
    issuer: str,
    audiences: Sequence[str],
    algorithms: Sequence[str],
    scopes: Sequence[str],
    leeway: float,
    now: float,
    error: BaseException | None,
    jwks_uri: str | None = None,
) -> Diagnosis:
    """Run every check on ``token`` at ``now``, reconciled with the validator's ``error``.

    ``error`` is what :meth:`~jwtguard.Validator.validate` raised: ``None`` when it
    accepted the token, an :class:`~jwtguard.AuthError` when it refused it, anything
    else when it failed (the token was not judged).
    """
    found = Diagnosis()
    auth_error = error if isinstance(error, AuthError) else None
    if not _format_check(found, token, auth_error):
        return found
    _header_checks(found, algorithms)
    _issuer_check(found, issuer)
    _signature_check(found, error, algorithms, jwks_uri)
    _date_checks(found, leeway, now, skew_hint=found.status("signature") != "fail")
    _audience_check(found, audiences, now)
    _scope_check(found, scopes)
    if auth_error is not None and not isinstance(auth_error, KeySetUnavailableError):
        _reconcile(found, auth_error)
    return found


def _reconcile(found: Diagnosis, error: AuthError) -> None:
    """Make the line of the validator's failure a failure: once, in its place."""
    name = line_of(error)
    reason = f" ({error.reason})" if error.reason else ""
    replacement = Line("fail", name, f"rejected by the validator: {error.code}{reason}")
    for index, line in enumerate(found.lines):
        if line.name == name:
            if line.status != "fail":
                found.lines[index] = replacement
            return
    found.lines.append(replacement)  # a check this report has no line for


def _format_check(found: Diagnosis, token: str, error: AuthError | None) -> bool:
    """The ``format`` line; ``False`` when the token cannot be read any further."""
    code = error.code if error is not None else None
    segments = token.split(".")
    if code == "token_too_large":
        found.add(False, "format", f"the token is too large ({len(token)} characters)")
        return False
    if len(segments) == 5 and code != "malformed_token":
        found.header = decode_segment(segments[0])
        found.add(False, "format", "an encrypted token (JWE, 5 segments)")
        found.hint(HINT_JWE)
        return False
    if len(segments) == 1:
        found.add(False, "format", "not a JWT (no dots): an opaque token?")
        found.hint(HINT_OPAQUE)
        return False
    if len(segments) != 3:
        found.add(False, "format", f"not a JWT: {len(segments)} segments instead of 3")
        found.hint(HINT_CUT.format(count=len(segments)))
        return False
    found.header, found.payload = decode_segment(segments[0]), decode_segment(segments[1])
    if found.header is None or found.payload is None or code == "malformed_token":
        where = ""
        if error is not None and error.reason:
            where = f" ({error.claim}: {error.reason})" if error.claim else f" ({error.reason})"
        found.add(False, "format", f"a malformed JWT{where}")
        return False
    found.add(True, "format", f"a signed JWT (JWS compact serialization), {len(token)} characters")
    return True


def _header_checks(found: Diagnosis, algorithms: Sequence[str]) -> None:
    header = found.header or {}
    alg = header.get("alg")
    if alg in algorithms:
        found.add(True, "algorithm", f"{alg} is allowed")
    elif not isinstance(alg, str):
        # No hint: a header without a usable alg is no JWS; no configuration accepts it.
        found.add(False, "algorithm", "missing (alg is required)" if alg is None else f"{show(alg)} is not a name")
    else:
        found.add(False, "algorithm", f"{show(alg)} is not allowed (allowed: {', '.join(algorithms)})")
        if alg.upper().startswith("HS"):
            found.hint(
                f"{show(alg)} tokens are signed with a shared secret, which an issuer's public key set cannot "
                "verify. Configure the issuer (e.g. the Auth0 API's signing algorithm) to use RS256."
            )
        elif alg.lower() == "none":
            found.hint('The token is unsigned (alg "none"): no API may accept it.')
        elif alg in SPECS:
            found.hint(f"If the issuer really signs with {show(alg)}, allow it with --algorithm.")
        else:
            found.hint(f"jwtguard cannot verify {show(alg)} tokens (it supports {', '.join(sorted(SPECS))}).")
    found.add("crit" not in header, "critical", "no crit header" if "crit" not in header else "unsupported crit")
    typ = header.get("typ")
    accepted = typ is None or (isinstance(typ, str) and media_type(typ) in _ACCEPTED_TYPES)
    found.add(accepted, "type", f"typ {show(typ)} is {'accepted' if accepted else 'not an access token type'}")


def _issuer_check(found: Diagnosis, issuer: str) -> None:
    iss = (found.payload or {}).get("iss")
    if iss == issuer:
        found.add(True, "issuer", f"{show(iss)} is the expected issuer")
        return
    found.add(False, "issuer", "missing" if iss is None else f"{show(iss)} is not {show(issuer)}")
    if isinstance(iss, str) and iss.rstrip("/") == issuer.rstrip("/"):
        found.hint(
            f"The issuer differs only by a trailing slash: the token says {show(iss)}, you configured "
            f"{show(issuer)}. Issuers are compared exactly; use --issuer {show(iss)} (Auth0's ends with /)."
        )


def _signature_check(
    found: Diagnosis, error: BaseException | None, algorithms: Sequence[str], jwks_uri: str | None
) -> None:
    header = found.header or {}
    kid, alg = header.get("kid"), header.get("alg")
    key = f"the key {show(kid)}" if kid is not None else "the issuer's key (the token names no kid)"
    if error is None:
        found.add(True, "signature", f"verified with {key}")
    elif not isinstance(error, AuthError):
        found.add(None, "signature", f"not checked: the validator failed ({type(error).__name__})")
    elif isinstance(error, KeySetUnavailableError):
        found.add(None, "signature", f"not checked: {key_set_problem(error)}")
        found.hint(_key_set_hint(error, algorithms, jwks_uri))
    elif line_of(error) in _BEFORE_SIGNATURE:
        found.add(None, "signature", "not checked: an earlier check failed")
    elif error.code == "unknown_key":
        _unknown_key(found, error, kid, alg)
    elif error.code == "bad_signature":
        found.add(False, "signature", f"does not verify with {key}")
        found.hint("The signature does not match: the token was altered, or signed by another key.")
    else:  # the validator checks the signature before any claim
        found.add(True, "signature", f"verified with {key}")


def _unknown_key(found: Diagnosis, error: AuthError, kid: Any, alg: Any) -> None:
    if error.reason == "ambiguous":
        found.add(False, "signature", f"the token names no kid and several {show(alg)} keys are published")
        found.hint(
            "The token has no kid header and the issuer's key set holds several keys for its algorithm: "
            "jwtguard does not try each one. The issuer must name the signing key (kid) in the header."
        )
    elif error.reason == "type_mismatch":
        found.add(False, "signature", f"the key {show(kid)} is not a {show(alg)} key")
        found.hint(
            f"The issuer's key {show(kid)} is of another type than the token's alg {show(alg)}: "
            "the header was altered, or the issuer signs with another algorithm than it publishes."
        )
    else:
        found.add(False, "signature", f"no key with kid {show(kid)} in the issuer's key set ({error.reason})")
        found.hint(
            "The signing key is not in the issuer's key set: is the token from another tenant or environment, "
            "or was the key retired? Compare the token's kid with the key set's."
        )


def _key_set_hint(error: KeySetUnavailableError, algorithms: Sequence[str], jwks_uri: str | None) -> str:
    if error.reason == "no_usable_keys":
        return (
            f"The issuer's key set has no key for {', '.join(algorithms)}: if the issuer signs with another "
            "algorithm, name it with --algorithm."
        )
    if jwks_uri is not None:
        where = f"Check --jwks-uri {show(jwks_uri)}: it must serve the issuer's key set (JWKS)"
    else:
        where = (
            "Check --issuer (its discovery document is at <issuer>/.well-known/openid-configuration), "
            "or give the key set's URL with --jwks-uri"
        )
    slow = "; if the issuer is only slow, raise --timeout" if error.reason == "timeout" else ""
    return f"{where}{slow}."


def _failure(check: Check, payload: dict[str, Any], now: float) -> str | None:
    """The reason the validator's ``check`` refuses ``payload`` at ``now``, or ``None``."""
    try:
        check(payload, now)
    except InvalidTokenError as exc:
        return exc.reason or exc.code
    return None


def _date_checks(found: Diagnosis, leeway: float, now: float, *, skew_hint: bool) -> None:
    payload = found.payload or {}
    within = f", within the leeway of {leeway:g} s"
    skews: list[str] = []
    # Pass or fail is the validator's check's answer; the value only chooses the words.
    exp = as_number(payload.get("exp"))
    failed = _failure(exp_check(leeway), payload, now)
    if failed is None:
        if exp is None:
            found.add(True, "expiry", "not present")
        else:
            found.add(
                True,
                "expiry",
                f"expires in {duration(exp - now)}" if exp > now else f"expired {_ago(exp, now)}{within}",
            )
    elif failed == "missing":
        found.add(False, "expiry", "missing (exp is required)")
    elif exp is None:
        found.add(False, "expiry", "exp is not a number")
    else:
        found.add(False, "expiry", f"expired {_ago(exp, now)} (leeway {leeway:g} s)")
        if now - exp - leeway <= SKEW_EXPIRED_WINDOW:
            skews.append(f"it expired only {_ago(exp, now)}")
    for name, line, check in (
        ("nbf", "not before", nbf_check(leeway)),
        ("iat", "issued at", iat_check(leeway, None)),
    ):
        value = as_number(payload.get(name))
        failed = _failure(check, payload, now)
        if failed is None:
            if value is None:
                found.add(True, line, "not present")
            elif value > now:
                found.add(True, line, f"{_future(name, value - now)}{within}")
            else:
                found.add(True, line, "already valid" if name == "nbf" else f"issued {_ago(value, now)}")
        elif value is None:
            found.add(False, line, f"{name} is not a number")
        else:
            ahead = value - now
            found.add(False, line, f"{_future(name, ahead)} (leeway {leeway:g} s)")
            if ahead - leeway <= SKEW_FUTURE_WINDOW:
                skews.append(f"it {_future(name, ahead)}")
    if skews and skew_hint:
        skew = skews[-1]
        found.hint(
            f"Clock skew? {skew[0].upper()}{skew[1:]}, beyond the leeway of {leeway:g} s. If the token is "
            "fresh, this machine's clock and the issuer's disagree: synchronise them (NTP) or raise --leeway."
        )


def _ago(value: float, now: float) -> str:
    return f"{duration(now - value)} ago"


def _future(name: str, ahead: float) -> str:
    return (
        f"was issued {duration(ahead)} in the future" if name == "iat" else f"becomes valid only in {duration(ahead)}"
    )


def _audience_check(found: Diagnosis, audiences: Sequence[str], now: float) -> None:
    payload = found.payload or {}
    aud = payload.get("aud")
    failed = _failure(aud_check(frozenset(audiences)), payload, now)
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if failed is None:
        found.add(True, "audience", f"{show(next(v for v in values if v in audiences))} is accepted")
        return
    if failed == "missing":
        found.add(False, "audience", "missing (aud is required)")
        found.hint(
            "The token names no audience (aud): request it for this API "
            f"(Auth0: audience={audiences[0]}); an API must not accept tokens meant for anyone."
        )
        return
    if failed != "mismatch":
        found.add(False, "audience", f"{show(aud)} is not a string or a list of strings")
        return
    found.add(False, "audience", f"{show(aud)} is not {show(list(audiences))}")
    reasons = [f"it has {name}" for name in ("nonce", "at_hash", "c_hash") if name in payload]
    if values and payload.get("azp") in values:
        reasons.append("its aud is its azp (a client id)")
    elif values and not any("://" in str(value) for value in values) and "scope" not in payload:
        reasons.append("its aud looks like a client id and it has no scope")
    if payload.get("typ") == "ID":
        reasons.append('its typ claim is "ID"')
    if reasons:
        found.id_token = True
        found.hint(
            f"This looks like an ID token ({', '.join(reasons)}). ID tokens are for the client that logged the "
            "user in; send the access token to the API instead."
        )
    else:
        found.hint(
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
        found.hint(
            "The token lacks a required scope: request it in the token request's scope, and make sure the "
            "client may have it (Auth0: the API's permissions granted to the application or user)."
        )
