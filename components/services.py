"""Service components: the DHCP server, the DNS server and the hypervisor roles.

Each is a role on an ordinary Machine, and each carries exactly one delivery
resource, ``<name>-files``, holding the role's files and its reload command
(dnsmasq/Kea/BIND reload, ``virsh define`` of the VMs placed on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi

from .delivery import Files

if TYPE_CHECKING:
    from .machine import FileGroup


@dataclass
class ServiceArgs:
    machine: str
    group: FileGroup | None  # None when the machine's state is not delivered
    target: dict[str, Any] | None
    private_key: pulumi.Input[str] | None = None


class _Service(pulumi.ComponentResource):
    TOKEN = ""
    ROLE = ""

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TOKEN, name, None, opts)
        files = 0
        if args.group is not None and args.target is not None:
            Files(
                f"{name}-files",
                group=self.ROLE,
                target=args.target,
                files=args.group.files,
                reload=args.group.reload,
                private_key=args.private_key,
                opts=pulumi.ResourceOptions(parent=self),
            )
            files = len(args.group.files)
        self.files = pulumi.Output.from_input(files)
        self.register_outputs({"machine": args.machine, "files": files})


class DhcpServer(_Service):
    TOKEN = "uniform:services:DhcpServer"
    ROLE = "dhcp"


class DnsServer(_Service):
    TOKEN = "uniform:services:DnsServer"
    ROLE = "dns"


class Hypervisor(_Service):
    """The VM definitions (libvirt domain XML, disk creation) of the VMs placed on this machine."""

    TOKEN = "uniform:services:Hypervisor"
    ROLE = "hypervisor"


SERVICE_COMPONENTS: dict[str, type[_Service]] = {
    "dhcp": DhcpServer,
    "dns": DnsServer,
    "hypervisor": Hypervisor,
}
