"""Wire one customer's inventory and payloads into Pulumi resources.

explore (inventory.load) -> decide (lifecycle) -> generate (payloads) -> apply
(the engine, through the Files delivery resources).  Nothing here computes an
address or renders a file; it only decides which resource carries what.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import pulumi

import payloads
from connectors import target as targets
from connectors.target import Target
from inventory import lifecycle
from inventory.model import Inventory, Machine, State
from payloads import secrets as placeholders
from payloads.provision import makes_host_key

from .delivery_wire import FileRecord
from .hostkey import HostKey
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


#: states in which a machine keeps the host key uniform made for it, with ssh delivery: being
#: installed, then while its files are delivered over ssh with that key pinned.  Decommissioning
#: is not one: its files' deletes use the pin recorded with them, and the key leaves then.
KEYED_SSH = frozenset({State.STAGED, State.ACTIVE, State.OFFLINE, State.FAILED})


def keyed(inv: Inventory, machine: Machine) -> bool:
    """Whether ``machine`` has a host key made by uniform (components/hostkey.py) in this run.

    Never when one is recorded by hand (``ssh.host_keys``: it takes precedence).  Always while
    it is staged: the key is handed over at install.  With ssh delivery it is kept afterwards
    (KEYED_SSH), pinned by delivery and verify; with local delivery nothing connects to the
    machine, so the key goes when the machine leaves ``staged`` (docs/provisioning.md "Host keys").
    """
    if not makes_host_key(inv, machine):
        return False
    if machine.state is State.STAGED:
        return True
    return inv.customer.delivery.mode == "ssh" and machine.state in KEYED_SSH


def check_delivery(inv: Inventory, settings: StackSettings) -> list[str]:
    """Problems that stop the program before anything is registered.

    A machine without a host key recorded by hand is pinned to the one uniform made
    (:func:`keyed`); one that is not staged and has none in the state is refused by its
    HostKey's check, naming the key to record (components/hostkey.py)."""
    if inv.customer.delivery.mode != "ssh":
        return []
    problems = []
    # Without uniform:sshPrivateKey, OpenSSH uses the operator's agent and keys.
    for m in inv.machines.values():
        if lifecycle.delivered(m.state) and m.ssh_address is None:
            problems.append(
                f"{inv.customer.name}: {m.file}: {m.name}: nics: no address to deliver to over ssh"
            )
    return problems


def host_keys(inv: Inventory) -> dict[str, HostKey]:
    """The HostKey resource of every machine that has one in this run (:func:`keyed`)."""
    return {
        m.name: HostKey(f"{m.name}-hostkey", machine=m.name, state=m.state.value, comment=inv.fqdn(m))
        for m in sorted(inv.machines.values(), key=lambda m: m.name)
        if m.state is not State.RETIRED and keyed(inv, m)
    }


def with_secrets(
    name: str, groups: dict[str, FileGroup], keys: Mapping[str, HostKey]
) -> dict[str, FileGroup]:
    """``groups`` with the values of the placeholders their files name (payloads/secrets.py)."""
    for group, fg in groups.items():
        wanted = sorted(set().union(*(placeholders.names(f["content"]) for f in fg.files.values())))
        if not wanted:
            continue
        values: dict[str, pulumi.Output[str]] = {}
        for value in wanted:
            machine = value.split(".")[1]
            if machine not in keys:
                # payloads render a placeholder exactly for a staged machine without a hand key
                raise pulumi.RunError(f"{name}: {group}: {value}: {machine} has no host key made by uniform")
            private, _ = placeholders.host_key_names(machine)
            key = keys[machine]
            values[value] = key.private_key if value == private else key.public_key
        fg.secrets = pulumi.Output.all(**values)
    return groups


def _pinned(t: Target, key: HostKey | None) -> Target:
    """``t`` pinning ``key``'s public half (ssh; a hand-recorded key is in ``t`` already)."""
    if key is None or t["mode"] != "ssh":
        return t
    return cast(Target, cast(dict[str, Any], {**t, "host_key": key.public_key}))


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
    # first: the hypervisor's seed and the DHCP server's preseed name other machines' keys
    keys = host_keys(inv)
    machines: dict[str, MachineComponent | Tombstone] = {}
    for m in inv.machines.values():
        if m.state is State.RETIRED:
            continue  # gone from the stack: its resources are deleted, its addresses released
        payload = rendered.get(m.name)
        key = keys.get(m.name)
        machines[m.name] = MachineComponent(
            m.name,
            MachineArgs(
                machine=m,
                fqdn=inv.fqdn(m),
                groups=with_secrets(m.name, file_groups(payload), keys) if payload else {},
                target=_pinned(target_for(inv, m, settings), key) if payload else None,
                private_key=settings.private_key,
                installing=m.state is State.STAGED,
                host_key=key.public_key if key else None,
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
