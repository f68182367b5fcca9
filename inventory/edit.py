"""Writing back to inventory files with ruamel's round-trip mode (comments, key order and
formatting kept): pin(), transition(), and the checked edits behind the ``uniform`` CLI.

Every checked edit runs inside ``guarded(root)``: files are replaced atomically, the
inventory is re-loaded afterwards, and if it has problems every touched file is restored
(created files removed) before the ``InventoryError`` propagates -- nothing half-written."""

from __future__ import annotations

import atexit
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from .build import load
from .errors import InventoryError, Problem, Reporter, render_path
from .lifecycle import DELIVERED, HOLDS_ADDRESSES, MUST_BE_PINNED, ON_HYPERVISOR, REMOVABLE, TRANSITIONS
from .load import read
from .macs import generate_mac, normalise_mac
from .model import Inventory, State
from .pinning import unpinned_fields


def _rt() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    # the project's house style: nested lists indented under their key ("  - name: eth0")
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _render(y: YAML, doc: Any) -> str:
    buf = io.StringIO()
    y.dump(doc, buf)
    text = buf.getvalue()
    if isinstance(doc, list):
        # ruamel indents a top-level sequence by the offset too; group files keep "- name:" at column 0
        text = "".join(ln[2:] if ln.startswith("  ") else ln for ln in text.splitlines(keepends=True))
    return text


def _dump(y: YAML, doc: Any, path: Path) -> None:
    path.write_text(_render(y, doc), encoding="utf-8")


def _insert_after(m: CommentedMap, after: str, key: str, value: Any) -> None:
    keys = list(m.keys())
    pos = keys.index(after) + 1 if after in keys else len(keys)
    m.insert(pos, key, _flow_safe(m, value))


def _flow_safe(m: CommentedMap, value: Any) -> Any:
    """``value`` quoted when it holds a ':' and goes into a flow mapping (``{network: lan}``):
    ruamel writes ``fd00::5`` there unquoted, which no YAML parser reads back."""
    if isinstance(value, str) and ":" in value and m.fa.flow_style():
        return DoubleQuotedScalarString(value)
    return value


def unpinned(inv: Inventory) -> list[str]:
    """Every generated MAC and allocated (not EUI-64-derived) address of a non-retired machine.

    These are provisional until pinned; the policy is "pin before active"."""
    return [
        f"{m.name}: {render_path(loc)} = {value}"
        for m in inv.machines.values()
        if m.state in HOLDS_ADDRESSES
        for loc, value in unpinned_fields(inv, m)
    ]


def pin(
    root: str | Path,
    progress: Callable[[int, int], None] | None = None,
    *,
    txn: Txn | None = None,
    known_roles: Collection[str] | None = None,
    states: Collection[State] = HOLDS_ADDRESSES,
) -> list[str]:
    """Write every generated MAC and allocated address into the machine files; return what was pinned.

    ``progress(done, total)`` is called after each file that has something to pin; with
    ``txn`` (from ``guarded``) the files are written through it, so a failure restores them.
    ``states``: pin only machines in these states (edits pin ``MUST_BE_PINNED`` ones)."""
    root = Path(root)
    # raises InventoryError: never pin an inventory with problems (other than being unpinned)
    inv = load(root, known_roles=known_roles, require_pinned=False)
    loose = {
        m.name: fields
        for m in inv.machines.values()
        if m.state in states and m.state in HOLDS_ADDRESSES and (fields := unpinned_fields(inv, m))
    }
    todo = [
        f"{name}: {render_path(loc)} = {value}" for name, fields in loose.items() for loc, value in fields
    ]
    if not todo:
        return []
    by_file: dict[str, list[str]] = {}
    for name in loose:
        by_file.setdefault(inv.machines[name].file, []).append(name)
    y = _rt()
    files = sorted(by_file.items())
    for done, (file, names) in enumerate(files, 1):
        if progress is not None:
            progress(done, len(files))
        path = root / file
        doc = y.load(path.read_text(encoding="utf-8"))
        entries = doc if isinstance(doc, list) else [doc]
        changed = False
        for entry in entries:
            name = entry.get("name")
            if name not in names:
                continue
            # the values the one unpinned rule names (inventory/pinning.py), in file order
            for loc, value in loose[name]:
                rn = entry["nics"][loc[1]]
                if loc[2] == "mac":
                    _insert_after(rn, "name", "mac", DoubleQuotedScalarString(value))
                    changed = True
                    continue
                ra = rn["networks"][loc[3]]
                if loc[4] == "ipv4":
                    _insert_after(ra, "network", "ipv4", value)
                elif "ipv6" in ra:
                    ra["ipv6"] = _flow_safe(ra, value)
                else:
                    _insert_after(ra, "ipv4" if "ipv4" in ra else "network", "ipv6", value)
                changed = True
        if changed:
            if txn is not None:
                txn.dump(y, doc, path)
            else:
                _dump(y, doc, path)
    # the pinned files must load to the same result
    load(root, known_roles=known_roles, require_pinned=states != HOLDS_ADDRESSES)
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
    before = path.read_bytes()
    _dump(y, doc, path)
    if dst in MUST_BE_PINNED and cur not in MUST_BE_PINNED:
        # Reaching staged pins the machine's generated MACs and allocated addresses in its
        # file, so they can never move once it is delivered; if the inventory has problems,
        # the state change is undone.
        try:
            pin(root, states=MUST_BE_PINNED)
        except BaseException:
            _atomic_write(path, before)
            raise


# ------------------------------------------------------------------ checked edits


class Txn:
    """The files one edit touched, with their original bytes (None: the file did not exist)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.saved: dict[Path, bytes | None] = {}
        self.stamps: dict[Path, tuple[int, int]] = {}  # (mtime_ns, size) before the edit
        self.inventory: Inventory | None = None  # the re-loaded result, after a successful edit

    def save(self, path: Path) -> None:
        if path not in self.saved:
            self.saved[path] = path.read_bytes() if path.exists() else None
            if path.exists():
                st = path.stat()
                self.stamps[path] = (st.st_mtime_ns, st.st_size)

    def _restamp(self, path: Path) -> None:
        """The parse cache keys files by (mtime_ns, size): make sure an edited file's key changes
        even on a file system with coarse timestamps."""
        old = self.stamps.get(path)
        st = path.stat()
        if old is not None and (st.st_mtime_ns, st.st_size) == old:
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))

    def write(self, path: Path, text: str) -> None:
        self.save(path)
        _atomic_write(path, text.encode("utf-8"))
        self._restamp(path)

    def dump(self, y: YAML, doc: Any, path: Path) -> None:
        self.write(path, _render(y, doc))

    def remove(self, path: Path) -> None:
        self.save(path)
        path.unlink()

    def rollback(self) -> None:
        for path, data in self.saved.items():
            if data is None:
                path.unlink(missing_ok=True)
                continue
            st = path.stat() if path.exists() else None
            _atomic_write(path, data)
            now = path.stat()
            if st is not None and (now.st_mtime_ns, now.st_size) == (st.st_mtime_ns, st.st_size):
                os.utime(path, ns=(now.st_atime_ns, now.st_mtime_ns + 1_000_000_000))


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


_CACHE: list[Path] = []


def _load(root: Path, known_roles: Collection[str] | None = None, require_pinned: bool = True) -> Inventory:
    """``load``, with a parse cache private to this process unless UNIFORM_INVENTORY_CACHE
    names one: an edit loads before and after, and the second load then re-parses only the
    files the edit wrote (10,000 machines: seconds instead of twice the full parse)."""
    if os.environ.get("UNIFORM_INVENTORY_CACHE"):
        return load(root, known_roles=known_roles, require_pinned=require_pinned)
    if not _CACHE:
        _CACHE.append(Path(tempfile.mkdtemp(prefix="uniform-edit-")))
        atexit.register(shutil.rmtree, _CACHE[0], True)
    return load(root, cache_dir=_CACHE[0], known_roles=known_roles, require_pinned=require_pinned)


@contextmanager
def guarded(
    root: str | Path, *, reload: bool = True, known_roles: Collection[str] | None = None
) -> Iterator[Txn]:
    """Run an edit; re-load the inventory; on any failure restore every file the edit touched.

    ``reload=False`` for an edit that re-loads by itself (``pin``)."""
    txn = Txn(Path(root))
    try:
        yield txn
        if reload:
            inv = _load(txn.root, known_roles, require_pinned=False)
            if any(m.state in MUST_BE_PINNED and unpinned_fields(inv, m) for m in inv.machines.values()):
                # An edit that gives a staged or later machine a new value (a NIC, a move
                # into staged) pins it in the same transaction: its address never moves.
                pin(txn.root, txn=txn, known_roles=known_roles, states=MUST_BE_PINNED)
                inv = _load(txn.root, known_roles)
            # (otherwise nothing is unpinned that must not be: the same as a pinned load)
            txn.inventory = inv
    except BaseException:
        txn.rollback()
        raise


def _problem(root: Path, file: str, machine: str | None, field: str, message: str) -> InventoryError:
    return InventoryError(root.name, [Problem(root.name, file, machine, field, message)])


@dataclass
class Located:
    """Where a machine lives: its file, the round-trip document and the machine's mapping in it."""

    path: Path
    file: str  # relative to the customer dir
    doc: Any  # the whole document (a mapping, or a list for group files)
    entry: CommentedMap
    index: int | None  # position in a group file, None for a one-machine file


def locate(root: Path, machine: str, y: YAML | None = None, inv: Inventory | None = None) -> Located:
    """Find ``machine``'s file and load it round-trip: from ``inv`` when given, else
    ``machines/<name>.yaml`` first, then every file."""
    y = y or _rt()
    if inv is not None:
        if machine not in inv.machines:
            raise _problem(root, "machines", machine, "", f"no machine named {machine!r}")
        rel = inv.machines[machine].file
        path = root / rel
        doc = y.load(path.read_text(encoding="utf-8"))
        if isinstance(doc, CommentedMap) and doc.get("name") == machine:
            return Located(path, rel, doc, doc, None)
        for i, entry in enumerate(doc if isinstance(doc, list) else []):
            if isinstance(entry, CommentedMap) and entry.get("name") == machine:
                return Located(path, rel, doc, entry, i)
        raise _problem(root, rel, machine, "", f"{rel} no longer holds {machine!r}")
    fast = root / "machines" / f"{machine}.yaml"
    if fast.is_file():
        doc = y.load(fast.read_text(encoding="utf-8"))
        if isinstance(doc, CommentedMap) and doc.get("name") == machine:
            return Located(fast, f"machines/{machine}.yaml", doc, doc, None)
    raw = read(root, Reporter(root.name))
    for rm in raw.machines:
        if rm.name == machine:
            path = root / rm.file
            doc = y.load(path.read_text(encoding="utf-8"))
            index = rm.base[0] if rm.base else None
            entry = doc[index] if isinstance(index, int) else doc
            return Located(path, rm.file, doc, entry, index if isinstance(index, int) else None)
    raise _problem(root, "machines", machine, "", f"no machine named {machine!r}")


def _flow(items: Sequence[Any]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _flow_map(pairs: dict[str, Any]) -> CommentedMap:
    m = CommentedMap(pairs)
    m.fa.set_flow_style()
    return m


def _size(text: str) -> int | str:
    return int(text) if text.isdigit() else text


@dataclass
class NicSpec:
    name: str
    networks: list[str]
    mac: str | None = None
    ipv4: str | None = None


def _nic_map(nic: NicSpec) -> CommentedMap:
    m = CommentedMap()
    m["name"] = nic.name
    if nic.mac is not None:
        m["mac"] = DoubleQuotedScalarString(nic.mac)
    nets = CommentedSeq()
    for net in nic.networks:
        att = CommentedMap()
        att["network"] = net
        if nic.ipv4 is not None:
            att["ipv4"] = nic.ipv4
        nets.append(att)
    m["networks"] = nets
    return m


def _check_mac(root: Path, file: str, machine: str, field: str, mac: str) -> str:
    norm = normalise_mac(mac)
    if norm is None:
        raise _problem(
            root,
            file,
            machine,
            field,
            f"invalid MAC {mac!r} (expected six hex octets like 52:54:00:12:34:56)",
        )
    return norm


def _check_nic(root: Path, file: str, machine: str, nic: NicSpec, inv: Inventory) -> NicSpec:
    if not nic.networks:
        raise _problem(root, file, machine, "nics", f"NIC {nic.name!r} names no network")
    for net in nic.networks:
        if net not in inv.networks:
            known = ", ".join(inv.networks) or "none"
            raise _problem(root, file, machine, "nics", f"unknown network {net!r} (known: {known})")
    if nic.ipv4 is not None and len(nic.networks) != 1:
        raise _problem(root, file, machine, "nics", "an IPv4 address needs exactly one network")
    mac = None if nic.mac is None else _check_mac(root, file, machine, "nics.mac", nic.mac)
    return NicSpec(nic.name, list(nic.networks), mac, nic.ipv4)


def _check_hypervisor(root: Path, inv: Inventory, file: str, machine: str, hypervisor: str) -> None:
    hv = inv.machines.get(hypervisor)
    if hv is None:
        raise _problem(root, file, machine, "hypervisor", f"no machine named {hypervisor!r}")
    if "hypervisor" not in hv.roles:
        raise _problem(root, file, machine, "hypervisor", f"{hypervisor!r} does not have the role hypervisor")
    if hypervisor == machine:
        raise _problem(root, file, machine, "hypervisor", "a VM cannot run on itself")


def add_machine(
    root: str | Path,
    name: str,
    kind: str,
    *,
    cores: int,
    memory: str,
    hypervisor: str | None = None,
    disks: Sequence[tuple[str, str]] = (),
    nics: Sequence[NicSpec] = (),
    tags: Sequence[str] = (),
    roles: Sequence[str] = (),
    state: str = "planned",
    location: str | None = None,
    virtualization: str | None = None,
    group: str | None = None,
    known_roles: Collection[str] | None = None,
) -> Inventory:
    """Write a new machine to ``machines/<name>.yaml`` (or append it to the group file ``group``)."""
    root = Path(root)
    inv = _load(root, known_roles)
    rel = f"machines/{group or name}.yaml"
    if name in inv.machines:
        raise _problem(
            root, rel, name, "name", f"a machine named {name!r} already exists ({inv.machines[name].file})"
        )
    if kind not in ("hw", "vm"):
        raise _problem(root, rel, name, "kind", f"kind must be hw or vm, not {kind!r}")
    if kind == "vm":
        if hypervisor is None:
            raise _problem(root, rel, name, "hypervisor", "a VM needs --hypervisor")
        _check_hypervisor(root, inv, rel, name, hypervisor)
    elif hypervisor is not None:
        raise _problem(root, rel, name, "hypervisor", "only a VM (--kind vm) has a hypervisor")
    if state not in {s.value for s in State}:
        known = ", ".join(s.value for s in State)
        raise _problem(root, rel, name, "state", f"unknown state {state!r}; known: {known}")
    checked = [_check_nic(root, rel, name, n, inv) for n in nics]
    m = CommentedMap()
    m["name"] = name
    m["kind"] = kind
    if hypervisor is not None:
        m["hypervisor"] = hypervisor
    m["cores"] = cores
    m["memory"] = _size(memory)
    if disks:
        m["disks"] = _flow([_flow_map({"name": d, "size": _size(s)}) for d, s in disks])
    if checked:
        m["nics"] = CommentedSeq([_nic_map(n) for n in checked])
    if tags:
        m["tags"] = _flow(list(tags))
    if roles:
        m["roles"] = _flow(list(roles))
    if virtualization is not None:
        m["virtualization"] = virtualization  # validated by the load in guarded()
    m["state"] = state
    if location is not None:
        m["location"] = location
    y = _rt()
    path = root / rel
    with guarded(root, known_roles=known_roles) as txn:
        if group is None:
            if path.exists():
                raise _problem(root, rel, name, "", f"{rel} already exists")
            txn.dump(y, m, path)
        else:
            doc = y.load(path.read_text(encoding="utf-8")) if path.exists() else CommentedSeq()
            if doc is None:
                doc = CommentedSeq()
            if not isinstance(doc, list):
                raise _problem(root, rel, None, "", f"{rel} is not a group file (a YAML list of machines)")
            doc.append(m)
            txn.dump(y, doc, path)
    assert txn.inventory is not None
    return txn.inventory


def _tail(node: Any) -> tuple[Any, Any, int] | None:
    """Where ruamel keeps the comment lines that follow ``node``: (container, key, slot)."""
    while True:
        if isinstance(node, CommentedMap) and len(node):
            key: Any = list(node)[-1]
            slot = 2
        elif isinstance(node, CommentedSeq) and len(node):
            key, slot = len(node) - 1, 0
        else:
            return None
        val = node[key]
        tok = node.ca.items.get(key)
        nested = isinstance(val, CommentedMap | CommentedSeq) and len(val) and not val.fa.flow_style()
        if nested and (tok is None or len(tok) <= slot or tok[slot] is None):
            node = val
            continue
        return node, key, slot


def _keep_trailing_comment(doc: CommentedSeq, index: int) -> None:
    """Before deleting ``doc[index]``: move the comment lines after it (which introduce the
    next entry) to the end of the entry before it, or to the top of the file."""
    tail = _tail(doc[index])
    if tail is None:
        return
    node, key, slot = tail
    tok = (node.ca.items.get(key) or [None] * 4)[slot] if len(node.ca.items.get(key) or []) > slot else None
    if tok is None or "\n" not in tok.value:
        return
    rest = tok.value.split("\n", 1)[1]  # the first line is the deleted line's own end-of-line comment
    if not rest.strip():
        return
    if index > 0:
        prev = _tail(doc[index - 1])
        if prev is None:
            return
        pnode, pkey, pslot = prev
        items = pnode.ca.items.setdefault(pkey, [None] * 4)
        if items[pslot] is None:
            items[pslot] = CommentToken("\n" + rest, CommentMark(0), None)
        else:
            items[pslot].value += rest
    else:
        if doc.ca.comment is None:
            doc.ca.comment = [None, []]
        if doc.ca.comment[1] is None:
            doc.ca.comment[1] = []
        doc.ca.comment[1].append(
            CommentToken(rest.lstrip("\n") if not doc.ca.comment[1] else rest, CommentMark(0), None)
        )


def remove_machine(
    root: str | Path, name: str, *, force: bool = False, known_roles: Collection[str] | None = None
) -> Inventory:
    """Delete a machine (its file, or its entry in a group file) and its pinned host key.

    Only planned or retired machines unless ``force``: the others still have files on hosts."""
    root = Path(root)
    inv = _load(root, known_roles)
    m = inv.machines.get(name)
    if m is None:
        raise _problem(root, "machines", name, "", f"no machine named {name!r}")
    if m.state not in REMOVABLE and not force:
        raise _problem(
            root,
            m.file,
            name,
            "state",
            f"is {m.state.value}: retire it first (uniform transition ... decommissioning, then retired) "
            "or pass --force",
        )
    users = [v.name for v in inv.vms_on(name)]
    if users:
        raise _problem(
            root, m.file, name, "", f"VMs still run on it: {', '.join(users)} (move or remove them first)"
        )
    y = _rt()
    loc = locate(root, name, y, inv)
    with guarded(root, known_roles=known_roles) as txn:
        if loc.index is None:
            txn.remove(loc.path)
        else:
            _keep_trailing_comment(loc.doc, loc.index)
            del loc.doc[loc.index]
            if len(loc.doc):
                txn.dump(y, loc.doc, loc.path)
            else:
                txn.remove(loc.path)
        cpath = root / "customer.yaml"
        cdoc = y.load(cpath.read_text(encoding="utf-8"))
        changed = False
        keys = (cdoc.get("ssh") or {}).get("host_keys") if isinstance(cdoc, CommentedMap) else None
        if isinstance(keys, CommentedMap) and name in keys:
            del keys[name]
            changed = True
        if m.state in DELIVERED and isinstance(cdoc, CommentedMap):
            # The acknowledgement, recorded where review sees it: the deployed stack
            # protects a delivered machine, and only this entry lets it go.
            removed = cdoc.get("removed")
            if removed is None:
                removed = CommentedSeq()
                removed.fa.set_flow_style()
                cdoc["removed"] = removed
            if name not in removed:
                removed.append(name)
            changed = True
        if changed:
            txn.dump(y, cdoc, cpath)
    assert txn.inventory is not None
    return txn.inventory


def add_nic(
    root: str | Path, machine: str, nic: NicSpec, *, known_roles: Collection[str] | None = None
) -> Inventory:
    """Append a NIC to a machine; without a MAC/IPv4 they are generated/allocated (then ``pin``)."""
    root = Path(root)
    inv = _load(root, known_roles)
    m = inv.machines.get(machine)
    if m is None:
        raise _problem(root, "machines", machine, "", f"no machine named {machine!r}")
    if any(n.name == nic.name for n in m.nics):
        raise _problem(root, m.file, machine, "nics", f"already has a NIC named {nic.name!r}")
    checked = _check_nic(root, m.file, machine, nic, inv)
    y = _rt()
    loc = locate(root, machine, y, inv)
    with guarded(root, known_roles=known_roles) as txn:
        nics = loc.entry.get("nics")
        if nics is None:
            nics = CommentedSeq()
            after = next((k for k in ("disks", "memory") if k in loc.entry), list(loc.entry)[-1])
            _insert_after(loc.entry, after, "nics", nics)
        nics.append(_nic_map(checked))
        txn.dump(y, loc.doc, loc.path)
    assert txn.inventory is not None
    return txn.inventory


#: keys ``add_values``/``remove_values`` edit, and the key each is inserted after when absent
LIST_KEYS = {"tags": ("nics", "disks", "memory"), "roles": ("tags", "nics", "disks", "memory")}


def add_values(
    root: str | Path,
    machine: str,
    key: str,
    values: Sequence[str],
    *,
    known_roles: Collection[str] | None = None,
) -> list[str]:
    """Add tags or roles (``key``) to a machine; returns the ones that were not there yet."""
    root = Path(root)
    inv = _load(root, known_roles)
    y = _rt()
    loc = locate(root, machine, y, inv)
    seq = loc.entry.get(key)
    have = list(seq or [])
    new = [v for v in dict.fromkeys(values) if v not in have]
    if not new:
        return []
    with guarded(root, known_roles=known_roles) as txn:
        if seq is None:
            seq = _flow([])
            after = next((k for k in LIST_KEYS[key] if k in loc.entry), list(loc.entry)[-1])
            _insert_after(loc.entry, after, key, seq)
        seq.extend(new)
        txn.dump(y, loc.doc, loc.path)
    return new


def remove_values(
    root: str | Path,
    machine: str,
    key: str,
    values: Sequence[str],
    *,
    known_roles: Collection[str] | None = None,
) -> None:
    """Remove tags or roles from a machine; every value must be present."""
    root = Path(root)
    inv = _load(root, known_roles)
    y = _rt()
    loc = locate(root, machine, y, inv)
    seq = loc.entry.get(key) or []
    missing = [v for v in values if v not in seq]
    if missing:
        have = ", ".join(str(v) for v in seq) or "none"
        raise _problem(
            root, loc.file, machine, key, f"has no {key[:-1]} {', '.join(map(repr, missing))} (has: {have})"
        )
    with guarded(root, known_roles=known_roles) as txn:
        for v in values:
            seq.remove(v)
        if not seq:
            del loc.entry[key]
        txn.dump(y, loc.doc, loc.path)


def set_hypervisor(
    root: str | Path,
    vm: str,
    hypervisor: str,
    *,
    disk: str | None = None,
    known_roles: Collection[str] | None = None,
) -> Inventory:
    """Move a VM to another hypervisor (capacity is checked by the re-load).

    A VM defined on its hypervisor (``ON_HYPERVISOR``) has disks there: the move needs
    ``disk`` -- "copied" (its disks were copied to the new hypervisor by hand) or "fresh"
    (it starts from empty disks) -- recorded as ``move: {to, disk}`` for review and for
    the engine's check (components/placement.py)."""
    root = Path(root)
    inv = _load(root, known_roles)
    m = inv.machines.get(vm)
    if m is None:
        raise _problem(root, "machines", vm, "", f"no machine named {vm!r}")
    if not m.is_vm:
        raise _problem(root, m.file, vm, "hypervisor", "is hardware (kind hw): only a VM has a hypervisor")
    _check_hypervisor(root, inv, m.file, vm, hypervisor)
    if m.hypervisor == hypervisor:
        raise _problem(root, m.file, vm, "hypervisor", f"already runs on {hypervisor}")
    defined = m.state in ON_HYPERVISOR
    if defined and disk not in ("fresh", "copied"):
        raise _problem(
            root,
            m.file,
            vm,
            "hypervisor",
            f"is {m.state.value}: its disks are on {m.hypervisor}. Copy them to {hypervisor} and pass "
            "--disk-copied, or pass --fresh-disk to start it from empty disks "
            "(docs/inventory.md 'Moving a VM')",
        )
    y = _rt()
    loc = locate(root, vm, y, inv)
    with guarded(root, known_roles=known_roles) as txn:
        loc.entry["hypervisor"] = hypervisor
        if defined:
            ack = CommentedMap([("to", hypervisor), ("disk", disk)])
            ack.fa.set_flow_style()
            if "move" in loc.entry:
                loc.entry["move"] = ack
            else:
                _insert_after(loc.entry, "hypervisor", "move", ack)
        elif "move" in loc.entry:
            del loc.entry["move"]  # not defined anywhere: nothing to carry over
        txn.dump(y, loc.doc, loc.path)
    assert txn.inventory is not None
    return txn.inventory


def checked_transition(
    root: str | Path, machine: str, new_state: str | State, *, known_roles: Collection[str] | None = None
) -> Inventory:
    """``transition``, then re-load: a move that leaves the inventory invalid is undone."""
    root = Path(root)
    loc = locate(root, machine, None, _load(root, known_roles))
    with guarded(root, known_roles=known_roles) as txn:
        txn.save(loc.path)
        transition(root, machine, new_state)
        txn._restamp(loc.path)
    assert txn.inventory is not None
    return txn.inventory


def mac_for(inv: Inventory, machine: str, nic: str) -> tuple[str, str]:
    """The MAC ``machine``'s NIC ``nic`` has or would get, and how: pinned, generated, or new."""
    m = inv.machines.get(machine)
    if m is not None:
        for n in m.nics:
            if n.name == nic:
                return n.mac, "pinned" if n.mac_pinned else "generated, not pinned yet"
    taken = {n.mac for x in inv.machines.values() for n in x.nics}
    c = inv.customer
    attempt = 0
    while True:
        mac = generate_mac(c.mac_prefix, c.name, machine, nic, attempt)
        if mac not in taken:
            return mac, "new" if attempt == 0 else f"new (attempt {attempt}: earlier ones are taken)"
        attempt += 1


# ------------------------------------------------------------------ for other writers

#: The round-trip pieces other writers of inventory files use (``interop.write``: an import
#: is many edits in one ``guarded`` transaction, with one re-load at the end).
round_trip = _rt
insert_after = _insert_after
flow_seq = _flow
flow_map = _flow_map
cached_load = _load
