"""SSRF guard: refuse URLs whose host resolves to an address that is not on the public internet.

``check_url`` is called for the URL the user gave and again for every request and redirect the downloader
makes, so a public page cannot bounce us to ``http://169.254.169.254/`` or ``http://localhost:6379/``::

    check_url("http://127.0.0.1/x.mp3", allow_private=False)   # raises UnsafeUrlError (code unsafe_url)

What is refused (:class:`~tubesum.errors.UnsafeUrlError`): schemes other than http/https, user info
(``user:pass@host``), and hosts where ANY resolved address is loopback, private, link-local, multicast,
reserved, unspecified, carrier-grade NAT (100.64.0.0/10), IPv6 site-local, a cloud metadata address
(169.254.169.254, fd00:ec2::254), or an IPv6 embedding of such an IPv4 address (IPv4-mapped
``::ffff:a.b.c.d``, 6to4 ``2002::/16``, Teredo ``2001::/32``, NAT64 ``64:ff9b::/96`` and ``64:ff9b:1::/48``).
Literal IPs in any notation (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``[::ffff:127.0.0.1]``) are
normalised by getaddrinfo and caught the same way.

DNS failure raises :class:`~tubesum.errors.NetworkError` (code ``network``, transient): resolution can fail
for a moment (resolver down, no network yet), and a retry later may well succeed; a host that truly does not
exist fails the same way on every retry, which costs little.

Limits: the guard resolves the host itself, and the HTTP client resolves it again when it connects, so a DNS
server that answers differently within seconds (DNS rebinding) can slip past it. Re-checking every redirect
narrows that window; nothing here caches DNS answers, on purpose. A client that can connect to an address it is
given closes the window: :func:`vet_url` returns the approved addresses (webhook deliveries connect to one).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import SplitResult, urlsplit

from tubesum.errors import InvalidUrlError, NetworkError, UnsafeUrlError

__all__ = ["VettedUrl", "check_url", "is_public_address", "vet_url"]

logger = logging.getLogger(__name__)

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_CHARS = re.compile(r"[a-z0-9._-]+")
_MAX_ECHO = 100

_METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def is_public_address(ip: str | IPAddress) -> bool:
    """Return True when ``ip`` is a globally routable unicast address that is safe to connect to.

    Pure: no DNS, no connection. An unparsable address is not public. IPv6 addresses that embed an IPv4
    address (mapped, 6to4, Teredo, NAT64) are public only when the embedded address is.
    """
    try:
        addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    except ValueError:
        return False
    if addr in _METADATA:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        addr = ipaddress.IPv6Address(int(addr))  # drop any %scope: it does not change where the packets go
        if addr.ipv4_mapped is not None:
            return is_public_address(addr.ipv4_mapped)
        if addr in _NAT64:  # a DNS64 network maps IPv4-only hosts here: judge the IPv4 address
            return is_public_address(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
        if addr in _NAT64_LOCAL:
            return False
        if addr.sixtofour is not None and not is_public_address(addr.sixtofour):
            return False
        if addr.teredo is not None and not all(is_public_address(a) for a in addr.teredo):
            return False
        if addr.is_site_local:
            return False
    elif addr in _CGNAT:
        return False
    return addr.is_global and not (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
    )


@dataclass(frozen=True, slots=True)
class VettedUrl:
    """What :func:`vet_url` approved: the URL's scheme, ASCII host (IPv6 in brackets), port, and the addresses
    the host resolved to, all public (empty when ``allow_private`` skipped DNS). Connecting to one of these
    addresses, rather than resolving the name again, leaves no room for DNS rebinding."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def vet_url(url: str, *, allow_private: bool) -> VettedUrl:
    """:func:`check_url`, returning what it resolved (same checks, same errors)."""
    scheme, host, port = _split_http_url(url)
    if allow_private:
        return VettedUrl(scheme, host, port, ())
    lookup = host[1:-1] if host.startswith("[") else host
    try:
        infos = socket.getaddrinfo(lookup, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise NetworkError(
            f"Cannot resolve host '{_clip(lookup)}'.",
            hint="Check the address and your network connection.",
            host=_clip(lookup),
        ) from exc
    addresses = {str(info[4][0]) for info in infos}
    if not addresses:
        raise NetworkError(f"Host '{_clip(lookup)}' has no addresses.", host=_clip(lookup))
    for address in sorted(addresses):
        if not is_public_address(address):
            logger.warning("refused %s URL to %s (%s)", scheme, _clip(lookup), address)
            raise UnsafeUrlError(
                f"Refusing to fetch from '{_clip(lookup)}': it resolves to a non-public address ({address}).",
                hint="Only hosts on the public internet can be fetched.",
                host=_clip(lookup),
                address=address,
            )
    return VettedUrl(scheme, host, port, tuple(sorted(addresses)))


def check_url(url: str, *, allow_private: bool) -> None:
    """Raise unless ``url`` is an http(s) URL without user info whose host resolves only to public addresses.

    **Parameters:**

    * **url** - the URL about to be requested (the user's, or one the downloader is about to follow).
    * **allow_private** - TEST ONLY (``Settings.allow_private_addresses``): skip the DNS and address checks;
      the scheme, user info and host checks still apply.

    Raises :class:`UnsafeUrlError` (scheme, user info, non-public address), :class:`InvalidUrlError` (no host,
    bad port, malformed host) or :class:`NetworkError` (the host does not resolve). Resolves on every call.
    """
    vet_url(url, allow_private=allow_private)


def _split_http_url(url: str) -> tuple[str, str, int]:
    """Return ``(scheme, host, port)`` of an http(s) URL; the host is lower-case ASCII, IPv6 in brackets.

    Shared with :mod:`tubesum.pipeline.ingest`, which normalises generic URLs with it.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidUrlError(f"Malformed URL: '{_clip(url)}'.") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UnsafeUrlError(
            f"Refusing URL with scheme '{_clip(scheme, 20)}': only http and https are allowed.",
            scheme=_clip(scheme, 20),
        )
    _refuse_userinfo(parts.netloc)
    return scheme, _ascii_host(parts, url), _port(parts, scheme, url)


def _refuse_userinfo(netloc: str) -> None:
    """Raise for ``user@`` / ``user:pass@`` in a URL's authority (``youtube.com@evil.tld`` is evil.tld)."""
    if "@" in netloc:
        raise UnsafeUrlError("Refusing URL with a user name or password in it.", hint="Remove the 'user@'.")


def _ascii_host(parts: SplitResult, url: str) -> str:
    host = (parts.hostname or "").removesuffix(".")
    if not host:
        raise InvalidUrlError(f"URL has no host: '{_clip(url)}'.")
    if ":" in host:  # urlsplit only lets an IPv6 literal in brackets through
        try:
            if "%" in host:
                raise ValueError("zone ids (fe80::1%eth0) name a local interface")
            return f"[{ipaddress.IPv6Address(host)}]"
        except ValueError as exc:
            raise InvalidUrlError(f"Malformed IPv6 host in URL: '{_clip(url)}'.") from exc
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise InvalidUrlError(f"Malformed host name in URL: '{_clip(url)}'.") from exc
    if not _HOST_CHARS.fullmatch(ascii_host):
        raise InvalidUrlError(f"Malformed host name in URL: '{_clip(url)}'.")
    return ascii_host


def _port(parts: SplitResult, scheme: str, url: str) -> int:
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidUrlError(f"Bad port in URL: '{_clip(url)}'.") from exc
    if port == 0:
        raise InvalidUrlError(f"Bad port in URL: '{_clip(url)}'.")
    return _DEFAULT_PORTS[scheme] if port is None else port


def _clip(text: str, limit: int = _MAX_ECHO) -> str:
    """Return ``text`` cut to ``limit`` characters (with '...') for echoing user input in messages."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
