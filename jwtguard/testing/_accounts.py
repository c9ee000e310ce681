"""Who may ask the local issuer for tokens: registered clients and test users."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_CLIENT",
    "DEFAULT_LOGIN_SCOPE",
    "DEFAULT_USER",
    "GRANT_TYPES",
    "OIDC_SCOPES",
    "LocalClient",
    "LocalUser",
]

#: The grant types the token endpoint supports.
GRANT_TYPES = ("client_credentials", "password", "refresh_token")
#: The scope of a user login that names none: ID, access and refresh tokens.
DEFAULT_LOGIN_SCOPE = "openid profile email offline_access"
#: OpenID Connect scopes: every client may ask for them in a user login.
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})


@dataclass(frozen=True)
class LocalClient:
    """A client registered with the local issuer.

    Args:
        client_id: the client's id.
        client_secret: its secret; ``None`` for a public client (a SPA or a
            native app), which may not use ``client_credentials``.
        scopes: the API scopes it may obtain (``None``: any). A
            ``client_credentials`` request without ``scope`` gets all of them.
        audiences: the APIs it may get tokens for (``None``: any).
        grant_types: the grants it may use.
    """

    client_id: str
    client_secret: str | None = None
    scopes: Iterable[str] | None = None
    audiences: Iterable[str] | None = None
    grant_types: Iterable[str] = GRANT_TYPES

    def __post_init__(self) -> None:
        for name in ("scopes", "audiences"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple([value] if isinstance(value, str) else value))
        object.__setattr__(self, "grant_types", frozenset(self.grant_types))


@dataclass(frozen=True)
class LocalUser:
    """A test user who can log in with the ``password`` grant.

    ``claims`` go into ID tokens: ``email`` and ``email_verified`` with the
    ``email`` scope, every other one with the ``profile`` scope.
    """

    username: str
    password: str
    subject: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sub(self) -> str:
        """The ``sub`` of the user's tokens (default: the username)."""
        return self.subject or self.username


#: The client every local issuer registers.
DEFAULT_CLIENT = LocalClient("test-client", "test-secret")
#: The user every local issuer registers.
DEFAULT_USER = LocalUser(
    "test-user",
    "test-password",
    "user-123",
    {"name": "Test User", "email": "test-user@example.test", "email_verified": True},
)
