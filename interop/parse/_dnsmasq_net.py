"""dnsmasq's networks: ``dhcp-range``, the router/DNS/domain ``dhcp-option``s, ``domain=``.

Collected while the files are read and joined at the end (an option may come before or
after its range): see :mod:`interop.parse.dnsmasq` for what is read and why."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import netaddr

from interop.parse._dhcpcommon import Problems, address, name
from interop.records import Source, Subnet

__all__ = ["HEX", "LEASE", "UNHIDE", "Networks"]

UNHIDE = str.maketrans({"\x1c": ",", "\x1d": ":", "\x1e": ".", "\x1f": "#"})  # quoted , : . # (dnsmasq)
LEASE = re.compile(r"\A\d+[wWdDhHmMsS]?\Z")
HEX = frozenset("0123456789abcdefABCDEF")
_HEXISH = HEX | frozenset(".: ")
_OPT_V4 = {"3": "router", "6": "dns", "15": "domain"}
_OPT_NAMES = {"router": "router", "dns-server": "dns", "domain-name": "domain"}


@dataclass
class _Range:
    subnet: Subnet
    tag: str | None


@dataclass
class _Option:
    src: Source
    v6: bool
    kind: str  # "router" | "dns" | "domain"
    tags: tuple[str, ...]
    values: list[str]


@dataclass
class Networks:
    """The ranges, options and domains of one dnsmasq configuration."""

    problems: Problems
    ranges: list[_Range] = field(default_factory=list)
    options: list[_Option] = field(default_factory=list)
    domains: list[tuple[str, netaddr.IPSet | None]] = field(default_factory=list)

    def dhcp_range(self, src: Source, arg: str) -> None:
        tag: str | None = None
        while True:
            head, comma, rest = arg.partition(",")
            if comma and any(c not in _HEXISH for c in head):
                head = head.strip()
                if not head.lower().startswith("tag:"):
                    if tag is not None:
                        self.problems.append((src, "dhcp-range: only one tag allowed"))
                        return
                    tag = head[4:] if head[:4].lower() in ("set:", "net:") else head
                arg = rest
                continue
            break
        a = [t.strip() for t in arg.split(",")][:8]
        if len(a) >= 2 and address(a[0], 4):
            problem = self._range_v4(src, a, tag)
        elif len(a) >= 2 and address(a[0], 6):
            problem = self._range_v6(src, a, tag)
        else:
            problem = "bad dhcp-range"
        if problem:
            self.problems.append((src, f"dhcp-range: {problem}"))

    def _range_v4(self, src: Source, a: list[str], tag: str | None) -> str | None:
        start = netaddr.IPAddress(address(a[0], 4))
        pool = a[1] not in ("static", "proxy")
        end = netaddr.IPAddress(address(a[1], 4) or 0) if pool else start
        if pool and address(a[1], 4) is None:
            return "bad dhcp-range"
        start, end = min(start, end), max(start, end)
        pos, net = 2, None
        if len(a) > 2 and "." in a[2] and (mask := address(a[2], 4)) is not None:
            pos = 3
            try:
                net = netaddr.IPNetwork(f"{start}/{mask}").cidr
            except (netaddr.AddrFormatError, ValueError):
                return f"bad netmask {a[2]}"
            if end not in net:
                return "inconsistent DHCP range"
            if len(a) > 3 and "." in a[3] and address(a[3], 4) is not None:
                pos = 4
        if not _lease_ok(a, pos):
            return "bad dhcp-range"
        inferred = net is None
        if net is None:  # the interface's mask in dnsmasq; here the narrowest prefix (<= /24) holding it
            bits = 32 - (int(start) ^ int(end)).bit_length()
            net = netaddr.IPNetwork(f"{start}/{min(bits, 24)}").cidr
        sub = Subnet(src, str(net), pool=(str(start), str(end)) if pool else None)
        self.ranges.append(_Range(replace(sub, prefix_inferred=True) if inferred else sub, tag))
        return None

    def _range_v6(self, src: Source, a: list[str], tag: str | None) -> str | None:
        start = netaddr.IPAddress(address(a[0], 6))
        end, template, ra, pos = None, False, False, 1
        while pos < len(a):
            t = a[pos]
            if t in ("static", "off-link"):
                pass
            elif t in ("ra-only", "slaac", "ra-names", "ra-advrouter", "ra-stateless"):
                ra = True
            elif pos == 1 and address(t, 6):
                end = netaddr.IPAddress(address(t, 6))
            elif t.startswith("constructor:"):
                template = True
            else:
                break
            pos += 1
        prefix = 64
        if pos < len(a) and a[pos].isdigit() and int(a[pos]) <= 128:
            prefix, pos = int(a[pos]), pos + 1
        if prefix > 64 and (ra or template):
            return f"prefix length must be exactly 64 for {'RA subnets' if ra else 'subnet constructors'}"
        if prefix < 64:
            return "prefix length must be at least 64"
        net = netaddr.IPNetwork(f"{start}/{prefix}").cidr
        if end is not None and end not in net:
            return "inconsistent DHCPv6 range"
        if template and int(start) >> (128 - prefix):
            return 'prefix must be zero with "constructor:" argument'
        if not _lease_ok(a, pos):
            return "bad dhcp-range"
        if template or int(start) == 0:
            return None  # the network comes from an interface at run time: nothing to import
        lo, hi = (start, end) if end is None or start <= end else (end, start)
        self.ranges.append(
            _Range(Subnet(src, str(net), pool=(str(lo), str(hi)) if end is not None else None), tag)
        )
        return None

    def dhcp_option(self, src: Source, arg: str) -> None:
        tokens = [t.strip() for t in arg.split(",")]
        tags: list[str] = []
        while tokens and tokens[0][:4].lower() in ("tag:", "net:"):
            tags.append(tokens.pop(0)[4:])
        if not tokens or tokens[0].split(":")[0] in ("encap", "vi-encap", "vendor"):
            return
        opt, values = tokens[0].lower(), tokens[1:]
        v6 = opt.startswith("option6:")
        if v6:
            kind = "dns" if opt[8:] in ("dns-server", "23") else None
        elif opt.startswith("option:"):
            kind = _OPT_NAMES.get(opt[7:])
        else:
            kind = _OPT_V4.get(opt)
        if kind is None:
            return
        if kind == "domain":
            vals = [name(v.translate(UNHIDE)) for v in values[:1] if v]
        else:
            vals = []
            for v in values:
                a = address(v[1:-1] if v6 and v[:1] == "[" and v[-1:] == "]" else v, 6 if v6 else 4)
                if a is None:
                    self.problems.append((src, f"dhcp-option: bad address {v!r}"))
                elif a not in ("0.0.0.0", "::"):  # "the machine running dnsmasq": unknown here
                    vals.append(a)
        self.options.append(_Option(src, v6, kind, tuple(tags), vals))

    def domain(self, src: Source, arg: str) -> None:
        parts = [t.strip() for t in arg.split(",")]
        dom = name(parts[0].translate(UNHIDE))
        if dom == "#":
            return  # from /etc/resolv.conf of the server: not in these files
        cover: netaddr.IPSet | None = None
        try:
            if len(parts) >= 2 and "/" in parts[1]:
                cover = netaddr.IPSet([netaddr.IPNetwork(parts[1]).cidr])
            elif len(parts) >= 3 and address(parts[1]) and address(parts[2]):
                cover = netaddr.IPSet(netaddr.IPRange(address(parts[1]), address(parts[2])))
            elif len(parts) >= 2 and address(parts[1]):
                cover = netaddr.IPSet([address(parts[1])])
            elif len(parts) >= 2:
                return  # an interface name: its addresses are not in these files
        except (netaddr.AddrFormatError, ValueError):
            self.problems.append((src, f"domain: bad address range {','.join(parts[1:])!r}"))
            return
        self.domains.append((dom, cover))

    def subnets(self) -> list[Subnet]:
        """Every range as a subnet with the router/DNS/domain that dnsmasq would send on it."""
        out: list[Subnet] = []
        for r in self.ranges:
            sub = r.subnet
            v6 = ":" in sub.prefix
            got: dict[str, tuple[int, list[str]]] = {}
            for o in self.options:
                if o.v6 != v6 or (o.kind in ("router", "domain") and v6):
                    continue
                if o.tags and (len(o.tags) > 1 or o.tags[0] != r.tag):
                    continue
                rank = 1 if o.tags else 0  # a tagged option beats an untagged one
                if o.kind not in got or got[o.kind][0] < rank:
                    got[o.kind] = (rank, o.values)
            router = got.get("router", (0, []))[1]
            domain = got["domain"][1][0] if got.get("domain", (0, []))[1] else None
            if domain is None:
                first = netaddr.IPAddress(sub.pool[0] if sub.pool else netaddr.IPNetwork(sub.prefix).ip)
                specific = next((d for d, c in self.domains if c is not None and first in c), None)
                domain = specific or next((d for d, c in self.domains if c is None), None)
            out.append(
                replace(
                    sub,
                    gateway=router[0] if router else None,
                    dns_servers=tuple(got.get("dns", (0, []))[1]),
                    domain=domain,
                )
            )
        return out


def _lease_ok(a: list[str], pos: int) -> bool:
    return pos == len(a) or (
        pos == len(a) - 1 and (a[pos] in ("infinite", "deprecated") or bool(LEASE.match(a[pos])))
    )
