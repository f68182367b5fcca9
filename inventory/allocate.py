"""Deterministic MAC and address allocation.

Order matters and is fixed: explicit (pinned) values are claimed first, then the
unpinned ones in machine-name order, each starting at a hash-derived slot and
probing forward.  See docs/inventory.md ("Allocation and stability").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from . import addresses, macs
from .addresses import Pool
from .errors import Loc, Reporter, render_path
from .lifecycle import DELIVERED, HOLDS_ADDRESSES
from .model import State
from .validate import MachinePlan, NetPlan


@dataclass
class Addr:
    ipv4: str | None = None
    ipv6: str | None = None
    ipv4_pinned: bool = False
    ipv6_pinned: bool = False


def seniority(p: MachinePlan) -> tuple[int, str]:
    """The order in which pinned values are claimed: delivered machines first, then the
    others, then planned ones.  A duplicate is reported on the later claimant, so the new
    (planned) machine that causes a collision is the one named, not the running one."""
    rank = 0 if p.state in DELIVERED else 2 if p.state is State.PLANNED else 1
    return (rank, p.name)


def slot_hash(customer: str, machine: str, nic: str, network: str, version: int) -> int:
    key = f"{customer}\0{machine}\0{nic}\0{network}\0{version}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:16], "big")


def assign_macs(
    customer: str, prefix: str, plans: list[MachinePlan], rep: Reporter, dup_macs: set[tuple[str, int]]
) -> dict[tuple[str, int], str]:
    """MAC for every (machine, nic index): explicit wins, else generated without collisions.

    NICs whose explicit MAC duplicates another's are added to ``dup_macs`` (already reported)."""
    out: dict[tuple[str, int], str] = {}
    owner: dict[str, tuple[str, Loc]] = {}
    dup_macs.clear()
    for p in sorted(plans, key=seniority):
        for i, nic in enumerate(p.nics):
            if nic.mac is None:
                continue
            out[(p.name, i)] = nic.mac
            if p.state not in HOLDS_ADDRESSES:
                continue  # retired: its MAC is released
            if nic.mac in owner:
                name, loc = owner[nic.mac]
                p.bad(rep, nic.loc + ("mac",), f"duplicate MAC {nic.mac} (also {name} {render_path(loc)})")
                dup_macs.add((p.name, i))
            else:
                owner[nic.mac] = (p.name, nic.loc)
    for p in plans:
        for i, nic in enumerate(p.nics):
            if nic.mac is not None:
                continue
            attempt = 0
            mac = macs.generate_mac(prefix, customer, p.name, nic.name, attempt)
            while mac in owner:
                attempt += 1
                mac = macs.generate_mac(prefix, customer, p.name, nic.name, attempt)
            out[(p.name, i)] = mac
            if p.state in HOLDS_ADDRESSES:
                owner[mac] = (p.name, nic.loc)
    return out


def assign_addresses(
    customer: str,
    plans: list[MachinePlan],
    nets: dict[str, NetPlan],
    mac_of: dict[tuple[str, int], str],
    rep: Reporter,
    dup_macs: set[tuple[str, int]] | frozenset[tuple[str, int]] = frozenset(),
) -> dict[tuple[str, int, int], Addr]:
    """Addresses for every (machine, nic index, attachment index)."""
    out: dict[tuple[str, int, int], Addr] = {}
    todo: list[tuple[MachinePlan, int, int, int, Pool]] = []  # unpinned, to allocate after the pinned

    def claim(p: MachinePlan, i: int, j: int, v: int, pool: Pool, value: int, what: str) -> bool:
        att = p.nics[i].atts[j]
        field = att.loc + (f"ipv{v}",)
        why = pool.why_not(value)
        if why:
            p.bad(rep, field, f"{what}{why}")
            return False
        if value in pool.used:
            name, loc = pool.used[value]
            p.bad(rep, field, f"duplicate IPv{v} {addresses.fmt(value, v)} (also {name} {render_path(loc)})")
            return False
        pool.take(value, (p.name, field))
        return True

    for p in sorted(plans, key=seniority):
        holds = p.state in HOLDS_ADDRESSES
        for i, nic in enumerate(p.nics):
            for j, att in enumerate(nic.atts):
                a = Addr()
                out[(p.name, i, j)] = a
                if not holds:
                    continue  # retired: pinned addresses are released and not checked
                net = nets[att.network]
                for v, spec, pool in ((4, att.ipv4, net.v4), (6, att.ipv6, net.v6)):
                    field = att.loc + (f"ipv{v}",)
                    if spec == "none":
                        continue
                    if v == 6 and spec == "auto":
                        spec = None
                    if pool is None:
                        if spec is not None:
                            if (net.model.ipv4 if v == 4 else net.model.ipv6) is None:
                                p.bad(rep, field, f"network {att.network!r} has no IPv{v} prefix")
                        continue
                    if spec is None:
                        if v == 6 and pool.prefixlen == 64:
                            if (p.name, i) in dup_macs:
                                continue  # the duplicate MAC is the problem, not its EUI-64 address
                            value = addresses.eui64(mac_of[(p.name, i)], pool.first)
                            if claim(p, i, j, 6, pool, value, "EUI-64 address "):
                                a.ipv6 = addresses.fmt(value, 6)
                        else:
                            todo.append((p, i, j, v, pool))
                        continue
                    ip = addresses.parse_ip(spec, v)
                    if isinstance(ip, str):
                        extra = "; use 'none' to opt out" + ("" if v == 4 else " or 'auto'")
                        p.bad(rep, field, ip + extra)
                        continue
                    if claim(p, i, j, v, pool, ip[0], ""):
                        text = addresses.fmt(ip[0], v)
                        if v == 4:
                            a.ipv4, a.ipv4_pinned = text, True
                        else:
                            a.ipv6, a.ipv6_pinned = text, True
    # Unpinned values are allocated in name order whatever the claim order above: the
    # order decides who wins a hash collision, so it must not depend on states.
    order = {p.name: k for k, p in enumerate(plans)}
    todo.sort(key=lambda t: (order[t[0].name], t[1], t[2], t[3]))
    for p, i, j, v, pool in todo:
        nic = p.nics[i]
        att = nic.atts[j]
        field = att.loc + (f"ipv{v}",)
        h = slot_hash(customer, p.name, nic.name, att.network, v)
        got = pool.allocate(h, (p.name, field))
        if got is None:
            p.bad(rep, field, f"network {att.network!r} is exhausted: no free IPv{v} address for {p.name}")
            continue
        if v == 4:
            out[(p.name, i, j)].ipv4 = addresses.fmt(got, 4)
        else:
            out[(p.name, i, j)].ipv6 = addresses.fmt(got, 6)
    return out
