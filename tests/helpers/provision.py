"""Hand-built model objects for the provisioning tests: customer ``p`` whose lan netboots
(pxelinux) and an office network that does not; ``inv`` holds staged and active hw and VMs."""

from __future__ import annotations

from inventory.model import (
    Attachment,
    Customer,
    Disk,
    Inventory,
    Kind,
    Machine,
    Network,
    Nic,
    Provisioning,
    Services,
    Ssh,
    State,
)

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIProvisionTestKey it's@test"
LAN = Network(
    name="lan",
    domain="lan.p.example",
    ipv4="10.5.0.0/24",
    ipv6="fd00:5::/64",
    gateway4="10.5.0.1",
    gateway6="fd00:5::1",
    bridge="br-lan",
    dns_servers=("10.5.0.2", "fd00:5::2"),
    mtu=1500,
    boot_filename="pxelinux.0",
)
OFFICE = Network(name="office", domain="office.p.example", ipv4="10.6.0.0/24")  # no netboot
TFTP = "/var/lib/tftpboot"
DEFAULTS = Provisioning()


def machine(
    name: str,
    n: int,
    state: State = State.ACTIVE,
    kind: Kind = Kind.HW,
    roles: tuple[str, ...] = (),
    net: str = "lan",
    hypervisor: str | None = None,
) -> Machine:
    v6 = f"fd00:5::{n:x}" if net == "lan" else None
    return Machine(
        name=name,
        kind=kind,
        cores=2,
        memory_mib=2048,
        state=state,
        file=f"machines/{name}.yaml",
        disks=(Disk("root", 20), Disk("data", 100)),
        nics=(
            Nic(
                "eth0",
                f"0c:c4:7a:00:00:{n:02x}",
                True,
                (Attachment(net, f"10.{5 if net == 'lan' else 6}.0.{n}", v6),),
            ),
        ),
        roles=roles,
        hypervisor=hypervisor,
        history=(State.PLANNED,) if state is State.STAGED else (State.PLANNED, State.STAGED),
    )


def inv(
    *extra: Machine,
    dhcp: str = "dnsmasq",
    dns: str = "bind",
    user: str = "root",
    lan: Network = LAN,
    provisioning: Provisioning = DEFAULTS,
) -> Inventory:
    ms = [
        machine("svc1", 2, roles=("dhcp", "dns")),
        machine("hv1", 3, roles=("hypervisor",)),
        machine("new1", 30, State.STAGED),
        machine("old1", 31),
        machine("vnew", 40, State.STAGED, Kind.VM, hypervisor="hv1"),
        machine("vold", 41, State.ACTIVE, Kind.VM, hypervisor="hv1"),
        *extra,
    ]
    return Inventory(
        customer=Customer(
            name="p",
            domain="p.example",
            services=Services(dhcp=dhcp, dns=dns),
            ssh=Ssh(user=user, authorized_keys=(KEY,)),
            provisioning=provisioning,
        ),
        networks={"lan": lan, "office": OFFICE},
        machines={m.name: m for m in sorted(ms, key=lambda m: m.name)},
    )
