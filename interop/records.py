"""What a parser hands the merge: plain, normalised facts with the place they came from.

Every parser (``interop.parse.*``) returns a :class:`Site` fragment. Addresses are
normalised strings (``str(netaddr.IPAddress(...))``), MACs lower-case ``aa:bb:cc:dd:ee:ff``,
DNS names lower-case, fully qualified, without the trailing dot. A parser never guesses a
network or a machine: matching is the merge's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Domain", "DomainDisk", "DomainNic", "DnsRecord", "Reservation", "Site", "Source", "Subnet"]


@dataclass(frozen=True, order=True)
class Source:
    """Where a fact was read: the file as the operator named it, and its 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Reservation:
    """One DHCP host reservation (dnsmasq ``dhcp-host``, dhcpd ``host {}``, Kea reservation).

    ``name`` is the host name the server hands out (short or qualified, as written), if any.
    A reservation by client-id/DUID only has ``mac=None``."""

    source: Source
    mac: str | None = None
    ipv4: str | None = None
    ipv6: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Subnet:
    """A network the DHCP server serves: its prefix and what it says about it."""

    source: Source
    prefix: str  # CIDR, normalised: "10.20.0.0/24", "fd00:20::/64"
    pool: tuple[str, str] | None = None  # first and last address of the dynamic range
    gateway: str | None = None
    dns_servers: tuple[str, ...] = ()
    domain: str | None = None
    # True when the file does not say the prefix and the parser inferred it (dnsmasq's
    # dhcp-range without a netmask: the daemon takes it from the interface)
    prefix_inferred: bool = False


@dataclass(frozen=True)
class DnsRecord:
    """One A, AAAA or PTR record. For A/AAAA ``name`` is the owner and ``value`` the address;
    for PTR ``name`` is the target host name and ``value`` the address the reverse owner
    stands for (``20.0.20.10.in-addr.arpa.`` -> ``10.20.0.20``)."""

    source: Source
    type: str  # "A" | "AAAA" | "PTR"
    name: str  # fully qualified, lower case, no trailing dot
    value: str  # a normalised address


@dataclass(frozen=True)
class DomainDisk:
    name: str  # target dev as libvirt names it, e.g. "vda"
    size_gib: int | None  # None when the XML does not say and the image is not readable
    pool: str | None = None


@dataclass(frozen=True)
class DomainNic:
    mac: str
    bridge: str | None = None  # <source bridge=...>, or the libvirt network's name with network=...
    network: str | None = None  # <source network=...> (a libvirt network, not a uniform one)
    model: str | None = None


@dataclass(frozen=True)
class Domain:
    """One libvirt domain (``virsh dumpxml``)."""

    source: Source
    name: str
    cores: int
    memory_mib: int
    disks: tuple[DomainDisk, ...] = ()
    nics: tuple[DomainNic, ...] = ()
    hypervisor: str | None = None  # the host it was read from, when the operator says so
    virtualization: str | None = None  # <domain type=...>: "kvm", "qemu", ... (None: not said)


@dataclass
class Site:
    """Everything read from one site: the union of every parser's output."""

    reservations: list[Reservation] = field(default_factory=list)
    subnets: list[Subnet] = field(default_factory=list)
    records: list[DnsRecord] = field(default_factory=list)
    domains: list[Domain] = field(default_factory=list)

    def extend(self, other: Site) -> None:
        self.reservations.extend(other.reservations)
        self.subnets.extend(other.subnets)
        self.records.extend(other.records)
        self.domains.extend(other.domains)
