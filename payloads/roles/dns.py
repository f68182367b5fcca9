"""Role ``dns``: BIND zones or a dnsmasq host list for every machine in a DNS state.

The flavour is the customer's ``services.dns``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from inventory import lifecycle
from inventory.model import Inventory, Machine, Network

from .. import _net
from .._env import render
from ..context import Context, context
from ..types import PayloadFile
from ._group import Role

__all__ = ["BIND_DIR", "ROLE", "ZONE_TIMERS", "ZONE_TTL", "Zone", "bind_zones", "zone_serial"]

BIND_DIR = "/etc/bind/uniform"
#: DNS timings (seconds) rendered into every bind zone
ZONE_TTL = 3600
ZONE_TIMERS = "3600 900 1209600 300"  # refresh retry expire negative-ttl


def _addresses(inv: Inventory, m: Machine) -> list[tuple[Network, str]]:
    """(network, address) of every attachment address, in NIC/attachment order, v4 before v6."""
    out: list[tuple[Network, str]] = []
    for nic in m.nics:
        for att in nic.attachments:
            net = inv.networks[att.network]
            if att.ipv4:
                out.append((net, att.ipv4))
            if att.ipv6:
                out.append((net, att.ipv6))
    return out


@dataclass(frozen=True)
class Zone:
    name: str
    serial: int
    content: str

    @property
    def path(self) -> str:
        return f"{BIND_DIR}/db.{self.name}"


def zone_serial(lines: list[str]) -> int:
    """SOA serial from the zone's content: 1..2**31-1, changes iff the content changes."""
    digest = hashlib.sha256("\n".join(lines).encode()).digest()
    return int.from_bytes(digest[:4], "big") % 0x7FFFFFFF + 1


def _dns_records(ctx: Context) -> list[tuple[Machine, Network, str]]:
    """(machine, network, address) for every address of a machine in a DNS state."""

    def build() -> list[tuple[Machine, Network, str]]:
        out: list[tuple[Machine, Network, str]] = []
        for m in ctx.inv.machines.values():
            if lifecycle.in_dns(m.state):
                out.extend((m, net, a) for net, a in _addresses(ctx.inv, m))
        return out

    result: list[tuple[Machine, Network, str]] = ctx.cached(("dns-records",), build)
    return result


def bind_zones(inv: Inventory) -> list[Zone]:
    """Every zone the bind DNS servers of ``inv`` serve, sorted by name."""
    return list(_bind_zones(context(inv)))


def _name_servers(inv: Inventory) -> list[str]:
    servers = [m for m in inv.with_role("dns") if lifecycle.in_dns(m.state)] or inv.with_role("dns")
    names = sorted(inv.fqdn(m) + "." for m in servers)
    return names or [f"ns.{inv.customer.domain}."]


def _glue(ctx: Context, ns: list[str], records: dict[str, list[tuple[int, str]]]) -> None:
    """A name server whose name lies inside a forward zone but belongs to a more specific one
    (``hv1.lan.acme.example`` in zone ``acme.example`` when network lan has domain
    ``lan.acme.example``) gets its address records in that zone too: named refuses to load a
    zone whose in-zone NS has no address ("NS ... has no address records")."""
    fqdns = {f"{m.name}.{net.domain}.": (m.name, net.domain) for m, net, _ in _dns_records(ctx)}
    for n in ns:
        if n not in fqdns:
            continue
        host, home = fqdns[n]
        own = [(k, line) for k, line in records.get(home, []) if line.split("\t", 1)[0] == host]
        for zone in records:
            if zone == home or zone.endswith(".arpa"):
                continue
            if n == f"{zone}.":  # the server is named like the zone: its apex
                rel = "@"
            elif n.endswith(f".{zone}."):
                rel = n[: -len(zone) - 2]
            else:
                continue
            records[zone].extend((k, rel + line[len(host) :]) for k, line in own)


def _bind_zones(ctx: Context) -> tuple[Zone, ...]:
    def build() -> tuple[Zone, ...]:
        inv = ctx.inv
        records: dict[str, list[tuple[int, str]]] = {}
        for net in inv.networks.values():
            records.setdefault(net.domain, [])
            for prefix in (net.ipv4, net.ipv6):
                if prefix:
                    records.setdefault(_net.reverse_zone(prefix), [])
        for m, net, addr in _dns_records(ctx):
            version, value = _net.sort_key(addr)
            key = value | (1 << 128) if version == 6 else value  # v4 before v6, numerically
            rtype = "AAAA" if version == 6 else "A"
            records[net.domain].append((key, f"{m.name}\tIN\t{rtype}\t{addr}"))
            prefix = net.ipv6 if version == 6 else net.ipv4
            if prefix:
                rz = _net.reverse_zone(prefix)
                owner = _net.reverse_pointer(addr)[: -len(rz) - 1]
                records[rz].append((key, f"{owner}\tIN\tPTR\t{m.name}.{net.domain}."))
        ns = _name_servers(inv)
        _glue(ctx, ns, records)
        rname = f"hostmaster.{inv.customer.domain}."
        head = f"$TTL {ZONE_TTL}"
        zones = []
        for name in sorted(records):
            body = [f"@\tIN\tNS\t{n}" for n in ns]
            body.extend(line for _, line in sorted(set(records[name])))
            serial = zone_serial([head, ns[0], rname, ZONE_TIMERS, *body])
            content = render(
                "dns/zone.j2",
                zone=name,
                head=head,
                mname=ns[0],
                rname=rname,
                serial=serial,
                timers=ZONE_TIMERS,
                body=body,
            )
            zones.append(Zone(name, serial, content))
        return tuple(zones)

    result: tuple[Zone, ...] = ctx.cached(("bind-zones",), build)
    return result


def _dns_files(ctx: Context, m: Machine) -> list[PayloadFile]:
    flavour = ctx.inv.customer.services.dns
    if flavour == "bind":
        return list(ctx.cached(("bind-files",), lambda: _bind_files(ctx)))
    if flavour == "dnsmasq":
        return [ctx.cached(("dnsmasq-dns",), lambda: _dnsmasq_dns(ctx))]
    raise ValueError(f"unknown DNS service {flavour!r} (expected bind or dnsmasq)")


def _bind_files(ctx: Context) -> tuple[PayloadFile, ...]:
    zones = _bind_zones(ctx)
    conf = render("dns/named.conf.uniform.j2", zones=[{"name": z.name, "file": z.path} for z in zones])
    files = [PayloadFile(f"{BIND_DIR}/named.conf.uniform", conf, reload="bind")]
    files.extend(PayloadFile(z.path, z.content, reload="bind") for z in zones)
    return tuple(files)


def _dnsmasq_dns(ctx: Context) -> PayloadFile:
    inv = ctx.inv
    domains: dict[str, list[str]] = {}
    for name in sorted(inv.networks):
        net = inv.networks[name]
        domains.setdefault(net.domain, []).extend(p for p in (net.ipv4, net.ipv6) if p)
    # one host-record per (machine, domain) with its v4 and v6 address; the short name
    # goes with the machine's own FQDN only
    per_name: dict[str, tuple[Machine, list[str]]] = {}
    for m, net, addr in _dns_records(ctx):
        per_name.setdefault(f"{m.name}.{net.domain}", (m, []))[1].append(addr)
    records = []
    for fqdn in sorted(per_name):
        m, addrs = per_name[fqdn]
        names = [fqdn, m.name] if fqdn == inv.fqdn(m) else [fqdn]
        v4 = sorted((a for a in addrs if not _net.is_v6(a)), key=_net.sort_key)
        v6 = sorted((a for a in addrs if _net.is_v6(a)), key=_net.sort_key)
        # host-record takes at most one address of each family
        records.append(",".join(names + v4[:1] + v6[:1]))
    content = render(
        "dns/dnsmasq-dns.conf.j2",
        customer=inv.customer.name,
        domains=[{"name": d, "prefixes": sorted(set(p))} for d, p in sorted(domains.items())],
        records=records,
    )
    return PayloadFile("/etc/dnsmasq.d/uniform-dns.conf", content, reload="dnsmasq")


ROLE = Role(
    name="dns",
    component="uniform:services:DnsServer",
    files=_dns_files,
    reloads={
        # the same daemon as dhcp's dnsmasq, so the same command (the registry checks they agree)
        "dnsmasq": "systemctl restart dnsmasq",
        "bind": (
            "grep -qxF 'include \"/etc/bind/uniform/named.conf.uniform\";' /etc/bind/named.conf.local"
            " || echo 'include \"/etc/bind/uniform/named.conf.uniform\";' >> /etc/bind/named.conf.local;"
            " named-checkconf -z /etc/bind/named.conf && systemctl reload-or-restart named"
        ),
    },
)
