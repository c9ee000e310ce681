"""The one place where ``WWW-Authenticate`` challenges are rendered (RFC 6750 §3, RFC 9449 §7.1).

Every adapter obtains its headers from :meth:`jwtguard.AuthError.www_authenticate`,
which calls :func:`render_challenges`. Values are filtered to the characters that
RFC 6750 §3 allows, so nothing a client sent can break out of the header.

A validator that accepts DPoP names both schemes (RFC 9449 §7.1): one
challenge per accepted scheme, in one header value (RFC 9110 §11.6.1), with
the error's parameters on the challenge of the scheme the error concerns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BEARER_ONLY", "Schemes", "render_challenge", "render_challenges"]

# RFC 6750 §3: error and error_description use %x20-21 / %x23-5B / %x5D-7E
# (printable ASCII without '"' and '\').
_NOT_ERROR_CHAR = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
# RFC 6750 §3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), tokens separated by SP.
_NOT_SCOPE_TOKEN_CHAR = re.compile(r"[^\x21\x23-\x5b\x5d-\x7e]")
# Parameters whose value is a space-separated list of tokens.
_TOKEN_LISTS = frozenset({"scope", "algs", "acr_values"})
# Parameters rendered even when empty (the others are left out then).
_KEEP_EMPTY = frozenset({"realm", "error", "resource_metadata"})


@dataclass(frozen=True)
class Schemes:
    """The authentication schemes a validator accepts: ``Bearer``, and ``DPoP`` with its algorithms."""

    bearer: bool = True
    dpop_algs: tuple[str, ...] | None = None


#: What an error renders when no validator told it otherwise.
BEARER_ONLY = Schemes()


def _clean(value: str) -> str:
    return _NOT_ERROR_CHAR.sub("", value)


def _clean_tokens(values: str) -> str:
    tokens = (_NOT_SCOPE_TOKEN_CHAR.sub("", token) for token in values.split(" "))
    return " ".join(token for token in tokens if token)


def _challenge(scheme: str, params: list[tuple[str, str | None]]) -> str:
    rendered = []
    for name, value in params:
        if value is None or (value == "" and name not in _KEEP_EMPTY):
            continue
        text = _clean_tokens(value) if name in _TOKEN_LISTS else _clean(value)
        rendered.append(f'{name}="{text}"')
    return f"{scheme} {', '.join(rendered)}" if rendered else scheme


def render_challenges(
    schemes: Schemes,
    scheme: str,
    realm: str | None,
    error_params: list[tuple[str, str | None]],
    resource_metadata: str | None = None,
) -> str:
    """One challenge per accepted scheme; ``error_params`` go on the challenge of ``scheme``.

    >>> render_challenges(Schemes(True, ("ES256",)), "DPoP", "api", [("error", "invalid_dpop_proof")])
    'Bearer realm="api", DPoP realm="api", algs="ES256", error="invalid_dpop_proof"'
    """
    challenges = []
    accepted = [name for name, on in (("Bearer", schemes.bearer), ("DPoP", schemes.dpop_algs is not None)) if on]
    if scheme not in accepted:
        scheme = accepted[0]  # e.g. "no credentials" where only DPoP is accepted
    for name in accepted:
        params: list[tuple[str, str | None]] = [("realm", realm)]
        if name == "DPoP":
            params.append(("algs", " ".join(schemes.dpop_algs or ())))
        if name == scheme:
            params.extend(error_params)
        # RFC 9728 §5.1: the URL of the protected resource metadata document.
        params.append(("resource_metadata", resource_metadata))
        challenges.append(_challenge(name, params))
    return ", ".join(challenges)


def render_challenge(
    realm: str | None = None,
    *,
    error: str | None = None,
    description: str | None = None,
    scope: str | None = None,
    resource_metadata: str | None = None,
) -> str:
    """Return a ``Bearer`` challenge with only the parameters that are set.

    >>> render_challenge("api", error="invalid_token", description="The access token expired")
    'Bearer realm="api", error="invalid_token", error_description="The access token expired"'
    """
    params = [("error", error), ("error_description", description), ("scope", scope)]
    return render_challenges(BEARER_ONLY, "Bearer", realm, params, resource_metadata)
