"""The edit commands: transition, machine add/remove/move, nic add, mac generate, tag/role add/remove.

Each is one call of ``inventory.edit`` (round trip, checked, restored on problems) and a line
saying what it did."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from inventory import edit
from inventory.build import load
from payloads import ROLE_NAMES  # validation accepts the registry's roles

from .exitcodes import Exit, UsageError
from .fmt import describe_new
from .select import resolve_root

__all__ = [
    "cmd_mac_generate",
    "cmd_machine_add",
    "cmd_machine_move",
    "cmd_machine_remove",
    "cmd_nic_add",
    "cmd_transition",
    "cmd_values",
]


def cmd_transition(args: argparse.Namespace) -> int:
    words = args.words
    if len(words) == 3:
        args.root, machine, state = words
    elif len(words) == 2:
        machine, state = words
    else:
        raise UsageError("usage: uniform transition [<customer_dir>] MACHINE STATE")
    root = resolve_root(args)
    edit.checked_transition(root, machine, state, known_roles=ROLE_NAMES)
    print(f"{machine}: {state}")
    return Exit.OK


def _parse_nic(text: str) -> edit.NicSpec:
    name, sep, nets = text.partition(":")
    if not sep or not name or not nets:
        raise UsageError(f"--nic {text!r}: expected NAME:NETWORK[,NETWORK...] (e.g. eth0:lan)")
    return edit.NicSpec(name, [n for n in nets.split(",") if n])


def _parse_disk(text: str) -> tuple[str, str]:
    name, sep, size = text.partition("=")
    if not sep or not name or not size:
        raise UsageError(f"--disk {text!r}: expected NAME=SIZE (e.g. root=20GiB)")
    return name, size


def cmd_machine_add(args: argparse.Namespace) -> int:
    root = resolve_root(args)
    inv = edit.add_machine(
        root,
        args.name,
        args.kind,
        cores=args.cores,
        memory=args.memory,
        hypervisor=args.hypervisor,
        disks=[_parse_disk(d) for d in args.disk],
        nics=[_parse_nic(n) for n in args.nic],
        tags=args.tag,
        roles=args.role,
        state=args.state,
        location=args.location,
        virtualization=args.virtualization,
        group=args.group,
        known_roles=ROLE_NAMES,
    )
    m = inv.machines[args.name]
    print(f"{m.name}: added to {m.file} ({m.kind.value}, {m.state.value}): {describe_new(inv, m.name)}")
    return Exit.OK


def cmd_machine_remove(args: argparse.Namespace) -> int:
    root = resolve_root(args)
    edit.remove_machine(root, args.name, force=args.force, known_roles=ROLE_NAMES)
    print(f"{args.name}: removed")
    return Exit.OK


def cmd_machine_move(args: argparse.Namespace) -> int:
    root = resolve_root(args)
    disk = "fresh" if args.fresh_disk else "copied" if args.disk_copied else None
    edit.set_hypervisor(root, args.name, args.hypervisor, disk=disk, known_roles=ROLE_NAMES)
    how = {"fresh": " (its disks start empty)", "copied": " (its disks were copied)"}.get(disk or "", "")
    print(f"{args.name}: now on {args.hypervisor}{how}")
    return Exit.OK


def cmd_nic_add(args: argparse.Namespace) -> int:
    root = resolve_root(args)
    if not args.network:
        raise UsageError("nic add: give at least one --network")
    inv = edit.add_nic(
        root, args.machine, edit.NicSpec(args.nic, args.network, args.mac, args.ipv4), known_roles=ROLE_NAMES
    )
    nic = next(n for n in inv.machines[args.machine].nics if n.name == args.nic)
    addrs = [a for at in nic.attachments for a in (at.ipv4, at.ipv6) if a]
    state = "pinned" if nic.mac_pinned else "generated, run `uniform pin`"
    print(f"{args.machine}: added {nic.name} {nic.mac} ({state}) {' '.join(addrs)}".rstrip())
    return Exit.OK


def cmd_mac_generate(args: argparse.Namespace) -> int:
    inv = load(resolve_root(args), known_roles=ROLE_NAMES)
    mac, how = edit.mac_for(inv, args.machine, args.nic)
    print(mac)
    print(f"{args.machine} {args.nic}: {how}", file=sys.stderr)
    return Exit.OK


def cmd_values(key: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        root = resolve_root(args)
        if args.action == "add":
            new = edit.add_values(root, args.machine, key, args.values, known_roles=ROLE_NAMES)
            print(f"{args.machine}: {key} +{' +'.join(new)}" if new else f"{args.machine}: nothing to add")
        else:
            edit.remove_values(root, args.machine, key, args.values, known_roles=ROLE_NAMES)
            print(f"{args.machine}: {key} -{' -'.join(args.values)}")
        return Exit.OK

    return run
