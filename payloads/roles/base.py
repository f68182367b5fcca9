"""The machine's own files ("base" group): hostname, hosts, systemd-networkd, SSH keys.

Not a role: every delivered machine gets this group.
"""

from __future__ import annotations

from inventory.model import Inventory, Machine, Nic

from .. import provision
from .._env import render
from ..context import Context
from ..types import PayloadFile
from ._group import Group

__all__ = ["GROUP", "interface"]


def _base_files(ctx: Context, m: Machine) -> list[PayloadFile]:
    inv = ctx.inv
    fqdn = inv.fqdn(m)
    primary: list[str] = []
    if m.nics and m.nics[0].attachments:
        att = m.nics[0].attachments[0]
        primary = [a for a in (att.ipv4, att.ipv6) if a]
    files = [
        PayloadFile("/etc/hostname", render("base/hostname.j2", name=m.name), reload="hostname"),
        PayloadFile(
            "/etc/hosts", render("base/hosts.j2", name=m.name, fqdn=fqdn, addresses=primary or ["127.0.1.1"])
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


def _bridge(inv: Inventory, m: Machine, nic: Nic) -> str | None:
    """A hypervisor's NIC on a (single) bridged network becomes a port of that bridge; the
    bridge carries the host's addresses, and VMs' <source bridge=...> attach to it."""
    nets = [inv.networks[a.network] for a in nic.attachments]
    return nets[0].bridge if len(nets) == 1 and "hypervisor" in m.roles else None


def interface(inv: Inventory, m: Machine, nic: Nic) -> str:
    """The interface that carries ``nic``'s addresses once its networkd files apply: the NIC
    (named by its .link), or the bridge it is a port of."""
    return _bridge(inv, m, nic) or nic.name


def _networkd_files(inv: Inventory, m: Machine, nic: Nic) -> list[PayloadFile]:
    addresses, gateways, dns, domain_list, mtu, static6 = provision.nic_settings(inv, nic)
    domains = domain_list
    link = PayloadFile(
        f"/etc/systemd/network/10-{nic.name}.link",
        render("base/link.j2", mac=nic.mac, nic=nic.name, mtu=mtu),
        reload="networkd",
    )
    bridge = _bridge(inv, m, nic)
    if not bridge:
        return [
            link,
            PayloadFile(
                f"/etc/systemd/network/10-{nic.name}.network",
                render(
                    "base/network.j2",
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
            render(
                "base/network.j2", mac=nic.mac, ifname=nic.name, kind=None, mtu=mtu, bridge=bridge, **common
            ),
            reload="networkd",
        ),
        PayloadFile(
            f"/etc/systemd/network/20-{bridge}.netdev",
            render("base/netdev.j2", bridge=bridge, mtu=mtu),
            reload="networkd",
        ),
        PayloadFile(
            f"/etc/systemd/network/20-{bridge}.network",
            render("base/network.j2", mac=None, ifname=bridge, kind="bridge", mtu=mtu, bridge=None, **common),
            reload="networkd",
        ),
    ]


GROUP = Group(
    name="base",
    files=_base_files,
    reloads={
        # guarded: the reload also runs after the file was deleted (decommissioning)
        "hostname": "[ ! -e /etc/hostname ] || hostname -F /etc/hostname",
        # .link changes are applied by udev on the next (re)plug; .network/.netdev by networkd reload
        "networkd": "udevadm control --reload && networkctl reload",
    },
)
