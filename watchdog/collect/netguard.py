"""Where an event-handler probe may connect: the SSRF rules for URLs that tags and hub settings
(anyone who can edit a Web PubSub resource) put in front of the watchdog.

Refused: loopback, link-local (169.254/16, fe80::/10), cloud metadata and platform addresses
(169.254.169.254, fd00:ec2::254, Azure's wireserver 168.63.129.16), unspecified and "this
network" (0/8, ::), multicast, broadcast and reserved (240/4). IPv6 forms that embed an IPv4
address (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4
2002::/16) are judged by that IPv4 address. Private ranges (10/8, 172.16/12, 192.168/16,
100.64/10, fc00::/7) are allowed: handlers behind VNet integration or a shared private endpoint
live there, and the probe sends only an OPTIONS with no credential of the watchdog's.

A host is judged in every notation the resolver would accept: decimal (2130706433), octal
(0177.0.0.1), hex (0x7f.1), short forms (127.1), bracketed IPv6 with a zone id, trailing dots,
upper case and IDNA (full-width digits fold to ASCII). Names are then resolved and every address
checked, with or without a proxy; a direct connection re-resolves and checks at connect time
(GuardedConnection), so what is connected to is what was checked.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

BLOCKED_NAMES = frozenset({"localhost", "metadata", "metadata.azure.internal", "metadata.google.internal"})
METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "168.63.129.16"))
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPAT = ipaddress.ip_network("::/96")


class Blocked(OSError):
    """The probe must not connect there. An OSError, so urllib3 reports it as a failed connection."""


@dataclass(frozen=True)
class Verdict:
    """`reason` is None when the probe may go ahead, to `addresses` (all checked)."""

    host: str
    reason: str | None = None
    cause: str = "blocked"  # or dns: the name does not resolve, so nothing could be checked
    addresses: tuple[Address, ...] = ()


def _ipv4_part(text: str) -> int:
    if text[:2] in ("0x", "0X"):
        return int(text[2:], 16)  # "0x" alone is no number, as for inet_aton
    if len(text) > 1 and text[0] == "0":
        return int(text[1:], 8)
    return int(text, 10)


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address as inet_aton reads it (1 to 4 parts, each decimal, 0-octal or 0x-hex; the
    last part fills the remaining bytes), or None when `host` is not such a number."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or any(not p for p in parts):
        return None
    try:
        values = [_ipv4_part(p) for p in parts]
    except ValueError:
        return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(parts)):
        return None
    number = last
    for index, value in enumerate(head):
        number += value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def normalise_host(host: str) -> str:
    """Lower case, no brackets, zone id or trailing dots, IDNA folded (NFKC: full-width digits
    and dots become ASCII, so they are parsed as the resolver would)."""
    host = host.strip().strip("[]").split("%", 1)[0].rstrip(".").lower()
    if host and not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass  # not a valid IDN: left as is, and no resolver will find it either
    return host.rstrip(".").lower()


def parse_address(host: str) -> Address | None:
    """The IP address `host` denotes in any notation, or None for a name."""
    host = normalise_host(host)
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            return None
    return parse_ipv4(host)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _COMPAT and int(ip) > 1):  # ::1 and :: are themselves, not IPv4
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_reason(ip: Address) -> str | None:
    """Why a probe must not connect to `ip` (a short category), or None."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return address_reason(inner)
    if ip in METADATA:
        return "a cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified or ip in _THIS_NETWORK:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip.is_reserved:
        return "a reserved address"
    return None


def host_reason(host: str) -> str | None:
    """Why `host` (a URL's host, any notation) is refused before any lookup, or None."""
    name = normalise_host(host)
    if not name:
        return "no host"
    if name in BLOCKED_NAMES or name.endswith(".localhost"):
        return f"{name} is a local or metadata name"
    ip = parse_address(name)
    if ip is not None and (why := address_reason(ip)) is not None:
        return f"{host} is {why} ({ip})"
    return None


def resolve(host: str, port: int) -> tuple[Address, ...]:
    """Every address the resolver gives for `host`; socket.gaierror when there is none."""
    infos = socket.getaddrinfo(normalise_host(host), port, type=socket.SOCK_STREAM)
    found: list[Address] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    return tuple(found)


def check_host(host: str, port: int) -> Verdict:
    """Refuse `host` by its notation, then by every address it resolves to."""
    if (why := host_reason(host)) is not None:
        return Verdict(host, why)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        return Verdict(host, f"{normalise_host(host)} does not resolve", cause="dns")
    for ip in addresses:
        if (why := address_reason(ip)) is not None:
            return Verdict(host, f"{normalise_host(host)} resolves to {why} ({ip})", addresses=addresses)
    return Verdict(host, None, addresses=addresses)


def check_url(url: str) -> Verdict:
    """The verdict on a probe URL: http(s) with a host, and the host allowed. The host judged is
    the one requests connects to (urllib3's parser); a URL that the standard library's parser
    reads with another host (`http://127.0.0.1\\@example.com/`) is refused as ambiguous."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    try:
        parts = parse_url(url)
        other = urlsplit(url).hostname or ""
    except (LocationParseError, ValueError):
        return Verdict("", "not a valid URL")
    scheme = (parts.scheme or "").lower()
    if scheme not in ("http", "https") or not parts.host:
        return Verdict("", "not an http(s) URL with a host")
    if normalise_host(parts.host) != normalise_host(other):
        return Verdict(parts.host, "the URL's host is ambiguous (URL parsers read it differently)")
    return check_host(parts.host, parts.port or (443 if scheme == "https" else 80))
