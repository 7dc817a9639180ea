"""SSRF guard: which addresses are public, and what check_url refuses.

Offline: only literal IPs, ``localhost`` and ``.invalid`` names (RFC 2606: never resolve) reach
getaddrinfo; tests that need a "real" host name replace getaddrinfo with a fake.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from tubesum.errors import InvalidUrlError, NetworkError, UnsafeUrlError
from tubesum.pipeline.ssrf import check_url, is_public_address


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("2001:4860:4860::8888", True),
        ("::ffff:8.8.8.8", True),  # IPv4-mapped public
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8 (what DNS64 hands out)
        ("127.0.0.1", False),
        ("127.255.255.254", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("169.254.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("255.255.255.255", False),
        ("224.0.0.1", False),  # multicast
        ("240.0.0.1", False),  # reserved
        ("192.0.2.1", False),  # TEST-NET-1
        ("198.18.0.1", False),  # benchmarking
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("fd00:ec2::254", False),  # AWS metadata over IPv6
        ("fec0::1", False),  # site-local
        ("ff02::1", False),
        ("2001:db8::1", False),  # documentation
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:169.254.169.254", False),
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated)
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b:1::1", False),  # local-use NAT64
        ("not-an-ip", False),
        ("", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_is_public_address_takes_ip_objects() -> None:
    assert is_public_address(ipaddress.ip_address("8.8.4.4")) is True
    assert is_public_address(ipaddress.ip_address("::1")) is False


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://0x7f000001:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::1]:6379/",
        "https://169.254.169.254/latest/meta-data/",
        "http://0/",
        "http://localhost/",
    ],
)
def test_check_url_refuses_literal_and_loopback_hosts(url: str) -> None:
    with pytest.raises(UnsafeUrlError) as info:
        check_url(url, allow_private=False)
    assert info.value.code == "unsafe_url"


@pytest.mark.parametrize("url", ["http://8.8.8.8/a.mp3", "https://[2001:4860:4860::8888]:8443/a"])
def test_check_url_accepts_public_literal_ips(url: str) -> None:
    check_url(url, allow_private=False)  # literal IPs resolve offline; no connection is made


@pytest.mark.parametrize("url", ["ftp://8.8.8.8/x", "file:///etc/passwd", "gopher://8.8.8.8/", "javascript:alert(1)"])
def test_check_url_refuses_other_schemes(url: str) -> None:
    for allow_private in (False, True):
        with pytest.raises(UnsafeUrlError, match="only http and https"):
            check_url(url, allow_private=allow_private)


@pytest.mark.parametrize("url", ["http://user@8.8.8.8/", "http://a:b@8.8.8.8/", "http://8.8.8.8\\@127.0.0.1/"])
def test_check_url_refuses_userinfo_even_when_private_allowed(url: str) -> None:
    for allow_private in (False, True):
        with pytest.raises(UnsafeUrlError, match="user name or password"):
            check_url(url, allow_private=allow_private)


@pytest.mark.parametrize(
    "url",
    [
        "http:///x",
        "http://8.8.8.8:99999/",
        "http://8.8.8.8:0/",
        "http://ex%61mple.com/",
        "http://[::1/",
        "http://[fe80::1%25eth0]/",
        "http://[fe80::1%eth0]/",
    ],
)
def test_check_url_refuses_malformed_urls(url: str) -> None:
    with pytest.raises(InvalidUrlError):
        check_url(url, allow_private=False)


def test_check_url_with_private_allowed_skips_address_checks() -> None:
    check_url("http://127.0.0.1:8000/x.mp3", allow_private=True)
    check_url("http://no-such-host.invalid/x.mp3", allow_private=True)  # no DNS lookup at all


def test_check_url_raises_network_error_when_host_does_not_resolve() -> None:
    with pytest.raises(NetworkError) as info:
        check_url("https://no-such-host.invalid/x.mp3", allow_private=False)
    assert info.value.code == "network"
    assert info.value.transient is True
    assert "no-such-host.invalid" in info.value.message


def _fake_getaddrinfo(monkeypatch: pytest.MonkeyPatch, *answers: list[str]) -> list[str]:
    """Make getaddrinfo answer ``answers[n]`` on its n-th call; return the list of hosts it was asked for."""
    asked: list[str] = []

    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        addresses = answers[min(len(asked), len(answers) - 1)]
        asked.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return asked


def test_check_url_refuses_when_any_resolved_address_is_private(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_getaddrinfo(monkeypatch, ["93.184.216.34", "10.0.0.5"])
    with pytest.raises(UnsafeUrlError, match=r"10\.0\.0\.5"):
        check_url("https://media.example/x.mp3", allow_private=False)


def test_check_url_resolves_again_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _fake_getaddrinfo(monkeypatch, ["93.184.216.34"], ["127.0.0.1"])  # DNS rebinding
    check_url("https://media.example/x.mp3", allow_private=False)
    with pytest.raises(UnsafeUrlError):
        check_url("https://media.example/x.mp3", allow_private=False)
    assert asked == ["media.example", "media.example"]


def test_check_url_resolves_idn_hosts_as_punycode(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _fake_getaddrinfo(monkeypatch, ["93.184.216.34"])
    check_url("https://B\u00fccher.example./x", allow_private=False)
    assert asked == ["xn--bcher-kva.example"]


def test_check_url_refuses_host_with_no_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_getaddrinfo(monkeypatch, [])
    with pytest.raises(NetworkError):
        check_url("https://media.example/x.mp3", allow_private=False)
