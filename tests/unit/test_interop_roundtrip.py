"""Round trip: a random valid inventory -> the DHCP (dnsmasq or Kea), DNS (BIND zones) and
libvirt files uniform renders for it -> ``uniform import`` into a customer directory that
has only customer.yaml -> the same machines, MACs and addresses (and VMs on the same
hypervisors with the same cores and memory).

Varies: the DHCP service, how many hypervisors, hardware hosts and VMs, names, MACs, which
networks each NIC is on, IPv4 addresses, and each dual-stack NIC's IPv6 (EUI-64, pinned, or
none). Hardware cores/memory and roles other than hypervisor are not in these files, so they
are not compared (docs/adopt.md "What is imported, what is not")."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

import payloads
from cli.exitcodes import Exit
from cli.main import main
from connectors.local import write_tree
from inventory import load, unpinned
from inventory.model import Inventory

_DUMP = YAML(typ="safe")
_DUMP.default_flow_style = False

CUSTOMER = {
    "customer": "acme",
    "domain": "acme.example",
    "services": {"dns": "bind"},
    "networks": {
        "lan": {
            "ipv4": "10.20.0.0/24",
            "ipv6": "fd00:20::/64",
            "gateway4": "10.20.0.1",
            "reserved": ["10.20.0.1-10.20.0.9"],
            "dhcp_pool": "10.20.0.200-10.20.0.250",
            "bridge": "br-lan",
            "dns_servers": ["10.20.0.2"],
        },
        "mgmt": {
            "ipv4": "10.30.0.0/24",
            "gateway4": "10.30.0.1",
            "bridge": "br-mgmt",
            "domain": "mgmt.acme.example",
        },
    },
}
SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

label = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True).filter(lambda s: s != "svc")


@st.composite
def worlds(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    """(DHCP service, machine dicts): svc (dhcp+dns), hypervisors, hardware, VMs; all active, pinned."""
    n_hv, n_hw, n_vm = draw(st.integers(1, 3)), draw(st.integers(0, 3)), draw(st.integers(0, 6))
    names = draw(st.lists(label, min_size=n_hv + n_hw + n_vm, max_size=n_hv + n_hw + n_vm, unique=True))
    hvs, hws, vms = names[:n_hv], names[n_hv : n_hv + n_hw], names[n_hv + n_hw :]
    macs = iter(draw(st.lists(st.integers(0, 2**24 - 1), min_size=40, max_size=40, unique=True)))
    lan = iter(draw(st.lists(st.integers(10, 199), min_size=40, max_size=40, unique=True)))
    mgmt = iter(draw(st.lists(st.integers(2, 254), min_size=40, max_size=40, unique=True)))
    six = iter(draw(st.lists(st.integers(1, 2**16 - 1), min_size=40, max_size=40, unique=True)))

    def nic(i: int, net: str) -> dict[str, Any]:
        m = next(macs)
        att: dict[str, Any] = {"network": net}
        if net == "lan":
            att["ipv4"] = f"10.20.0.{next(lan)}"
            mode = draw(st.sampled_from(["auto", "pinned", "none"]))
            if mode == "pinned":
                att["ipv6"] = f"fd00:20::1:{next(six):x}"
            elif mode == "none":
                att["ipv6"] = "none"
        else:
            att["ipv4"] = f"10.30.0.{next(mgmt)}"
        return {
            "name": f"eth{i}",
            "mac": f"52:54:00:{m >> 16:02x}:{(m >> 8) & 255:02x}:{m & 255:02x}",
            "networks": [att],
        }

    def hw(name: str, nets: list[str], roles: list[str]) -> dict[str, Any]:
        return {
            "name": name,
            "kind": "hw",
            "cores": 64,
            "memory": "256GiB",
            "nics": [nic(i, n) for i, n in enumerate(nets)],
            "roles": roles,
            "state": "active",
        }

    out = [hw("svc", ["lan", "mgmt"], ["dhcp", "dns"])]
    for n in hvs:
        out.append(hw(n, ["lan", "mgmt"], ["hypervisor"]))
        virt = draw(st.sampled_from([None, "kvm", "qemu"]))
        if virt is not None:
            out[-1]["virtualization"] = virt
    out += [hw(n, draw(st.sampled_from([["lan"], ["mgmt"], ["lan", "mgmt"]])), []) for n in hws]
    for n in vms:
        nets = draw(st.sampled_from([["lan"], ["mgmt"], ["lan", "mgmt"], ["mgmt", "lan"]]))
        out.append(
            {
                "name": n,
                "kind": "vm",
                "hypervisor": draw(st.sampled_from(hvs)),
                "cores": draw(st.integers(1, 8)),
                "memory": draw(st.sampled_from(["512MiB", "1GiB", "3GiB", "8GiB"])),
                "nics": [nic(i, x) for i, x in enumerate(nets)],
                "state": "active",
            }
        )
    return draw(st.sampled_from(["dnsmasq", "kea"])), out


def write_customer(root: Path, dhcp: str, machines: list[dict[str, Any]]) -> None:
    (root / "machines").mkdir(parents=True)
    with (root / "customer.yaml").open("w") as f:
        _DUMP.dump({**CUSTOMER, "services": {"dhcp": dhcp, "dns": "bind"}}, f)
    for m in machines:
        with (root / "machines" / f"{m['name']}.yaml").open("w") as f:
            _DUMP.dump(m, f)


def facts(inv: Inventory) -> dict[str, Any]:
    """What the rendered files carry: per machine its NICs' (MAC, network, IPv4, IPv6), for a
    VM its hypervisor, cores and memory, for a hypervisor with VMs its virtualization (the
    domains' type)."""
    out: dict[str, Any] = {}
    for m in inv.machines.values():
        nics = sorted((n.mac, a.network, a.ipv4, a.ipv6) for n in m.nics for a in n.attachments)
        vm = (m.hypervisor, m.cores, m.memory_mib) if m.is_vm else None
        virt = m.virtualization if inv.vms_on(m.name) else None
        out[m.name] = (nics, vm, virt)
    return out


def import_argv(tree: Path, dhcp: str, inv: Inventory) -> list[str]:
    svc = tree / "svc"
    argv: list[str] = []
    if dhcp == "dnsmasq":
        argv += ["--dnsmasq", str(svc / "etc/dnsmasq.d/uniform-dhcp.conf")]
    else:
        argv += ["--kea", str(svc / "etc/kea/kea-dhcp4.conf"), "--kea", str(svc / "etc/kea/kea-dhcp6.conf")]
    for zone in sorted((svc / "etc/bind/uniform").glob("db.*")):
        argv += ["--zone", str(zone)]
    for hv in sorted({m.hypervisor for m in inv.machines.values() if m.hypervisor}):
        argv += ["--libvirt", f"{hv}={tree / hv / 'etc/uniform/libvirt'}"]
    return argv


@SETTINGS
@given(worlds())
def test_render_then_import_gives_the_same_machines(world: tuple[str, list[dict[str, Any]]]) -> None:
    dhcp, machines = world
    tmp = Path(tempfile.mkdtemp(prefix="uniform-roundtrip-"))
    try:
        orig = tmp / "a" / "acme"
        write_customer(orig, dhcp, machines)
        inv = load(orig)
        write_tree(payloads.render_customer(inv), tmp / "tree")
        new = tmp / "b" / "acme"
        new.mkdir(parents=True)
        shutil.copy(orig / "customer.yaml", new / "customer.yaml")
        rc = main(["import", str(new), *import_argv(tmp / "tree", dhcp, inv)])
        assert rc == Exit.OK
        back = load(new)
        assert facts(back) == facts(inv)
        assert unpinned(back) == []
        hvs = {m.hypervisor for m in inv.machines.values() if m.hypervisor}
        assert {n for n, m in back.machines.items() if "hypervisor" in m.roles} == hvs
        # importing the same files again changes nothing
        before = {p: p.read_bytes() for p in new.rglob("*.yaml")}
        assert main(["import", str(new), *import_argv(tmp / "tree", dhcp, inv)]) == Exit.OK
        assert {p: p.read_bytes() for p in new.rglob("*.yaml")} == before
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
