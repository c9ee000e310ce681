"""Count validations, rejections by code, key-set fetches and cache hits with Prometheus.

pip install prometheus-client
python examples/prometheus_hooks.py
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

import jwtguard
from jwtguard.hooks import Hooks
from jwtguard.testing import LocalIssuer


class PrometheusHooks(Hooks):
    """jwtguard hooks feeding Prometheus counters (labels are our own codes: bounded cardinality)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.validated = Counter("jwtguard_tokens_validated", "Accepted access tokens", ["cached"], registry=registry)
        self.rejected = Counter("jwtguard_tokens_rejected", "Refused access tokens", ["code"], registry=registry)
        self.fetches = Histogram(
            "jwtguard_key_set_fetch_seconds", "Key-set fetches", ["issuer", "ok"], registry=registry
        )

    def on_validated(self, claims: jwtguard.Claims, *, cached: bool) -> None:
        self.validated.labels(cached=str(cached).lower()).inc()

    def on_rejected(self, error: jwtguard.AuthError) -> None:
        self.rejected.labels(code=error.code).inc()

    def on_key_set_fetch(self, issuer: str, *, ok: bool, reason: str | None, duration: float) -> None:
        self.fetches.labels(issuer=issuer, ok=str(ok).lower()).observe(duration)


def main() -> str:
    registry = CollectorRegistry()
    with LocalIssuer() as issuer:
        validator = issuer.validator(hooks=PrometheusHooks(registry))
        token = issuer.token()
        for _ in range(3):  # validated in full twice (then remembered), then a cache hit
            validator.validate(token)
        for bad in (issuer.token(expires_in=-60), "garbage"):
            with contextlib.suppress(jwtguard.AuthError):
                validator.validate(bad)
    exposition = generate_latest(registry).decode()
    print(exposition)
    return exposition


if __name__ == "__main__":
    main()
