"""The Machine component: one class for hardware and VMs alike.

Resources per machine (README "What each machine gets, as resources"; docs/scale.md):
  * the ``uniform:machine:Machine`` component itself;
  * ``<name>-base``: its own files (hostname, hosts, networkd, keys), when its
    lifecycle state is delivered;
  * one service component per role (payloads/roles/: its type token, e.g.
    ``uniform:services:DhcpServer``, comes from the role), each with one
    ``<name>-<role>-files`` child.  Names come from payloads.roles.resource_name.
  * where a VM defined on its hypervisor runs is recorded in its ``<name>-base`` (checked
    by FilesProvider.check).  (A staged VM once waited for its host key without base
    files, its placement then a ``<name>-placement`` resource: components/placement.py
    stays to delete those recorded in a state.)
A plain machine is two resources, a VM too; a DHCP+DNS server is six.  A machine being
installed also has its host key, ``<name>-hostkey`` (components/hostkey.py, made by
components.stack.host_keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from connectors.target import Target
from inventory.lifecycle import ON_HYPERVISOR
from inventory.model import Machine as MachineModel
from payloads.roles import BASE, ROLES, component_name, resource_name

from .delivery import Files
from .delivery_wire import FileRecord, PlacementRecord
from .services import Service, ServiceArgs


@dataclass
class FileGroup:
    """A group of payload files, in the shape the delivery resource stores."""

    files: dict[str, FileRecord]
    reload: list[str]
    # the values of the placeholders its files name (payloads/secrets.py), or None
    secrets: pulumi.Input[Mapping[str, str]] | None = None


@dataclass
class MachineArgs:
    machine: MachineModel
    fqdn: str
    # group name -> files; empty when the machine's state is not delivered
    groups: dict[str, FileGroup] = field(default_factory=dict)
    target: Target | None = None
    private_key: pulumi.Input[str] | None = None
    # being installed (staged): a delivery that finds it unreachable waits for the next run
    installing: bool = False
    # the public half of the host key uniform made for it (components/hostkey.py), or None
    host_key: pulumi.Input[str] | None = None


class Machine(pulumi.ComponentResource):
    # a plain value: the stack's export of 10,000 of them then costs no Output each
    fqdn: str

    def __init__(self, name: str, args: MachineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uniform:machine:Machine", name, None, opts)
        m = args.machine
        # protect=False: a delivered machine's component is protected (stack.build), and
        # children would inherit it; only the component guards the machine's removal, while
        # its files come and go with roles and states.
        child = pulumi.ResourceOptions(parent=self, protect=False)

        # A VM defined on its hypervisor records where: moving it elsewhere is checked
        # against that record by the engine (FilesProvider.check, components/placement.py).
        placement: PlacementRecord | None = None
        if m.is_vm and m.hypervisor is not None and m.state in ON_HYPERVISOR:
            placement = {"vm": m.name, "hypervisor": m.hypervisor, "move": list(m.move) if m.move else None}
        base_files: Files | None = None
        if args.target is not None and BASE.name in args.groups:
            base = args.groups[BASE.name]
            base_files = Files(
                resource_name(name, BASE.name),
                group=BASE.name,
                target=args.target,
                files=base.files,
                reload=base.reload,
                private_key=args.private_key,
                placement=placement,
                secrets=base.secrets,
                installing=args.installing,
                opts=child,
            )
        # Each role's files are their own resource, so a DHCP change shows in
        # review as "dhcp changed on ns1", not as a change to the whole host.
        for role in ROLES:
            if role in m.roles:
                Service(
                    component_name(name, role),
                    ServiceArgs(
                        machine=m.name,
                        role=role,
                        files_name=resource_name(name, role),
                        group=args.groups.get(role),
                        target=args.target,
                        private_key=args.private_key,
                        installing=args.installing,
                        after=base_files,
                    ),
                    opts=child,
                )

        # No register_outputs: at 10,000 machines the component's second round trip
        # (RegisterResourceOutputs: its outputs serialised, sent, diffed and recorded) was
        # 7% of a no-change preview, for outputs nothing reads -- the stack's export names
        # each machine's fqdn, and the inventory holds the rest (docs/scale.md).  Outputs
        # recorded by earlier versions stay in the state as they were.
        self.fqdn = args.fqdn
        self.host_key = args.host_key


class Tombstone(pulumi.ComponentResource):
    """A delivered machine removed with ``uniform machine remove --force``.

    Same type and name as its ``Machine``, unprotected and without children: the run that
    registers it deletes the machine's files and records and drops the protection, which
    the engine would otherwise keep refusing to delete."""

    fqdn: str

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            "uniform:machine:Machine",
            name,
            None,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=False)),
        )
        self.fqdn = ""
        self.host_key: pulumi.Input[str] | None = None
        self.register_outputs({"state": "removed"})
