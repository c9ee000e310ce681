"""Claim checks as data: a table from claim name to a check.

A check takes the payload and the current time and raises an
:class:`~jwtguard.InvalidTokenError` naming the claim and the reason. The
:class:`~jwtguard.Validator` compiles its table once, at construction; users add
or replace entries with ``claim_checks={"tid": predicate}`` (a predicate on the
claim's value) and remove optional ones with ``None``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .errors import ConfigurationError, ExpiredTokenError, InvalidTokenError

__all__ = ["ID_TOKEN_CLAIMS", "NO_AUDIENCE", "Check", "ClaimPredicate", "NoAudience", "as_number", "build_table"]

logger = logging.getLogger("jwtguard")

#: A compiled check: ``check(payload, now)``; raises :class:`InvalidTokenError`.
Check = Callable[[Mapping[str, Any], float], None]
#: A user's check on one claim's value: return ``True`` to accept.
ClaimPredicate = Callable[[Any], bool]

#: Checks that protect the token's meaning: they may be replaced, never removed.
ESSENTIAL = frozenset({"exp", "aud"})

#: Claims only OpenID Connect ID tokens carry (OIDC Core §2, §3.3.2.11): ``nonce``, ``at_hash``,
#: ``c_hash``, and FAPI's ``s_hash``. An access token bearing one is an ID token in disguise.
ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash", "s_hash")


class NoAudience(frozenset[str]):
    """The type of :data:`NO_AUDIENCE`: an empty set of audiences that says so on purpose."""

    def __repr__(self) -> str:
        return "NO_AUDIENCE"


#: ``audience=NO_AUDIENCE``: the issuer's access tokens carry no ``aud`` (Amazon Cognito). Accepted
#: only with ``authorized_parties=`` (the client binding replaces the audience binding), and then a
#: token that *does* carry ``aud`` is refused: it was minted for an audience this API cannot check.
NO_AUDIENCE: frozenset[str] = NoAudience()


def as_number(value: object) -> float | None:
    """``value`` as a float if it is a finite JSON number (RFC 7519 §2 NumericDate), else ``None``.

    Python's bools are ints, and JSON integers may exceed any float: both are refused.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _date(payload: Mapping[str, Any], name: str, required: bool) -> float | None:
    if name not in payload:
        if required:
            raise InvalidTokenError("missing_claim", claim=name, reason="missing")
        return None
    number = as_number(payload[name])
    if number is None:
        raise InvalidTokenError("invalid_claim", claim=name, reason="not_a_number")
    return number


def exp_check(leeway: float) -> Check:
    def check(payload: Mapping[str, Any], now: float) -> None:
        exp = _date(payload, "exp", required=True)
        if exp is not None and now - leeway >= exp:  # RFC 7519 §4.1.4: reject on or after exp
            raise ExpiredTokenError(claim="exp", reason="expired")

    return check


def nbf_check(leeway: float) -> Check:
    def check(payload: Mapping[str, Any], now: float) -> None:
        nbf = _date(payload, "nbf", required=False)
        if nbf is not None and now + leeway < nbf:
            raise InvalidTokenError("token_not_yet_valid", claim="nbf", reason="in_future")

    return check


def iat_check(leeway: float, max_age: float | None) -> Check:
    def check(payload: Mapping[str, Any], now: float) -> None:
        iat = _date(payload, "iat", required=max_age is not None)
        if iat is None:
            return
        if iat > now + leeway:
            raise InvalidTokenError("iat_in_future", claim="iat", reason="in_future")
        if max_age is not None and now - iat > max_age + leeway:
            raise InvalidTokenError("token_too_old", claim="iat", reason="too_old")

    return check


def no_aud_check() -> Check:
    def check(payload: Mapping[str, Any], now: float) -> None:
        if "aud" in payload:
            raise InvalidTokenError("audience_mismatch", claim="aud", reason="unexpected")

    return check


def id_token_check() -> Check:
    def check(payload: Mapping[str, Any], now: float) -> None:
        for name in ID_TOKEN_CLAIMS:
            if name in payload:
                raise InvalidTokenError("id_token", claim=name, reason="id_token")

    return check


def aud_check(audiences: frozenset[str]) -> Check:
    def check(payload: Mapping[str, Any], now: float) -> None:
        aud = payload.get("aud")
        if aud is None:
            raise InvalidTokenError("missing_claim", claim="aud", reason="missing")
        if isinstance(aud, str):
            if aud in audiences:
                return
        elif isinstance(aud, list):
            # RFC 7519 §4.1.3: an array of case-sensitive strings; anything else in it is malformed.
            if not all(isinstance(item, str) for item in aud):
                raise InvalidTokenError("invalid_claim", claim="aud", reason="wrong_type")
            if any(item in audiences for item in aud):
                return
        else:
            raise InvalidTokenError("invalid_claim", claim="aud", reason="wrong_type")
        raise InvalidTokenError("audience_mismatch", claim="aud", reason="mismatch")

    return check


#: The claims naming the client a token was issued to: OIDC Core §2 ``azp``; RFC 9068 §2.2 and
#: RFC 8693 ``client_id``. A token may carry both; each one present must be an authorized party,
#: so an application reading either never acts on an unchecked value.
PARTY_CLAIMS = ("azp", "client_id")


def azp_check(parties: frozenset[str]) -> Check:
    def check(payload: Mapping[str, Any], now: float) -> None:
        present = [name for name in PARTY_CLAIMS if name in payload]
        if not present:
            raise InvalidTokenError("missing_claim", claim="azp", reason="missing")
        for name in present:
            party = payload[name]
            if not isinstance(party, str) or party not in parties:
                raise InvalidTokenError("unauthorized_party", claim=name, reason="mismatch")

    return check


def present_check(name: str) -> Check:
    def check(payload: Mapping[str, Any], now: float) -> None:
        if payload.get(name) is None:
            raise InvalidTokenError("missing_claim", claim=name, reason="missing")

    return check


def predicate_check(name: str, predicate: ClaimPredicate) -> Check:
    def check(payload: Mapping[str, Any], now: float) -> None:
        if name not in payload:
            raise InvalidTokenError("missing_claim", claim=name, reason="missing")
        try:
            accepted = predicate(payload[name])
        except Exception as exc:  # a crashing user check rejects the token instead of answering 500
            # Only the exception's type: its message or traceback could quote the claim value.
            logger.warning("jwtguard: the claim check for %r raised %s; rejecting the token", name, type(exc).__name__)
            accepted = False
        if not accepted:
            raise InvalidTokenError("invalid_claim", claim=name, reason="rejected")

    return check


def required_check(name: str, check: Check | None) -> Check:
    """``check`` (when there is one), after making sure the claim is present at all."""
    if check is None:
        return present_check(name)

    def both(payload: Mapping[str, Any], now: float) -> None:
        if payload.get(name) is None:
            raise InvalidTokenError("missing_claim", claim=name, reason="missing")
        check(payload, now)

    return both


def build_table(
    *,
    leeway: float,
    audiences: frozenset[str],
    authorized_parties: frozenset[str] | None,
    max_token_age: float | None,
    required_claims: Collection[str],
    claim_checks: Mapping[str, ClaimPredicate | None],
    refuse_id_tokens: bool = False,
) -> dict[str, Check]:
    """Compile the check table for one validator configuration.

    Every name in ``required_claims`` must be present, whatever else its entry
    checks (an optional date check, a user predicate, or nothing). With
    ``audiences`` :data:`NO_AUDIENCE` the ``aud`` entry refuses any ``aud`` and
    ``authorized_parties`` must be given: a token is always bound to this API by
    one of the two. ``refuse_id_tokens`` adds an ``id_token`` entry refusing
    :data:`ID_TOKEN_CLAIMS`.

    Raises:
        ConfigurationError: an essential check removed, a check that is not callable,
            no audience, or :data:`NO_AUDIENCE` without ``authorized_parties``.
    """
    table: dict[str, Check] = {
        "exp": exp_check(leeway),
        "nbf": nbf_check(leeway),
        "iat": iat_check(leeway, max_token_age),
    }
    if isinstance(audiences, NoAudience):
        if authorized_parties is None:
            raise ConfigurationError(
                "audience=NO_AUDIENCE needs authorized_parties=: without an audience, "
                "the client ids bind tokens to this API"
            )
        table["aud"] = no_aud_check()
    elif audiences:
        table["aud"] = aud_check(audiences)
    if refuse_id_tokens:
        table["id_token"] = id_token_check()
    if authorized_parties is not None:
        table["azp"] = azp_check(authorized_parties)
    for name, predicate in claim_checks.items():
        if predicate is None:
            if name in ESSENTIAL:
                raise ConfigurationError(f"the {name!r} check can be replaced but not removed")
            table.pop(name, None)
        elif not callable(predicate):
            raise ConfigurationError(f"claim_checks[{name!r}] must be a callable or None")
        else:
            table[name] = predicate_check(name, predicate)
    if "aud" not in table:
        raise ConfigurationError("an audience is required (RFC 9068 §4): set audience=")
    for name in dict.fromkeys(required_claims):
        table[name] = required_check(name, table.get(name))
    return table
