"""The URL the client used and its certificate, behind proxies: trusted only when configured."""

from __future__ import annotations

import base64
from typing import Any

import pytest

import jwtguard
from jwtguard._origin import Origin

HEADERS = {
    "forwarded": 'for=1.2.3.4;proto=https;host="api.example.com", for=10.0.0.2',
    "x-forwarded-proto": "https",
    "x-forwarded-host": "other.example.com",
    "client-cert": ":" + base64.b64encode(b"\x30\x03der").decode() + ":",
    "x-ssl-client-cert": "-----BEGIN%20CERTIFICATE-----%0AMII%0A-----END%20CERTIFICATE-----",
}


def header(name: str) -> str | None:
    return HEADERS.get(name)


def url(origin: Origin, peer: str | None, headers: Any = header) -> str:
    return origin.url(scheme="http", host="internal:8000", path="/messages", peer=peer, header=headers)


def test_forwarded_headers_are_ignored_by_default() -> None:
    assert url(Origin(), "10.0.0.2") == "http://internal:8000/messages"


def test_a_trusted_proxy_sets_scheme_and_host_forwarded_first() -> None:
    origin = Origin(trusted_proxies=["10.0.0.0/8"])
    assert url(origin, "10.0.0.2") == "https://api.example.com/messages"
    only_x = {k: v for k, v in HEADERS.items() if k != "forwarded"}
    assert url(origin, "10.0.0.2", only_x.get) == "https://other.example.com/messages"
    assert url(origin, "192.0.2.1") == "http://internal:8000/messages"  # not a trusted peer
    assert url(origin, None) == "http://internal:8000/messages"
    assert url(origin, "not-an-ip") == "http://internal:8000/messages"


def test_a_public_url_wins_over_everything() -> None:
    origin = Origin(public_url="https://api.example.com/v1/", trusted_proxies=["10.0.0.0/8"])
    assert url(origin, "10.0.0.2") == "https://api.example.com/v1/messages"


def test_certificates_come_from_tls_or_from_a_trusted_proxy_header() -> None:
    rfc9440 = Origin(trusted_proxies=["127.0.0.1"], client_cert_header="Client-Cert")
    assert rfc9440.certificate(tls="PEM FROM TLS", peer="127.0.0.1", header=header) == "PEM FROM TLS"
    assert rfc9440.certificate(tls=None, peer="127.0.0.1", header=header) == b"\x30\x03der"
    assert rfc9440.certificate(tls=None, peer="192.0.2.9", header=header) is None
    nginx = Origin(trusted_proxies=["127.0.0.1"], client_cert_header="X-SSL-Client-Cert")
    assert nginx.certificate(tls=None, peer="127.0.0.1", header=header) == (
        "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----"
    )
    assert Origin().certificate(tls=None, peer="127.0.0.1", header=header) is None
    broken = {"client-cert": ":not base64!:"}
    assert rfc9440.certificate(tls=None, peer="127.0.0.1", header=broken.get) == b""


@pytest.mark.parametrize(
    "options",
    [
        {"public_url": "api.example.com"},
        {"public_url": "ftp://x/"},
        {"public_url": "https://x/?q=1"},
        {"trusted_proxies": ["not a network"]},
        {"client_cert_header": "Client-Cert"},  # without trusted proxies anyone could send it
        {"client_cert_header": "", "trusted_proxies": ["127.0.0.1"]},
    ],
)
def test_bad_origin_options_fail_at_set_up(options: dict[str, Any]) -> None:
    with pytest.raises(jwtguard.ConfigurationError):
        Origin(**options)
