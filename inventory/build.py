"""load(): read -> validate -> allocate -> the resolved model."""

from __future__ import annotations

from pathlib import Path

from . import allocate, validate
from . import load as loader
from .errors import InventoryError, Problem, Reporter
from .model import Attachment, Disk, Inventory, Machine, Nic


def _sort(problems: list[Problem]) -> list[Problem]:
    return sorted(
        problems,
        key=lambda p: (p.file != "customer.yaml", p.file, p.line or 0, p.machine or "", p.field, p.message),
    )


def load(root: str | Path) -> Inventory:
    """Load, validate and allocate the customer directory ``root``.

    Raises InventoryError with every problem found."""
    root = Path(root)
    rep = Reporter(root.name)
    raw = loader.read(root, rep)
    cust = validate.customer(raw, rep)
    nets = validate.networks(raw, cust, rep)
    plans = validate.machines(raw, nets, rep)
    validate.capacity(plans, cust, rep)
    dup_macs: set[tuple[str, int]] = set()
    mac_of = allocate.assign_macs(cust.name, cust.mac_prefix, plans, rep, dup_macs)
    addr_of = allocate.assign_addresses(cust.name, plans, nets, mac_of, rep, dup_macs)
    if rep.problems:
        raise InventoryError(cust.name, _sort(loader.add_lines(root, rep.problems)))
    machines: dict[str, Machine] = {}
    for p in plans:
        d = p.data
        nics = []
        for i, n in enumerate(p.nics):
            atts = []
            for j, a in enumerate(n.atts):
                ad = addr_of[(p.name, i, j)]
                atts.append(Attachment(a.network, ad.ipv4, ad.ipv6, ad.ipv4_pinned, ad.ipv6_pinned))
            nics.append(Nic(n.name, mac_of[(p.name, i)], n.mac is not None, tuple(atts)))
        machines[p.name] = Machine(
            name=p.name,
            kind=p.kind,
            cores=p.cores,
            memory_mib=p.memory_mib,
            state=p.state,
            file=p.raw.file,
            disks=tuple(Disk(x["name"], x["size"], x["pool"]) for x in d.get("disks", [])),
            nics=tuple(nics),
            tags=tuple(d.get("tags", [])),
            roles=tuple(d.get("roles", [])),
            history=tuple(p.history),
            hypervisor=d.get("hypervisor"),
            location=d.get("location"),
        )
    return Inventory(cust, {n: nets[n].model for n in sorted(nets)}, machines, str(root))
