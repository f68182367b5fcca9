"""Property tests: allocation never duplicates, and pinned allocations never move."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from inventory import load, pin
from inventory.lifecycle import HOLDS_ADDRESSES
from inventory.model import Inventory

# A small customer so that hash slots and generated MACs collide often:
# a 5-octet MAC prefix (256 MACs), a /27 and an IPv6 /122 (allocated, not EUI-64).
CUSTOMER = """\
customer: acme
domain: acme.example
mac_prefix: "52:54:00:00:00"
networks:
  lan:
    ipv4: 10.0.0.0/27
    ipv6: fd00::/64
    gateway4: 10.0.0.1
    reserved: [10.0.0.2-10.0.0.4]
  v6:
    ipv6: fd00:6::/122
"""
NAMES = [f"m{i}" for i in range(12)]
SETTINGS = settings(max_examples=25, deadline=None)
_SAFE = YAML(typ="safe")
_DUMP = YAML(typ="safe")
_DUMP.default_flow_style = False


def machine(name: str, hw: bool) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "hw",
        "cores": 1,
        "memory": 1024,
        "nics": [
            {"name": "eth0", "networks": [{"network": "lan"}]},
            {"name": "eth1", "networks": [{"network": "v6"}]},
        ],
        "roles": ["hypervisor"] if hw else [],
        "state": "planned",
    }


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.machines: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.group = False
        (root / "machines").mkdir(parents=True)
        (root / "customer.yaml").write_text(CUSTOMER)

    def write(self) -> None:
        mdir = self.root / "machines"
        shutil.rmtree(mdir)
        mdir.mkdir()
        names = [n for n in self.order if n in self.machines]
        if self.group:
            with (mdir / "all.yaml").open("w") as f:
                _DUMP.dump([self.machines[n] for n in names], f)
        else:
            for n in names:
                with (mdir / f"{n}.yaml").open("w") as f:
                    _DUMP.dump(self.machines[n], f)

    def reread(self) -> None:
        self.machines = {}
        for path in sorted((self.root / "machines").glob("*.yaml")):
            doc = _SAFE.load(path.read_text())
            for m in doc if isinstance(doc, list) else [doc]:
                self.machines[m["name"]] = m


def addresses(inv: Inventory) -> dict[str, tuple[tuple[str, str | None, str | None], ...]]:
    out = {}
    for m in inv.machines.values():
        out[m.name] = tuple((n.mac, a.ipv4, a.ipv6) for n in m.nics for a in n.attachments)
    return out


def check_unique(inv: Inventory) -> None:
    seen: set[str] = set()
    for m in inv.machines.values():
        if m.state not in HOLDS_ADDRESSES:
            continue
        for n in m.nics:
            assert n.mac not in seen
            seen.add(n.mac)
            for a in n.attachments:
                for ip in (a.ipv4, a.ipv6):
                    if ip is not None:
                        assert ip not in seen
                        seen.add(ip)


def pinned_values(inv: Inventory) -> dict[tuple[str, str, str], str]:
    out = {}
    for m in inv.machines.values():
        for n in m.nics:
            if n.mac_pinned:
                out[(m.name, n.name, "mac")] = n.mac
            for a in n.attachments:
                if a.ipv4_pinned and a.ipv4:
                    out[(m.name, n.name, "ipv4")] = a.ipv4
                if a.ipv6_pinned and a.ipv6:
                    out[(m.name, n.name, "ipv6")] = a.ipv6
    return out


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(NAMES)),
        st.tuples(st.just("remove"), st.sampled_from(NAMES)),
        st.tuples(st.just("reorder"), st.permutations(NAMES)),
        st.tuples(st.just("layout"), st.booleans()),
        st.tuples(st.just("pin"), st.none()),
    ),
    max_size=14,
)


@SETTINGS
@given(ops=OPS)
def test_random_edits_never_duplicate_and_never_move_pinned(ops: list[tuple[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        w = World(Path(tmp) / "acme")
        w.order = list(NAMES)
        pinned: dict[tuple[str, str, str], str] = {}
        for op, arg in ops:
            if op == "add" and arg not in w.machines:
                w.machines[arg] = machine(arg, hw=True)
            elif op == "remove" and arg in w.machines:
                del w.machines[arg]
                pinned = {k: v for k, v in pinned.items() if k[0] != arg}
            elif op == "reorder":
                w.order = list(arg)
            elif op == "layout":
                w.group = arg
            w.write()
            if op == "pin":
                pin(w.root)
                w.reread()
            inv = load(w.root)
            check_unique(inv)
            now = pinned_values(inv)
            for k, v in pinned.items():
                assert now[k] == v, k
            pinned = now


@SETTINGS
@given(
    first=st.sets(st.sampled_from(NAMES), min_size=1, max_size=6),
    later=st.lists(st.tuples(st.booleans(), st.sampled_from(NAMES)), max_size=10),
)
def test_after_pin_other_edits_never_change_existing_addresses(
    first: set[str], later: list[tuple[bool, str]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        w = World(Path(tmp) / "acme")
        w.order = list(NAMES)
        for n in first:
            w.machines[n] = machine(n, hw=False)
        w.write()
        pin(w.root)
        w.reread()
        before = addresses(load(w.root))
        for add, name in later:
            if name in first:
                continue  # only others change
            if add:
                w.machines[name] = machine(name, hw=False)
            else:
                w.machines.pop(name, None)
            w.write()
            inv = load(w.root)
            check_unique(inv)
            now = addresses(inv)
            assert {n: now[n] for n in first} == before
