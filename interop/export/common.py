"""What every export shares: which machines it covers, their addresses, and its one error.

The selection follows ``uniform list``'s filters (cli/reads.py): filters combine; a repeated
``state``/``hypervisor``/``kind``/``network``/``machine`` matches any of its values, repeated
``tag``/``role`` must all be present.  Each format has its own default states (``DEFAULT_STATES``):
what a tool should see when the user names none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from inventory import lifecycle
from inventory.model import Inventory, Machine, State

__all__ = [
    "ALL_STATES",
    "DEFAULT_STATES",
    "ExportError",
    "Selection",
    "addresses",
    "macs",
    "networks",
    "select",
]

ALL_STATES: frozenset[State] = frozenset(State)

#: the states each format covers when no ``--state`` is given (docs/export.md):
#: * ansible and ssh: the machines uniform delivers to (staged, active, offline, failed) -- they
#:   exist and run uniform's files, so a person or a playbook may need to reach them, a failed one
#:   above all; planned machines are not built yet, decommissioning and retired ones are leaving;
#: * prometheus: active only -- a staged machine is being installed, an offline one is off on
#:   purpose and a failed one is known to be broken: scraping them would only page about what the
#:   inventory already says;
#: * csv: every state -- a spreadsheet is a record of everything, the state is a column.
DEFAULT_STATES: dict[str, frozenset[State]] = {
    "ansible": lifecycle.DELIVERED,
    "ssh": lifecycle.DELIVERED,
    "prometheus": frozenset({State.ACTIVE}),
    "csv": ALL_STATES,
}


class ExportError(Exception):
    """The inventory cannot be rendered in a format as it is (every reason at once, one per line)."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Selection:
    """Which machines an export covers; an empty filter does not filter."""

    states: frozenset[State] | None = None  # None: the format's DEFAULT_STATES
    names: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    hypervisors: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()


def select(inv: Inventory, fmt: str, sel: Selection | None = None) -> list[Machine]:
    """The machines of ``inv`` that ``sel`` picks for format ``fmt``, sorted by name."""
    sel = sel or Selection()
    states = DEFAULT_STATES[fmt] if sel.states is None else sel.states
    return [
        m
        for _, m in sorted(inv.machines.items())
        if m.state in states
        and (not sel.names or m.name in sel.names)
        and set(sel.tags) <= set(m.tags)
        and set(sel.roles) <= set(m.roles)
        and (not sel.hypervisors or m.hypervisor in sel.hypervisors)
        and (not sel.kinds or m.kind.value in sel.kinds)
        and (not sel.networks or any(a.network in sel.networks for n in m.nics for a in n.attachments))
    ]


def addresses(m: Machine, family: str) -> list[str]:
    """Every ``"ipv4"`` or ``"ipv6"`` address of ``m``, in NIC and attachment order."""
    out: list[str] = []
    for nic in m.nics:
        for att in nic.attachments:
            addr: str | None = getattr(att, family)
            if addr:
                out.append(addr)
    return out


def macs(m: Machine) -> list[str]:
    return [nic.mac for nic in m.nics]


def networks(m: Machine) -> list[str]:
    """The networks ``m`` is attached to, each once, in NIC order."""
    return list(dict.fromkeys(a.network for n in m.nics for a in n.attachments))
