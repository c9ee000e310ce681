"""The HTTP side of the token endpoint: form and Basic parsing, RFC 6749 §5.2 errors."""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import parse_qs, unquote

from ._server import Request, Response

__all__ = ["NO_STORE", "SCOPE_TOKEN", "OAuthError", "invalid_client", "parse_basic", "parse_form"]

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> Response:
        """The HTTP answer: status, JSON body and ``Cache-Control: no-store``."""
        headers = dict(NO_STORE)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="jwtguard-local-issuer"'
        return Response(self.status, {"error": self.error, "error_description": self.description}, headers)


def invalid_client() -> OAuthError:
    return OAuthError("invalid_client", "Client authentication failed", 401)


def parse_form(request: Request) -> dict[str, str]:
    content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "The body must be application/x-www-form-urlencoded")
    try:
        fields = parse_qs(request.body.decode("utf-8"), keep_blank_values=True, max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "The body is not a valid form") from None
    if any(len(values) > 1 for values in fields.values()):  # RFC 6749 §3.2
        raise OAuthError("invalid_request", "A parameter was sent more than once")
    return {name: values[0] for name, values in fields.items() if values[0]}  # §3.1: empty = omitted


def parse_basic(authorization: str) -> tuple[str, str]:
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise invalid_client()
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client() from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise invalid_client()
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))
