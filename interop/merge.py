"""Match what a site runs against a customer's inventory: ``merge(inv, sites, options) -> Plan``.

Pure: reads the loaded ``Inventory`` (or None for a new customer) and the parsers' ``Site``
records, writes nothing. The rules (docs/adopt.md has them for operators):

* A machine is keyed by MAC first (a MAC the inventory has is that machine), then by
  name. Its name is the DHCP reservation's host name, else the DNS name whose PTR or
  A/AAAA matches its address, else the libvirt domain's name, else one made from its
  address. DNS A/AAAA records of that name give the addresses DHCP does not (IPv6 from
  AAAA). A libvirt domain makes it a VM with its cores, memory, disks and NICs (in order),
  on the host the operator named for that source.
* Each address goes to the customer network containing it. Networks are created from
  DHCP subnets that no network of the customer has (an IPv4 and an IPv6 subnet become one
  network when the operator names both alike or the machines say so).
* Everything is pinned: MACs, IPv4, IPv6, and ``none`` for a family the network has and the
  machine lacks, so adopting never gives or moves an address. Imported machines are
  ``active``.
* Facts that disagree are ``Conflict``s naming every file:line involved; the plan is
  blocked unless ``force``, and then the first source in command-line order wins (for a
  machine the inventory already has, what runs wins over an address the inventory pins;
  its name, kind and hypervisor stay; another machine is never changed), each choice said.

Linear: one pass over each kind of record, dicts keyed by MAC, address and name.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass, field

from interop import merge_inv
from interop.known_hosts import HostKey
from interop.merge_facts import Fact, Group, MacFacts, Rank, short
from interop.merge_names import dns_addresses, name_groups
from interop.merge_net import build_networks, label
from interop.plan import Conflict, Plan
from interop.records import Domain, Site, Source
from inventory.model import Inventory

__all__ = ["CONFLICT_KINDS", "Fact", "Group", "MacFacts", "Options", "label", "merge", "short"]

#: every kind of conflict, as the report names it
CONFLICT_KINDS = {
    "mac-addresses": "the same MAC with two addresses of one family",
    "name-macs": "one name on two MACs (not NICs of one libvirt domain or one inventory machine)",
    "address-macs": "one address on two MACs",
    "outside-networks": "an address outside every network",
    "bridge-no-network": "a VM bridge with no network, or on a network with another bridge",
    "dns-dhcp": "a DNS name or address disagreeing with the DHCP name",
    "pinned": "an imported value disagreeing with the inventory's value for that machine",
    "mac-other-machine": "a MAC of one machine already on another machine",
    "unknown-hypervisor": "a libvirt host that is no machine",
    "subnet-network": "a DHCP subnet overlapping a network with another prefix",
    "host-key": "a known_hosts key disagreeing with another or with the pinned one",
}


@dataclass
class Options:
    customer: str
    domain: str | None = None  # a new customer's domain (else derived from DHCP/DNS)
    network_names: dict[str, str] = field(default_factory=dict)  # normalised prefix -> name
    known_hosts: list[HostKey] | None = None
    force: bool = False
    services: dict[str, str] = field(default_factory=dict)  # a new customer's dhcp/dns services


class _Merge:
    def __init__(self, inv: Inventory | None, opts: Options) -> None:
        self.inv = inv
        self.opts = opts
        self.conflicts: list[Conflict] = []
        self.notes: list[str] = []
        self.macs: dict[str, MacFacts] = {}
        self.fwd: dict[str, list[Fact]] = {}  # address -> A/AAAA owner names (fqdn)
        self.ptr: dict[str, list[Fact]] = {}  # address -> PTR names (fqdn)
        self.by_name: dict[str, list[Fact]] = {}  # short name -> A/AAAA addresses
        self.subnets: list[tuple[Site, int]] = []
        self.sites: list[Site] = []
        self.nameless_v6: list[tuple[str, Fact]] = []  # DUID-only reservations: (short name, ipv6)
        self.domains: list[tuple[Domain, Rank]] = []

    def conflict(
        self, kind: str, subject: str, message: str, facts: Sequence[Source], choice: str = ""
    ) -> None:
        srcs = tuple(dict.fromkeys(facts))
        self.conflicts.append(Conflict(kind, subject, message, srcs, choice))

    # ------------------------------------------------------------------ collect

    def collect(self, index: int, site: Site) -> None:
        self.sites.append(site)
        pos = 0

        def rank() -> Rank:
            nonlocal pos
            pos += 1
            return (index, pos)

        for r in site.reservations:
            k = rank()
            if r.mac is None:
                if r.name and r.ipv6:
                    self.nameless_v6.append((short(r.name), Fact(r.ipv6, r.source, k)))
                else:
                    self.notes.append(f"not imported: {r.source}: a reservation without a MAC")
                continue
            mf = self.macs.get(r.mac)
            if mf is None:
                mf = self.macs[r.mac] = MacFacts(r.mac, k)
            if r.ipv4:
                mf.v4.append(Fact(r.ipv4, r.source, k))
            if r.ipv6:
                mf.v6.append(Fact(r.ipv6, r.source, k))
            if r.name:
                mf.names.append(Fact(short(r.name), r.source, k))
        for d in site.domains:
            k = rank()
            self.domains.append((d, k))
            for i, nic in enumerate(d.nics):
                mf = self.macs.get(nic.mac)
                if mf is None:
                    mf = self.macs[nic.mac] = MacFacts(nic.mac, k)
                if mf.domain is not None:
                    other = mf.domain[0]
                    self.conflict(
                        "mac-other-machine",
                        nic.mac,
                        f"on libvirt domains {other.name} and {d.name}",
                        [other.source, d.source],
                        f"{nic.mac} stays with {other.name} ({other.source})",
                    )
                    continue
                mf.domain = (d, i, k)
        for rec in site.records:
            k = rank()
            fact = Fact(rec.name, rec.source, k)
            if rec.type == "PTR":
                self.ptr.setdefault(rec.value, []).append(fact)
            else:
                self.fwd.setdefault(rec.value, []).append(fact)
                self.by_name.setdefault(short(rec.name), []).append(Fact(rec.value, rec.source, k))

    # ------------------------------------------------------------------ addresses by MAC

    def choose_addresses(self) -> None:
        for mf in self.macs.values():
            for fam, facts in (("IPv4", mf.v4), ("IPv6", mf.v6)):
                if not facts:
                    continue
                first = min(facts, key=lambda f: f.rank)
                distinct = {f.value for f in facts}
                if len(distinct) > 1:
                    self.conflict(
                        "mac-addresses",
                        mf.mac,
                        f"{fam} {', '.join(sorted(distinct))}",
                        [f.source for f in facts],
                        f"{mf.mac} keeps {first.value} ({first.source})",
                    )
                if fam == "IPv4":
                    mf.ipv4 = first
                else:
                    mf.ipv6 = first
        owners: dict[str, list[tuple[MacFacts, Fact]]] = {}
        for mf in self.macs.values():
            for f in (mf.ipv4, mf.ipv6):
                if f is not None:
                    owners.setdefault(f.value, []).append((mf, f))
        for addr, held in owners.items():
            if len(held) < 2:
                continue
            held.sort(key=lambda h: h[1].rank)
            winner = held[0]
            self.conflict(
                "address-macs",
                addr,
                f"reserved for {', '.join(h[0].mac for h in held)}",
                [h[1].source for h in held],
                f"{addr} stays with {winner[0].mac} ({winner[1].source}); the others get no address there",
            )
            for mf, f in held[1:]:
                if mf.ipv4 is f:
                    mf.ipv4 = None
                else:
                    mf.ipv6 = None

    # ------------------------------------------------------------------ machines

    def group(self) -> list[Group]:
        parent: dict[str, str] = {m: m for m in self.macs}

        def find(m: str) -> str:
            while parent[m] != m:
                parent[m] = parent[parent[m]]
                m = parent[m]
            return m

        for d, _ in self.domains:
            macs = [n.mac for n in d.nics if n.mac in self.macs and self.macs[n.mac].domain is not None]
            macs = [m for m in macs if self.macs[m].domain[0] is d]  # type: ignore[index]
            for m in macs[1:]:
                parent[find(m)] = find(macs[0])
        owner = merge_inv.mac_owners(self.inv)
        first_of: dict[str, str] = {}  # the MACs of one inventory machine are one machine
        for m in self.macs:
            if m in owner:
                parent[find(m)] = find(first_of.setdefault(owner[m], m))
        by_root: dict[str, list[str]] = {}
        for m in self.macs:
            by_root.setdefault(find(m), []).append(m)
        groups: list[Group] = []
        for macs in by_root.values():
            macs.sort(key=lambda m: self.nic_order(m))
            existing = [owner[m] for m in macs if m in owner]
            names = list(dict.fromkeys(existing))
            if len(names) > 1:
                # one domain's NICs are on two inventory machines: each keeps its own MACs
                srcs = [self.source_of(m) for m in macs]
                self.conflict(
                    "mac-other-machine",
                    ", ".join(names),
                    f"one libvirt domain has the MACs of inventory machines {', '.join(names)}",
                    srcs,
                    f"each MAC stays with its inventory machine; the domain is taken as {names[0]}",
                )
                split: dict[str, list[str]] = {}
                for m in macs:
                    split.setdefault(owner.get(m, names[0]), []).append(m)
                for n, ms in split.items():
                    groups.append(self.new_group(ms, n))
                continue
            groups.append(self.new_group(macs, names[0] if names else None))
        groups.sort(key=lambda g: g.rank)
        return groups

    def nic_order(self, mac: str) -> tuple[int, Rank]:
        d = self.macs[mac].domain
        return (d[1], d[2]) if d is not None else (99, self.macs[mac].rank)

    def new_group(self, macs: list[str], existing: str | None) -> Group:
        g = Group(macs, min(self.macs[m].rank for m in macs), existing)
        doms = [self.macs[m].domain for m in macs if self.macs[m].domain is not None]
        if doms:
            d = doms[0]
            assert d is not None
            g.domain = (d[0], d[2])
        return g

    def source_of(self, mac: str) -> Source:
        mf = self.macs[mac]
        facts = [*mf.v4, *mf.v6, *mf.names]
        if facts:
            return min(facts, key=lambda f: f.rank).source
        assert mf.domain is not None
        return mf.domain[0].source

    def addresses(self, g: Group) -> list[Fact]:
        return [f for m in g.macs for f in (self.macs[m].ipv4, self.macs[m].ipv6) if f is not None]


def merge(inv: Inventory | None, sites: Site | Sequence[Site], opts: Options) -> Plan:
    """The plan for importing ``sites`` (in command-line order) into ``inv`` (None: a new customer)."""
    # Tens of thousands of small, long-lived objects and no cycles: the cyclic GC would only
    # rescan them (as in inventory.build.load and the parsers)
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _merge(inv, sites, opts)
    finally:
        if enabled:
            gc.enable()


def _merge(inv: Inventory | None, sites: Site | Sequence[Site], opts: Options) -> Plan:
    m = _Merge(inv, opts)
    for i, site in enumerate([sites] if isinstance(sites, Site) else sites):
        m.collect(i, site)
    m.choose_addresses()
    nets, plan = build_networks(m, inv, opts)
    groups = m.group()
    name_groups(m, groups, nets)
    dns_addresses(m, groups, nets)
    merge_inv.machines(m, groups, nets, plan)
    plan.conflicts = m.conflicts
    plan.notes = [*plan.notes, *m.notes]
    unused = sum(1 for a in m.fwd if a not in nets.placed)
    if unused:
        plan.notes.append(
            f"not imported: {unused} DNS address(es) of no imported machine (aliases, routers, ...)"
        )
    plan.force = opts.force
    if inv is None:
        plan.services = dict(opts.services)
    return plan
