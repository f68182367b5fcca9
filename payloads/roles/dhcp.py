"""Role ``dhcp``: dnsmasq or Kea reservations for every machine in a DHCP state, plus netboot.

The flavour is the customer's ``services.dhcp``.  The netboot files (loader, pxelinux
configs, preseed: payloads/provision.py) travel with the DHCP server that points at them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from inventory import lifecycle
from inventory.model import Machine

from .. import _net, provision
from .._env import render
from ..context import Context
from ..types import PayloadFile
from ._group import Role
from .base import interface

__all__ = ["LEASE_SECONDS", "ROLE"]

#: DHCP lease time (seconds) for Kea, matches dnsmasq's 12h
LEASE_SECONDS = 43200

_dumps = json.encoder.encode_basestring_ascii


@dataclass(frozen=True)
class _Host:
    mac: str
    ipv4: str | None
    ipv6: str | None
    name: str


def _dhcp_hosts(ctx: Context) -> dict[str, list[_Host]]:
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


def _dhcp_files(ctx: Context, m: Machine) -> list[PayloadFile]:
    flavour = ctx.inv.customer.services.dhcp
    netboot: list[PayloadFile] = ctx.cached(("netboot",), lambda: provision.netboot_files(ctx.inv))
    if flavour == "dnsmasq":
        no_dns = not ("dns" in m.roles and ctx.inv.customer.services.dns == "dnsmasq")
        return [ctx.cached(("dnsmasq-dhcp", no_dns), lambda: _dnsmasq_dhcp(ctx, no_dns)), *netboot]
    if flavour == "kea":
        ifaces = _server_interfaces(ctx, m)
        return [*ctx.cached(("kea", ifaces), lambda: _kea(ctx, dict(ifaces))), *netboot]
    raise ValueError(f"unknown DHCP service {flavour!r} (expected dnsmasq or kea)")


def _dnsmasq_dhcp(ctx: Context, no_dns: bool) -> PayloadFile:
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
        "dhcp/dnsmasq-dhcp.conf.j2",
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


def _server_interfaces(ctx: Context, m: Machine) -> tuple[tuple[str, str], ...]:
    """(network, interface) of each network DHCP server ``m`` sits on directly (first NIC wins)."""
    out: dict[str, str] = {}
    for nic in m.nics:
        for att in nic.attachments:
            out.setdefault(att.network, interface(ctx.inv, m, nic))
    return tuple(sorted(out.items()))


def _kea(ctx: Context, ifaces: dict[str, str]) -> tuple[PayloadFile, PayloadFile]:
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
            s6: dict[str, Any] = {
                "id": ids[name],
                "subnet": net.ipv6,
                "option-data": sorted(opts6, key=lambda o: o["name"]),
                "reservations": res6,
                "user-context": {"network": name},
            }
            # Kea selects a directly connected DHCPv6 client's subnet by the receiving interface
            # only (the client asks from its link-local address): without it, every SOLICIT is
            # answered NoAddrsAvail (tests/lab/test_kea_bind_lab.py).  A relayed network has none.
            if name in ifaces:
                s6["interface"] = ifaces[name]
            subnets6.append(s6)
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


ROLE = Role(
    name="dhcp",
    component="uniform:services:DhcpServer",
    files=_dhcp_files,
    reloads={
        # dnsmasq re-reads only its hosts files on SIGHUP, so configuration changes need a restart
        "dnsmasq": "systemctl restart dnsmasq",
        "kea-dhcp4": "kea-dhcp4 -t /etc/kea/kea-dhcp4.conf && systemctl reload-or-restart kea-dhcp4-server",
        "kea-dhcp6": "kea-dhcp6 -t /etc/kea/kea-dhcp6.conf && systemctl reload-or-restart kea-dhcp6-server",
        # netboot loader and installer into the TFTP root (docs/provisioning.md); warns, never fails
        "netboot": "sh /etc/uniform/netboot/install-loader.sh",
    },
)
