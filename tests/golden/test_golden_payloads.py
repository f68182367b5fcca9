"""Golden payload trees: render each case and compare with ``expected/`` byte for byte.

Update after an intended change with ``UNIFORM_UPDATE_GOLDEN=1 pytest tests/golden``
and review the diff of ``tests/golden/cases/*/expected`` like any other change.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import shutil
import stat
from pathlib import Path

import pytest

from connectors.local import write_tree
from inventory import lifecycle
from inventory.model import Attachment, Inventory, Machine, Network
from payloads import render_customer
from payloads.types import PayloadFile
from tests.helpers.cases import case_dirs, customer_dir, load_case, load_minimal

UPDATE = os.environ.get("UNIFORM_UPDATE_GOLDEN") == "1"


#: git keeps only the executable bit of a file, so a fresh clone checks out a 0600
#: golden file as 0644: the expected modes are recorded in this file instead.
MODES = "MODES"


def _tree(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (stat.S_IMODE(p.stat().st_mode), p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MODES
    }


def _write_modes(root: Path) -> None:
    (root / MODES).write_text("".join(f"{mode:04o} {path}\n" for path, (mode, _) in _tree(root).items()))


def _expected_tree(root: Path) -> dict[str, tuple[int, bytes]]:
    modes = {}
    for line in (root / MODES).read_text().splitlines():
        mode, path = line.split(" ", 1)
        modes[path] = int(mode, 8)
    # a file missing from MODES shows as mode 0 in the diff
    return {path: (modes.get(path, 0), data) for path, (_, data) in _tree(root).items()}


def _diff(expected: dict[str, tuple[int, bytes]], actual: dict[str, tuple[int, bytes]]) -> str:
    out: list[str] = []
    for path in sorted(set(expected) | set(actual)):
        e, a = expected.get(path), actual.get(path)
        if e == a:
            continue
        if e is None:
            out.append(f"+++ unexpected file {path}")
        elif a is None:
            out.append(f"--- missing file {path}")
        if e is not None and a is not None and e[0] != a[0]:
            out.append(f"mode of {path}: expected {e[0]:04o}, got {a[0]:04o}")
        old = e[1].decode().splitlines(keepends=True) if e else []
        new = a[1].decode().splitlines(keepends=True) if a else []
        out.extend(difflib.unified_diff(old, new, f"expected/{path}", f"rendered/{path}"))
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


@pytest.mark.parametrize("case", case_dirs(), ids=lambda p: p.name)
def test_golden(case: Path, tmp_path: Path) -> None:
    payloads = render_customer(load_case(customer_dir(case)))
    write_tree(payloads, tmp_path)
    expected_dir = case / "expected"
    if UPDATE:
        shutil.rmtree(expected_dir, ignore_errors=True)
        write_tree(payloads, expected_dir)
        _write_modes(expected_dir)
    actual = _tree(tmp_path)
    expected = _expected_tree(expected_dir)
    diff = _diff(expected, actual)
    assert not diff, (
        f"payloads of {case.name} differ from golden (UNIFORM_UPDATE_GOLDEN=1 to accept):\n{diff}"
    )


@pytest.mark.parametrize("case", case_dirs(), ids=lambda p: p.name)
def test_loader_matches_minimal_reader(case: Path) -> None:
    """The case files pin everything, so the real loader and the minimal reader agree."""
    import inventory

    if not hasattr(inventory, "load"):
        pytest.skip("inventory.load not available yet")
    real = render_customer(load_case(customer_dir(case)))
    minimal = render_customer(load_minimal(customer_dir(case)))
    assert {k: v.digest for k, v in real.items()} == {k: v.digest for k, v in minimal.items()}


def test_renders_are_byte_identical() -> None:
    for case in case_dirs():
        a = render_customer(load_case(customer_dir(case)))
        b = render_customer(load_case(customer_dir(case)))
        assert a == b
        assert [p.digest for p in a.values()] == [p.digest for p in b.values()]


# -- expected values computed independently of the templates -------------------------
#
# A golden file records what was rendered once; regenerating it would bless a bug.  The
# checks below recompute what the DNS and DHCP files must say from the inventory model
# alone, with ``ipaddress`` (not netaddr, not the payload code), and compare.


def _files(inv: Inventory) -> list[PayloadFile]:
    return [f for p in render_customer(inv).values() for f in p.files]


def _published(inv: Inventory) -> list[tuple[Machine, Network, Attachment, str]]:
    """(machine, network, attachment, mac) of every address published in DHCP/DNS."""
    out = []
    for m in inv.machines.values():
        if not lifecycle.in_dns(m.state):
            continue
        for nic in m.nics:
            for att in nic.attachments:
                out.append((m, inv.networks[att.network], att, nic.mac.lower()))
    return out


def _zone_records(content: str) -> tuple[str, list[tuple[str, str, str]]]:
    origin = ""
    records = []
    for line in content.splitlines():
        if line.startswith("$ORIGIN"):
            origin = line.split()[1].rstrip(".")
        elif line and not line.startswith((";", "$", "@")):
            name, _in, rtype, *data = line.split()
            records.append((name, rtype, " ".join(data)))
    return origin, records


@pytest.mark.parametrize("case", case_dirs(), ids=lambda p: p.name)
def test_zone_records_equal_inventory_addresses(case: Path) -> None:
    inv = load_case(customer_dir(case))
    want_fwd: set[tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address]] = set()
    want_ptr: set[tuple[str, str]] = set()
    for m, net, att, _mac in _published(inv):
        for addr in (att.ipv4, att.ipv6):
            if addr is None:
                continue
            ip = ipaddress.ip_address(addr)
            prefix = ipaddress.ip_network(net.ipv4 if ip.version == 4 else net.ipv6)  # type: ignore[arg-type]
            assert ip in prefix, f"{m.name}: {ip} outside {net.name} {prefix}"
            want_fwd.add((f"{m.name}.{net.domain}", ip))
            want_ptr.add((ip.reverse_pointer, f"{m.name}.{net.domain}"))
    assert want_fwd, "the case publishes no address: nothing would be checked"
    files = _files(inv)
    zones = [f for f in files if f.path.startswith("/etc/bind/uniform/db.")]
    got_fwd: set[tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address]] = set()
    got_ptr: set[tuple[str, str]] = set()
    records = [f for f in files if f.path == "/etc/dnsmasq.d/uniform-dns.conf"]
    for f in records:  # dnsmasq as the DNS server: host-record=fqdn[,short],addr...
        for line in f.content.splitlines():
            if line.startswith("host-record="):
                fqdn, *rest = line.removeprefix("host-record=").split(",")
                for x in rest:
                    if x.replace(".", "").isdigit() or ":" in x:
                        got_fwd.add((fqdn, ipaddress.ip_address(x)))
                    else:
                        assert fqdn.split(".")[0] == x, line
    if records:
        assert got_fwd == want_fwd
        return
    assert zones, f"{case.name} renders neither BIND zones nor dnsmasq host records"
    seen: set[str] = set()
    for f in zones:
        if f.path in seen:  # one DNS server per customer, but be safe with several
            continue
        seen.add(f.path)
        origin, records = _zone_records(f.content)
        for name, rtype, data in records:
            if rtype in ("A", "AAAA"):
                ip = ipaddress.ip_address(data)
                assert ip.version == (4 if rtype == "A" else 6), f"{f.path}: {name} {rtype} {data}"
                got_fwd.add((f"{name}.{origin}", ip))
            elif rtype == "PTR":
                got_ptr.add((f"{name}.{origin}", data.rstrip(".")))
    assert got_fwd == want_fwd
    assert got_ptr == want_ptr


_DNSMASQ_HOST = re.compile(r"^dhcp-host=([0-9a-f:]{17}),(.*)$")


@pytest.mark.parametrize("case", case_dirs(), ids=lambda p: p.name)
def test_dhcp_reservations_equal_inventory(case: Path) -> None:
    inv = load_case(customer_dir(case))
    want4: set[tuple[str, ipaddress.IPv4Address, str]] = set()
    for m, _net, att, mac in _published(inv):
        if att.ipv4 is not None:
            want4.add((mac, ipaddress.IPv4Address(att.ipv4), m.name))
    files = {f.path: f for f in _files(inv)}
    got4: set[tuple[str, ipaddress.IPv4Address, str]] = set()
    checked = False
    for path, f in files.items():
        if path.startswith("/etc/dnsmasq.d/") and "dhcp-host=" in f.content:
            checked = True
            for line in f.content.splitlines():
                match = _DNSMASQ_HOST.match(line)
                if not match:
                    continue
                mac, rest = match[1], match[2].split(",")
                host = rest[-1]
                v4 = [ipaddress.ip_address(x) for x in rest[:-1] if not x.startswith("[")]
                v6 = [ipaddress.ip_address(x.strip("[]")) for x in rest[:-1] if x.startswith("[")]
                assert all(isinstance(a, ipaddress.IPv6Address) for a in v6)
                for a in v4:
                    assert isinstance(a, ipaddress.IPv4Address)
                    got4.add((mac, a, host))
        elif path == "/etc/kea/kea-dhcp4.conf":
            checked = True
            for subnet in json.loads(f.content)["Dhcp4"]["subnet4"]:
                net = ipaddress.ip_network(subnet["subnet"])
                for r in subnet.get("reservations", []):
                    a = ipaddress.IPv4Address(r["ip-address"])
                    assert a in net, f"kea reservation {r} outside {net}"
                    got4.add((r["hw-address"].lower(), a, r["hostname"]))
    assert checked, f"{case.name} renders no DHCP reservations"
    assert want4, "the case reserves no address: nothing would be checked"
    assert got4 == want4
