"""Naming the machines of an import, and the addresses DNS gives them by name.

A group of MACs (one machine) is named by its DHCP host name, else the DNS name of its
address (PTR, then A/AAAA), else its libvirt domain's name, else its address; names must be
unique (a name on MACs of two groups is a conflict unless they are one host's NICs). Then
the A/AAAA records of each name fill in the addresses its NICs have no reservation for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from interop import merge_inv
from interop.merge_facts import Fact, Group, short
from interop.merge_net import Networks, label
from interop.records import Source

if TYPE_CHECKING:
    from interop.merge import _Merge

__all__ = ["dns_addresses", "name_groups"]


def name_groups(m: _Merge, groups: list[Group], nets: Networks) -> None:
    """Names, unique: a name on MACs of another group is a conflict, unless both are
    hardware seen only in DHCP/DNS and their networks differ (one host's NICs)."""
    for g in groups:
        name_one(m, g)
    taken: dict[str, Group] = {}
    inv_names = set(m.inv.machines) if m.inv is not None else set()
    holders = {g.existing: g for g in groups if g.existing}
    for g in sorted(groups, key=lambda g: (g.existing is None, g.name.rank if g.name else g.rank)):
        assert g.name is not None
        n = g.name.value
        if g.existing is None and n in inv_names:
            holder = holders.get(n)
            if holder is None:
                g.existing = n  # keyed by name: the inventory machine of that name
                holders[n] = g
            elif same_host(m, holder, g, nets):
                holder.macs.extend(g.macs)
                g.dropped = True
                continue
            else:
                m.conflict(
                    "name-macs",
                    n,
                    f"the inventory's {n} has other MACs than {', '.join(g.macs)} on its networks",
                    [g.name.source, merge_inv.machine_source(m.inv, n)],
                    f"{n} keeps the inventory's MACs; {', '.join(g.macs)} are not imported",
                )
                g.dropped = True
                continue
        prev = taken.get(n)
        if prev is not None:
            if same_host(m, prev, g, nets):
                prev.macs.extend(g.macs)
                g.dropped = True
                continue
            m.conflict(
                "name-macs",
                n,
                f"named so for {', '.join(prev.macs)} and for {', '.join(g.macs)}",
                [name_source(m, prev), name_source(m, g)],
                f"{n} is {', '.join(prev.macs)} ({name_source(m, prev)}); "
                f"{', '.join(g.macs)} are not imported",
            )
            g.dropped = True
            continue
        taken[n] = g


def networks_of(m: _Merge, g: Group, nets: Networks) -> set[str | None]:
    out: set[str | None] = set()
    for mac in g.macs:
        mf = m.macs[mac]
        out.update(nets.containing(f.value) for f in (mf.ipv4, mf.ipv6) if f is not None)
    if g.existing is not None and m.inv is not None:
        out.update(a.network for n in m.inv.machines[g.existing].nics for a in n.attachments)
    return out


def same_host(m: _Merge, a: Group, b: Group, nets: Networks) -> bool:
    """Two NICs of one hardware host: no libvirt domain, each on networks the other is not."""
    if a.domain is not None or b.domain is not None:
        return False
    if a.existing is not None and m.inv is not None and m.inv.machines[a.existing].is_vm:
        return False
    na, nb = networks_of(m, a, nets), networks_of(m, b, nets)
    return bool(na) and bool(nb) and None not in na | nb and not na & nb


def name_source(m: _Merge, g: Group) -> Source:
    return g.name.source if g.name is not None else m.source_of(g.macs[0])


def name_one(m: _Merge, g: Group) -> None:
    dhcp = sorted((f for mac in g.macs for f in m.macs[mac].names), key=lambda f: f.rank)
    addrs = m.addresses(g)
    dom = g.domain[0] if g.domain else None
    pick: Fact | None = None
    if dhcp:
        names = {f.value for f in dhcp}
        pick = next((f for f in dhcp if dom is not None and f.value == label(dom.name)), dhcp[0])
        if len(names) > 1:
            m.notes.append(
                f"{pick.value}: other DHCP host names of its NICs not kept: "
                + ", ".join(f"{f.value} ({f.source})" for f in dhcp if f.value != pick.value)
            )
        for a in addrs:
            for kind, recs in (("A/AAAA", m.fwd.get(a.value, [])), ("PTR", m.ptr.get(a.value, []))):
                if not recs or any(short(r.value) == pick.value for r in recs):
                    continue
                first = min([pick, *recs], key=lambda f: f.rank)
                chosen = short(first.value)
                m.conflict(
                    "dns-dhcp",
                    a.value,
                    f"DHCP names it {pick.value}, DNS {kind} {', '.join(r.value for r in recs)}",
                    [a.source, pick.source, *(r.source for r in recs)],
                    f"named {chosen} ({first.source})",
                )
                pick = Fact(chosen, first.source, first.rank)
    if pick is None:
        for table in (m.ptr, m.fwd):
            recs = sorted((r for a in addrs for r in table.get(a.value, [])), key=lambda f: f.rank)
            if recs:
                pick = Fact(short(recs[0].value), recs[0].source, recs[0].rank)
                g.how = "dns"
                break
    else:
        g.how = "dhcp"
    if pick is None and g.domain is not None:
        pick = Fact(label(g.domain[0].name), g.domain[0].source, g.domain[1])
        g.how = "libvirt"
    if pick is None:
        addr0 = addrs[0] if addrs else None
        base = addr0.value if addr0 else g.macs[0]
        made = "host-" + label(base.replace(".", "-").replace(":", "-"))
        what = "address" if addr0 else "MAC"
        m.notes.append(f"{made}: no host name anywhere; named after its {what}")
        pick = Fact(made, m.source_of(g.macs[0]), g.rank)
        g.how = "address"
    if pick.value != label(pick.value):
        m.notes.append(f"{label(pick.value)}: named {pick.value!r} at {pick.source}, made a DNS label")
        pick = Fact(label(pick.value), pick.source, pick.rank)
    if g.existing is not None and pick.value != g.existing:
        inv_src = merge_inv.machine_source(m.inv, g.existing)
        m.conflict(
            "mac-other-machine",
            g.macs[0],
            f"is {g.existing}'s in the inventory; the site names it {pick.value}",
            [pick.source, inv_src],
            f"it stays {g.existing} (the inventory's name)",
        )
        pick = Fact(g.existing, inv_src, g.rank)
        g.how = "inventory"
    g.name = pick


# ------------------------------------------------------------------ DNS addresses by name


def dns_addresses(m: _Merge, groups: list[Group], nets: Networks) -> dict[str, list[Fact]]:
    """Addresses DNS gives a machine by its name, for families its NIC lacks: per MAC."""
    have: dict[str, str] = {}  # address -> MAC holding it
    for mf in m.macs.values():
        for f in (mf.ipv4, mf.ipv6):
            if f is not None:
                have[f.value] = mf.mac
    extra: dict[str, list[Fact]] = {}
    for g in groups:
        if g.dropped or g.name is None:
            continue
        recs = sorted(m.by_name.get(g.name.value, ()), key=lambda f: f.rank)
        v6_only = [f for n, f in m.nameless_v6 if n == g.name.value]
        for rec in [*recs, *v6_only]:
            if have.get(rec.value) in g.macs:
                continue
            fam = "ipv6" if ":" in rec.value else "ipv4"
            net = nets.containing(rec.value)
            mac = nic_for(m, g, net, nets)
            if mac is None:
                continue  # not on a network of this machine: another zone's name (noted below)
            mf = m.macs[mac]
            cur = getattr(mf, fam)
            if cur is not None:
                if cur.value != rec.value:
                    m.conflict(
                        "dns-dhcp",
                        g.name.value,
                        f"DNS gives {rec.value}, DHCP {cur.value} ({mac})",
                        [cur.source, rec.source],
                        f"{g.name.value} keeps {cur.value} (what DHCP hands out)",
                    )
                continue
            if rec.value in have:
                m.conflict(
                    "address-macs",
                    rec.value,
                    f"DNS names it {g.name.value} ({mac}); DHCP gives it to {have[rec.value]}",
                    [rec.source, m.source_of(have[rec.value])],
                    f"{rec.value} stays with {have[rec.value]}",
                )
                continue
            setattr(mf, fam, rec)
            have[rec.value] = mac
    return extra


def nic_for(m: _Merge, g: Group, net: str | None, nets: Networks) -> str | None:
    if net is None:
        return g.macs[0] if len(g.macs) == 1 else None
    for mac in g.macs:
        mf = m.macs[mac]
        on = {nets.containing(f.value) for f in (mf.ipv4, mf.ipv6) if f is not None}
        if mf.domain is not None:
            on.add(nets.by_bridge.get(mf.domain[0].nics[mf.domain[1]].bridge or ""))
        if net in on:
            return mac
    return g.macs[0] if len(g.macs) == 1 else None
