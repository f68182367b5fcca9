"""Writing back to machine files with ruamel's round-trip mode: pin() and transition()."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from .build import load
from .errors import InventoryError, Problem, Reporter
from .lifecycle import HOLDS_ADDRESSES, TRANSITIONS
from .load import read
from .model import Inventory, State


def _rt() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    # the project's house style: nested lists indented under their key ("  - name: eth0")
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _dump(y: YAML, doc: Any, path: Path) -> None:
    buf = io.StringIO()
    y.dump(doc, buf)
    text = buf.getvalue()
    if isinstance(doc, list):
        # ruamel indents a top-level sequence by the offset too; group files keep "- name:" at column 0
        text = "".join(ln[2:] if ln.startswith("  ") else ln for ln in text.splitlines(keepends=True))
    path.write_text(text, encoding="utf-8")


def _insert_after(m: CommentedMap, after: str, key: str, value: Any) -> None:
    keys = list(m.keys())
    pos = keys.index(after) + 1 if after in keys else len(keys)
    m.insert(pos, key, value)


def unpinned(inv: Inventory) -> list[str]:
    """Every generated MAC and allocated (not EUI-64-derived) address of a non-retired machine.

    These are provisional until pinned; the policy is "pin before active"."""
    out = []
    for m in inv.machines.values():
        if m.state not in HOLDS_ADDRESSES:
            continue
        for i, nic in enumerate(m.nics):
            if not nic.mac_pinned:
                out.append(f"{m.name}: nics[{i}].mac = {nic.mac}")
            for j, a in enumerate(nic.attachments):
                f = f"nics[{i}].networks[{j}]"
                if a.ipv4 is not None and not a.ipv4_pinned:
                    out.append(f"{m.name}: {f}.ipv4 = {a.ipv4}")
                net = inv.networks[a.network]
                if a.ipv6 is not None and not a.ipv6_pinned and not (net.ipv6 or "").endswith("/64"):
                    out.append(f"{m.name}: {f}.ipv6 = {a.ipv6}")
    return out


def pin(root: str | Path) -> list[str]:
    """Write every generated MAC and allocated address into the machine files; return what was pinned."""
    root = Path(root)
    inv = load(root)  # raises InventoryError: never pin an inventory with problems
    todo = unpinned(inv)
    if not todo:
        return []
    by_file: dict[str, list[str]] = {}
    for m in inv.machines.values():
        by_file.setdefault(m.file, []).append(m.name)
    y = _rt()
    for file, names in sorted(by_file.items()):
        path = root / file
        doc = y.load(path.read_text(encoding="utf-8"))
        entries = doc if isinstance(doc, list) else [doc]
        changed = False
        for entry in entries:
            found = inv.machines.get(entry.get("name"))
            if found is None or found.name not in names or found.state not in HOLDS_ADDRESSES:
                continue
            m = found
            for i, nic in enumerate(m.nics):
                rn = entry["nics"][i]
                if not nic.mac_pinned:
                    _insert_after(rn, "name", "mac", DoubleQuotedScalarString(nic.mac))
                    changed = True
                for j, a in enumerate(nic.attachments):
                    ra = rn["networks"][j]
                    if a.ipv4 is not None and not a.ipv4_pinned:
                        _insert_after(ra, "network", "ipv4", a.ipv4)
                        changed = True
                    net = inv.networks[a.network]
                    if a.ipv6 is not None and not a.ipv6_pinned and not (net.ipv6 or "").endswith("/64"):
                        if "ipv6" in ra:
                            ra["ipv6"] = a.ipv6
                        else:
                            _insert_after(ra, "ipv4" if "ipv4" in ra else "network", "ipv6", a.ipv6)
                        changed = True
        if changed:
            _dump(y, doc, path)
    load(root)  # the pinned files must load to the same result
    return todo


def transition(root: str | Path, machine: str, new_state: str | State) -> None:
    """Move ``machine`` to ``new_state`` (checked against TRANSITIONS), recording the old state in history."""
    root = Path(root)
    rep = Reporter(root.name)
    raw = read(root, rep)
    found = [m for m in raw.machines if m.name == machine]

    def fail(file: str, field: str, message: str) -> InventoryError:
        return InventoryError(rep.customer, [Problem(rep.customer, file, machine, field, message)])

    if not found:
        raise fail("machines", "", f"no machine named {machine!r}")
    rm = found[0]
    valid = [s.value for s in State]
    new = new_state.value if isinstance(new_state, State) else new_state
    if new not in valid:
        raise fail(rm.file, "state", f"unknown state {new!r}; known: {', '.join(valid)}")
    cur_text = rm.data.get("state", "planned")
    if cur_text not in valid:
        raise fail(rm.file, "state", f"current state {cur_text!r} is not a known state")
    cur, dst = State(cur_text), State(new)
    if dst not in TRANSITIONS[cur]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[cur])) or "nothing (terminal)"
        msg = f"cannot move from {cur.value} to {dst.value} (allowed from {cur.value}: {allowed})"
        raise fail(rm.file, "state", msg)
    y = _rt()
    path = root / rm.file
    doc = y.load(path.read_text(encoding="utf-8"))
    entry = doc[rm.base[0]] if rm.base else doc
    if "state" in entry:
        entry["state"] = dst.value
    else:
        _insert_after(entry, list(entry.keys())[-1], "state", dst.value)
    hist = entry.get("history")
    if hist is None:
        hist = CommentedSeq([cur.value])
        hist.fa.set_flow_style()
        _insert_after(entry, "state", "history", hist)
    else:
        hist.append(cur.value)
    _dump(y, doc, path)
