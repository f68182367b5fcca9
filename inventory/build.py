"""load(): read -> validate -> allocate -> the resolved model."""

from __future__ import annotations

import gc
import time
from collections.abc import Collection
from pathlib import Path

from . import allocate, validate
from . import load as loader
from .errors import InventoryError, Problem, Reporter
from .lifecycle import MUST_BE_PINNED
from .model import Attachment, Disk, Inventory, Machine, Nic
from .pinning import unpinned_fields


def _sort(problems: list[Problem]) -> list[Problem]:
    return sorted(
        problems,
        key=lambda p: (p.file != "customer.yaml", p.file, p.line or 0, p.machine or "", p.field, p.message),
    )


def load(
    root: str | Path,
    *,
    cache_dir: str | Path | None = None,
    known_roles: Collection[str] | None = None,
    require_pinned: bool = True,
) -> Inventory:
    """Load, validate and allocate the customer directory ``root``.

    Raises InventoryError with every problem found.  ``cache_dir`` (or the environment
    variable UNIFORM_INVENTORY_CACHE) keeps parsed, type-checked files between runs.
    ``known_roles``: the role names a machine may list, ``payloads.ROLE_NAMES`` (the role
    registry lives above this package); None accepts any name.  ``require_pinned``: a
    machine in a state that must be pinned (staged and later, ``lifecycle.MUST_BE_PINNED``)
    with a generated or allocated value is a problem; only ``pin`` and ``transition``,
    which write those values, load without it."""
    return load_timed(root, None, cache_dir=cache_dir, known_roles=known_roles, require_pinned=require_pinned)


def load_timed(
    root: str | Path,
    timings: dict[str, float] | None,
    *,
    cache_dir: str | Path | None = None,
    known_roles: Collection[str] | None = None,
    require_pinned: bool = True,
) -> Inventory:
    """``load``, adding the seconds spent in each stage to ``timings`` (for bench/)."""
    # Loading allocates many small, long-lived objects and no cycles: the cyclic GC would
    # only rescan them repeatedly (a third of the run time on 10,000 machines).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(Path(root), timings, cache_dir, known_roles, require_pinned)
    finally:
        if enabled:
            gc.enable()


def _load(
    root: Path,
    timings: dict[str, float] | None,
    cache_dir: str | Path | None,
    known_roles: Collection[str] | None,
    require_pinned: bool,
) -> Inventory:
    rep = Reporter(root.name)
    t = [time.perf_counter()]

    def lap(stage: str) -> None:
        t.append(time.perf_counter())
        if timings is not None:
            timings[stage] = timings.get(stage, 0.0) + t[-1] - t[-2]

    raw = loader.read(root, rep, None if cache_dir is None else Path(cache_dir))
    lap("read+check")
    cust = validate.customer(raw, rep)
    nets = validate.networks(raw, cust, rep)
    plans = validate.machines(raw, nets, rep, known_roles)
    validate.capacity(plans, cust, rep)
    validate.host_keys(cust, plans, rep)
    lap("validate")
    dup_macs: set[tuple[str, int]] = set()
    mac_of = allocate.assign_macs(cust.name, cust.mac_prefix, plans, rep, dup_macs)
    addr_of = allocate.assign_addresses(cust.name, plans, nets, mac_of, rep, dup_macs)
    lap("allocate")
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
            virtualization=d.get("virtualization") or "kvm",
            move=(d["move"]["to"], d["move"]["disk"]) if d.get("move") else None,
        )
    inv = Inventory(cust, {n: nets[n].model for n in sorted(nets)}, machines, str(root))
    if require_pinned:
        for p in plans:
            if p.state not in MUST_BE_PINNED:
                continue
            for loc, value in unpinned_fields(inv, machines[p.name]):
                # Enforced here, not only in the policy pack: `pulumi up` alone must never
                # deliver a machine whose address can still move.
                p.bad(
                    rep,
                    loc,
                    f"{value} is generated, not pinned, and {p.name} is {p.state.value}: "
                    f"it could move (run `uniform pin -C {cust.name}`)",
                )
        if rep.problems:
            raise InventoryError(cust.name, _sort(loader.add_lines(root, rep.problems)))
    lap("model")
    return inv
