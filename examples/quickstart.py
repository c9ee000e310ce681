"""Validate access tokens end to end, with no external service.

A local issuer on 127.0.0.1 publishes its keys (OIDC discovery and JWKS),
mints tokens, and a Validator checks them exactly as it would check Auth0's.

    python examples/quickstart.py
"""

from __future__ import annotations

import jwtguard
from jwtguard.testing import LocalIssuer


def main() -> int:
    with LocalIssuer(audience="https://api.example.com") as issuer:
        validator = jwtguard.Validator(
            issuer=issuer.issuer,  # http://127.0.0.1:PORT/ — plain http is allowed for loopback only
            audience="https://api.example.com",
            algorithms=["RS256"],
            required_scopes=["read:messages"],
        )
        print(f"issuer     {issuer.issuer}")
        cases = {
            "valid token": issuer.token(scope="read:messages", sub="user-42"),
            "expired token": issuer.token(scope="read:messages", expires_in=-60),
            "other audience": issuer.token(scope="read:messages", aud="https://other.example.com"),
            "missing scope": issuer.token(scope="write:messages"),
            "not a JWT": "hello.world.!",
        }
        outcomes = []
        for name, token in cases.items():
            try:
                claims = validator.validate(token)
            except jwtguard.AuthError as error:
                outcomes.append(error.status_code)
                print(f"{name:<15} -> {error.status_code} {error.code}")
                print(f"{'':<18} WWW-Authenticate: {error.www_authenticate(realm='api')}")
            else:
                outcomes.append(200)
                print(f"{name:<15} -> 200 sub={claims['sub']} scopes={sorted(claims.scopes)}")
        print(f"key set    fetched {issuer.jwks_fetches} time(s) for {len(cases)} validations")
        return 0 if outcomes == [200, 401, 401, 403, 401] else 1


if __name__ == "__main__":
    raise SystemExit(main())
