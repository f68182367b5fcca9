"""Property tests of allocation on generated inventories.

Everything varies: machine names, states (retired and decommissioning included), how
many NICs each machine has and on which networks, the networks themselves (tiny ones
that collide and run out, an allocated IPv6 prefix, EUI-64 /64s), which values are
pinned, one file per machine or one group file, and the production parse cache.
The MAC prefix has 5 octets, so there are only 256 MACs: generated MACs collide in
most examples and the probing loop is exercised every time.

Properties:

* no two non-retired NICs share a MAC, no two holders share an address, and every
  address lies in its network, outside its network/broadcast address, gateway and
  reserved ranges;
* a load fails only because a network is exhausted (never anything else on a valid
  inventory), and then names only machines that could not get an address;
* pinned values never move;
* adding or removing another machine never moves a pinned machine's values, and never
  moves an unpinned value of a machine that sorts before every added/removed one;
* a pinned value claimed twice is reported on the newer machine (planned before the
  others before delivered), never on the delivered one;
* the results are the same with and without the parse cache, from a cold and a warm
  cache, in either file layout.

``tools/mutations.py`` shows that these tests catch, among others, a MAC regenerated
only once (``if`` for ``while``) and pinned values claimed in name order.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from inventory import InventoryError, load, pin
from inventory.lifecycle import DELIVERED, HOLDS_ADDRESSES
from inventory.model import Inventory, State

_SAFE = YAML(typ="safe")
_DUMP = YAML(typ="safe")
_DUMP.default_flow_style = False

#: Candidate networks, none overlapping (validation refuses overlaps and /31-/32).
NETWORKS: dict[str, dict[str, Any]] = {
    # 2 hosts: exhausted by the third NIC
    "tiny": {"ipv4": "10.0.0.0/30"},
    # 6 hosts minus the gateway and a reserved pair: 3 left; EUI-64 IPv6
    "small": {
        "ipv4": "10.0.1.0/29",
        "gateway4": "10.0.1.1",
        "reserved": ["10.0.1.5-10.0.1.6"],
        "ipv6": "fd00:1::/64",
    },
    # 30 hosts: slots collide often
    "mid": {"ipv4": "10.0.2.0/27", "gateway4": "10.0.2.1", "reserved": ["10.0.2.2"]},
    # IPv6 only, allocated (not EUI-64): 32 addresses
    "six": {"ipv6": "fd00:6::/123"},
    # room for everyone
    "big": {"ipv4": "10.1.0.0/24", "gateway4": "10.1.0.1", "ipv6": "fd00:2::/64"},
    "big2": {"ipv4": "10.2.0.0/24"},
}
#: the networks of the many-NIC test: no exhaustion below 250 NICs a network
ROOMY = ["big", "big2"]
STATES = [s.value for s in State]
MAC_PREFIX = "52:54:00:00:00"  # 256 MACs: collisions are certain with a few dozen NICs

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    # tools/mutations.py wants a verdict, not a minimal example: no shrinking there
    phases=[Phase.explicit, Phase.reuse, Phase.generate]
    if os.environ.get("UNIFORM_MUTATION_RUN")
    else list(Phase),
)

names = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)


@st.composite
def machine_specs(draw: st.DrawFn, nets: list[str], name: str) -> dict[str, Any]:
    nic_nets = draw(st.lists(st.sampled_from(nets), min_size=1, max_size=min(3, len(nets)), unique=True))
    return {
        "name": name,
        "kind": "hw",
        "cores": 1,
        "memory": 1024,
        "state": draw(st.sampled_from(STATES)),
        "nics": [{"name": f"eth{i}", "networks": [{"network": n}]} for i, n in enumerate(nic_nets)],
    }


@st.composite
def worlds(
    draw: st.DrawFn, max_machines: int = 16, min_machines: int = 1, networks: list[str] | None = None
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    candidates = sorted(NETWORKS) if networks is None else networks
    nets = sorted(draw(st.sets(st.sampled_from(candidates), min_size=1, max_size=len(candidates))))
    machine_names = draw(st.lists(names, min_size=min_machines, max_size=max_machines, unique=True))
    return nets, {n: draw(machine_specs(nets, n)) for n in machine_names}


class World:
    """A customer directory on disk, written from plain dicts."""

    def __init__(self, root: Path, nets: list[str], machines: dict[str, dict[str, Any]]) -> None:
        self.root = root
        self.machines = machines
        self.group = False
        (root / "machines").mkdir(parents=True)
        customer = {
            "customer": "acme",
            "domain": "acme.example",
            "mac_prefix": MAC_PREFIX,
            "networks": {n: {"domain": f"{n}.acme.example", **NETWORKS[n]} for n in nets},
        }
        with (root / "customer.yaml").open("w") as f:
            _DUMP.dump(customer, f)

    def write(self) -> None:
        mdir = self.root / "machines"
        shutil.rmtree(mdir)
        mdir.mkdir()
        if self.group:
            with (mdir / "all.yaml").open("w") as f:
                _DUMP.dump([self.machines[n] for n in sorted(self.machines)], f)
        else:
            for n, m in self.machines.items():
                with (mdir / f"{n}.yaml").open("w") as f:
                    _DUMP.dump(m, f)

    def reread(self) -> None:
        self.machines = {}
        for path in sorted((self.root / "machines").glob("*.yaml")):
            doc = _SAFE.load(path.read_text())
            for m in doc if isinstance(doc, list) else [doc]:
                self.machines[m["name"]] = m


Values = dict[str, tuple[tuple[str, str | None, str | None], ...]]


def values(inv: Inventory) -> Values:
    """(MAC, IPv4, IPv6) of every attachment, by machine; a retired machine holds nothing
    (its generated MAC is released, so it may change: only its name is kept)."""
    return {
        m.name: tuple((n.mac, a.ipv4, a.ipv6) for n in m.nics for a in n.attachments)
        if m.state in HOLDS_ADDRESSES
        else ()
        for m in inv.machines.values()
    }


def exhausted_only(err: InventoryError) -> set[str]:
    """The machines that found a network exhausted; any other problem fails the test."""
    for p in err.problems:
        assert "is exhausted" in p.message, str(err)
    return {p.machine for p in err.problems if p.machine}


def load_all(root: Path, cache: Path) -> Inventory | InventoryError:
    """Load without cache, then twice with it (cold, warm): all three must agree."""
    results: list[Inventory | InventoryError] = []
    for cache_dir in (None, cache, cache):
        try:
            results.append(load(root, cache_dir=cache_dir, require_pinned=False))
        except InventoryError as err:
            results.append(err)
    first = results[0]
    for other in results[1:]:
        if isinstance(first, InventoryError):
            assert isinstance(other, InventoryError) and other.problems == first.problems
        else:
            assert isinstance(other, Inventory), str(other)
            assert values(other) == values(first)
            assert other.machines == first.machines
    return first


def check_allocation(inv: Inventory) -> None:
    macs: dict[str, str] = {}
    addrs: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
    for m in inv.machines.values():
        holds = m.state in HOLDS_ADDRESSES
        for nic in m.nics:
            if holds:
                assert nic.mac not in macs, f"duplicate MAC {nic.mac}: {macs.get(nic.mac)} and {m.name}"
                macs[nic.mac] = m.name
            assert nic.mac.startswith(MAC_PREFIX + ":") or nic.mac_pinned
            for att in nic.attachments:
                spec = NETWORKS[att.network]
                if not holds:
                    assert att.ipv4 is None and att.ipv6 is None, f"retired {m.name} holds an address"
                    continue
                for text, prefix in ((att.ipv4, spec.get("ipv4")), (att.ipv6, spec.get("ipv6"))):
                    assert (text is None) == (prefix is None), (m.name, att)
                    if text is None or prefix is None:
                        continue
                    ip = ipaddress.ip_address(text)
                    net = ipaddress.ip_network(prefix)
                    assert ip in net, f"{m.name}: {ip} outside {net}"
                    if ip.version == 4:
                        assert ip not in (net.network_address, net.broadcast_address), (m.name, ip)
                    assert str(ip) != spec.get("gateway4"), (m.name, ip)
                    for r in spec.get("reserved", []) if ip.version == 4 else []:
                        lo, _, hi = r.partition("-")
                        first, last = ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi or lo)
                        assert not first <= ip <= last, (m.name, ip, r)
                    assert ip not in addrs, f"duplicate address {ip}: {addrs.get(ip)} and {m.name}"
                    addrs[ip] = m.name


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


def pin_some(w: World, inv: Inventory, data: st.DataObject) -> dict[tuple[str, str, str], str]:
    """Write a random subset of the allocated values into the machine dicts."""
    want = {}
    for name, spec in w.machines.items():
        m = inv.machines[name]
        for nic_spec, nic in zip(spec["nics"], m.nics, strict=True):
            if data.draw(st.booleans(), label=f"pin {name} {nic.name} mac"):
                nic_spec["mac"] = nic.mac
                want[(name, nic.name, "mac")] = nic.mac
            att, att_spec = nic.attachments[0], nic_spec["networks"][0]
            for family in ("ipv4", "ipv6"):
                value = getattr(att, family)
                if value is None or NETWORKS[att.network].get(family, "").endswith("/64"):
                    continue  # nothing held, or EUI-64 (derived from the MAC)
                if data.draw(st.booleans(), label=f"pin {name} {nic.name} {family}"):
                    att_spec[family] = value
                    want[(name, nic.name, family)] = value
    return want


@SETTINGS
@given(world=worlds(), data=st.data())
def test_generated_inventories_allocate_uniquely_and_keep_pins(
    world: tuple[list[str], dict[str, dict[str, Any]]], data: st.DataObject
) -> None:
    nets, machines = world
    with tempfile.TemporaryDirectory() as tmp:
        w = World(Path(tmp) / "acme", nets, machines)
        w.group = data.draw(st.booleans(), label="group file")
        w.write()
        got = load_all(w.root, Path(tmp) / "cache")
        if isinstance(got, InventoryError):
            assert exhausted_only(got) <= set(machines)
            return
        check_allocation(got)
        before = values(got)

        # pin a random subset: nothing moves, in either layout, cached or not
        want = pin_some(w, got, data)
        w.group = data.draw(st.booleans(), label="group file after pinning")
        w.write()
        inv = load_all(w.root, Path(tmp) / "cache")
        assert isinstance(inv, Inventory), str(inv)
        check_allocation(inv)
        assert pinned_values(inv) == want
        assert values(inv) == before


@settings(SETTINGS, max_examples=20)
@given(world=worlds(max_machines=10), data=st.data())
def test_other_machines_never_move_pinned_or_earlier_values(
    world: tuple[list[str], dict[str, dict[str, Any]]], data: st.DataObject
) -> None:
    nets, machines = world
    keep = set(machines)
    with tempfile.TemporaryDirectory() as tmp:
        w = World(Path(tmp) / "acme", nets, dict(machines))
        w.group = data.draw(st.booleans(), label="group file")
        w.write()
        base = load_all(w.root, Path(tmp) / "cache")
        assume(isinstance(base, Inventory))
        assert isinstance(base, Inventory)
        before = values(base)

        # unpinned: adding machines that sort after everyone moves nobody
        last = max(keep)
        later = data.draw(st.lists(names.map(lambda n: "zz" + n), max_size=4, unique=True), label="later")
        later = [n for n in later if n > last]
        for n in later:
            w.machines[n] = data.draw(machine_specs(nets, n))
        w.write()
        got = load_all(w.root, Path(tmp) / "cache")
        if isinstance(got, InventoryError):
            assert exhausted_only(got) <= set(later)
        else:
            check_allocation(got)
            assert {n: values(got)[n] for n in keep} == before
        for n in later:
            del w.machines[n]

        # pinned (the real `pin`): adding and removing other machines moves nobody
        w.write()
        pin(w.root)
        w.reread()
        pinned = load_all(w.root, Path(tmp) / "cache")
        assert isinstance(pinned, Inventory), str(pinned)
        assert values(pinned) == before
        ops = data.draw(st.lists(st.tuples(st.booleans(), names), max_size=6), label="edits")
        added: set[str] = set()
        for add, name in ops:
            if name in keep:
                continue
            if add:
                w.machines[name] = data.draw(machine_specs(nets, name))
                added.add(name)
            else:
                w.machines.pop(name, None)
            w.write()
            got = load_all(w.root, Path(tmp) / "cache")
            if isinstance(got, InventoryError):
                assert exhausted_only(got) <= added
                continue
            check_allocation(got)
            assert {n: values(got)[n] for n in keep} == before


@SETTINGS
@given(world=worlds(max_machines=8), data=st.data())
def test_a_pinned_duplicate_is_reported_on_the_newer_machine(
    world: tuple[list[str], dict[str, dict[str, Any]]], data: st.DataObject
) -> None:
    nets, machines = world
    with tempfile.TemporaryDirectory() as tmp:
        w = World(Path(tmp) / "acme", nets, dict(machines))
        senior = data.draw(st.sampled_from(sorted(machines)), label="delivered machine")
        w.machines[senior]["state"] = data.draw(st.sampled_from(sorted(s.value for s in DELIVERED)))
        w.write()
        try:
            pin(w.root)
        except InventoryError as err:
            exhausted_only(err)
            assume(False)
        w.reread()
        inv = load(w.root, require_pinned=False)
        old = inv.machines[senior]
        nic = old.nics[0]
        field = data.draw(
            st.sampled_from(["mac"] + (["ipv4"] if nic.attachments[0].ipv4 else [])), label="field"
        )
        new = data.draw(names.filter(lambda n: n not in machines), label="new name")
        spec = data.draw(machine_specs(nets, new))
        spec["state"] = data.draw(st.sampled_from(["planned", "decommissioning"]), label="new state")
        spec["nics"][0] = {
            "name": "eth0",
            "networks": [{"network": nic.attachments[0].network}],
        }
        if field == "mac":
            spec["nics"][0]["mac"] = nic.mac
        else:
            spec["nics"][0]["networks"][0]["ipv4"] = nic.attachments[0].ipv4
        w.machines[new] = spec
        w.write()
        try:
            load(w.root, require_pinned=False)
        except InventoryError as err:
            dups = [p for p in err.problems if "duplicate" in p.message]
            assert dups, str(err)
            assert {p.machine for p in dups} == {new}, str(err)
        else:
            raise AssertionError(f"{new} duplicates {old.name}'s pinned {field} and loads")


@SETTINGS
@given(world=worlds(min_machines=25, max_machines=70, networks=ROOMY), group=st.booleans())
def test_many_nics_on_256_macs_never_share_one(
    world: tuple[list[str], dict[str, dict[str, Any]]], group: bool
) -> None:
    """25-140 NICs on 256 MACs: generated MACs collide in nearly every example, often
    twice in a row, so a probe that gives up early shows as a duplicate here."""
    nets, machines = world
    with tempfile.TemporaryDirectory() as tmp:
        w = World(Path(tmp) / "acme", nets, machines)
        w.group = group
        w.write()
        got = load_all(w.root, Path(tmp) / "cache")
        assert isinstance(got, Inventory), str(got)
        check_allocation(got)


#: tests/unit/inventory_cases/_base: hv1 (4 cores, 16 GiB, hypervisor) and web1 (a VM on it)
_BASE = Path(__file__).parent / "inventory_cases" / "_base"


@settings(SETTINGS, max_examples=15)
@given(
    hv_cores=st.integers(1, 16),
    hv_gib=st.integers(1, 64),
    cpu=st.sampled_from([1.0, 1.5, 2.0, 4.0]),
    mem=st.sampled_from([1.0, 1.5, 2.0]),
    extra=st.sampled_from(["none", "core", "mib"]),
)
def test_capacity_boundary(hv_cores: int, hv_gib: int, cpu: float, mem: float, extra: str) -> None:
    """A hypervisor used exactly to capacity is fine; one core or MiB more is reported."""
    cores, mib = int(hv_cores * cpu), int(hv_gib * 1024 * mem)
    cores += extra == "core"
    mib += extra == "mib"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "acme"
        shutil.copytree(_BASE, root)
        customer = (root / "customer.yaml").read_text()
        (root / "customer.yaml").write_text(customer + f"overcommit: {{cpu: {cpu}, memory: {mem}}}\n")
        hv = (root / "machines" / "hv1.yaml").read_text()
        hv = hv.replace("cores: 4\n", f"cores: {hv_cores}\n").replace(
            "memory: 16GiB\n", f"memory: {hv_gib}GiB\n"
        )
        (root / "machines" / "hv1.yaml").write_text(hv)
        vm = (root / "machines" / "web1.yaml").read_text()
        vm = vm.replace("cores: 2\n", f"cores: {cores}\n").replace("memory: 4GiB\n", f"memory: {mib}MiB\n")
        (root / "machines" / "web1.yaml").write_text(vm)
        try:
            load(root)
        except InventoryError as err:
            over = [p for p in err.problems if "overcommitted" in p.message]
            assert len(over) == len(err.problems) == 1 and extra != "none", str(err)
            assert over[0].machine == "hv1" and over[0].field == ("cores" if extra == "core" else "memory"), (
                str(err)
            )
        else:
            assert extra == "none", (
                f"{cores} cores / {mib} MiB on {hv_cores} x {cpu} / {hv_gib} GiB x {mem} loads"
            )
