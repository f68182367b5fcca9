"""Address parsing and range checks (netaddr parses; hot loops work on the integers it yields)."""

from __future__ import annotations

import bisect
import socket
from dataclasses import dataclass, field

import netaddr

from .errors import Loc, excerpt


def parse_ip(text: str, version: int | None = None) -> tuple[int, int] | str:
    """``(value, version)`` or an error message."""
    try:
        ip = netaddr.IPAddress(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return f"invalid IP address {excerpt(text)}"
    if version is not None and ip.version != version:
        return f"expected an IPv{version} address, got {excerpt(text)}"
    return int(ip), ip.version


def fmt(value: int, version: int) -> str:
    """The normalised text of an address: identical to ``str(netaddr.IPAddress(value, version))``
    (checked by the tests), but via the C inet_ntop for speed when the result is unambiguous."""
    if version == 4:
        return socket.inet_ntoa(value.to_bytes(4, "big"))
    if (value >> 32) not in (0, 0xFFFF) and (value >> 48) != 0:
        return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))
    return str(netaddr.IPAddress(value, 6))


def parse_prefix(text: str, version: int) -> netaddr.IPNetwork | str:
    if "/" not in text:
        return f"invalid IPv{version} prefix {excerpt(text)} (expected address/length)"
    try:
        net = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return f"invalid IPv{version} prefix {excerpt(text)}"
    if net.version != version:
        return f"expected an IPv{version} prefix, got {excerpt(text)}"
    if net.ip != net.network:
        return f"host bits set in prefix {excerpt(text)} (did you mean '{net.cidr}'?)"
    # uniform serves LAN segments (hosts, a gateway, DHCP and DNS): a point-to-point /31 or
    # /127 and a single-address /32 or /128 leave no room for that (docs/inventory.md)
    if net.prefixlen > (30 if version == 4 else 126):
        smallest = "/30" if version == 4 else "/126"
        return (
            f"prefix {excerpt(text)} is too small for a LAN segment (point-to-point links are not "
            f"managed); use {smallest} or larger"
        )
    return net


def parse_range(text: str) -> tuple[int, int, int] | str:
    """``a-b`` (inclusive), a single address or a CIDR -> ``(first, last, version)`` or an error."""
    try:
        if "/" in text:
            net = netaddr.IPNetwork(text)
            return net.first, net.last, net.version
        if "-" in text:  # IPv6 addresses never contain '-'
            a, b = (s.strip() for s in text.split("-", 1))
            lo, hi = netaddr.IPAddress(a), netaddr.IPAddress(b)
            if lo.version != hi.version:
                return f"range {excerpt(text)} mixes IPv4 and IPv6"
            if int(lo) > int(hi):
                return f"range {excerpt(text)} is backwards"
            return int(lo), int(hi), lo.version
        ip = netaddr.IPAddress(text.strip())
        return int(ip), int(ip), ip.version
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return f"invalid address range {excerpt(text)} (expected 'first-last', an address or a CIDR)"


@dataclass
class Pool:
    """One prefix of one network: what may be allocated, and what already is."""

    network: str
    version: int
    prefix: str  # normalised CIDR
    first: int  # network address
    last: int  # broadcast (IPv4) / last address
    prefixlen: int
    gateway: int | None = None
    #: (first, last, description) ranges that are never allocated, sorted
    excluded: list[tuple[int, int, str]] = field(default_factory=list)
    used: dict[int, tuple[str, Loc]] = field(default_factory=dict)  # address -> (machine, field)
    _starts: list[int] = field(default_factory=list)
    _merged: list[tuple[int, int]] = field(default_factory=list)
    _next: dict[int, int] = field(default_factory=dict)  # taken address -> where probing continues
    free: int = 0

    @property
    def lo(self) -> int:
        """First allocatable address."""
        if self.version == 4 and self.prefixlen >= 31:
            return self.first
        return self.first + 1

    @property
    def hi(self) -> int:
        if self.version == 4 and self.prefixlen < 31:
            return self.last - 1
        return self.last

    def seal(self) -> None:
        """Call once the exclusions are known (before any ``take``): merges them, counts free addresses."""
        ivs = sorted((max(a, self.lo), min(b, self.hi)) for a, b, _ in self.excluded)
        if self.gateway is not None and self.lo <= self.gateway <= self.hi:
            ivs = sorted(ivs + [(self.gateway, self.gateway)])
        merged: list[tuple[int, int]] = []
        for a, b in ivs:
            if a > b:
                continue
            if merged and a <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self._merged = merged
        self._starts = [a for a, _ in merged]
        self.free = (self.hi - self.lo + 1) - sum(b - a + 1 for a, b in merged)

    def why_not(self, addr: int) -> str | None:
        """Why ``addr`` cannot be held by a machine on this network (ignoring duplicates)."""
        if self.lo <= addr <= self.hi and addr != self.gateway and self._excluded_end(addr) is None:
            return None  # the common case, without formatting anything
        text = fmt(addr, self.version)
        if not self.first <= addr <= self.last:
            return f"{text} is outside network {self.network!r} ({self.prefix})"
        if addr == self.first and not (self.version == 4 and self.prefixlen >= 31):
            return f"{text} is the network address of {self.network!r}"
        if self.version == 4 and addr == self.last and self.prefixlen < 31:
            return f"{text} is the broadcast address of {self.network!r}"
        if addr == self.gateway:
            return f"{text} is the gateway of {self.network!r}"
        for a, b, what in self.excluded:
            if a <= addr <= b:
                return f"{text} is in {what} of {self.network!r}"
        return None

    def _excluded_end(self, addr: int) -> int | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr <= self._merged[i][1]:
            return self._merged[i][1]
        return None

    def take(self, addr: int, holder: tuple[str, Loc]) -> None:
        self.used[addr] = holder
        self.free -= 1

    def allocate(self, slot_hash: int, holder: tuple[str, Loc]) -> int | None:
        """The first free address at or after the hashed slot (wrapping); None when exhausted.

        Linear probing over runs of taken addresses is shortened with a path-compressed
        "next candidate" map (union-find style), so dense pinned blocks stay cheap."""
        if self.free <= 0:
            return None
        lo, hi = self.lo, self.hi
        c = lo + slot_hash % (hi - lo + 1)
        path: list[int] = []
        while True:
            if c > hi:
                self._compress(path, hi + 1)
                path = []
                c = lo
            end = self._excluded_end(c)
            if end is not None:
                path.append(c)
                c = end + 1
            elif c in self.used:
                path.append(c)
                c = self._next.get(c, c + 1)
            else:
                self._compress(path, c)
                self.take(c, holder)
                return c

    def _compress(self, path: list[int], target: int) -> None:
        for p in path:
            if p in self.used:
                self._next[p] = target


def eui64(mac: str, prefix_first: int) -> int:
    """The modified EUI-64 address of ``mac`` in the /64 starting at ``prefix_first``.

    Same result as ``netaddr.EUI(mac).ipv6(prefix_first)`` (checked in the tests), without
    building objects in the allocation loop."""
    m = int(mac.replace(":", ""), 16)
    iid = ((m >> 24) << 40) | (0xFFFE << 24) | (m & 0xFFFFFF)
    iid ^= 0x02 << 56
    return prefix_first | iid
