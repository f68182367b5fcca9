"""The networks of an import: the customer's, plus one per DHCP subnet it does not have.

An IPv4 and an IPv6 subnet become one network when the operator gives them the same name
(``--network 10.20.0.0/24=lan --network fd00:20::/64=lan``) or when machines say so (a MAC
or a DNS name with an address in each). A new network's domain is the DHCP domain, else
the zone its records are in, else the customer's; its bridge is the one its VMs sit on;
its name is the operator's, else derived from the bridge, the domain or the prefix."""

from __future__ import annotations

import ipaddress
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from interop.plan import NetworkPlan, Plan
from interop.records import Source, Subnet
from inventory.model import Inventory

if TYPE_CHECKING:
    from interop.merge import Options, _Merge

__all__ = ["Net", "Networks", "build_networks", "label", "normalise_prefix"]

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


def normalise_prefix(text: str) -> str:
    return str(ipaddress.ip_network(text, strict=False))


def addr_key(addr: str) -> tuple[int, int]:
    """(version, integer) of a normalised address: inet_pton, ~10x faster than ipaddress
    (10,000 reservations and their records are looked up several times each)."""
    if ":" in addr:
        return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, addr), "big")
    return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, addr), "big")


def _holds_key(key: tuple[int, int], prefix: IPNet | None) -> bool:
    return (
        prefix is not None
        and key[0] == prefix.version
        and key[1] & int(prefix.netmask) == int(prefix.network_address)
    )


@dataclass
class Net:
    name: str
    v4: ipaddress.IPv4Network | None
    v6: ipaddress.IPv6Network | None
    bridge: str | None
    new: bool
    bridge_source: Source | None = None


@dataclass
class Networks:
    nets: list[Net] = field(default_factory=list)
    by_bridge: dict[str, str] = field(default_factory=dict)
    placed: set[str] = field(default_factory=set)  # addresses given to an imported machine
    _memo: dict[str, str | None] = field(default_factory=dict)

    def containing(self, addr: str) -> str | None:
        hit = self._memo.get(addr, "")
        if hit != "":
            return hit
        key = addr_key(addr)
        found = next((n.name for n in self.nets if _holds_key(key, n.v4 if key[0] == 4 else n.v6)), None)
        self._memo[addr] = found
        return found

    def get(self, name: str) -> Net:
        return next(n for n in self.nets if n.name == name)


def _overlaps(a: IPNet, b: IPNet) -> bool:
    return a.version == b.version and a.overlaps(b)


def _parent(fqdn: str) -> str | None:
    parts = fqdn.split(".", 1)
    return parts[1] if len(parts) == 2 and parts[1] else None


def build_networks(m: _Merge, inv: Inventory | None, opts: Options) -> tuple[Networks, Plan]:
    nets = Networks()
    for n in inv.networks.values() if inv is not None else ():
        v4 = ipaddress.IPv4Network(n.ipv4) if n.ipv4 else None
        v6 = ipaddress.IPv6Network(n.ipv6) if n.ipv6 else None
        nets.nets.append(Net(n.name, v4, v6, n.bridge, False))
    # DHCP subnets the customer does not have, first source first
    cands: dict[str, list[Subnet]] = {}
    given = {normalise_prefix(k): v for k, v in opts.network_names.items()}
    given_nets = [ipaddress.ip_network(g) for g in given]
    for site in m.sites:
        for s in site.subnets:
            p = normalise_prefix(s.prefix)
            net = ipaddress.ip_network(p)
            if s.prefix_inferred:
                # dnsmasq's dhcp-range without a netmask: the interface's mask, which no file
                # says; a customer network or a --network prefix holding the range is the real one
                known = [x for n in nets.nets for x in (n.v4, n.v6) if x is not None]
                if any(x.version == net.version and net.subnet_of(x) for x in known):  # type: ignore[arg-type]
                    continue
                wider = [g for g in given_nets if g.version == net.version and net.subnet_of(g)]  # type: ignore[arg-type]
                if wider:
                    p, net = str(wider[0]), wider[0]
                else:
                    m.notes.append(
                        f"{s.source}: network {p} is a guess (a dhcp-range without a netmask): "
                        "give the real prefix with --network CIDR=NAME"
                    )
            same = [n for n in nets.nets if str(n.v4 if net.version == 4 else n.v6) == p]
            if same:
                continue
            over = [n for n in nets.nets if any(x is not None and _overlaps(net, x) for x in (n.v4, n.v6))]
            if over:
                m.conflict(
                    "subnet-network",
                    p,
                    f"overlaps network {over[0].name} ({over[0].v4 or over[0].v6}) of the customer",
                    [s.source],
                    "the subnet is not imported",
                )
                continue
            cands.setdefault(p, []).append(s)
    v4s = [p for p in cands if ":" not in p]
    v6s = [p for p in cands if ":" in p]
    pair: dict[str, str] = {}  # v6 prefix -> v4 prefix
    named = {given[p]: p for p in v4s if p in given}
    for p6 in v6s:
        if p6 in given and given[p6] in named:
            pair[p6] = named[given[p6]]
    # evidence: a MAC, or a DNS name, with an address in each
    ev: Counter[tuple[str, str]] = Counter()
    nets4 = [(ipaddress.IPv4Network(p), p) for p in v4s]
    nets6 = [(ipaddress.IPv6Network(p), p) for p in v6s if p not in pair]

    def within(addr: str, table: list[tuple[IPNet, str]]) -> str | None:
        key = addr_key(addr)
        return next((p for n, p in table if _holds_key(key, n)), None)

    if nets6 and nets4:
        for mf in m.macs.values():
            if mf.ipv4 is not None and mf.ipv6 is not None:
                a, b = within(mf.ipv4.value, nets4), within(mf.ipv6.value, nets6)  # type: ignore[arg-type]
                if a and b:
                    ev[(b, a)] += 1
        for facts in m.by_name.values():
            f4 = [within(f.value, nets4) for f in facts if ":" not in f.value]  # type: ignore[arg-type]
            f6 = [within(f.value, nets6) for f in facts if ":" in f.value]  # type: ignore[arg-type]
            for a in {x for x in f4 if x}:
                for b in {x for x in f6 if x}:
                    ev[(b, a)] += 1
    for (b, a), _ in ev.most_common():
        if (
            b not in pair
            and a not in pair.values()
            and (b not in given or given[b] == given.get(a, given[b]))
        ):
            pair[b] = a
    # one NetworkPlan per v4 subnet (with its v6 pair) and per unpaired v6 subnet
    plan = Plan(customer=opts.customer, new_customer=inv is None, domain="")
    made: list[tuple[NetworkPlan, list[Subnet]]] = []
    partner = {a: b for b, a in pair.items()}
    for p in [*v4s, *(p for p in v6s if p not in pair)]:
        subs = cands[p] + (cands[partner[p]] if p in partner else [])
        subs.sort(key=lambda s: s.source)
        np = NetworkPlan(
            name=given.get(p, given.get(partner.get(p, ""), "")), sources=[s.source for s in subs]
        )
        # the prefixes are the keys (a guessed one may have been widened by --network)
        np.ipv4 = p if ":" not in p else None
        np.ipv6 = p if ":" in p else partner.get(p)
        for s in subs:
            if ":" in s.prefix:
                np.gateway6 = np.gateway6 or s.gateway
            else:
                np.gateway4 = np.gateway4 or s.gateway
                np.dhcp_pool = np.dhcp_pool or s.pool
            np.dns_servers = np.dns_servers or s.dns_servers
            np.domain = np.domain or s.domain
        made.append((np, subs))
    # domains: DHCP's, else the zone of the records in the prefix, else the customer's
    counts: dict[str, Counter[str]] = {}
    prefixes = [
        (
            np.ipv4 or np.ipv6 or "",
            ipaddress.ip_network(np.ipv4) if np.ipv4 else None,
            ipaddress.ip_network(np.ipv6) if np.ipv6 else None,
        )
        for np, _ in made
    ]
    for table in (m.fwd, m.ptr):
        for addr, facts in table.items():
            key = addr_key(addr)
            hit = next((k for k, p4, p6 in prefixes if _holds_key(key, p4 if key[0] == 4 else p6)), None)
            if hit is not None:
                for f in facts:
                    if (d := _parent(f.value)) is not None:
                        counts.setdefault(hit, Counter())[d] += 1
    for np, _ in made:
        c = counts.get(np.ipv4 or np.ipv6 or "")
        if np.domain is None and c:
            np.domain = c.most_common(1)[0][0]
    if inv is not None:
        plan.domain = inv.customer.domain
    else:
        doms = Counter(np.domain for np, _ in made if np.domain)
        plan.domain = opts.domain or (doms.most_common(1)[0][0] if doms else "")
    for np, _ in made:
        np.domain = np.domain or plan.domain
        v4 = ipaddress.IPv4Network(np.ipv4) if np.ipv4 else None
        v6 = ipaddress.IPv6Network(np.ipv6) if np.ipv6 else None
        nets.nets.append(Net(np.name, v4, v6, None, True))
    # bridges: what the VMs on a network sit on (first source first)
    for mf in sorted(m.macs.values(), key=lambda x: x.rank):
        if mf.domain is None:
            continue
        bridge = mf.domain[0].nics[mf.domain[1]].bridge
        for fact in (mf.ipv4, mf.ipv6):
            if fact is None or bridge is None:
                continue
            # (not nets.containing: new networks are not named yet, and it remembers names)
            key = addr_key(fact.value)
            held = next((n for n in nets.nets if _holds_key(key, n.v4 if key[0] == 4 else n.v6)), None)
            if held is not None and held.bridge is None:
                held.bridge, held.bridge_source = bridge, mf.domain[0].source
                if not held.new:
                    plan.network_bridges[held.name] = (bridge, mf.domain[0].source)
    taken = {n.name for n in nets.nets if n.name}
    for (np, _), new in zip(made, [n for n in nets.nets if n.new], strict=True):
        np.bridge = new.bridge
        if not np.name:
            np.name = _derive_name(np, taken, plan.domain)
            taken.add(np.name)
        new.name = np.name
    for each in nets.nets:
        if each.bridge:
            nets.by_bridge.setdefault(each.bridge, each.name)
    plan.networks = [np for np, _ in made]
    return nets, plan


def label(text: str) -> str:
    """A DNS label from a name that may not be one (libvirt allows ``Web_1``)."""
    out = "".join(c if c.isalnum() and c.isascii() else "-" for c in text.lower()).strip("-")
    while "--" in out:
        out = out.replace("--", "-")
    return out[:63].strip("-") or "host"


def _derive_name(np: NetworkPlan, taken: set[str], customer_domain: str) -> str:
    cands = []
    if np.bridge:
        b = np.bridge
        # br-lan -> lan; br0, virbr0 stay as they are
        cands.append(label(b[3:] if b.startswith("br-") and len(b) > 3 else b))
    if np.domain and np.domain != customer_domain:
        cands.append(label(np.domain.split(".")[0]))
    cands.append(
        "net-" + label((np.ipv4 or np.ipv6 or "").replace(".", "-").replace(":", "-").replace("/", "-"))
    )
    for c in cands:
        if c and c not in taken:
            return c
    base, i = cands[-1], 2
    while f"{base}-{i}" in taken:
        i += 1
    return f"{base}-{i}"
