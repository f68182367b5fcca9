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


def sort_key(addr: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(addr)
    return (ip.version, int(ip))


@lru_cache(maxsize=4096)
def reverse_zone(prefix: str) -> str:
    """The reverse zone enclosing ``prefix``: whole octets (v4) or nibbles (v6), rounded down.

    10.1.0.0/16 -> 1.10.in-addr.arpa, 10.1.2.0/24 and 10.1.2.128/25 -> 2.1.10.in-addr.arpa,
    10.1.16.0/20 -> 1.10.in-addr.arpa, fd00:10::/64 -> 16 nibbles + ip6.arpa.
    """
    net = ipaddress.ip_network(prefix, strict=False)
    labels = net.network_address.reverse_pointer.split(".")
    if net.version == 4:
        keep = min(max(net.prefixlen // 8, 1), 3)
        return ".".join(labels[4 - keep :])
    keep = min(max(net.prefixlen // 4, 1), 31)
    return ".".join(labels[32 - keep :])


def reverse_pointer(addr: str) -> str:
    return ipaddress.ip_address(addr).reverse_pointer
