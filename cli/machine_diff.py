"""What a change does to the machines of one customer, for the head of ``uniform review``'s summary.

The inventory is loaded at the base revision (``git archive <base> stacks/<dir>`` into a
temporary directory) and from the working tree, and the machines' fields are compared:

    app1: memory 8 GiB -> 12 GiB (on hv1: 120 GiB of 128 GiB memory used)
    web3: added (vm on hv1, 2 cores, 4 GiB, 10.20.0.12)
    old1: removed
    db1: state active -> offline

Hypervisor usage is ``inventory.capacity.of`` (the numbers validation checks) in the new
inventory."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

from inventory import capacity
from inventory.build import load
from inventory.errors import InventoryError
from inventory.model import Inventory, Machine
from inventory.units import format_mib

from .fmt import addresses

__all__ = ["describe_changes", "machine_changes"]


def _nic(m: Machine) -> dict[str, str]:
    """NIC name -> 'MAC addresses...' of a machine."""
    return {
        n.name: " ".join([n.mac, *(a for at in n.attachments for a in (at.ipv4, at.ipv6) if a)])
        for n in m.nics
    }


def _disks(m: Machine) -> str:
    return ", ".join(f"{d.name} {d.size_gib} GiB" for d in m.disks) or "none"


def _on(inv: Inventory, m: Machine, what: str) -> str:
    """`` (on hv1: 120 GiB of 128 GiB memory used)`` for a VM whose hypervisor is in ``inv``."""
    hv = inv.machines.get(m.hypervisor or "")
    if hv is None:
        return ""
    u = capacity.of(inv, hv)
    if what == "cores":
        return f" (on {hv.name}: {u.cores} of {u.cores_allowed:g} vCPUs used)"
    return f" (on {hv.name}: {format_mib(u.memory_mib)} of {format_mib(u.memory_allowed_mib)} memory used)"


def _set_change(field: str, old: tuple[str, ...], new: tuple[str, ...]) -> str | None:
    plus = [f"+{v}" for v in new if v not in old]
    minus = [f"-{v}" for v in old if v not in new]
    return f"{field} {' '.join(plus + minus)}" if plus or minus else None


def describe_changes(old: Inventory | None, new: Inventory | None) -> list[str]:
    """One line per machine added, removed or changed between two loads of one customer."""
    before = old.machines if old else {}
    after = new.machines if new else {}
    lines: list[str] = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if b is None:
            lines.append(f"{name}: removed")
            continue
        if a is None:
            where = f"{b.kind.value} on {b.hypervisor}" if b.hypervisor else b.kind.value
            cores = f"{b.cores} core" + ("" if b.cores == 1 else "s")
            parts = [where, cores, format_mib(b.memory_mib), *addresses(b)[:2]]
            on = _on(new, b, "memory") if new and b.hypervisor else ""
            lines.append(f"{name}: added ({', '.join(parts)}){on}")
            continue
        what: list[str] = []
        if a.kind != b.kind:
            what.append(f"kind {a.kind.value} -> {b.kind.value}")
        if a.state != b.state:
            what.append(f"state {a.state.value} -> {b.state.value}")
        if a.hypervisor != b.hypervisor:
            what.append(f"hypervisor {a.hypervisor or '-'} -> {b.hypervisor or '-'}")
        if a.cores != b.cores:
            what.append(f"cores {a.cores} -> {b.cores}" + (_on(new, b, "cores") if new else ""))
        if a.memory_mib != b.memory_mib:
            mem = f"memory {format_mib(a.memory_mib)} -> {format_mib(b.memory_mib)}"
            what.append(mem + (_on(new, b, "memory") if new else ""))
        if a.disks != b.disks:
            what.append(f"disks {_disks(a)} -> {_disks(b)}")
        na, nb = _nic(a), _nic(b)
        for nic in sorted(set(na) | set(nb)):
            if nic not in nb:
                what.append(f"nic {nic} removed")
            elif nic not in na:
                what.append(f"nic {nic} added ({nb[nic]})")
            elif na[nic] != nb[nic]:
                what.append(f"nic {nic} {na[nic]} -> {nb[nic]}")
        for field, x, y in (("roles", a.roles, b.roles), ("tags", a.tags, b.tags)):
            change = _set_change(field, x, y)
            if change:
                what.append(change)
        if what:
            lines.append(f"{name}: {', '.join(what)}")
    return lines


def _load_at(project: Path, base: str, inv_dir: str, tmp: Path) -> Inventory | None:
    """The customer ``stacks/<inv_dir>`` as it was at ``base`` (None when it did not exist)."""
    proc = subprocess.run(
        ["git", "archive", "--format=tar", base, "--", f"stacks/{inv_dir}"],
        cwd=project,
        capture_output=True,
    )
    if proc.returncode != 0:
        return None
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(tmp, filter="data")
    root = tmp / "stacks" / inv_dir
    return load(root) if (root / "customer.yaml").is_file() else None


def machine_changes(project: Path, base: str, inv_dir: str) -> list[str]:
    """``describe_changes`` between ``base`` and the working tree for one customer directory.

    A side that does not load is named in a line of its own instead (the preview reports why)."""
    with tempfile.TemporaryDirectory(prefix="uniform-review-") as tmp:
        try:
            old = _load_at(project, base, inv_dir, Path(tmp))
        except InventoryError:
            return [f"(stacks/{inv_dir} at {base} does not load: machines not compared)"]
    root = project / "stacks" / inv_dir
    try:
        new = load(root) if (root / "customer.yaml").is_file() else None
    except InventoryError:
        return [f"(stacks/{inv_dir} does not load: machines not compared)"]
    return describe_changes(old, new)
