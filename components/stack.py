"""Wire one customer's inventory and payloads into Pulumi resources.

explore (inventory.load) -> decide (lifecycle) -> generate (payloads) -> apply
(the engine, through the Files delivery resources).  Nothing here computes an
address or renders a file; it only decides which resource carries what.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

import payloads
from connectors import target as targets
from connectors.target import Target
from inventory import lifecycle
from inventory.model import Inventory, Machine, State

from .delivery import FileRecord
from .machine import FileGroup, MachineArgs, Tombstone
from .machine import Machine as MachineComponent
from .sdk import trim

#: the role names a machine file may list (payloads/roles/), for inventory.load(known_roles=...)
ROLE_NAMES = payloads.ROLE_NAMES


def file_groups(payload: payloads.MachinePayload) -> dict[str, FileGroup]:
    """The payload's delivery groups (base, dhcp, dns, hypervisor), as delivery resources store them."""
    return {
        name: FileGroup(
            files={
                f.path: FileRecord(
                    content=f.content,
                    mode=f"{f.mode:04o}",
                    sha256=f.sha256,
                    # what a change to this file must reload ("" = nothing)
                    reload=payloads.RELOAD_COMMANDS[f.reload] if f.reload else "",
                )
                for f in files
            },
            reload=sorted({payloads.RELOAD_COMMANDS[f.reload] for f in files if f.reload}),
        )
        for name, files in payload.groups().items()
    }


@dataclass
class StackSettings:
    """What the stack config adds to the inventory: connection secrets."""

    private_key: pulumi.Input[str] | None = None
    ssh_user: str | None = None
    ssh_port: int | None = None


def target_for(inv: Inventory, machine: Machine, settings: StackSettings) -> Target:
    """Where ``machine``'s files go: connectors.target, the rule verify reaches hosts by too."""
    return targets.target_for(inv, machine, user=settings.ssh_user, port=settings.ssh_port)


def awaiting_host_key(inv: Inventory, machine: Machine) -> bool:
    """A staged machine is being installed: its host key does not exist yet.

    Its own files wait for the key to be recorded (the next `up` delivers them);
    its DHCP/DNS records and boot path, which live on other machines, go now.
    """
    return (
        inv.customer.delivery.mode == "ssh"
        and machine.state is State.STAGED
        and machine.name not in dict(inv.customer.ssh.host_keys)
    )


def check_delivery(inv: Inventory, settings: StackSettings) -> list[str]:
    """Problems that stop the program before anything is registered."""
    if inv.customer.delivery.mode != "ssh":
        return []
    problems = []
    keys = dict(inv.customer.ssh.host_keys)
    # Without uniform:sshPrivateKey, OpenSSH uses the operator's agent and keys.
    for m in inv.machines.values():
        if not lifecycle.delivered(m.state) or awaiting_host_key(inv, m):
            continue
        if m.ssh_address is None:
            problems.append(
                f"{inv.customer.name}: {m.file}: {m.name}: nics: no address to deliver to over ssh"
            )
        if m.name not in keys:
            problems.append(
                f"{inv.customer.name}: customer.yaml: ssh.host_keys.{m.name}: no pinned host key "
                f"(record it: ssh-keyscan -t ed25519 <host>, see README 'Host keys')"
            )
    return problems


#: from this many machines on, running with the engine's per-step checkpoints is warned about
CHECKPOINT_WARNING = 100


def checkpoint_warning(inv: Inventory, env: Mapping[str, str] = os.environ) -> str | None:
    """A warning when a large customer runs with the engine's per-step checkpoints.

    The engine reads PULUMI_SKIP_CHECKPOINTS from its own environment only (no project or
    stack setting exists, docs/team.md "Crashes and recovery"); the program inherits it."""
    if len(inv.machines) < CHECKPOINT_WARNING:
        return None
    if env.get("PULUMI_SKIP_CHECKPOINTS", "").lower() in ("1", "true"):
        return None
    return (
        f"{len(inv.machines)} machines with the engine's per-step checkpoints: an up that changes "
        "many of them rewrites the whole state after every step, in time that grows with the square of "
        "the change. uniform's default is PULUMI_SKIP_CHECKPOINTS=true: run `uniform up`, or "
        "`source .tools/env.sh` before pulumi (docs/team.md 'Crashes and recovery')"
    )


def build(inv: Inventory, settings: StackSettings) -> dict[str, MachineComponent | Tombstone]:
    trim()  # the SDK's per-resource debug logs and stack traces (components/sdk.py)
    rendered = payloads.render_customer(inv)
    machines: dict[str, MachineComponent | Tombstone] = {}
    for m in inv.machines.values():
        if m.state is State.RETIRED:
            continue  # gone from the stack: its resources are deleted, its addresses released
        payload = rendered.get(m.name)
        if payload and awaiting_host_key(inv, m):
            pulumi.log.warn(
                f"{m.name}: staged without a recorded host key: its own files wait until "
                f"ssh.host_keys.{m.name} is recorded (its DHCP/DNS records and boot path are delivered)"
            )
            payload = None
        machines[m.name] = MachineComponent(
            m.name,
            MachineArgs(
                machine=m,
                fqdn=inv.fqdn(m),
                groups=file_groups(payload) if payload else {},
                target=target_for(inv, m, settings) if payload else None,
                private_key=settings.private_key,
            ),
            # A delivered machine leaves the stack only through decommissioning: protected
            # in the deployed state, it makes the engine refuse (preview and up alike) a run
            # in which its file vanished, e.g. truncated by a bad merge.  The next run after
            # `uniform transition <m> decommissioning` records it unprotected.
            opts=pulumi.ResourceOptions(protect=m.state in lifecycle.DELIVERED),
        )
    for name in inv.customer.removed:
        # `uniform machine remove --force` recorded the removal of a delivered machine: its
        # component is registered once more, unprotected and empty, so this run deletes its
        # files and records and leaves it removable (docs/inventory.md "Removing a machine").
        machines[name] = Tombstone(name)
    return machines
