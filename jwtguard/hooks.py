"""Callbacks for metrics: count validations, rejections by ``code``, key-set fetches and cache hits.

>>> from jwtguard import AuthError, Validator
>>> class Counting(Hooks):
...     def __init__(self) -> None:
...         self.rejected: dict[str, int] = {}
...     def on_rejected(self, error: AuthError) -> None:
...         self.rejected[error.code] = self.rejected.get(error.code, 0) + 1
>>> hooks = Counting()
>>> validator = Validator(issuer="https://issuer.example/", audience="api", hooks=hooks)
>>> try:
...     validator.validate("not-a-token")
... except AuthError:
...     pass
>>> hooks.rejected
{'malformed_token': 1}

A hook runs on the request path: keep it fast. An exception it raises is
logged and swallowed — a broken metrics exporter never fails a request.
"""

from __future__ import annotations

import logging

from .claims import Claims
from .errors import AuthError

__all__ = ["Hooks"]

logger = logging.getLogger("jwtguard")


class Hooks:
    """Override the callbacks you need; each default does nothing."""

    def on_validated(self, claims: Claims, *, cached: bool) -> None:
        """A token was accepted; ``cached``: answered from the validated-token cache."""

    def on_rejected(self, error: AuthError) -> None:
        """A token (or a scope requirement) was refused with ``error`` (see ``error.code``)."""

    def on_key_set_fetch(self, issuer: str, *, ok: bool, reason: str | None, duration: float) -> None:
        """A key-set fetch for ``issuer`` ended after ``duration`` seconds; ``reason`` says why it failed."""


def call_safely(method: object, *args: object, **kwargs: object) -> None:
    """Call a hook, logging instead of raising when it fails."""
    try:
        method(*args, **kwargs)  # type: ignore[operator]
    except Exception:
        logger.warning("jwtguard: a metrics hook raised; ignoring it", exc_info=True)
