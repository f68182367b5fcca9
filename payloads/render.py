"""Render every file a machine needs from the resolved inventory.

Data shared between machines (DHCP reservations, DNS zones, VMs per hypervisor)
is computed once per inventory in a :class:`_Context`; ``render_customer``
reuses one context for all machines, ``render_machine`` caches the last one.
"""

from __future__ import annotations

import gc
import hashlib
import json
import shlex
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from inventory import lifecycle
from inventory.model import Inventory, Machine, Network, Nic, State

from . import _net, provision
from ._env import render
from .types import MachinePayload, PayloadFile

MANIFEST_DIR = "/etc/uniform/manifest.d/"  # one <group>.json per delivery group
LIBVIRT_DIR = "/etc/uniform/libvirt"
IMAGES_DIR = "/var/lib/libvirt/images"
BIND_DIR = "/etc/bind/uniform"
#: XML namespace of the <metadata> element marking libvirt domains as managed by uniform
LIBVIRT_NS = "http://uniform.invalid/xmlns/vm/1"
#: DNS timings (seconds) rendered into every bind zone
ZONE_TTL = 3600
ZONE_TIMERS = "3600 900 1209600 300"  # refresh retry expire negative-ttl
#: DHCP lease time (seconds) for Kea, matches dnsmasq's 12h
LEASE_SECONDS = 43200


# --------------------------------------------------------------------------- shared per inventory


@dataclass
class _Context:
    inv: Inventory
    _cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def cached(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        try:
            return self._cache[key]
        except KeyError:
            value = self._cache[key] = build()
            return value

    def vms_on(self, hypervisor: str) -> list[Machine]:
        by_hv: dict[str, list[Machine]] = self.cached(("vms",), self._vms_by_hypervisor)
        return by_hv.get(hypervisor, [])

    def _vms_by_hypervisor(self) -> dict[str, list[Machine]]:
        out: dict[str, list[Machine]] = {}
        for m in self.inv.machines.values():
            if m.hypervisor is not None:
                out.setdefault(m.hypervisor, []).append(m)
        for vms in out.values():
            vms.sort(key=lambda m: m.name)
        return out


_last: tuple[weakref.ref[Inventory], _Context] | None = None


def _context(inv: Inventory) -> _Context:
    global _last
    if _last is not None and _last[0]() is inv:
        return _last[1]
    ctx = _Context(inv)
    _last = (weakref.ref(inv), ctx)
    return ctx


# --------------------------------------------------------------------------- entry points


def render_machine(inv: Inventory, machine: Machine) -> MachinePayload:
    """Every file ``machine`` receives (whatever its state; see :func:`render_customer`)."""
    return _render(_context(inv), machine)


def render_customer(inv: Inventory) -> dict[str, MachinePayload]:
    """Payloads of the machines whose state is delivered (lifecycle.delivered), sorted by name."""
    ctx = _Context(inv)
    # Rendering allocates ~10 strings per file and no garbage cycles worth collecting; the
    # cyclic GC's passes over the growing heap cost ~20 % at 10,000 machines, so pause it.
    paused = gc.isenabled()
    gc.disable()
    try:
        return {
            name: _render(ctx, inv.machines[name])
            for name in sorted(inv.machines)
            if lifecycle.delivered(inv.machines[name].state)
        }
    finally:
        if paused:
            gc.enable()


def _render(ctx: _Context, m: Machine) -> MachinePayload:
    groups: dict[str, list[PayloadFile]] = {"base": list(_base_files(ctx, m))}
    if "dhcp" in m.roles:
        groups["dhcp"] = [replace(f, group="dhcp") for f in _dhcp_files(ctx, m)]
    if "dns" in m.roles:
        groups["dns"] = [replace(f, group="dns") for f in _dns_files(ctx, m)]
    if "hypervisor" in m.roles:
        groups["hypervisor"] = [replace(f, group="hypervisor") for f in _hypervisor_files(ctx, m)]
    files: list[PayloadFile] = []
    for group, members in groups.items():
        members.sort(key=lambda f: f.path)
        files.extend(members)
        files.append(PayloadFile(f"{MANIFEST_DIR}{group}.json", _manifest(m.name, members), group=group))
    files.sort(key=lambda f: f.path)
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        dup = sorted({p for p in paths if paths.count(p) > 1})
        raise ValueError(f"machine {m.name}: more than one file for {', '.join(dup)}")
    return MachinePayload(m.name, tuple(files))


_dumps = json.encoder.encode_basestring_ascii


def _manifest(machine: str, files: list[PayloadFile]) -> str:
    """The manifest JSON, byte-identical to ``json.dumps(obj, indent=2, sort_keys=True) + "\\n"`` of
    ``{"machine": ..., "files": [{"mode", "path", "reload", "sha256"}, ...]}`` but written
    directly: the stdlib's indenting encoder is pure Python and was half the render time."""
    entries = [
        "    {\n"
        f'      "mode": "{f.mode:04o}",\n'
        f'      "path": {_dumps(f.path)},\n'
        f'      "reload": {_dumps(f.reload) if f.reload is not None else "null"},\n'
        f'      "sha256": "{f.sha256}"\n'
        "    }"
        for f in files
    ]
    body = "[\n" + ",\n".join(entries) + "\n  ]" if entries else "[]"
    return f'{{\n  "files": {body},\n  "machine": {_dumps(machine)}\n}}\n'


# --------------------------------------------------------------------------- every machine


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


def _base_files(ctx: _Context, m: Machine) -> list[PayloadFile]:
    inv = ctx.inv
    fqdn = inv.fqdn(m)
    primary: list[str] = []
    if m.nics and m.nics[0].attachments:
        att = m.nics[0].attachments[0]
        primary = [a for a in (att.ipv4, att.ipv6) if a]
    files = [
        PayloadFile("/etc/hostname", render("hostname.j2", name=m.name), reload="hostname"),
        PayloadFile(
            "/etc/hosts", render("hosts.j2", name=m.name, fqdn=fqdn, addresses=primary or ["127.0.1.1"])
        ),
    ]
    for nic in m.nics:
        files.extend(_networkd_files(inv, m, nic))
    ssh = inv.customer.ssh
    if any("\n" in k or "\r" in k for k in ssh.authorized_keys):
        raise ValueError("ssh.authorized_keys: a key contains a line break")
    home = "/root" if ssh.user == "root" else f"/home/{ssh.user}"
    files.append(
        ctx.cached(
            ("authorized_keys",),
            lambda: PayloadFile(
                f"{home}/.ssh/authorized_keys",
                render("authorized_keys.j2", keys=sorted(ssh.authorized_keys)),
                mode=0o600,
            ),
        )
    )
    return files


def _networkd_files(inv: Inventory, m: Machine, nic: Nic) -> list[PayloadFile]:
    nets = [inv.networks[a.network] for a in nic.attachments]
    addresses, gateways, dns, domain_list, mtu, static6 = provision.nic_settings(inv, nic)
    domains = domain_list
    link = PayloadFile(
        f"/etc/systemd/network/10-{nic.name}.link",
        render("link.j2", mac=nic.mac, nic=nic.name, mtu=mtu),
        reload="networkd",
    )
    # A hypervisor's NIC on a (single) bridged network becomes a port of that bridge; the
    # bridge carries the host's addresses, and VMs' <source bridge=...> attach to it.
    bridge = nets[0].bridge if len(nets) == 1 and "hypervisor" in m.roles else None
    if not bridge:
        return [
            link,
            PayloadFile(
                f"/etc/systemd/network/10-{nic.name}.network",
                render(
                    "network.j2",
                    mac=nic.mac,
                    ifname=nic.name,
                    kind=None,
                    mtu=mtu,
                    bridge=None,
                    addresses=addresses,
                    gateways=gateways,
                    dns=dns,
                    domains=" ".join(domains),
                    static6=static6,
                ),
                reload="networkd",
            ),
        ]
    common = dict(addresses=addresses, gateways=gateways, dns=dns, domains=" ".join(domains), static6=static6)
    return [
        link,
        PayloadFile(
            f"/etc/systemd/network/10-{nic.name}.network",
            render("network.j2", mac=nic.mac, ifname=nic.name, kind=None, mtu=mtu, bridge=bridge, **common),
            reload="networkd",
        ),
        PayloadFile(
            f"/etc/systemd/network/20-{bridge}.netdev",
            render("netdev.j2", bridge=bridge, mtu=mtu),
            reload="networkd",
        ),
        PayloadFile(
            f"/etc/systemd/network/20-{bridge}.network",
            render("network.j2", mac=None, ifname=bridge, kind="bridge", mtu=mtu, bridge=None, **common),
            reload="networkd",
        ),
    ]


# --------------------------------------------------------------------------- DHCP


@dataclass(frozen=True)
class _Host:
    mac: str
    ipv4: str | None
    ipv6: str | None
    name: str


def _dhcp_hosts(ctx: _Context) -> dict[str, list[_Host]]:
    """network name -> reservations of machines in a DHCP state, sorted by address."""

    def build() -> dict[str, list[_Host]]:
        out: dict[str, list[_Host]] = {n: [] for n in ctx.inv.networks}
        for m in ctx.inv.machines.values():
            if not lifecycle.in_dhcp(m.state):
                continue
            for nic in m.nics:
                for att in nic.attachments:
                    if att.ipv4 or att.ipv6:
                        out[att.network].append(_Host(nic.mac, att.ipv4, att.ipv6, m.name))

        def key(h: _Host) -> tuple[tuple[int, int], str, str]:
            return (_net.sort_key(h.ipv4 or h.ipv6 or "0.0.0.0"), h.name, h.mac)

        for hosts in out.values():
            hosts.sort(key=key)
        return out

    result: dict[str, list[_Host]] = ctx.cached(("dhcp-hosts",), build)
    return result


def _dhcp_files(ctx: _Context, m: Machine) -> list[PayloadFile]:
    flavour = ctx.inv.customer.services.dhcp
    netboot: list[PayloadFile] = ctx.cached(("netboot",), lambda: provision.netboot_files(ctx.inv))
    if flavour == "dnsmasq":
        no_dns = not ("dns" in m.roles and ctx.inv.customer.services.dns == "dnsmasq")
        return [ctx.cached(("dnsmasq-dhcp", no_dns), lambda: _dnsmasq_dhcp(ctx, no_dns)), *netboot]
    if flavour == "kea":
        return [*ctx.cached(("kea",), lambda: _kea(ctx)), *netboot]
    raise ValueError(f"unknown DHCP service {flavour!r} (expected dnsmasq or kea)")


def _dnsmasq_dhcp(ctx: _Context, no_dns: bool) -> PayloadFile:
    inv = ctx.inv
    hosts = _dhcp_hosts(ctx)
    networks = []
    for name in sorted(inv.networks):
        net = inv.networks[name]
        networks.append(
            {
                "name": name,
                "tag": name,
                "domain": net.domain,
                "ipv4": net.ipv4,
                "ipv4_addr": _net.network_address(net.ipv4) if net.ipv4 else None,
                "netmask": _net.netmask(net.ipv4) if net.ipv4 else None,
                "pool": net.dhcp_pool,
                "gateway4": net.gateway4,
                "dns4": [d for d in net.dns_servers if not _net.is_v6(d)],
                "ipv6": net.ipv6,
                "ipv6_addr": _net.network_address(net.ipv6) if net.ipv6 else None,
                "prefix6": _net.prefixlen(net.ipv6) if net.ipv6 else None,
                "dns6": [d for d in net.dns_servers if _net.is_v6(d)],
                "hosts": [
                    _Host(h.mac, h.ipv4 if net.ipv4 else None, h.ipv6 if net.ipv6 else None, h.name)
                    for h in hosts[name]
                ],
            }
        )
    boot = provision.dnsmasq_boot_lines(inv, inv.networks)
    for n in networks:
        n["boot"] = boot.get(str(n["name"]))
    content = render(
        "dnsmasq-dhcp.conf.j2",
        customer=inv.customer.name,
        no_dns=no_dns,
        networks=networks,
        tftp_root=provision.TFTP_ROOT if boot else None,
    )
    return PayloadFile("/etc/dnsmasq.d/uniform-dhcp.conf", content, reload="dnsmasq")


def _subnet_ids(names: list[str]) -> dict[str, int]:
    """Stable Kea subnet ids: from a hash of the network name, so adding a network moves no other."""
    ids: dict[str, int] = {}
    used: set[int] = set()
    for name in sorted(names):
        n = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") % 0x7FFFFFFE + 1
        while n in used:
            n = n % 0x7FFFFFFE + 1
        used.add(n)
        ids[name] = n
    return ids


def _kea(ctx: _Context) -> tuple[PayloadFile, PayloadFile]:
    inv = ctx.inv
    hosts = _dhcp_hosts(ctx)
    ids = _subnet_ids(list(inv.networks))
    boot = provision.netboot_networks(inv)
    # all interfaces: Kea picks a directly connected client's subnet by the receiving
    # interface's address, and kea-dhcp -t rejects interfaces absent from the test host
    iface_cfg = {"interfaces": ["*"]}
    subnets4: list[dict[str, Any]] = []
    subnets6: list[dict[str, Any]] = []
    for name in sorted(inv.networks):
        net = inv.networks[name]
        if net.ipv4:
            opts = [{"name": "domain-name", "data": net.domain}]
            if net.gateway4:
                opts.append({"name": "routers", "data": net.gateway4})
            dns4 = [d for d in net.dns_servers if not _net.is_v6(d)]
            if dns4:
                opts.append({"name": "domain-name-servers", "data": ", ".join(dns4)})
            seen: set[str] = set()
            res4 = _Reservations()
            for h in hosts[name]:
                if h.ipv4 and h.mac not in seen:
                    seen.add(h.mac)
                    res4.append(
                        f'{{"hostname": {_dumps(h.name)}, "hw-address": "{h.mac}", "ip-address": "{h.ipv4}"}}'
                    )
            s4: dict[str, Any] = {
                "id": ids[name],
                "subnet": net.ipv4,
                "option-data": sorted(opts, key=lambda o: o["name"]),
                "reservations": res4,
                "user-context": {"network": name},
            }
            if name in boot:
                s4["next-server"], s4["boot-file-name"] = boot[name]
            if net.dhcp_pool:
                s4["pools"] = [{"pool": f"{net.dhcp_pool[0]} - {net.dhcp_pool[1]}"}]
            subnets4.append(s4)
        if net.ipv6:
            opts6 = [{"name": "domain-search", "data": net.domain}]
            dns6 = [d for d in net.dns_servers if _net.is_v6(d)]
            if dns6:
                opts6.append({"name": "dns-servers", "data": ", ".join(dns6)})
            seen6: set[str] = set()
            res6 = _Reservations()
            for h in hosts[name]:
                if h.ipv6 and h.mac not in seen6:
                    seen6.add(h.mac)
                    name_json = _dumps(h.name)
                    res6.append(
                        f'{{"hostname": {name_json}, "hw-address": "{h.mac}", "ip-addresses": ["{h.ipv6}"]}}'
                    )
            subnets6.append(
                {
                    "id": ids[name],
                    "subnet": net.ipv6,
                    "option-data": sorted(opts6, key=lambda o: o["name"]),
                    "reservations": res6,
                    "user-context": {"network": name},
                }
            )
    comment = f"Generated by uniform (payloads) for customer {inv.customer.name} - do not edit."
    v4 = {
        "Dhcp4": {
            "comment": comment,
            "interfaces-config": iface_cfg,
            "lease-database": {"type": "memfile", "persist": True, "name": "/var/lib/kea/kea-leases4.csv"},
            "valid-lifetime": LEASE_SECONDS,
            "host-reservation-identifiers": ["hw-address"],
            "subnet4": subnets4,
            "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "syslog"}], "severity": "INFO"}],
        }
    }
    v6 = {
        "Dhcp6": {
            "comment": comment,
            "interfaces-config": iface_cfg,
            "lease-database": {"type": "memfile", "persist": True, "name": "/var/lib/kea/kea-leases6.csv"},
            "preferred-lifetime": LEASE_SECONDS // 2,
            "valid-lifetime": LEASE_SECONDS,
            # reservations are keyed by MAC: Kea learns it from the DUID, link-local address or relay
            "host-reservation-identifiers": ["hw-address", "duid"],
            "mac-sources": ["any"],
            "subnet6": subnets6,
            "loggers": [{"name": "kea-dhcp6", "output_options": [{"output": "syslog"}], "severity": "INFO"}],
        }
    }
    return (
        PayloadFile("/etc/kea/kea-dhcp4.conf", _json(v4), reload="kea-dhcp4"),
        PayloadFile("/etc/kea/kea-dhcp6.conf", _json(v6), reload="kea-dhcp6"),
    )


class _Reservations(list[str]):
    """Kea reservations, each already encoded as one compact JSON object (keys sorted)."""


def _json(obj: Any) -> str:
    """``json.dumps(obj, indent=2, sort_keys=True)``, except that :class:`_Reservations` lists are
    written one reservation per line: reviewable diffs, and it keeps the stdlib's slow
    pure-Python indenting encoder away from the ten thousand reservations."""
    compact: list[_Reservations] = []

    def strip(o: Any) -> Any:
        if isinstance(o, _Reservations):
            if not o:
                return []
            compact.append(o)
            return f"\0{len(compact) - 1}\0"
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items()}
        if isinstance(o, list):
            return [strip(v) for v in o]
        return o

    text = json.dumps(strip(obj), indent=2, sort_keys=True) + "\n"
    if not compact:
        return text
    lines = []
    for line in text.split("\n"):
        if '"\\u0000' in line:
            indent = line[: len(line) - len(line.lstrip())]
            key, _, rest = line.strip().partition(": ")
            i = int(rest.split("\\u0000")[1])
            inner = ",\n".join(indent + "  " + r for r in compact[i])
            comma = "," if rest.endswith(",") else ""
            lines.append(f"{indent}{key}: [\n{inner}\n{indent}]{comma}")
        else:
            lines.append(line)
    return "\n".join(lines)


# --------------------------------------------------------------------------- DNS


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


def _dns_records(ctx: _Context) -> list[tuple[Machine, Network, str]]:
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
    return list(_bind_zones(_context(inv)))


def _name_servers(inv: Inventory) -> list[str]:
    servers = [m for m in inv.with_role("dns") if lifecycle.in_dns(m.state)] or inv.with_role("dns")
    names = sorted(inv.fqdn(m) + "." for m in servers)
    return names or [f"ns.{inv.customer.domain}."]


def _bind_zones(ctx: _Context) -> tuple[Zone, ...]:
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
        rname = f"hostmaster.{inv.customer.domain}."
        head = f"$TTL {ZONE_TTL}"
        zones = []
        for name in sorted(records):
            body = [f"@\tIN\tNS\t{n}" for n in ns]
            body.extend(line for _, line in sorted(set(records[name])))
            serial = zone_serial([head, ns[0], rname, ZONE_TIMERS, *body])
            content = render(
                "zone.j2",
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


def _dns_files(ctx: _Context, m: Machine) -> list[PayloadFile]:
    flavour = ctx.inv.customer.services.dns
    if flavour == "bind":
        return list(ctx.cached(("bind-files",), lambda: _bind_files(ctx)))
    if flavour == "dnsmasq":
        return [ctx.cached(("dnsmasq-dns",), lambda: _dnsmasq_dns(ctx))]
    raise ValueError(f"unknown DNS service {flavour!r} (expected bind or dnsmasq)")


def _bind_files(ctx: _Context) -> tuple[PayloadFile, ...]:
    zones = _bind_zones(ctx)
    conf = render("named.conf.uniform.j2", zones=[{"name": z.name, "file": z.path} for z in zones])
    files = [PayloadFile(f"{BIND_DIR}/named.conf.uniform", conf, reload="bind")]
    files.extend(PayloadFile(z.path, z.content, reload="bind") for z in zones)
    return tuple(files)


def _dnsmasq_dns(ctx: _Context) -> PayloadFile:
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
        "dnsmasq-dns.conf.j2",
        customer=inv.customer.name,
        domains=[{"name": d, "prefixes": sorted(set(p))} for d, p in sorted(domains.items())],
        records=records,
    )
    return PayloadFile("/etc/dnsmasq.d/uniform-dns.conf", content, reload="dnsmasq")


# --------------------------------------------------------------------------- hypervisor


def vm_uuid(customer: str, vm: str) -> str:
    """The libvirt UUID of a VM: uuid5 of uniform://<customer>/<vm>, stable across renders."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"uniform://{customer}/{vm}"))


def _disk_dev(i: int) -> str:
    letters = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        letters = chr(ord("a") + r) + letters
    return "vd" + letters


# template inputs are NamedTuples rather than dicts: Jinja resolves ``x.attr`` by getattr first


class _VmDisk(NamedTuple):
    path: str
    qpath: str
    dev: str
    size_gib: int
    backing: str | None = None  # shell-quoted base image (the first disk, when the customer has one)


class _VmNic(NamedTuple):
    mac: str
    bridge: str | None
    network: str


class _VmRun(NamedTuple):
    name: str
    run: bool


def _hypervisor_files(ctx: _Context, hv: Machine) -> list[PayloadFile]:
    inv = ctx.inv
    vms = [vm for vm in ctx.vms_on(hv.name) if lifecycle.on_hypervisor(vm.state)]
    files: list[PayloadFile] = []
    base = provision.base_image_path(inv, IMAGES_DIR)
    for vm in vms:
        disks = [
            _VmDisk(
                path=f"{IMAGES_DIR}/{vm.name}-{d.name}.qcow2",
                qpath=shlex.quote(f"{IMAGES_DIR}/{vm.name}-{d.name}.qcow2"),
                dev=_disk_dev(i),
                size_gib=d.size_gib,
                backing=shlex.quote(base) if base and i == 0 else None,
            )
            for i, d in enumerate(vm.disks)
        ]
        # a staged VM gets its cloud-init seed (files + ISO + cdrom); any other state loses it
        seeded = provision.provisioned(vm)
        seed_dir = f"{LIBVIRT_DIR}/{vm.name}.seed"
        seed_iso = f"{IMAGES_DIR}/{vm.name}-seed.iso"
        if seeded:
            files.extend(provision.seed_files(inv, vm, seed_dir, vm_uuid(inv.customer.name, vm.name)))
        interfaces = []
        for nic in vm.nics:
            net = inv.networks[nic.attachments[0].network] if nic.attachments else None
            interfaces.append(
                _VmNic(
                    mac=nic.mac, bridge=net.bridge if net else None, network=net.name if net else "default"
                )
            )
        xml = render(
            "domain.xml.j2",
            name=vm.name,
            uuid=vm_uuid(inv.customer.name, vm.name),
            title=f"{inv.customer.name}/{vm.name}",
            ns=LIBVIRT_NS,
            customer=inv.customer.name,
            state=vm.state.value,
            memory_kib=vm.memory_mib * 1024,
            vcpu=vm.cores,
            disks=disks,
            interfaces=interfaces,
            seed_iso=seed_iso if seeded else None,
        )
        files.append(PayloadFile(f"{LIBVIRT_DIR}/{vm.name}.xml", xml, reload="libvirt"))
        files.append(
            PayloadFile(
                f"{LIBVIRT_DIR}/{vm.name}.disks.sh",
                render(
                    "disks.sh.j2",
                    name=vm.name,
                    disks=disks,
                    seed_dir=shlex.quote(seed_dir) if seeded else None,
                    seed_iso=shlex.quote(seed_iso),
                ),
                mode=0o755,
                reload="libvirt",
            )
        )
    apply = render(
        "apply.sh.j2",
        ns=LIBVIRT_NS,
        wanted=[vm.name for vm in vms],
        vms=[_VmRun(vm.name, vm.state in (State.STAGED, State.ACTIVE)) for vm in vms],
    )
    files.append(PayloadFile(f"{LIBVIRT_DIR}/apply.sh", apply, mode=0o755, reload="libvirt"))
    return files
