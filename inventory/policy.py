"""Mandatory rules over a loaded inventory, shared by ``uniform policy`` and the Pulumi policy pack.

Pure Python (no Pulumi).  Each rule returns ``Violation``s naming the machine they are
about, so the policy pack (``policy/``) can attach them to that machine's component.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import capacity
from .errors import render_path
from .lifecycle import DELIVERED, MUST_BE_PINNED, ON_HYPERVISOR
from .model import Inventory
from .pinning import unpinned_fields


@dataclass(frozen=True)
class Violation:
    rule: str
    machine: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.machine}: {self.message}"


def pinned_addresses(inv: Inventory) -> list[Violation]:
    """Active (and offline/failed) machines have every MAC and allocated address pinned in their file."""
    out = []
    for m in inv.machines.values():
        if m.state not in MUST_BE_PINNED:
            continue
        loose = [f"{render_path(loc)} = {value}" for loc, value in unpinned_fields(inv, m)]
        if loose:
            out.append(
                Violation(
                    "pinned-addresses",
                    m.name,
                    f"is {m.state.value} with unpinned {', '.join(loose)} (run `uniform pin`)",
                )
            )
    return out


def hypervisor_capacity(inv: Inventory) -> list[Violation]:
    """No hypervisor carries more VM cores/memory than its own times the customer's overcommit ratio."""
    out = []
    c = inv.customer
    for hv in inv.machines.values():
        if "hypervisor" not in hv.roles:
            continue
        u = capacity.of(inv, hv)
        if u.over_cores:
            out.append(
                Violation(
                    "hypervisor-capacity",
                    hv.name,
                    f"VMs use {u.cores} cores; {hv.cores} cores x cpu overcommit {c.cpu_overcommit:g} "
                    f"allows {u.cores_allowed:g}",
                )
            )
        if u.over_memory:
            out.append(
                Violation(
                    "hypervisor-capacity",
                    hv.name,
                    f"VMs use {u.memory_mib} MiB memory; {hv.memory_mib} MiB x memory overcommit "
                    f"{c.memory_overcommit:g} allows {u.memory_allowed_mib:g}",
                )
            )
    return out


def vm_on_live_hypervisor(inv: Inventory) -> list[Violation]:
    """A VM that should be defined on its hypervisor needs a hypervisor that receives its files."""
    out = []
    for vm in inv.machines.values():
        if not vm.is_vm or vm.state not in ON_HYPERVISOR or vm.hypervisor is None:
            continue
        hv = inv.machines.get(vm.hypervisor)
        if hv is not None and hv.state not in DELIVERED:
            out.append(
                Violation(
                    "vm-on-live-hypervisor",
                    vm.name,
                    f"is {vm.state.value} but its hypervisor {hv.name} is {hv.state.value} "
                    "(its VM definitions are not delivered)",
                )
            )
    return out


RULES: dict[str, Callable[[Inventory], list[Violation]]] = {
    "pinned-addresses": pinned_addresses,
    "hypervisor-capacity": hypervisor_capacity,
    "vm-on-live-hypervisor": vm_on_live_hypervisor,
}


def check(inv: Inventory) -> list[Violation]:
    """Every violation of every rule, sorted by machine then rule."""
    out = [v for rule in RULES.values() for v in rule(inv)]
    return sorted(out, key=lambda v: (v.machine, v.rule, v.message))
