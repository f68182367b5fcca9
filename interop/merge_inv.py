"""The second half of the merge: machines placed on networks, compared with the inventory.

A group of MACs (``interop.merge``) becomes a ``MachinePlan`` (a new machine) or a list of
``Change``s to an inventory machine; VMs' hosts get the role ``hypervisor``; known_hosts
keys are matched to machines by name, FQDN and address."""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML

from interop.known_hosts import PREFERENCE, HostKey, Index
from interop.plan import AttPlan, Change, MachinePlan, NicPlan, Plan, source_text
from interop.records import Source
from inventory.lifecycle import DELIVERED, USES_CAPACITY
from inventory.load import _line_of
from inventory.model import Customer, Inventory, Kind, Machine

if TYPE_CHECKING:
    from interop.merge import Group, _Merge
    from interop.merge_net import Networks

__all__ = ["machine_source", "mac_owners", "machines"]

#: the placeholder of a value the site does not state (marked in the file and the report)
HW_CORES, HW_MEMORY_MIB = 1, 1024


def mac_owners(inv: Inventory | None) -> dict[str, str]:
    return {} if inv is None else {n.mac: m.name for m in inv.machines.values() for n in m.nics}


@lru_cache(maxsize=256)
def _rt_doc(path: str, stamp: int) -> Any:  # stamp: the file's mtime, so an edited file is re-read
    try:
        return YAML(typ="rt").load(Path(path).read_text(encoding="utf-8"))
    except Exception:  # only for a line number: the loader already read this file
        return None


def machine_source(inv: Inventory | None, name: str, loc: tuple[str | int, ...] = ()) -> Source:
    """The inventory file (and line of ``loc``) where ``name`` is: read only for a conflict."""
    if inv is None or name not in inv.machines:
        return Source("inventory", 0)
    m = inv.machines[name]
    path = Path(inv.root) / m.file
    try:
        doc = _rt_doc(str(path), path.stat().st_mtime_ns)
    except OSError:
        doc = None
    line = 0
    if doc is not None:
        entry = doc
        if isinstance(doc, list):
            entry = next((e for e in doc if isinstance(e, dict) and e.get("name") == name), None)
        line = (_line_of(entry, loc) or 0) if entry is not None else 0
    # shown as the customer directory's name and the file in it, as the loader names files
    return Source(f"{Path(inv.root).name}/{m.file}", line)


def _memory(mib: int) -> str:
    return f"{mib // 1024}GiB" if mib % 1024 == 0 else f"{mib}MiB"


def place(m: _Merge, g: Group, nets: Networks) -> list[NicPlan]:
    """Each MAC's addresses on the networks containing them; a VM NIC's bridge checked."""
    assert g.name is not None
    name = g.name.value
    out: list[NicPlan] = []
    for mac in g.macs:
        mf = m.macs[mac]
        dom = mf.domain
        bridge = dom[0].nics[dom[1]].bridge if dom is not None else None
        atts: dict[str, AttPlan] = {}
        origin: dict[str, Source] = {}
        for fam, f in (("ipv4", mf.ipv4), ("ipv6", mf.ipv6)):
            if f is None:
                continue
            net = nets.containing(f.value)
            if net is None:
                m.conflict(
                    "outside-networks",
                    f.value,
                    f"{name} ({mac}): in no network of the customer",
                    [f.source],
                    f"{f.value} is not imported",
                )
                continue
            att = atts.setdefault(net, AttPlan(net))
            setattr(att, fam, f.value)
            origin[f.value] = f.source
            nets.placed.add(f.value)
        if dom is not None and bridge is not None:
            if not atts:
                by = nets.by_bridge.get(bridge)
                if by is None:
                    m.conflict(
                        "bridge-no-network",
                        bridge,
                        f"{name}'s NIC {mac} is on bridge {bridge}, which no network has",
                        [dom[0].source],
                        f"the NIC {mac} is not imported",
                    )
                    continue
                atts[by] = AttPlan(by)
            wrong = [n for n in atts if nets.get(n).bridge != bridge]
            if wrong:
                nb = nets.get(wrong[0]).bridge or "no bridge"
                m.conflict(
                    "bridge-no-network",
                    bridge,
                    f"{name}'s NIC {mac} is on bridge {bridge}; network {wrong[0]} is on {nb}",
                    [dom[0].source, *(f.source for f in (mf.ipv4, mf.ipv6) if f is not None)],
                    f"the NIC {mac} is not imported",
                )
                continue
        elif not atts:
            m.notes.append(f"not imported: {m.source_of(mac)}: {mac} ({name}) has no fixed address")
            continue
        out.append(NicPlan(f"eth{len(out)}", mac, list(atts.values()), bridge, origin))
    return out


def machines(m: _Merge, groups: list[Group], nets: Networks, plan: Plan) -> None:
    inv = m.inv
    created: dict[str, MachinePlan] = {}
    updates: dict[str, list[Change]] = {}
    vms: dict[str, list[tuple[str, Source]]] = {}  # hypervisor -> (VM, its domain's source)
    virt: dict[str, dict[str, Source]] = {}  # hypervisor -> domain type (kvm/qemu) -> first source
    for g in groups:
        if g.dropped or g.name is None:
            continue
        nics = place(m, g, nets)
        name = g.name.value
        if not nics:
            continue
        dom = g.domain[0] if g.domain is not None else None
        if dom is not None:
            if dom.hypervisor is None:
                m.conflict(
                    "unknown-hypervisor",
                    dom.name,
                    "no host named for this libvirt source",
                    [dom.source],
                    f"{name} is not imported",
                )
                continue
            vms.setdefault(dom.hypervisor, []).append((name, dom.source))
            if dom.virtualization in ("kvm", "qemu"):
                virt.setdefault(dom.hypervisor, {}).setdefault(dom.virtualization, dom.source)
        if g.existing is not None and inv is not None:
            x = inv.machines[g.existing]
            updates[name] = _diff(m, x, g, nics)
            if x.state not in DELIVERED:
                m.notes.append(
                    f"{name} runs ({_sources(m, g)[0]}) but is {x.state.value} in the inventory: "
                    "uniform delivers nothing to it until `uniform transition` moves it"
                )
            continue
        mp = MachinePlan(
            name=name,
            kind="vm" if dom is not None else "hw",
            cores=dom.cores if dom is not None else HW_CORES,
            memory_mib=dom.memory_mib if dom is not None else HW_MEMORY_MIB,
            sources=sorted({s for s in _sources(m, g)}, key=lambda s: (s.file, s.line)),
            hypervisor=dom.hypervisor if dom is not None else None,
            nics=nics,
            file=f"machines/{name}.yaml",
        )
        if dom is None:
            mp.guessed = {"cores": "not in DHCP/DNS", "memory": "not in DHCP/DNS"}
        else:
            mp.disks = [(d.name, d.size_gib, d.pool or "default") for d in dom.disks if d.size_gib]
            unknown = [d.name for d in dom.disks if not d.size_gib]
            if unknown:
                mp.guessed["disks"] = f"size of {', '.join(unknown)} unknown: not imported"
        created[name] = mp
    _hypervisors(m, inv, created, updates, vms)
    _virtualization(m, inv, created, updates, virt)
    _host_keys(m, inv, plan, created, updates, nets)
    plan.created = [created[n] for n in sorted(created)]
    plan.updated = [
        (n, inv.machines[n].file if inv is not None else "", ch) for n, ch in sorted(updates.items()) if ch
    ]
    plan.unchanged = sorted(n for n, ch in updates.items() if not ch)


def _sources(m: _Merge, g: Group) -> list[Source]:
    out: list[Source] = []
    for mac in g.macs:
        mf = m.macs[mac]
        chosen = [f for f in (mf.ipv4, mf.ipv6) if f is not None]  # DNS-given addresses too
        out.extend(f.source for f in (*mf.v4, *mf.v6, *mf.names, *chosen))
    if g.domain is not None:
        out.append(g.domain[0].source)
    return out


def _diff(m: _Merge, x: Machine, g: Group, nics: list[NicPlan]) -> list[Change]:
    inv = m.inv
    changes: list[Change] = []
    dom = g.domain[0] if g.domain is not None else None
    if dom is not None and x.kind is Kind.HW:
        m.conflict(
            "pinned",
            x.name,
            f"is hw in the inventory, a libvirt domain on {dom.hypervisor}",
            [dom.source, machine_source(inv, x.name, ("kind",))],
            f"{x.name} stays hw",
        )
    elif dom is not None:
        if dom.hypervisor is not None and x.hypervisor != dom.hypervisor:
            m.conflict(
                "pinned",
                x.name,
                f"runs on {dom.hypervisor}; the inventory places it on {x.hypervisor}",
                [dom.source, machine_source(inv, x.name, ("hypervisor",))],
                f"{x.name} stays on {x.hypervisor} (move it with `uniform machine move`)",
            )
        if x.cores != dom.cores:
            changes.append(Change(("cores",), x.cores, dom.cores, dom.source))
        if x.memory_mib != dom.memory_mib:
            changes.append(Change(("memory",), _memory(x.memory_mib), _memory(dom.memory_mib), dom.source))
        if not x.disks:
            for d in dom.disks:
                if d.size_gib:
                    changes.append(
                        Change(("disks",), None, (d.name, d.size_gib, d.pool or "default"), dom.source, True)
                    )
    used: set[int] = set()
    names = {n.name for n in x.nics}
    added = 0
    for nic in nics:
        src = m.source_of(nic.mac)
        on = {a.network for a in nic.attachments}
        idx = next((i for i, xn in enumerate(x.nics) if xn.mac == nic.mac), None)
        if idx is None:
            free = [
                i for i, xn in enumerate(x.nics) if i not in used and on & {a.network for a in xn.attachments}
            ]
            idx = next((i for i in free if not x.nics[i].mac_pinned), None)
            if idx is not None:
                changes.append(Change(("nics", idx, "mac"), f"{x.nics[idx].mac} (generated)", nic.mac, src))
            elif free:
                idx = free[0]
                xn = x.nics[idx]
                m.conflict(
                    "pinned",
                    x.name,
                    f"the inventory pins MAC {xn.mac} on {xn.name}; the site has {nic.mac}",
                    [src, machine_source(inv, x.name, ("nics", idx, "mac"))],
                    f"{xn.name} gets {nic.mac} (what runs)",
                )
                changes.append(Change(("nics", idx, "mac"), xn.mac, nic.mac, src))
        if idx is None:
            k = len(x.nics) + added
            nname = f"eth{k}"
            while nname in names:
                k += 1
                nname = f"eth{k}"
            names.add(nname)
            nic.name = nname
            changes.append(Change(("nics", len(x.nics) + added), None, nic, src, True))
            added += 1
            continue
        used.add(idx)
        changes.extend(_diff_nic(m, x, idx, nic, src))
    return changes


def _diff_nic(m: _Merge, x: Machine, idx: int, nic: NicPlan, src: Source) -> list[Change]:
    inv = m.inv
    assert inv is not None
    xn = x.nics[idx]
    out: list[Change] = []
    extra = 0
    for att in nic.attachments:
        j = next((j for j, xa in enumerate(xn.attachments) if xa.network == att.network), None)
        if j is None:
            out.append(Change(("nics", idx, "networks", len(xn.attachments) + extra), None, att, src, True))
            extra += 1
            continue
        xa = xn.attachments[j]
        for fam in ("ipv4", "ipv6"):
            new = getattr(att, fam)
            if new is None:
                continue
            old, pinned = getattr(xa, fam), getattr(xa, f"{fam}_pinned")
            loc = ("nics", idx, "networks", j, fam)
            read = nic.origin.get(new, src)  # the address's own file:line
            if old == new:
                net6 = inv.networks[att.network].ipv6 or ""
                if not pinned and not (fam == "ipv6" and net6.endswith("/64")):
                    out.append(Change(loc, f"{old} (allocated)", new, read))
                continue
            if pinned or old is None:
                m.conflict(
                    "pinned",
                    x.name,
                    f"the inventory pins {fam} {old or 'none'} on {xn.name}; the site has {new}",
                    [read, machine_source(inv, x.name, loc)],
                    f"{x.name} {xn.name} gets {new} (what runs)",
                )
                out.append(Change(loc, old or "none", new, read))
            else:
                out.append(Change(loc, f"{old} ({'EUI-64' if fam == 'ipv6' else 'allocated'})", new, read))
    return out


def _hypervisors(
    m: _Merge,
    inv: Inventory | None,
    created: dict[str, MachinePlan],
    updates: dict[str, list[Change]],
    vms: dict[str, list[tuple[str, Source]]],
) -> None:
    cust = inv.customer if inv is not None else Customer("", "")
    for hv, guests in sorted(vms.items()):
        if hv in created:
            mp = created[hv]
            if "hypervisor" not in mp.roles:
                mp.roles.append("hypervisor")
        elif inv is not None and hv in inv.machines:
            if "hypervisor" not in inv.machines[hv].roles:
                updates.setdefault(hv, []).append(Change(("roles",), None, "hypervisor", guests[0][1], True))
        else:
            m.conflict(
                "unknown-hypervisor",
                hv,
                "the libvirt host is no machine of the inventory or the DHCP data",
                [s for _, s in guests],
                f"its VMs are not imported: {', '.join(n for n, _ in guests)}",
            )
            for n, _ in guests:
                created.pop(n, None)
                updates.pop(n, None)
    for hv, mp in created.items():
        if "cores" not in mp.guessed or hv not in vms:
            continue
        new = [created[n] for n, _ in vms[hv] if n in created]
        others = [v for v in (inv.vms_on(hv) if inv is not None else []) if v.state in USES_CAPACITY]
        cores = sum(v.cores for v in new) + sum(v.cores for v in others)
        mem = sum(v.memory_mib for v in new) + sum(v.memory_mib for v in others)
        mp.cores = max(HW_CORES, math.ceil(cores / cust.cpu_overcommit))
        mp.memory_mib = max(HW_MEMORY_MIB, math.ceil(mem / cust.memory_overcommit))
        mp.guessed = {"cores": "the least its VMs need", "memory": "the least its VMs need"}


def _virtualization(
    m: _Merge,
    inv: Inventory | None,
    created: dict[str, MachinePlan],
    updates: dict[str, list[Change]],
    virt: dict[str, dict[str, Source]],
) -> None:
    """A hypervisor's ``virtualization`` is the type its domains run with (kvm, qemu): uniform
    renders every VM of a hypervisor alike, so domains of both types change nothing (a note)."""
    for hv, kinds in sorted(virt.items()):
        if len(kinds) > 1:
            srcs = ", ".join(source_text(s) for s in kinds.values())
            m.notes.append(
                f"{hv} runs domains of type {' and '.join(sorted(kinds))} ({srcs}): uniform runs every VM "
                "of a hypervisor alike; its virtualization is left as it is"
            )
            continue
        ((want, src),) = kinds.items()
        if hv in created:
            created[hv].virtualization = want if want != "kvm" else None
        elif inv is not None and hv in inv.machines and inv.machines[hv].virtualization != want:
            old = inv.machines[hv].virtualization
            updates.setdefault(hv, []).append(Change(("virtualization",), old, want, src))


def _host_keys(
    m: _Merge,
    inv: Inventory | None,
    plan: Plan,
    created: dict[str, MachinePlan],
    updates: dict[str, list[Change]],
    nets: Networks,
) -> None:
    pinned = dict(inv.customer.ssh.host_keys) if inv is not None else {}
    domains = {n.name: n.domain for n in plan.networks}
    if inv is not None:
        domains.update({n: net.domain for n, net in inv.networks.items()})
    port = inv.customer.ssh.port if inv is not None else 22
    index = Index(m.opts.known_hosts or [])
    missing: list[str] = []
    for name in sorted({*created, *updates}):
        atts = (
            [a for n in created[name].nics for a in n.attachments]
            if name in created
            else [_as_att(a) for n in inv.machines[name].nics for a in n.attachments]  # type: ignore[union-attr]
        )
        names = [name, f"{name}.{plan.domain}"]
        names += [f"{name}.{domains[a.network]}" for a in atts if a.network in domains]
        names += [x for a in atts for x in (a.ipv4, a.ipv6) if x]
        found = index.match(dict.fromkeys(names), port) if m.opts.known_hosts else []
        best = _best(m, name, found)
        have = pinned.get(name)
        if best is None:
            if have is None:
                missing.append(name)
            continue
        if have is None:
            plan.host_keys[name] = best.key
        elif have.split()[:2] != best.key.split()[:2] and have.split()[0] == best.type:
            m.conflict(
                "host-key",
                name,
                f"known_hosts has another {best.type} key than the pinned one",
                [best.source, Source(f"{Path(inv.root).name}/customer.yaml" if inv else "customer.yaml", 0)],
                f"{name} keeps the pinned key",
            )
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        how = "not in the --known-hosts file" if m.opts.known_hosts else "pass --known-hosts FILE"
        plan.notes.append(
            f"no SSH host key for {len(missing)} machine(s) ({how}; ssh delivery and verify need "
            f"ssh.host_keys): {shown}"
        )


def _as_att(a: Any) -> AttPlan:
    return AttPlan(a.network, a.ipv4, a.ipv6)


def _best(m: _Merge, name: str, found: list[HostKey]) -> HostKey | None:
    if not found:
        return None
    rank = {t: i for i, t in enumerate(PREFERENCE)}
    found = sorted(found, key=lambda k: (rank.get(k.type, len(rank)), k.source))
    best = found[0]
    other = [k for k in found[1:] if k.type == best.type and k.key != best.key]
    if other:
        m.conflict(
            "host-key",
            name,
            f"known_hosts has {len(other) + 1} different {best.type} keys for it",
            [best.source, *(k.source for k in other)],
            f"the key at {best.source}",
        )
    return best
