"""What an import would do: the ``Plan`` that ``interop.merge`` builds and ``interop.write``
applies, and its rendering as the merge report (text or JSON).

A plan is plain data. Every fact carries the ``Source`` (file:line) it was read from, so the
report can name every line involved in a conflict."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from interop.records import Source

__all__ = [
    "AttPlan",
    "Change",
    "Conflict",
    "MachinePlan",
    "NetworkPlan",
    "NicPlan",
    "Plan",
    "render_json",
    "render_text",
    "source_text",
]


def source_text(src: Source) -> str:
    """``file:line``; an inventory file read without a line is shown as the file alone."""
    return f"{src.file}:{src.line}" if src.line else src.file


@dataclass(frozen=True)
class Conflict:
    """Two facts that cannot both be true. ``choice`` is what ``--force`` takes (first source
    in command-line order wins), said in words."""

    kind: str  # one of merge.CONFLICT_KINDS
    subject: str  # the machine, MAC, address or bridge it is about
    message: str
    sources: tuple[Source, ...]
    choice: str = ""


@dataclass
class AttPlan:
    """A NIC's membership of one network. ``None`` for a family the network has is written
    as ``none``: adopting never gives a machine an address it does not have."""

    network: str
    ipv4: str | None = None
    ipv6: str | None = None


@dataclass
class NicPlan:
    name: str
    mac: str
    attachments: list[AttPlan] = field(default_factory=list)
    bridge: str | None = None  # a VM NIC's bridge, as libvirt says
    origin: dict[str, Source] = field(default_factory=dict)  # address -> where it was read


@dataclass
class MachinePlan:
    """A machine as the import sees it (new machines are written from this)."""

    name: str
    kind: str  # "hw" | "vm"
    cores: int
    memory_mib: int
    sources: list[Source]
    hypervisor: str | None = None
    disks: list[tuple[str, int, str]] = field(default_factory=list)  # (name, GiB, pool)
    nics: list[NicPlan] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    state: str = "active"
    #: hypervisors: "qemu" when their libvirt domains say so (None: the default, kvm)
    virtualization: str | None = None
    #: fields the site does not state, filled with a placeholder (marked in the file and report)
    guessed: dict[str, str] = field(default_factory=dict)
    file: str = ""  # relative to the customer dir


@dataclass(frozen=True)
class Change:
    """One field of an existing machine: ``loc`` in its entry (``("nics", 0, "mac")``);
    ``new`` is a scalar to set, or for ``add`` a NicPlan/AttPlan/role/disk to append."""

    loc: tuple[str | int, ...]
    old: Any
    new: Any
    source: Source | None
    add: bool = False

    @property
    def field(self) -> str:
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out

    def describe(self) -> str:
        new = _short(self.new)
        where = f" ({source_text(self.source)})" if self.source else ""
        if self.add:
            return f"{self.field}: + {new}{where}"
        return f"{self.field}: {_short(self.old)} -> {new}{where}"


def _short(value: Any) -> str:
    if isinstance(value, NicPlan):
        atts = ", ".join(_short(a) for a in value.attachments)
        return f"NIC {value.name} {value.mac} [{atts}]"
    if isinstance(value, AttPlan):
        return f"{value.network} {value.ipv4 or 'none'} {value.ipv6 or 'none'}"
    if isinstance(value, tuple) and len(value) == 3:
        return f"disk {value[0]} {value[1]}GiB pool {value[2]}"
    return "(absent)" if value is None else str(value)


@dataclass
class NetworkPlan:
    """A network to add to customer.yaml, from a DHCP subnet (or two: IPv4 and IPv6)."""

    name: str
    sources: list[Source]
    ipv4: str | None = None
    ipv6: str | None = None
    gateway4: str | None = None
    gateway6: str | None = None
    dhcp_pool: tuple[str, str] | None = None
    dns_servers: tuple[str, ...] = ()
    domain: str | None = None
    bridge: str | None = None


@dataclass
class Plan:
    customer: str
    new_customer: bool
    domain: str  # the customer's domain (given, derived, or the existing one)
    services: dict[str, str] = field(default_factory=dict)  # new customer: dhcp/dns service
    networks: list[NetworkPlan] = field(default_factory=list)  # networks to add
    #: existing networks without a bridge that their VMs' bridge is added to: name -> (bridge, source)
    network_bridges: dict[str, tuple[str, Source]] = field(default_factory=dict)
    created: list[MachinePlan] = field(default_factory=list)
    updated: list[tuple[str, str, list[Change]]] = field(default_factory=list)  # (name, file, changes)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    host_keys: dict[str, str] = field(default_factory=dict)  # machine -> key line to pin
    #: what the site did not say and a delivered machine needs, or what was left out, in words
    notes: list[str] = field(default_factory=list)
    force: bool = False

    @property
    def blocked(self) -> bool:
        """Unresolved conflicts: nothing may be written."""
        return bool(self.conflicts) and not self.force

    @property
    def empty(self) -> bool:
        return not (
            self.networks
            or self.network_bridges
            or self.created
            or self.updated
            or self.host_keys
            or self.new_customer
        )


def render_text(plan: Plan) -> str:
    """The merge report an operator reads before anything is written."""
    out: list[str] = []
    head = f"import into {plan.customer}" + (
        " (new customer, domain " + plan.domain + ")" if plan.new_customer else ""
    )
    out.append(head)
    for net in plan.networks:
        fams = " ".join(p for p in (net.ipv4, net.ipv6) if p)
        extra = f" bridge {net.bridge}" if net.bridge else ""
        srcs = ", ".join(source_text(s) for s in net.sources)
        out.append(f"  network {net.name}: {fams} domain {net.domain}{extra} ({srcs})")
    for name, (bridge, src) in sorted(plan.network_bridges.items()):
        out.append(f"  network {name}: bridge {bridge} ({source_text(src)})")
    out.append(
        f"machines: {len(plan.created)} created, {len(plan.updated)} updated, "
        f"{len(plan.unchanged)} unchanged, {len(plan.conflicts)} conflict(s)"
    )
    for m in plan.created:
        addrs = " ".join(a for n in m.nics for at in n.attachments for a in (at.ipv4, at.ipv6) if a)
        on = f" on {m.hypervisor}" if m.hypervisor else ""
        guessed = f" [set by hand: {', '.join(m.guessed)}]" if m.guessed else ""
        srcs = ", ".join(source_text(s) for s in m.sources[:3]) + (" ..." if len(m.sources) > 3 else "")
        out.append(f"  + {m.name} ({m.kind}{on}) {addrs}{guessed}  <- {srcs}")
    for name, file, changes in plan.updated:
        out.append(f"  ~ {name} ({file})")
        out.extend(f"      {c.describe()}" for c in changes)
    for name in plan.unchanged:
        out.append(f"  = {name}")
    for name, key in sorted(plan.host_keys.items()):
        out.append(f"  host key {name}: {key.split()[0]}")
    if plan.conflicts:
        out.append("conflicts:" if not plan.force else "conflicts (--force: first source wins):")
        for c in plan.conflicts:
            out.append(f"  {c.kind}: {c.subject}: {c.message}")
            out.extend(f"      {source_text(s)}" for s in c.sources)
            if plan.force and c.choice:
                out.append(f"      chosen: {c.choice}")
    if plan.notes:
        out.append("notes:")
        out.extend(f"  {n}" for n in plan.notes)
    return "\n".join(out) + "\n"


def _src(s: Source | None) -> str | None:
    return None if s is None else source_text(s)


def render_json(plan: Plan) -> str:
    def nic(n: NicPlan) -> dict[str, Any]:
        return {
            "name": n.name,
            "mac": n.mac,
            "bridge": n.bridge,
            "networks": [{"network": a.network, "ipv4": a.ipv4, "ipv6": a.ipv6} for a in n.attachments],
        }

    def value(v: Any) -> Any:
        if isinstance(v, NicPlan):
            return nic(v)
        if isinstance(v, AttPlan):
            return {"network": v.network, "ipv4": v.ipv4, "ipv6": v.ipv6}
        return list(v) if isinstance(v, tuple) else v

    doc = {
        "customer": plan.customer,
        "new_customer": plan.new_customer,
        "domain": plan.domain,
        "networks": [
            {
                "name": n.name,
                "ipv4": n.ipv4,
                "ipv6": n.ipv6,
                "domain": n.domain,
                "bridge": n.bridge,
                "sources": [source_text(s) for s in n.sources],
            }
            for n in plan.networks
        ],
        "created": [
            {
                "name": m.name,
                "kind": m.kind,
                "hypervisor": m.hypervisor,
                "cores": m.cores,
                "memory_mib": m.memory_mib,
                "disks": [list(d) for d in m.disks],
                "nics": [nic(n) for n in m.nics],
                "roles": m.roles,
                "virtualization": m.virtualization,
                "state": m.state,
                "guessed": m.guessed,
                "sources": [source_text(s) for s in m.sources],
            }
            for m in plan.created
        ],
        "updated": [
            {
                "name": name,
                "file": file,
                "changes": [
                    {
                        "field": c.field,
                        "old": value(c.old),
                        "new": value(c.new),
                        "add": c.add,
                        "source": _src(c.source),
                    }
                    for c in changes
                ],
            }
            for name, file, changes in plan.updated
        ],
        "unchanged": plan.unchanged,
        "host_keys": sorted(plan.host_keys),
        "conflicts": [
            {
                "kind": c.kind,
                "subject": c.subject,
                "message": c.message,
                "sources": [source_text(s) for s in c.sources],
                "choice": c.choice,
            }
            for c in plan.conflicts
        ],
        "notes": plan.notes,
        "force": plan.force,
    }
    return json.dumps(doc, indent=2) + "\n"
