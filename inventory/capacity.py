"""Hypervisor capacity: which VMs count against a hypervisor, and how much room is left.

One implementation for validation (on machine plans, before the model exists), the
policy rules, the review summary and the report (on the model).  A VM counts while its
state uses capacity (``lifecycle.USES_CAPACITY``); a hypervisor allows its own cores and
memory times the customer's overcommit ratios.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from .lifecycle import USES_CAPACITY
from .model import Inventory, Machine, State

__all__ = ["Placed", "Usage", "by_hypervisor", "of", "usage"]


class Placed(Protocol):
    """What capacity needs of a machine: a model ``Machine`` or a validation plan."""

    @property
    def name(self) -> str: ...
    @property
    def hypervisor(self) -> str | None: ...
    @property
    def state(self) -> State: ...
    @property
    def cores(self) -> int: ...
    @property
    def memory_mib(self) -> int: ...


P = TypeVar("P", bound=Placed)


def by_hypervisor(machines: Iterable[P]) -> dict[str, list[P]]:
    """Every machine placed on a hypervisor, grouped by that hypervisor, in input order."""
    out: dict[str, list[P]] = {}
    for m in machines:
        if m.hypervisor is not None:
            out.setdefault(m.hypervisor, []).append(m)
    return out


@dataclass(frozen=True)
class Usage:
    """A hypervisor's load: what its counted VMs use against what it allows."""

    hypervisor: str
    vms: tuple[str, ...]  # the VMs that count, by name
    cores: int
    cores_allowed: float
    memory_mib: int
    memory_allowed_mib: float

    @property
    def over_cores(self) -> bool:
        return self.cores > self.cores_allowed

    @property
    def over_memory(self) -> bool:
        return self.memory_mib > self.memory_allowed_mib


def usage(
    hypervisor: str,
    cores: int,
    memory_mib: int,
    vms: Iterable[Placed],
    cpu_overcommit: float,
    memory_overcommit: float,
) -> Usage:
    counted = sorted((v for v in vms if v.state in USES_CAPACITY), key=lambda v: v.name)
    return Usage(
        hypervisor=hypervisor,
        vms=tuple(v.name for v in counted),
        cores=sum(v.cores for v in counted),
        cores_allowed=cores * cpu_overcommit,
        memory_mib=sum(v.memory_mib for v in counted),
        memory_allowed_mib=memory_mib * memory_overcommit,
    )


def of(inv: Inventory, hypervisor: Machine) -> Usage:
    """The usage of one hypervisor of a loaded inventory."""
    c = inv.customer
    return usage(
        hypervisor.name,
        hypervisor.cores,
        hypervisor.memory_mib,
        inv.vms_on(hypervisor.name),
        c.cpu_overcommit,
        c.memory_overcommit,
    )
