"""Hand-built model objects for tests: a small customer ``t`` with networks lan/mgmt.

``machine``/``inventory``/``base`` build the payload tests' inventory (ns1 dhcp+dns, hv1,
web1, vm1); ``tests.helpers.provision`` builds the provisioning tests' one.
"""

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
    Services,
    Ssh,
    State,
)

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUnitTestKey admin@test"

LAN = Network(
    name="lan",
    domain="lan.t.example",
    ipv4="10.1.0.0/24",
    ipv6="fd00:1::/64",
    gateway4="10.1.0.1",
    gateway6="fd00:1::1",
    dhcp_pool=("10.1.0.200", "10.1.0.250"),
    bridge="br-lan",
    dns_servers=("10.1.0.2",),
)
MGMT = Network(name="mgmt", domain="mgmt.t.example", ipv4="10.2.0.0/16")


def machine(
    name: str,
    n: int,
    state: State = State.ACTIVE,
    roles: tuple[str, ...] = (),
    kind: Kind = Kind.HW,
    hypervisor: str | None = None,
    mgmt: bool = False,
) -> Machine:
    nics = [
        Nic("eth0", f"52:54:00:00:00:{n:02x}", True, (Attachment("lan", f"10.1.0.{n}", f"fd00:1::{n:x}"),))
    ]
    if mgmt:
        nics.append(Nic("eth1", f"52:54:00:00:01:{n:02x}", True, (Attachment("mgmt", f"10.2.1.{n}"),)))
    return Machine(
        name=name,
        kind=kind,
        cores=2,
        memory_mib=2048,
        state=state,
        file=f"machines/{name}.yaml",
        disks=(Disk("root", 10), Disk("data", 50)),
        nics=tuple(nics),
        roles=roles,
        hypervisor=hypervisor,
    )


def inventory(*machines: Machine, dhcp: str = "dnsmasq", dns: str = "bind", user: str = "root") -> Inventory:
    return Inventory(
        customer=Customer(
            name="t",
            domain="t.example",
            services=Services(dhcp=dhcp, dns=dns),
            ssh=Ssh(user=user, authorized_keys=(KEY,)),
        ),
        networks={"lan": LAN, "mgmt": MGMT},
        machines={m.name: m for m in sorted(machines, key=lambda m: m.name)},
    )


def base(dhcp: str = "dnsmasq", dns: str = "bind", extra: tuple[Machine, ...] = ()) -> Inventory:
    return inventory(
        machine("ns1", 2, roles=("dhcp", "dns"), mgmt=True),
        machine("hv1", 3, roles=("hypervisor",)),
        machine("web1", 20),
        machine("vm1", 30, kind=Kind.VM, hypervisor="hv1"),
        *extra,
        dhcp=dhcp,
        dns=dns,
    )
