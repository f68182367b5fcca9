"""The service component: one class for every role (DHCP server, DNS server, hypervisor...).

A role is a module in payloads/roles/; its component's Pulumi type token comes
from there (``uniform:services:DhcpServer`` ...), so adding a role adds no class
here.  Each carries exactly one delivery resource, ``<machine>-<role>-files``,
holding the role's files and its reload commands (dnsmasq/Kea/BIND reload,
``virsh define`` of the VMs placed on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi

from connectors.target import Target
from payloads.roles import ROLES

from .delivery import Files

if TYPE_CHECKING:
    from .machine import FileGroup


@dataclass
class ServiceArgs:
    machine: str
    role: str  # a key of payloads.roles.ROLES
    files_name: str  # the delivery resource's name: payloads.roles.resource_name(<machine>, role)
    group: FileGroup | None  # None when the machine's state is not delivered
    target: Target | None
    private_key: pulumi.Input[str] | None = None
    installing: bool = False  # the machine is being installed (staged): see components.delivery
    # the machine's own base files: a role's files go after them on the same host, because
    # the role's daemons need what the base files set up (the hypervisor's bridge before
    # `virsh start`, the interface Kea's subnet6 names, the hostname); without it the engine
    # runs the groups of one machine in any order (found by the lab, docs/lab.md)
    after: pulumi.Resource | None = None


class Service(pulumi.ComponentResource):
    """A machine's component for one role (named by payloads.roles.component_name)."""

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        role = ROLES[args.role]
        super().__init__(role.component, name, None, opts)
        files = 0
        if args.group is not None and args.target is not None:
            Files(
                args.files_name,
                group=role.name,
                target=args.target,
                files=args.group.files,
                reload=args.group.reload,
                private_key=args.private_key,
                secrets=args.group.secrets,
                installing=args.installing,
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[args.after] if args.after is not None else None
                ),
            )
            files = len(args.group.files)
        self.files = pulumi.Output.from_input(files)
        self.register_outputs({"machine": args.machine, "files": files})
