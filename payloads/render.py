"""Render every file a machine needs from the resolved inventory: the shared core.

Each delivery group's files come from its module in payloads/roles/ (the machine's
own "base" group and one per role); this module runs them, tags each file with its
group, adds one manifest per group and checks that no two files share a path.  Data
shared between machines is computed once per inventory in a :class:`Context`;
``render_customer`` reuses one context for all machines, ``render_machine`` the last one.
"""

from __future__ import annotations

import gc
from dataclasses import replace

from inventory import lifecycle
from inventory.model import Inventory, Machine

from . import manifest
from .context import Context, context
from .roles import BASE, ROLES
from .types import MachinePayload, PayloadFile

__all__ = ["render_customer", "render_machine"]


# --------------------------------------------------------------------------- entry points


def render_machine(inv: Inventory, machine: Machine) -> MachinePayload:
    """Every file ``machine`` receives (whatever its state; see :func:`render_customer`)."""
    return _render(context(inv), machine)


def render_customer(inv: Inventory) -> dict[str, MachinePayload]:
    """Payloads of the machines whose state is delivered (lifecycle.delivered), sorted by name."""
    ctx = Context(inv)
    # Rendering allocates ~10 strings per file and no garbage cycles worth collecting; the
    # cyclic GC's passes over the growing heap cost ~20 % at 10,000 machines, so pause it.
    paused = gc.isenabled()
    gc.disable()
    try:
        return {
            name: _render(ctx, inv.machines[name])
            for name in sorted(inv.machines)
            if lifecycle.delivered(inv.machines[name].state)
        }
    finally:
        if paused:
            gc.enable()


def _render(ctx: Context, m: Machine) -> MachinePayload:
    groups: dict[str, list[PayloadFile]] = {BASE.name: list(BASE.files(ctx, m))}
    for role in ROLES.values():
        if role.name in m.roles:
            groups[role.name] = [replace(f, group=role.name) for f in role.files(ctx, m)]
    files: list[PayloadFile] = []
    for group, members in groups.items():
        members.sort(key=lambda f: f.path)
        files.extend(members)
        files.append(PayloadFile(manifest.path(group), manifest.dump(m.name, members), group=group))
    files.sort(key=lambda f: f.path)
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        dup = sorted({p for p in paths if paths.count(p) > 1})
        raise ValueError(f"machine {m.name}: more than one file for {', '.join(dup)}")
    return MachinePayload(m.name, tuple(files))
