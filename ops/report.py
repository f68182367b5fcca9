"""One self-contained HTML page per customer: networks, machines, hypervisors, lifecycle.

    uniform report -C acme -o /tmp/acme.html      (cli/ops_commands.py)

The page carries everything inline (CSS, a few lines of JS for the sortable
table, SVG bars): it fetches nothing and opens from a file: URL, a mail
attachment or a CI artifact.  Output is a pure function of the inventory (no
clock, no host name), so two runs on the same inventory give the same bytes
and a report can be diffed or committed.

Figures:

* networks: per address family, every address of the prefix is exactly one of
  *used* (an address of a machine that holds addresses: every state but
  retired), *reserved* (network and broadcast address, gateway, `reserved`
  ranges), *pool* (the DHCP pool) or *free*; computed with netaddr IPSets.
* hypervisors: cores and memory of the VMs in a state that uses capacity
  (`inventory.lifecycle.USES_CAPACITY`) against the hypervisor's own × the
  customer's overcommit ratios (what validation checks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import jinja2
import netaddr

from inventory import capacity, lifecycle
from inventory.model import Inventory, Network, State
from inventory.units import format_mib

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Segment:
    """One part of a utilisation bar."""

    label: str  # used | reserved | pool | free
    count: int
    pct: float  # share of the total, 0..100 (exact)
    width: float  # drawn width, 0..100: a non-empty segment is at least visible
    x: float  # drawn offset, 0..100


@dataclass(frozen=True)
class Family:
    """One address family of one network."""

    version: int  # 4 | 6
    prefix: str
    total: int
    segments: tuple[Segment, ...]

    def count(self, label: str) -> int:
        return next(s.count for s in self.segments if s.label == label)


@dataclass(frozen=True)
class NetworkRow:
    name: str
    domain: str
    gateway4: str | None
    gateway6: str | None
    bridge: str | None
    families: tuple[Family, ...]
    machines: int  # machines with an address on it


@dataclass(frozen=True)
class MachineRow:
    name: str
    kind: str
    state: str
    fqdn: str
    addresses: tuple[str, ...]
    address_key: str  # sort key: first address, numerically
    macs: tuple[str, ...]
    tags: tuple[str, ...]
    roles: tuple[str, ...]
    hypervisor: str
    cores: int
    memory_mib: int


@dataclass(frozen=True)
class Usage:
    used: float
    capacity: float
    pct: float  # used / capacity, 0.. (may exceed 100)
    width: float  # drawn, 0..100

    @property
    def over(self) -> bool:
        return self.used > self.capacity


@dataclass(frozen=True)
class HypervisorRow:
    name: str
    state: str
    cores: int
    memory_mib: int
    cpu: Usage  # vCPUs against cores × cpu overcommit
    memory: Usage  # MiB against memory × memory overcommit
    vms: tuple[tuple[str, str], ...]  # (name, state) of every VM naming it, by name


@dataclass(frozen=True)
class Report:
    customer: str
    domain: str
    cpu_overcommit: float
    memory_overcommit: float
    delivery: str
    networks: tuple[NetworkRow, ...]
    machines: tuple[MachineRow, ...]
    hypervisors: tuple[HypervisorRow, ...]
    lifecycle: tuple[tuple[str, int, float], ...]  # (state, count, bar width %) in lifecycle order


def _segments(parts: list[tuple[str, int]], total: int) -> tuple[Segment, ...]:
    """Bar segments; a non-empty part gets at least 0.5 % so a single address stays visible."""
    visible = [max(0.5, 100.0 * c / total) if c else 0.0 for _, c in parts[:-1]]
    free_width = max(0.0, 100.0 - sum(visible))
    widths = visible + [free_width]
    out, x = [], 0.0
    for (label, count), width in zip(parts, widths, strict=True):
        out.append(Segment(label, count, round(100.0 * count / total, 4), round(width, 4), round(x, 4)))
        x += width
    return tuple(out)


def _family(version: int, prefix: str, net: Network, used: set[str]) -> Family:
    cidr = netaddr.IPNetwork(prefix)
    total = int(cidr.size)
    block = netaddr.IPSet([cidr])
    reserved = netaddr.IPSet()
    if version == 4 and cidr.prefixlen <= 30:
        reserved.add(cidr.network)
        reserved.add(cidr.broadcast)
    elif version == 6 and cidr.prefixlen <= 126:
        reserved.add(cidr.network)  # the subnet-router anycast address
    gateway = net.gateway4 if version == 4 else net.gateway6
    if gateway:
        reserved.add(netaddr.IPAddress(gateway))
    for first, last in net.reserved:
        if netaddr.IPAddress(first).version == version:
            reserved.add(netaddr.IPRange(first, last))
    pool = netaddr.IPSet()
    if net.dhcp_pool and netaddr.IPAddress(net.dhcp_pool[0]).version == version:
        pool.add(netaddr.IPRange(*net.dhcp_pool))
    reserved &= block
    pool = (pool & block) - reserved
    n_used = len(used)  # validation keeps machine addresses out of reserved ranges and the pool
    n_reserved, n_pool = reserved.size, pool.size
    free = max(0, total - n_used - n_reserved - n_pool)
    parts = [("used", n_used), ("reserved", n_reserved), ("pool", n_pool), ("free", free)]
    return Family(version, str(cidr), total, _segments(parts, total))


def _addr_key(addresses: list[str]) -> str:
    """Numeric sort key of the first address: IPv4 before IPv6, fixed width."""
    if not addresses:
        return "9"
    ip = netaddr.IPAddress(addresses[0])
    return f"4{int(ip):08x}" if ip.version == 4 else f"6{int(ip):032x}"


def _usage(used: float, capacity: float) -> Usage:
    pct = 100.0 * used / capacity if capacity else (100.0 if used else 0.0)
    return Usage(used, capacity, round(pct, 2), round(min(100.0, pct), 2))


def build(inv: Inventory) -> Report:
    """The figures of the page, from a loaded inventory (pure, deterministic)."""
    c = inv.customer
    used4: dict[str, set[str]] = {n: set() for n in inv.networks}
    used6: dict[str, set[str]] = {n: set() for n in inv.networks}
    on_net: dict[str, set[str]] = {n: set() for n in inv.networks}
    rows: list[MachineRow] = []
    for m in inv.machines.values():
        addrs: list[str] = []
        for nic in m.nics:
            for att in nic.attachments:
                for a, used in ((att.ipv4, used4), (att.ipv6, used6)):
                    if a:
                        addrs.append(a)
                        used[att.network].add(a)
                        on_net[att.network].add(m.name)
        rows.append(
            MachineRow(
                name=m.name,
                kind=m.kind.value,
                state=m.state.value,
                fqdn=inv.fqdn(m),
                addresses=tuple(addrs),
                address_key=_addr_key(addrs),
                macs=tuple(nic.mac for nic in m.nics),
                tags=m.tags,
                roles=m.roles,
                hypervisor=m.hypervisor or "",
                cores=m.cores,
                memory_mib=m.memory_mib,
            )
        )
    networks = []
    for name in sorted(inv.networks):
        net = inv.networks[name]
        fams = []
        if net.ipv4:
            fams.append(_family(4, net.ipv4, net, used4[name]))
        if net.ipv6:
            fams.append(_family(6, net.ipv6, net, used6[name]))
        networks.append(
            NetworkRow(
                name, net.domain, net.gateway4, net.gateway6, net.bridge, tuple(fams), len(on_net[name])
            )
        )
    hvs = []
    for hv in inv.machines.values():
        if "hypervisor" not in hv.roles:
            continue
        mine = sorted(inv.vms_on(hv.name), key=lambda v: v.name)
        u = capacity.of(inv, hv)
        hvs.append(
            HypervisorRow(
                name=hv.name,
                state=hv.state.value,
                cores=hv.cores,
                memory_mib=hv.memory_mib,
                cpu=_usage(u.cores, u.cores_allowed),
                memory=_usage(u.memory_mib, u.memory_allowed_mib),
                vms=tuple((v.name, v.state.value) for v in mine),
            )
        )
    counts = {s: 0 for s in State}
    for m in inv.machines.values():
        counts[m.state] += 1
    total = max(1, len(inv.machines))
    states = tuple((s.value, counts[s], round(100.0 * counts[s] / total, 4)) for s in State)
    return Report(
        customer=c.name,
        domain=c.domain,
        cpu_overcommit=c.cpu_overcommit,
        memory_overcommit=c.memory_overcommit,
        delivery=c.delivery.mode,
        networks=tuple(networks),
        machines=tuple(rows),
        hypervisors=tuple(hvs),
        lifecycle=states,
    )


def _big(n: int) -> str:
    """Address counts: exact up to a million, powers of two beyond (an IPv6 /64 is 2^64)."""
    if n < 1_000_000:
        return f"{n:,}"
    if n & (n - 1) == 0:
        return f"2^{n.bit_length() - 1}"
    return f"≈2^{math.log2(n):.4g}"


def _ratio(x: float) -> str:
    return f"{x:g}"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["mib"] = format_mib
    env.filters["big"] = _big
    env.filters["ratio"] = _ratio
    return env


def render(inv: Inventory) -> str:
    """The report page of ``inv`` (HTML, self-contained)."""
    return render_report(build(inv))


def render_report(report: Report) -> str:
    template = environment().get_template("report.html.j2")
    return template.render(
        r=report,
        delivered=sorted(s.value for s in lifecycle.DELIVERED),
        uses_capacity=sorted(s.value for s in lifecycle.USES_CAPACITY),
    )
