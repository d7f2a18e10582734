"""netguard: every notation of a refused address, and every address a name resolves to."""
from __future__ import annotations

import ipaddress
import socket

import pytest

from watchdog.collect import netguard

# (URL, what it must be judged as: None = allowed, else a word of the reason)
NOTATIONS = [
    ("http://127.0.0.1/x", "loopback"),
    ("http://2130706433/x", "loopback"),  # decimal
    ("http://0177.0.0.1/x", "loopback"),  # octal
    ("http://0x7f.1/x", "loopback"),  # hex, short form
    ("http://0x7f000001/x", "loopback"),  # one hex number
    ("http://017700000001/x", "loopback"),  # one octal number
    ("http://127.1/x", "loopback"),  # short form
    ("http://127.0.1/x", "loopback"),  # three parts: the last fills two bytes
    ("http://127.0.0.1./x", "loopback"),  # trailing dot
    ("http://[::1]/x", "loopback"),
    ("http://[0:0:0:0:0:0:0:1]/x", "loopback"),
    ("http://[::ffff:127.0.0.1]/x", "loopback"),  # IPv4-mapped
    ("http://[::ffff:7f00:1]/x", "loopback"),  # IPv4-mapped, hex
    ("http://[::127.0.0.1]/x", "loopback"),  # IPv4-compatible (deprecated)
    ("http://[64:ff9b::7f00:1]/x", "loopback"),  # NAT64
    # Full-width digits: IDNA folds them to 127.0.0.1, or urllib3's IDNA refuses the URL; refused either way.
    ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/x", ""),
    ("http://LOCALHOST/x", "local"),  # upper case
    ("http://localhost./x", "local"),
    ("http://api.localhost/x", "local"),
    ("http://169.254.169.254/latest", "metadata"),
    ("http://2852039166/latest", "metadata"),  # decimal 169.254.169.254
    ("http://0xa9.0xfe.0xa9.0xfe/latest", "metadata"),
    ("http://[::ffff:169.254.169.254]/latest", "metadata"),
    ("http://[fd00:ec2::254]/latest", "metadata"),
    ("http://168.63.129.16/machine", "metadata"),  # Azure wireserver
    ("http://metadata.azure.internal/x", "metadata"),
    ("http://169.254.10.1/x", "link-local"),
    ("http://[fe80::1%25eth0]/x", "link-local"),  # zone id
    ("http://[FE80::1]/x", "link-local"),
    ("http://0.0.0.0/x", "unspecified"),
    ("http://0/x", "unspecified"),
    ("http://0.1.2.3/x", "unspecified"),  # "this network"
    ("http://[::]/x", "unspecified"),
    ("http://224.0.0.1/x", "multicast"),
    ("http://[ff02::1]/x", "multicast"),
    ("http://255.255.255.255/x", "broadcast"),
    ("http://240.0.0.1/x", "reserved"),
    ("http://127.0.0.1\\@orders.fabrikam.com/x", "ambiguous"),  # requests goes to 127.0.0.1, urlsplit says orders
    ("http://orders.fabrikam.com\\@127.0.0.1/x", "ambiguous"),
    ("http://ex%61mple.com/x", "ambiguous"),  # percent-encoded host: decoded by one parser only
    ("http://user@127.0.0.1/x", "loopback"),
    ("http://127.0.0.1:80@orders.fabrikam.com/x", None),  # userinfo: the host really is orders
    ("ftp://example.com/x", "not an http"),
    ("http:///x", "not an http"),
    ("https://10.0.0.4/api", None),  # private: a handler inside a VNet is legitimate
    ("https://192.168.1.10/api", None),
    ("https://[fd12:3456::1]/api", None),
    ("https://198.51.100.7/api", None),
    ("https://256.1.1.1/api", "does not resolve"),  # not a number inet_aton accepts: a name that fails
]


@pytest.fixture
def no_dns(monkeypatch):
    """Names resolve nowhere, except what a test maps; numbers resolve to themselves."""
    table: dict[str, list[str]] = {}

    def lookup(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002, ANN001
        if host in table or host == "orders.fabrikam.com":
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                    for a in table.get(host, ["198.51.100.7"])]
        if netguard.parse_address(host) is not None:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (str(netguard.parse_address(host)), port))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    return table


@pytest.mark.parametrize("url, expected", NOTATIONS)
def test_every_notation(url, expected, no_dns):
    verdict = netguard.check_url(url)
    if expected is None:
        assert verdict.reason is None, verdict
    else:
        assert verdict.reason is not None and expected in verdict.reason, verdict


def test_full_width_digits_fold_to_ascii():
    assert netguard.parse_address("\uff11\uff12\uff17.\uff10.\uff10.\uff11") == ipaddress.IPv4Address("127.0.0.1")
    assert netguard.host_reason("\uff11\uff12\uff17.\uff10.\uff10.\uff11.") is not None


@pytest.mark.parametrize("text, address", [
    ("2130706433", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("127.1", "127.0.0.1"),
    ("10.1.0x10", "10.1.0.16"), ("0x0A.0.0.012", "10.0.0.10"), ("1.2.3.4", "1.2.3.4"),
])
def test_ipv4_parsed_as_inet_aton_does(text, address):
    assert netguard.parse_ipv4(text) == ipaddress.IPv4Address(address)
    assert socket.inet_aton(text) == ipaddress.IPv4Address(address).packed  # the resolver agrees


@pytest.mark.parametrize("text", ["256.0.0.1", "1.2.3.4.5", "1..2", "0x", "0x.1", "08.1.1.1", "example.com", "1.2.3.4294967296"])
def test_not_ipv4(text):
    assert netguard.parse_ipv4(text) is None
    with pytest.raises(OSError):
        socket.inet_aton(text)  # nor does the resolver read it as a number


@pytest.mark.parametrize("addresses, refused", [
    (["198.51.100.7"], False),
    (["198.51.100.7", "127.0.0.1"], True),  # one bad address among good ones is enough
    (["169.254.169.254"], True),
    (["2001:db8::1", "::ffff:10.0.0.1"], False),
    (["2001:db8::1", "fe80::1"], True),
])
def test_every_resolved_address_is_checked(addresses, refused, no_dns):
    no_dns["orders.fabrikam.com"] = addresses
    verdict = netguard.check_url("https://orders.fabrikam.com/api/{event}")
    assert (verdict.reason is not None) is refused
    assert verdict.cause == "blocked"
    if refused:
        assert "orders.fabrikam.com resolves to" in verdict.reason


def test_unresolvable_name_is_a_dns_failure(no_dns):
    verdict = netguard.check_url("https://gone.example.com/x")
    assert verdict.cause == "dns" and verdict.reason == "gone.example.com does not resolve"
