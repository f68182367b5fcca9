"""Apply a merge ``Plan`` to a customer directory, through the inventory's edit layer.

Everything happens in one ``inventory.edit.guarded`` transaction: new machines are
written as ``machines/<name>.yaml``, existing files are edited in place with ruamel's
round-trip mode (comments, key order and formatting survive), ``customer.yaml`` is
created or extended the same way, and the inventory is loaded once at the end. If that
load finds problems, every file is restored (new files and directories removed) and
the loader's ``InventoryError`` propagates.

New machine files are emitted as text in the house style (a ruamel dump per file would
cost more than the final load at 10,000 machines); the final load parses them, so a
mistake there cannot pass unnoticed."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from interop.plan import AttPlan, Change, MachinePlan, NetworkPlan, NicPlan, Plan, source_text
from inventory import edit
from inventory.errors import InventoryError, Problem
from inventory.model import Inventory

__all__ = ["apply", "group_text", "machine_text"]

_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*\Z")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _scalar(value: str) -> str:
    """``value`` as a YAML scalar that reads back as this string (JSON quoting is YAML)."""
    if _PLAIN.match(value) and value.lower() not in _RESERVED and not re.fullmatch(r"[-+.0-9_eE]+", value):
        return value
    import json

    return json.dumps(value)


def _size(gib: int) -> str:
    return f"{gib // 1024}TiB" if gib % 1024 == 0 and gib >= 1024 else f"{gib}GiB"


def _memory(mib: int) -> str:
    return f"{mib // 1024}GiB" if mib % 1024 == 0 else f"{mib}MiB"


Families = dict[str, tuple[bool, bool]]  # network -> (has IPv4, has IPv6)


def _att_lines(att: AttPlan, fams: Families, indent: str) -> list[str]:
    v4, v6 = fams[att.network]
    out = [f"{indent}- network: {_scalar(att.network)}"]
    if v4:
        out.append(f"{indent}  ipv4: {att.ipv4 or 'none'}")
    if v6:
        out.append(f"{indent}  ipv6: {att.ipv6 or 'none'}")
    return out


def machine_text(m: MachinePlan, fams: Families) -> str:
    """A new machine file, every MAC and address pinned (``none`` where it has none)."""
    srcs = ", ".join(source_text(s) for s in m.sources[:3]) + (", ..." if len(m.sources) > 3 else "")
    out = [f"# imported by `uniform import` from {srcs}", f"name: {m.name}", f"kind: {m.kind}"]
    if m.hypervisor:
        out.append(f"hypervisor: {_scalar(m.hypervisor)}")
    note = "  # imported: {}; set it by hand"
    out.append(f"cores: {m.cores}" + (note.format(m.guessed["cores"]) if "cores" in m.guessed else ""))
    out.append(
        f"memory: {_memory(m.memory_mib)}"
        + (note.format(m.guessed["memory"]) if "memory" in m.guessed else "")
    )
    disk_note = f"  # imported: {m.guessed['disks']}" if "disks" in m.guessed else ""
    if m.disks:
        out.append("disks:" + disk_note)
        for name, gib, pool in m.disks:
            out.append(f"  - {{name: {_scalar(name)}, size: {_size(gib)}, pool: {_scalar(pool)}}}")
    elif disk_note:
        out.append("disks: []" + disk_note)
    out.append("nics:")
    for nic in m.nics:
        out += [f"  - name: {_scalar(nic.name)}", f'    mac: "{nic.mac}"', "    networks:"]
        for att in nic.attachments:
            out += _att_lines(att, fams, "      ")
    if m.roles:
        out.append(f"roles: [{', '.join(m.roles)}]")
    if m.virtualization:
        out.append(f"virtualization: {m.virtualization}")
    out.append(f"state: {m.state}")
    return "\n".join(out) + "\n"


def _att_map(att: AttPlan, fams: Families) -> CommentedMap:
    v4, v6 = fams[att.network]
    m = CommentedMap()
    m["network"] = att.network
    if v4:
        m["ipv4"] = att.ipv4 or "none"
    if v6:
        m["ipv6"] = att.ipv6 or "none"
    return m


def _nic_map(nic: NicPlan, fams: Families) -> CommentedMap:
    m = CommentedMap()
    m["name"] = nic.name
    m["mac"] = DoubleQuotedScalarString(nic.mac)
    m["networks"] = CommentedSeq([_att_map(a, fams) for a in nic.attachments])
    return m


def _set(m: CommentedMap, key: str, value: Any, after: tuple[str, ...]) -> None:
    if key in m:
        m[key] = value
    else:
        edit.insert_after(m, next((k for k in after if k in m), list(m)[-1]), key, value)


def _apply_change(entry: CommentedMap, c: Change, fams: Families) -> None:
    loc = c.loc
    if loc == ("cores",) or loc == ("memory",):
        entry[loc[0]] = c.new
    elif loc == ("virtualization",):
        _set(entry, "virtualization", c.new, ("roles", "tags", "nics", "disks", "memory"))
    elif loc == ("roles",):
        seq = entry.get("roles")
        if seq is None:
            seq = edit.flow_seq([])
            _set(entry, "roles", seq, edit.LIST_KEYS["roles"])
        if c.new not in seq:
            seq.append(c.new)
    elif loc == ("disks",):
        seq = entry.get("disks")
        if seq is None:
            seq = CommentedSeq()
            _set(entry, "disks", seq, ("memory",))
        name, gib, pool = c.new
        seq.append(edit.flow_map({"name": name, "size": _size(gib), "pool": pool}))
    elif loc[0] == "nics" and len(loc) == 2:
        seq = entry.get("nics")
        if seq is None:
            seq = CommentedSeq()
            _set(entry, "nics", seq, ("disks", "memory"))
        seq.append(_nic_map(c.new, fams))
    elif len(loc) == 3:  # ("nics", i, "mac")
        nic = entry["nics"][loc[1]]
        _set(nic, "mac", DoubleQuotedScalarString(c.new), ("name",))
    elif len(loc) == 4:  # ("nics", i, "networks", j): a new attachment
        entry["nics"][loc[1]]["networks"].append(_att_map(c.new, fams))
    else:  # ("nics", i, "networks", j, "ipv4"|"ipv6")
        att = entry["nics"][loc[1]]["networks"][loc[3]]
        value = c.new
        if ":" in value and att.fa.flow_style():
            value = DoubleQuotedScalarString(value)
        _set(att, str(loc[4]), value, ("ipv4", "network") if loc[4] == "ipv6" else ("network",))


def _network_map(n: NetworkPlan) -> CommentedMap:
    m = CommentedMap()
    for key, value in (
        ("ipv4", n.ipv4),
        ("ipv6", n.ipv6),
        ("gateway4", n.gateway4),
        ("gateway6", n.gateway6),
        ("domain", n.domain),
        ("dhcp_pool", f"{n.dhcp_pool[0]}-{n.dhcp_pool[1]}" if n.dhcp_pool else None),
        ("bridge", n.bridge),
    ):
        if value:
            m[key] = value
    if n.dns_servers:
        m["dns_servers"] = edit.flow_seq(list(n.dns_servers))
    return m


def _customer_doc(root: Path, plan: Plan, y: Any) -> CommentedMap:
    path = root / "customer.yaml"
    if path.exists():
        doc = y.load(path.read_text(encoding="utf-8"))
        if not isinstance(doc, CommentedMap):
            raise InventoryError(root.name, [Problem(root.name, "customer.yaml", None, "", "not a mapping")])
        return doc
    doc = CommentedMap()
    doc.yaml_set_start_comment("imported by `uniform import`: check the networks, then `uniform check`")
    doc["customer"] = plan.customer
    doc["domain"] = plan.domain
    if plan.services:
        doc["services"] = edit.flow_map(dict(plan.services))
    return doc


def _families(inv: Inventory | None, plan: Plan) -> Families:
    fams: Families = {n.name: (bool(n.ipv4), bool(n.ipv6)) for n in plan.networks}
    if inv is not None:
        fams.update({n: (bool(x.ipv4), bool(x.ipv6)) for n, x in inv.networks.items()})
    return fams


@contextmanager
def _made_dirs(dirs: list[Path]) -> Iterator[None]:
    """Directories created for a new customer go again if the import is rolled back."""
    made = [d for d in dirs if not d.exists()]
    for d in made:
        d.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for d in reversed(made):
            try:
                d.rmdir()
            except OSError:
                pass
        raise


def group_text(machines: list[MachinePlan], fams: Families) -> str:
    """New machines as entries of a group file (a YAML list, ``- name:`` at column 0)."""
    out: list[str] = []
    for m in machines:
        comment, first, *rest = machine_text(m, fams).splitlines()
        out += [comment, f"- {first}", *(f"  {line}" for line in rest)]
    return "\n".join(out) + "\n"


def apply(
    root: str | Path,
    plan: Plan,
    inv: Inventory | None,
    *,
    known_roles: Collection[str] | None = None,
    group: str | None = None,
) -> Inventory:
    """Write ``plan`` into ``root`` (the inventory ``inv`` was loaded from, or a new directory).

    ``group``: the new machines go into the group file ``machines/<group>.yaml`` (appended
    when it exists), not one file each: at thousands of machines the final load parses one
    file instead of thousands (bench/import_bench.py)."""
    root = Path(root)
    if plan.blocked:
        raise ValueError("the plan has unresolved conflicts: nothing is written")
    fams = _families(inv, plan)
    if group is not None:
        for m in plan.created:
            m.file = f"machines/{group}.yaml"
    gpath = root / "machines" / f"{group}.yaml"
    clash = [m.file for m in plan.created if group is None and (root / m.file).exists()]
    if group is not None and plan.created and gpath.exists():
        if not isinstance(edit.round_trip().load(gpath.read_text(encoding="utf-8")), list):
            clash.append(f"machines/{group}.yaml")
    if clash:
        raise InventoryError(
            root.name,
            [
                Problem(
                    root.name,
                    f,
                    None,
                    "",
                    f"{f} already exists (not a machine of that name, or not a group file)",
                )
                for f in clash
            ],
        )
    y = edit.round_trip()
    with _made_dirs([root, root / "machines"]), edit.guarded(root, known_roles=known_roles) as txn:
        if plan.new_customer or plan.networks or plan.network_bridges or plan.host_keys:
            doc = _customer_doc(root, plan, y)
            nets = doc.get("networks")
            if nets is None and (plan.networks or plan.new_customer):
                nets = doc["networks"] = CommentedMap()
            for n in plan.networks:
                nets[n.name] = _network_map(n)
            for name, (bridge, _) in plan.network_bridges.items():
                nets[name]["bridge"] = bridge
            if plan.host_keys:
                ssh = doc.get("ssh")
                if ssh is None:
                    ssh = doc["ssh"] = CommentedMap()
                keys = ssh.get("host_keys")
                if keys is None:
                    keys = ssh["host_keys"] = CommentedMap()
                for name, key in sorted(plan.host_keys.items()):
                    keys[name] = key
            txn.dump(y, doc, root / "customer.yaml")
        by_file: dict[str, list[tuple[str, list[Change]]]] = {}
        for name, file, changes in plan.updated:
            by_file.setdefault(file, []).append((name, changes))
        for file, todo in sorted(by_file.items()):
            path = root / file
            doc = y.load(path.read_text(encoding="utf-8"))
            entries = {e.get("name"): e for e in (doc if isinstance(doc, list) else [doc])}
            for name, changes in todo:
                for c in changes:
                    _apply_change(entries[name], c, fams)
            txn.dump(y, doc, path)
        if group is not None and plan.created:
            # appended as text: the group file's own bytes stay exactly as they were
            before = gpath.read_text(encoding="utf-8") if gpath.exists() else ""
            sep = "" if not before or before.endswith("\n") else "\n"
            txn.write(gpath, before + sep + group_text(plan.created, fams))
        elif plan.created:
            for m in plan.created:
                txn.write(root / m.file, machine_text(m, fams))
    assert txn.inventory is not None
    return txn.inventory
