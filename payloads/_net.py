"""Small address helpers (stdlib ipaddress: fast, and strings in, strings out)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache


@lru_cache(maxsize=4096)
def prefixlen(prefix: str) -> int:
    return ipaddress.ip_network(prefix, strict=False).prefixlen


@lru_cache(maxsize=4096)
def network_address(prefix: str) -> str:
    return str(ipaddress.ip_network(prefix, strict=False).network_address)


@lru_cache(maxsize=4096)
def netmask(prefix: str) -> str:
    return str(ipaddress.ip_network(prefix, strict=False).netmask)


def is_v6(addr: str) -> bool:
    return ":" in addr


def v6_int(addr: str) -> int:
    """int of a normalised IPv6 address string (fast path; ipaddress for embedded IPv4 forms)."""
    if "." in addr or "%" in addr:
        return int(ipaddress.IPv6Address(addr))
    if "::" in addr:
        head, tail = addr.split("::")
        h = head.split(":") if head else []
        t = tail.split(":") if tail else []
        parts = h + ["0"] * (8 - len(h) - len(t)) + t
    else:
        parts = addr.split(":")
    if len(parts) != 8:
        raise ValueError(f"not an IPv6 address: {addr!r}")
    n = 0
    for p in parts:
        n = (n << 16) | int(p, 16)
    return n


@lru_cache(maxsize=1 << 18)
def sort_key(addr: str) -> tuple[int, int]:
    """(version, integer value): sorts addresses numerically, v4 first (cached: every address is
    sorted for DHCP and for DNS)."""
    if ":" in addr:
        return (6, v6_int(addr))
    a, b, c, d = addr.split(".")
    return (4, (int(a) << 24) | (int(b) << 16) | (int(c) << 8) | int(d))


@lru_cache(maxsize=4096)
def reverse_zone(prefix: str) -> str:
    """The reverse zone enclosing ``prefix``: whole octets (v4) or nibbles (v6), rounded down.

    10.1.0.0/16 -> 1.10.in-addr.arpa, 10.1.2.0/24 and 10.1.2.128/25 -> 2.1.10.in-addr.arpa,
    10.1.16.0/20 -> 1.10.in-addr.arpa, fd00:10::/64 -> 16 nibbles + ip6.arpa.
    """
    net = ipaddress.ip_network(prefix, strict=False)
    unit = 8 if net.version == 4 else 4
    if net.prefixlen < unit:
        raise ValueError(f"{prefix}: no single reverse zone encloses a prefix shorter than /{unit}")
    labels = net.network_address.reverse_pointer.split(".")
    if net.version == 4:
        keep = min(net.prefixlen // 8, 3)
        return ".".join(labels[4 - keep :])
    keep = min(net.prefixlen // 4, 31)
    return ".".join(labels[32 - keep :])


def reverse_pointer(addr: str) -> str:
    """10.1.2.3 -> 3.2.1.10.in-addr.arpa; v6 -> 32 nibbles + ip6.arpa."""
    if ":" in addr:
        nibbles = f"{sort_key(addr)[1]:032x}"
        return ".".join(reversed(nibbles)) + ".ip6.arpa"
    return ".".join(reversed(addr.split("."))) + ".in-addr.arpa"
