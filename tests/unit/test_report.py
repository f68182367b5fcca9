"""ops.report: the figures (checked against an independent count with ipaddress), the page
(self-contained, escaped, deterministic). The command, `uniform report`, is tested in
tests/unit/test_cli_ops.py."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace
from pathlib import Path

import pytest

from inventory import lifecycle
from inventory.model import Inventory, State
from inventory.units import format_mib
from ops import report as R
from tests.helpers.stacks import load_stack as load

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = ["acme", "demo", "globex", "lab"]


def independent_counts(inv: Inventory, net_name: str, version: int) -> dict[str, int]:
    """used / reserved / pool / free of one network family, by plain set arithmetic."""
    net = inv.networks[net_name]
    prefix = ipaddress.ip_network(net.ipv4 if version == 4 else net.ipv6)

    def span(first: str, last: str) -> set[int]:
        a, b = int(ipaddress.ip_address(first)), int(ipaddress.ip_address(last))
        return {i for i in range(a, b + 1) if int(prefix.network_address) <= i <= int(prefix[-1])}

    reserved: set[int] = {int(prefix.network_address)}
    if version == 4:
        reserved.add(int(prefix.broadcast_address))
    gw = net.gateway4 if version == 4 else net.gateway6
    if gw:
        reserved.add(int(ipaddress.ip_address(gw)))
    for first, last in net.reserved:
        if ipaddress.ip_address(first).version == version:
            reserved |= span(first, last)
    pool: set[int] = set()
    if net.dhcp_pool and ipaddress.ip_address(net.dhcp_pool[0]).version == version:
        pool = span(*net.dhcp_pool) - reserved
    used = {
        int(ipaddress.ip_address(a))
        for m in inv.machines.values()
        for nic in m.nics
        for att in nic.attachments
        if att.network == net_name
        for a in ((att.ipv4,) if version == 4 else (att.ipv6,))
        if a
    }
    assert not used & (reserved | pool)
    total = prefix.num_addresses
    return {
        "used": len(used),
        "reserved": len(reserved),
        "pool": len(pool),
        "free": total - len(used) - len(reserved) - len(pool),
    }


@pytest.mark.parametrize("customer", CUSTOMERS)
def test_network_figures(customer: str) -> None:
    inv = load(customer)
    rep = R.build(inv)
    assert [n.name for n in rep.networks] == sorted(inv.networks)
    for n in rep.networks:
        for f in n.families:
            want = independent_counts(inv, n.name, f.version)
            assert {s.label: s.count for s in f.segments} == want, (n.name, f.version)
            assert sum(s.count for s in f.segments) == f.total
            assert abs(sum(s.width for s in f.segments) - 100) < 1e-3 or f.segments[-1].width == 0
            assert all(s.width >= 0.5 for s in f.segments if s.count and s.label != "free")
            xs = [s.x for s in f.segments]
            assert xs == sorted(xs) and xs[0] == 0


def test_acme_figures() -> None:
    rep = R.build(load("acme"))
    lan4 = next(f for n in rep.networks if n.name == "lan" for f in n.families if f.version == 4)
    assert (lan4.count("used"), lan4.count("pool")) == (6, 51)
    hv = {h.name: h for h in rep.hypervisors}
    assert sorted(hv) == ["hv1", "hv2"]
    # hv1: web1 (4) + ns1 (2) count; old1 is retired: listed, not counted
    assert (hv["hv1"].cpu.used, hv["hv1"].cpu.capacity) == (6, 64)
    assert ("old1", "retired") in hv["hv1"].vms
    assert hv["hv2"].memory.used == 40 * 1024 and hv["hv2"].memory.capacity == 64 * 1024
    assert dict((s, c) for s, c, _ in rep.lifecycle) == {
        "planned": 0,
        "staged": 1,
        "active": 5,
        "offline": 0,
        "failed": 0,
        "decommissioning": 0,
        "retired": 1,
    }


@pytest.mark.parametrize("customer", CUSTOMERS)
def test_hypervisor_usage_matches_the_capacity_rule(customer: str) -> None:
    inv = load(customer)
    c = inv.customer
    for h in R.build(inv).hypervisors:
        vms = [v for v in inv.vms_on(h.name) if v.state in lifecycle.USES_CAPACITY]
        assert h.cpu.used == sum(v.cores for v in vms)
        assert h.cpu.capacity == inv.machines[h.name].cores * c.cpu_overcommit
        assert h.memory.used == sum(v.memory_mib for v in vms)
        assert h.memory.capacity == inv.machines[h.name].memory_mib * c.memory_overcommit
        assert not h.cpu.over and not h.memory.over  # validation refuses an overcommitted hypervisor


def test_over_capacity_is_drawn_red() -> None:
    rep = R.build(load("acme"))
    hv = rep.hypervisors[0]
    over = replace(hv, cpu=R._usage(100, 64))
    page = R.render_report(replace(rep, hypervisors=(over,)))
    assert over.cpu.over and over.cpu.width == 100 and over.cpu.pct == 156.25
    assert 'class="over" data-pct="156.25"' in page and "over capacity" in page


def test_machine_rows() -> None:
    inv = load("acme")
    rows = {r.name: r for r in R.build(inv).machines}
    assert list(rows) == sorted(inv.machines)
    hv1 = inv.machines["hv1"]
    assert rows["hv1"].macs == tuple(n.mac for n in hv1.nics)
    assert rows["hv1"].fqdn == inv.fqdn(hv1)
    assert rows["hv1"].addresses[0] == hv1.nics[0].attachments[0].ipv4
    assert rows["old1"].addresses == ()  # retired: released
    # numeric address order: 10.10.0.10 before 10.10.0.122 (not as text)
    assert rows["ns1"].address_key < rows["hv1"].address_key
    assert R._addr_key(["10.0.0.9"]) < R._addr_key(["10.0.0.10"]) < R._addr_key(["fd00::1"]) < R._addr_key([])


def test_number_formats() -> None:
    assert format_mib(512) == "512 MiB" and format_mib(4096) == "4 GiB" and format_mib(1536) == "1.5 GiB"
    assert format_mib(2 * 1024 * 1024) == "2 TiB" and format_mib(1.5 * 102400) == "150 GiB"
    assert R._big(254) == "254" and R._big(65534) == "65,534"
    assert R._big(2**64) == "2^64" and R._big(2**64 - 3) == "≈2^64"


# ---------------------------------------------------------------- the page


@pytest.mark.parametrize("customer", CUSTOMERS)
def test_page_is_self_contained_and_deterministic(customer: str) -> None:
    page = R.render(load(customer))
    assert page == R.render(load(customer))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # nothing fetched: no URLs, no external resources, no imports
    assert not re.search(r"\b(src|href|srcset|action)\s*=", page, re.I)
    assert not re.search(r"https?://|url\(|@import|<link\b|<iframe\b|<img\b|fetch\(|XMLHttpRequest", page)
    assert page.count("<script>") == 1 and page.count("<style>") == 1


def test_page_content() -> None:
    inv = load("acme")
    page = R.render(inv)
    for m in inv.machines.values():
        assert f"<tr><td>{m.name}<td>" in page
        for nic in m.nics:
            assert nic.mac in page
    assert 'data-network="lan" data-family="4"' in page and 'data-network="lan" data-family="6"' in page
    assert page.count('data-hypervisor="') == 2
    assert "<summary>3 VMs</summary>ns1, old1 (retired), web1</details>" in page
    assert '<td class="n" data-state="active">5</td>' in page
    assert "overcommit cpu ×4, memory ×1" in page


def test_page_escapes_inventory_text() -> None:
    rep = R.build(load("demo"))
    evil = "<script>alert(1)</script>"
    row = replace(rep.machines[0], tags=(evil, "a&b"), fqdn='x"onmouseover="y')
    page = R.render_report(replace(rep, machines=(row, *rep.machines[1:]), customer=evil))
    assert evil not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "a&amp;b" in page
    assert 'x"onmouseover' not in page


def test_lifecycle_states_in_order() -> None:
    rep = R.build(load("acme"))
    assert [s for s, _, _ in rep.lifecycle] == [s.value for s in State]
    assert sum(c for _, c, _ in rep.lifecycle) == len(rep.machines)
