"""The resolved inventory model: what every later stage (payloads, components) reads.

Everything here is plain data. Addresses are stored as normalised strings
(``str(netaddr.IPAddress(...))``, MACs as lower-case ``aa:bb:cc:dd:ee:ff``)
so that templates and Pulumi inputs never see a netaddr object.  The loader
(`inventory.load`) builds these objects from a customer's files, validates
them and fills in the allocated MACs and addresses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property


class Kind(str, Enum):  # noqa: UP042
    HW = "hw"
    VM = "vm"


class State(str, Enum):  # noqa: UP042
    """Lifecycle states, after NetBox's device statuses (see inventory.lifecycle)."""

    PLANNED = "planned"
    STAGED = "staged"
    ACTIVE = "active"
    OFFLINE = "offline"
    FAILED = "failed"
    DECOMMISSIONING = "decommissioning"
    RETIRED = "retired"


@dataclass(frozen=True)
class Disk:
    name: str  # e.g. "root", "data"
    size_gib: int
    pool: str = "default"  # hypervisor storage pool (VMs); ignored for hw


@dataclass(frozen=True)
class Attachment:
    """A NIC's membership of one network, with its (pinned or allocated) addresses."""

    network: str
    ipv4: str | None = None  # None when the network has no IPv4 prefix or the machine is retired
    ipv6: str | None = None
    ipv4_pinned: bool = False  # True when the address came from the machine file
    ipv6_pinned: bool = False


@dataclass(frozen=True)
class Nic:
    name: str  # interface name on the host, e.g. "eth0"
    mac: str
    mac_pinned: bool  # True when the MAC came from the machine file
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Machine:
    name: str  # short host name, unique per customer
    kind: Kind
    cores: int
    memory_mib: int
    state: State
    file: str  # path of the file it was read from, relative to the customer dir
    disks: tuple[Disk, ...] = ()
    nics: tuple[Nic, ...] = ()
    tags: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()  # "dhcp", "dns", "hypervisor"
    history: tuple[State, ...] = ()  # earlier states, oldest first
    hypervisor: str | None = None  # VMs only: the machine it runs on
    location: str | None = None
    #: hypervisors: how libvirt runs their VMs -- "kvm" (hardware virtualisation, host-passthrough
    #: CPU) or "qemu" (TCG emulation: nested labs, CI, hosts without usable /dev/kvm)
    virtualization: str = "kvm"
    #: VMs: the acknowledged move to ``hypervisor`` -- (that hypervisor, "fresh" | "copied"):
    #: its disks start empty there, or were copied there by hand (docs/inventory.md "Moving a VM")
    move: tuple[str, str] | None = None

    @property
    def is_vm(self) -> bool:
        return self.kind is Kind.VM

    @property
    def ssh_address(self) -> str | None:
        """The address uniform reaches the machine at (delivery, verify): first IPv4, else first IPv6."""
        for family in ("ipv4", "ipv6"):
            for nic in self.nics:
                for att in nic.attachments:
                    addr: str | None = getattr(att, family)
                    if addr:
                        return addr
        return None


@dataclass(frozen=True)
class Network:
    name: str
    domain: str  # DNS domain of hosts on this network
    ipv4: str | None = None  # prefix, e.g. "10.0.0.0/24"
    ipv6: str | None = None  # prefix, e.g. "fd00:1::/64"
    gateway4: str | None = None
    gateway6: str | None = None
    reserved: tuple[tuple[str, str], ...] = ()  # inclusive (first, last) ranges never allocated
    dhcp_pool: tuple[str, str] | None = None  # dynamic range handed out by DHCP (also never allocated)
    bridge: str | None = None  # hypervisor bridge VMs on this network attach to
    dns_servers: tuple[str, ...] = ()
    mtu: int | None = None
    #: netboot (docs/provisioning.md): the file DHCP clients boot (e.g. "pxelinux.0"), relative to
    #: the TFTP root; None = no netboot on this network (no boot options, no TFTP)
    boot_filename: str | None = None
    #: the TFTP server (DHCP next-server / siaddr); None = the network's first DHCP server
    boot_server: str | None = None


@dataclass(frozen=True)
class Services:
    dhcp: str = "dnsmasq"  # "dnsmasq" | "kea"
    dns: str = "bind"  # "bind" | "dnsmasq"


@dataclass(frozen=True)
class Delivery:
    mode: str = "local"  # "local" | "ssh"
    #: local mode: directory (relative to the project) receiving payload trees; a customer that
    #: names none gets <this default>/<customer>
    local_root: str = "out"


@dataclass(frozen=True)
class Ssh:
    user: str = "root"
    port: int = 22
    authorized_keys: tuple[str, ...] = ()  # public keys installed on every machine
    host_keys: tuple[tuple[str, str], ...] = ()  # (machine name, "ssh-ed25519 AAAA...") pinned host keys


@dataclass(frozen=True)
class Provisioning:
    """How staged machines are installed (docs/provisioning.md): Debian installer for hw, cloud-init
    seeds and a base image for VMs.  No passwords anywhere: SSH keys only, root password locked."""

    #: VMs: backing file of each VM's first disk (qemu-img -b); a file name is taken under the
    #: hypervisor's image directory.  None = VM disks start empty.
    base_image: str | None = None
    #: hw: the installer kernel and initrd, relative to the TFTP root
    kernel: str = "debian-installer/amd64/linux"
    initrd: str = "debian-installer/amd64/initrd.gz"
    #: hw: extra kernel arguments for the installer (e.g. "quiet")
    kernel_args: str = ""
    #: hw: the serial console of pxelinux and the installer, as the kernel's console= takes it
    #: ("ttyS0,115200n8"; IPMI serial-over-LAN is often ttyS1).  None = the screen only.
    console: str | None = None
    #: hw: Debian mirror host and directory, suite for the installer
    mirror: str = "deb.debian.org"
    mirror_directory: str = "/debian"
    suite: str = "bookworm"
    locale: str = "en_US.UTF-8"
    keymap: str = "us"
    timezone: str = "Etc/UTC"


@dataclass(frozen=True)
class Customer:
    name: str
    domain: str
    mac_prefix: str = "52:54:00"
    cpu_overcommit: float = 4.0
    memory_overcommit: float = 1.0
    services: Services = field(default_factory=Services)
    delivery: Delivery = field(default_factory=Delivery)
    ssh: Ssh = field(default_factory=Ssh)
    provisioning: Provisioning = field(default_factory=Provisioning)
    #: delivered machines taken out with `uniform machine remove --force`: the program
    #: lets their protected components go (components/stack.py)
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inventory:
    """A validated customer inventory with every MAC and address resolved."""

    customer: Customer
    networks: dict[str, Network]
    machines: dict[str, Machine]  # by name, sorted by name
    root: str = ""  # the customer directory it was loaded from

    def fqdn(self, machine: Machine) -> str:
        """The machine's FQDN: on its first NIC's first network's domain, else the customer's."""
        for nic in machine.nics:
            for att in nic.attachments:
                return f"{machine.name}.{self.networks[att.network].domain}"
        return f"{machine.name}.{self.customer.domain}"

    def vms_on(self, hypervisor: str) -> list[Machine]:
        """The VMs placed on ``hypervisor`` (any state), sorted by name."""
        return list(self._vms_by_hypervisor.get(hypervisor, ()))

    @cached_property
    def _vms_by_hypervisor(self) -> dict[str, tuple[Machine, ...]]:
        # Built once per Inventory: render asks for every hypervisor, and a scan per call
        # is quadratic at 10,000 machines.  An Inventory is never mutated (dataclasses.replace
        # makes a new one, with an empty cache), so the index cannot go stale.
        out: dict[str, list[Machine]] = {}
        for m in self.machines.values():
            if m.hypervisor is not None:
                out.setdefault(m.hypervisor, []).append(m)
        return {hv: tuple(sorted(vms, key=lambda m: m.name)) for hv, vms in out.items()}

    def with_role(self, role: str) -> list[Machine]:
        return [m for m in self.machines.values() if role in m.roles]
