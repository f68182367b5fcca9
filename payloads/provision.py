"""Provisioning payloads (docs/provisioning.md): how a staged machine gets installed.

The same end state for both kinds -- an installed OS, reachable by SSH with the
customer's keys, its network configured from the inventory -- by the path that
fits each:

* hardware netboots: the DHCP server's TFTP root holds, per staged hw machine, a
  pxelinux config keyed by its MAC (``pxelinux.cfg/01-<mac-with-dashes>``) that
  starts the Debian installer with a preseed answer file rendered from the
  inventory.  Every other machine finds only ``pxelinux.cfg/default``, which boots
  the local disk: an active machine no longer netboots.
* VMs are seeded: the hypervisor gets, per staged VM, a cloud-init NoCloud seed
  (``meta-data``, ``user-data``, ``network-config`` v2) that its disks script
  builds into an ISO (volume ``cidata``) attached as a read-only virtio disk.  An
  active VM has neither the seed files nor the seed disk.

No passwords anywhere: root's password is locked (preseed) or never set (cloud
images), login is by the customer's public SSH keys only.  The one secret a machine is
handed at install, its SSH host key (made by uniform in Pulumi state unless one is
recorded by hand in ``ssh.host_keys``), is never rendered here: the seed and the preseed
hold placeholders (payloads/secrets.py) that delivery substitutes when it writes them.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from inventory import lifecycle
from inventory.model import Inventory, Kind, Machine, Network, Nic

from . import _net
from ._env import render
from .secrets import host_key_names, placeholder
from .types import PayloadFile

TFTP_ROOT = "/var/lib/tftpboot"
PXELINUX_CFG = f"{TFTP_ROOT}/pxelinux.cfg"
PRESEED_DIR = "uniform/preseed"  # under the TFTP root
NETBOOT_SCRIPT = "/etc/uniform/netboot/install-loader.sh"
#: where install-loader.sh takes the loader and installer from: Debian package
#: debian-installer-12-netboot-amd64 (the netboot tree of the bookworm installer)
NETBOOT_SOURCE = "/usr/lib/debian-installer/images/12/amd64/text"


def provisioned(m: Machine) -> bool:
    """Whether ``m`` gets its boot path now (lifecycle.BOOT_PATH: staged); later states lose it."""
    return lifecycle.boot_path(m.state)


def makes_host_key(inv: Inventory, m: Machine) -> bool:
    """Whether uniform hands ``m`` a host key it made (components/hostkey.py): unless one is
    recorded by hand in ``ssh.host_keys``, which then takes precedence and nothing is handed over."""
    return m.name not in dict(inv.customer.ssh.host_keys)


def host_key_placeholders(m: Machine, encoding: str) -> tuple[str, str]:
    """(private, public) placeholders of ``m``'s host key, substituted at delivery."""
    private, public = host_key_names(m.name)
    return placeholder(private, encoding), placeholder(public, encoding)


def mac_file(mac: str) -> str:
    """pxelinux's per-MAC file name: ARP hardware type 1 + the MAC with dashes."""
    return "01-" + mac.lower().replace(":", "-")


# --------------------------------------------------------------------------- per NIC network settings


class NicSettings(NamedTuple):
    """What a NIC's static configuration says, from the inventory: the same data for networkd
    (every delivered machine), cloud-init network-config (VM seeds) and the installer (hw)."""

    addresses: list[str]  # with prefix length
    gateways: list[str]
    dns: list[str]
    domains: list[str]
    mtu: int | None
    static6: bool


def nic_settings(inv: Inventory, nic: Nic) -> NicSettings:
    nets = [inv.networks[a.network] for a in nic.attachments]
    addresses: list[str] = []
    gateways: list[str] = []
    dns: list[str] = []
    domains: list[str] = []
    for att, net in zip(nic.attachments, nets, strict=True):
        if att.ipv4 and net.ipv4:
            addresses.append(f"{att.ipv4}/{_net.prefixlen(net.ipv4)}")
            if net.gateway4 and net.gateway4 not in gateways:
                gateways.append(net.gateway4)
        if att.ipv6 and net.ipv6:
            addresses.append(f"{att.ipv6}/{_net.prefixlen(net.ipv6)}")
            if net.gateway6 and net.gateway6 not in gateways:
                gateways.append(net.gateway6)
        dns.extend(d for d in net.dns_servers if d not in dns)
        if net.domain not in domains:
            domains.append(net.domain)
    mtus = [n.mtu for n in nets if n.mtu]
    return NicSettings(
        addresses, gateways, dns, domains, max(mtus) if mtus else None, any(a.ipv6 for a in nic.attachments)
    )


# --------------------------------------------------------------------------- netboot (hardware)


def boot_server(inv: Inventory, net: Network) -> str | None:
    """The TFTP server of ``net``: its ``boot_server``, else the IPv4 address on ``net`` of the
    first (by name) delivered DHCP machine that has one; None when netboot is off or no
    server can be named."""
    if not net.boot_filename:
        return None
    if net.boot_server:
        return net.boot_server
    for m in sorted(inv.with_role("dhcp"), key=lambda m: m.name):
        if not lifecycle.delivered(m.state):
            continue
        for nic in m.nics:
            for att in nic.attachments:
                if att.network == net.name and att.ipv4:
                    return att.ipv4
    return None


def netboot_networks(inv: Inventory) -> dict[str, tuple[str, str]]:
    """network name -> (boot server, boot filename) of every network that netboots."""
    out: dict[str, tuple[str, str]] = {}
    for name in sorted(inv.networks):
        net = inv.networks[name]
        server = boot_server(inv, net)
        if server and net.boot_filename:
            out[name] = (server, net.boot_filename)
    return out


class _Install(NamedTuple):
    machine: Machine
    nic: Nic
    network: Network
    server: str
    ipv4: str


def _installs(inv: Inventory) -> list[_Install]:
    """Staged hw machines whose first NIC's first network netboots and gives it an IPv4 address."""
    boot = netboot_networks(inv)
    out = []
    for m in inv.machines.values():
        if m.kind is not Kind.HW or not provisioned(m) or not m.nics or not m.nics[0].attachments:
            continue
        att = m.nics[0].attachments[0]
        if att.network in boot and att.ipv4:
            out.append(_Install(m, m.nics[0], inv.networks[att.network], boot[att.network][0], att.ipv4))
    return sorted(out, key=lambda i: i.machine.name)


def _kernel_args(inv: Inventory, i: _Install) -> str:
    """The installer's command line.  netcfg's answers must be on it: with preseed/url the
    network is configured before the preseed file is fetched."""
    p = inv.customer.provisioning
    net = i.network
    assert net.ipv4 is not None
    args = [
        f"initrd={p.initrd}",
        "auto=true",
        "priority=critical",
        f"preseed/url=tftp://{i.server}/{PRESEED_DIR}/{mac_file(i.nic.mac)}.cfg",
        f"debian-installer/locale={p.locale}",
        f"keyboard-configuration/xkb-keymap={p.keymap}",
        "netcfg/disable_autoconfig=true",
        f"netcfg/get_ipaddress={i.ipv4}",
        f"netcfg/get_netmask={_net.netmask(net.ipv4)}",
    ]
    if net.gateway4:
        args.append(f"netcfg/get_gateway={net.gateway4}")
    else:
        # "none", not an empty value: the installer imports no empty kernel argument
        # (env2debconf), and without an answer netcfg stops at its gateway question
        # (found by a real boot, tests/lab/test_netboot_lab.py)
        args += ["netcfg/get_gateway=none", "netcfg/no_default_route=true"]
    dns4 = [d for d in net.dns_servers if not _net.is_v6(d)]
    if dns4:
        args.append(f"netcfg/get_nameservers={dns4[0]}")
    args += [
        "netcfg/confirm_static=true",
        f"netcfg/get_hostname={i.machine.name}",
        f"netcfg/get_domain={net.domain}",
        f"hostname={i.machine.name}",
        f"domain={net.domain}",
    ]
    if p.console:
        args.append(f"console={p.console}")
    if p.kernel_args:
        args.append(p.kernel_args)
    return " ".join(args)


def pxelinux_serial(console: str | None) -> str | None:
    """pxelinux's ``SERIAL <port> <baud>`` for the kernel's ``console=ttyS<n>[,<baud>...]``, so the
    operator sees the loader on the same serial line (IPMI serial-over-LAN) as the installer;
    the kernel's default speed, 9600, when none is named."""
    if not console:
        return None
    port, _, opts = console.partition(",")
    baud = "".join(itertools.takewhile(str.isdigit, opts))
    return f"SERIAL {port.removeprefix('ttyS')} {baud or 9600}"


def _host_key_steps(m: Machine) -> list[str]:
    """Shell steps (run in the target) installing ``m``'s host key made by uniform.

    The key is base64 on the command line; the preseed holds a placeholder that delivery
    substitutes when it writes the file (payloads/secrets.py).  openssh-server made its own
    keys when it was installed: the ed25519 one is overwritten, the pin names only it."""
    private, public = host_key_placeholders(m, "base64")
    key = "/etc/ssh/ssh_host_ed25519_key"
    return [
        "umask 077",
        f"echo {private} | base64 -d > {key}",
        f"echo {public} | base64 -d > {key}.pub",
        f"chmod 0600 {key}",
        f"chmod 0644 {key}.pub",
        f"chown root:root {key} {key}.pub",
    ]


def _authorized_keys_script(inv: Inventory, m: Machine | None = None) -> str:
    """A late_command fragment writing the same authorized_keys file the base payload delivers
    (base64: keys may hold any character, the command line must stay one shell word), and
    ``m``'s host key when uniform makes it (:func:`makes_host_key`)."""
    ssh = inv.customer.ssh
    content = render("authorized_keys.j2", keys=sorted(ssh.authorized_keys))
    b64 = base64.b64encode(content.encode()).decode()
    home = "/root" if ssh.user == "root" else f"/home/{ssh.user}"
    owner = "root:root" if ssh.user == "root" else f"{ssh.user}:{ssh.user}"
    steps = [
        f"mkdir -p {home}/.ssh",
        f"echo {b64} | base64 -d > {home}/.ssh/authorized_keys",
        f"chmod 0700 {home}/.ssh",
        f"chmod 0600 {home}/.ssh/authorized_keys",
        f"chown -R {owner} {home}/.ssh",
    ]
    if ssh.user != "root":
        steps += [
            f'echo "{ssh.user} ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/uniform',
            "chmod 0440 /etc/sudoers.d/uniform",
        ]
    if m is not None and makes_host_key(inv, m):
        steps += _host_key_steps(m)
    return "in-target sh -c '" + "; ".join(steps) + "'"


def _preseed(inv: Inventory, i: _Install) -> str:
    p = inv.customer.provisioning
    ssh = inv.customer.ssh
    disks = [f"{d.name} {d.size_gib}GiB" for d in i.machine.disks]
    return render(
        "preseed.cfg.j2",
        name=i.machine.name,
        customer=inv.customer.name,
        domain=i.network.domain,
        p=p,
        user=ssh.user,
        disks=disks,
        late_command=_authorized_keys_script(inv, i.machine),
        host_key=makes_host_key(inv, i.machine),
    )


def netboot_files(inv: Inventory) -> list[PayloadFile]:
    """The DHCP server's TFTP tree (dhcp group): the local-boot default, one pxelinux config and
    one preseed per staged hw machine, and the script that installs loader + installer."""
    if not netboot_networks(inv):
        return []
    p = inv.customer.provisioning
    files = [
        PayloadFile(
            f"{PXELINUX_CFG}/default", render("pxelinux-default.cfg.j2", serial=pxelinux_serial(p.console))
        ),
        PayloadFile(
            NETBOOT_SCRIPT,
            render(
                "install-loader.sh.j2",
                root=TFTP_ROOT,
                source=NETBOOT_SOURCE,
                kernel=p.kernel,
                initrd=p.initrd,
            ),
            mode=0o755,
            reload="netboot",
        ),
    ]
    for i in _installs(inv):
        key = mac_file(i.nic.mac)
        files.append(
            PayloadFile(
                f"{PXELINUX_CFG}/{key}",
                render(
                    "pxelinux-install.cfg.j2",
                    name=i.machine.name,
                    mac=i.nic.mac,
                    kernel=p.kernel,
                    append=_kernel_args(inv, i),
                    serial=pxelinux_serial(p.console),
                ),
            )
        )
        files.append(PayloadFile(f"{TFTP_ROOT}/{PRESEED_DIR}/{key}.cfg", _preseed(inv, i)))
    return files


# --------------------------------------------------------------------------- cloud-init seeds (VMs)


def _yaml(obj: Any, indent: int = 0) -> list[str]:
    """Block YAML of dicts (insertion order), lists, str (JSON-quoted), int and bool."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict | list) and v:
                lines.append(f"{pad}{k}:")
                lines.extend(_yaml(v, indent + 2))
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, dict | list) and v:
                sub = _yaml(v, indent + 2)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {_scalar(v)}")
    else:
        lines.append(pad + _scalar(obj))
    return lines


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if v == [] or v == {}:
        return json.dumps(v)
    raise TypeError(f"cannot write {v!r} as YAML")


def network_config(inv: Inventory, vm: Machine) -> dict[str, Any]:
    """cloud-init network-config version 2: every NIC matched by MAC, renamed, configured
    statically exactly as its networkd files say."""
    ethernets: dict[str, Any] = {}
    for nic in vm.nics:
        s = nic_settings(inv, nic)
        e: dict[str, Any] = {"match": {"macaddress": nic.mac}, "set-name": nic.name, "dhcp4": False}
        if s.static6:
            e["dhcp6"] = False
        if s.addresses:
            e["addresses"] = s.addresses
        # gateway4/gateway6 rather than routes: cloud-init 22.4 (Debian 12) renders a route to
        # ::/0 as ::/64 (found by tests/unit/test_daemons_provision.py with net-convert)
        gw4 = [g for g in s.gateways if not _net.is_v6(g)]
        gw6 = [g for g in s.gateways if _net.is_v6(g)]
        if gw4:
            e["gateway4"] = gw4[0]
        if gw6:
            e["gateway6"] = gw6[0]
        # cloud-init 22.4 rejects nameservers without addresses (search domains alone)
        if s.dns:
            e["nameservers"] = {"addresses": s.dns, "search": s.domains}
        if s.mtu:
            e["mtu"] = s.mtu
        ethernets[nic.name] = e
    return {"version": 2, "ethernets": ethernets}


def user_data(inv: Inventory, vm: Machine) -> dict[str, Any]:
    ssh = inv.customer.ssh
    keys = sorted(ssh.authorized_keys)
    doc: dict[str, Any] = {
        "hostname": vm.name,
        "fqdn": inv.fqdn(vm),
        "manage_etc_hosts": True,
        "ssh_pwauth": False,
    }
    user: dict[str, Any] = {"name": ssh.user, "lock_passwd": True}
    if ssh.user == "root":
        # no default user: root itself gets the keys (disable_root: false), password locked
        doc["disable_root"] = False
    else:
        doc["disable_root"] = True
        user.update({"shell": "/bin/bash", "sudo": "ALL=(ALL) NOPASSWD:ALL"})
    if keys:  # cloud-init's schema refuses an empty list (a customer without keys yet)
        user["ssh_authorized_keys"] = keys
    doc["users"] = [user]
    if makes_host_key(inv, vm):
        # the host key uniform made and pins (components/hostkey.py): placeholders here,
        # substituted at delivery.  Any key baked into the image goes (ssh_deletekeys) and no
        # other is generated: the pin names this one, and RSA under TCG costs seconds of boot.
        # cloud-init generates nothing when ssh_keys is given; ssh_genkeytypes says the same
        # for versions that would, as [ed25519] (its file exists by then): its schema refuses
        # an empty list (cloud-init 22.4, `cloud-init schema`).
        private, public = host_key_placeholders(vm, "json")
        doc["ssh_deletekeys"] = True
        doc["ssh_genkeytypes"] = ["ed25519"]
        doc["ssh_keys"] = {"ed25519_private": private, "ed25519_public": public}
    return doc


def seed_files(inv: Inventory, vm: Machine, seed_dir: str, instance_id: str) -> list[PayloadFile]:
    """The NoCloud seed of a staged VM (hypervisor group; reload libvirt rebuilds the ISO)."""
    head = "# Generated by uniform (payloads) - do not edit."
    meta = [head, f"instance-id: {json.dumps(instance_id)}", f"local-hostname: {json.dumps(vm.name)}"]
    user = ["#cloud-config", head, *_yaml(user_data(inv, vm))]
    net = [head, *_yaml(network_config(inv, vm))]
    return [
        PayloadFile(f"{seed_dir}/meta-data", "\n".join(meta) + "\n", reload="libvirt"),
        PayloadFile(f"{seed_dir}/network-config", "\n".join(net) + "\n", reload="libvirt"),
        # 0600 when it carries the VM's private host key (substituted at delivery): only root on
        # the hypervisor reads it, to build the seed ISO
        PayloadFile(
            f"{seed_dir}/user-data",
            "\n".join(user) + "\n",
            mode=0o600 if makes_host_key(inv, vm) else 0o644,
            reload="libvirt",
        ),
    ]


def base_image_path(inv: Inventory, images_dir: str) -> str | None:
    image = inv.customer.provisioning.base_image
    if image is None:
        return None
    return image if image.startswith("/") else f"{images_dir}/{image}"


def dnsmasq_boot_lines(inv: Inventory, networks: Iterable[str]) -> dict[str, str]:
    """network -> its ``dhcp-boot`` line (filename, no server name, the TFTP server address)."""
    boot = netboot_networks(inv)
    return {n: f"dhcp-boot=tag:{n},{boot[n][1]},,{boot[n][0]}" for n in networks if n in boot}
