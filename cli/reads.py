"""The commands that read the inventory: check, unpinned, pin, list, render, policy."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from inventory import edit
from inventory.build import load
from inventory.units import format_mib
from payloads import ROLE_NAMES  # validation accepts the registry's roles

from .exitcodes import Exit, UsageError
from .fmt import addresses, machine_json, table
from .progress import Progress, count_files, load_with_progress
from .select import resolve_root

__all__ = ["cmd_check", "cmd_list", "cmd_pin", "cmd_policy", "cmd_render", "cmd_unpinned"]


def cmd_check(args: argparse.Namespace) -> int:
    root = resolve_root(args)
    inv = load_with_progress(root, Progress(args.progress))
    print(f"{inv.customer.name}: {len(inv.machines)} machines, {len(inv.networks)} networks: ok")
    return Exit.OK


def cmd_unpinned(args: argparse.Namespace) -> int:
    # listing what is unpinned must work precisely when load would refuse it
    inv = load_with_progress(resolve_root(args), Progress(args.progress), require_pinned=False)
    todo = edit.unpinned(inv)
    print("\n".join(todo) if todo else "nothing unpinned")
    return Exit.PROBLEMS if todo else Exit.OK


def cmd_pin(args: argparse.Namespace) -> int:
    root = resolve_root(args)
    progress = Progress(args.progress)
    with progress.running(f"loading {root} ({count_files(root)} machine files)"):
        # the same load pin() does first: fail here with the problems, before any counter
        load(root, known_roles=ROLE_NAMES, require_pinned=False)
    with edit.guarded(root, reload=False) as txn:  # pin() re-loads; an interrupted pin is undone
        done = edit.pin(root, progress=progress.counter("pinning: files"), txn=txn, known_roles=ROLE_NAMES)
    progress.done()
    print("\n".join(f"pinned {line}" for line in done) if done else "nothing to pin")
    return Exit.OK


def cmd_list(args: argparse.Namespace) -> int:
    inv = load_with_progress(resolve_root(args), Progress(args.progress))
    ms = [
        m
        for m in inv.machines.values()
        if (not args.tag or set(args.tag) <= set(m.tags))
        and (not args.role or set(args.role) <= set(m.roles))
        and (not args.state or m.state.value in args.state)
        and (not args.hypervisor or m.hypervisor in args.hypervisor)
        and (not args.kind or m.kind.value == args.kind)
        and (not args.network or any(at.network in args.network for n in m.nics for at in n.attachments))
    ]
    if args.json:
        print(json.dumps([machine_json(m) for m in ms], indent=2))
        return Exit.OK
    rows = [
        [
            m.name,
            m.kind.value,
            m.state.value,
            str(m.cores),
            format_mib(m.memory_mib),
            m.hypervisor or "-",
            " ".join(addresses(m)) or "-",
            ",".join(m.tags) or "-",
            ",".join(m.roles) or "-",
        ]
        for m in ms
    ]
    head = ["NAME", "KIND", "STATE", "CORES", "MEMORY", "HYPERVISOR", "ADDRESSES", "TAGS", "ROLES"]
    print(table(rows, head))
    print(f"{len(ms)} of {len(inv.machines)} machines", file=sys.stderr)
    return Exit.OK


def cmd_render(args: argparse.Namespace) -> int:
    import payloads
    from connectors.local import write_tree

    if args.target and len(args.target) == 2:
        who, outdir = args.target
        if Path(who, "customer.yaml").is_file():
            args.dir = who
        else:
            args.customer = who
    elif args.target and len(args.target) == 1:
        outdir = args.target[0]
    else:
        raise UsageError("usage: uniform render [CUSTOMER|DIR] OUTDIR")
    inv = load_with_progress(resolve_root(args), Progress(args.progress))
    rendered = payloads.render_customer(inv)
    written = write_tree(rendered, Path(outdir))
    for name, pl in rendered.items():
        print(f"{name}\t{pl.digest}\t{len(pl.files)} files\treloads: {' '.join(pl.reloads()) or '-'}")
    print(f"{len(written)} files for {len(rendered)} machines in {outdir}", file=sys.stderr)
    return Exit.OK


def cmd_policy(args: argparse.Namespace) -> int:
    from inventory.policy import RULES, check

    inv = load_with_progress(resolve_root(args), Progress(args.progress))
    found = check(inv)
    for v in found:
        print(f"{inv.customer.name}: {v}")
    if not found:
        print(f"{inv.customer.name}: {len(RULES)} rules, no violations")
    return Exit.PROBLEMS if found else Exit.OK
