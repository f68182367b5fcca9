"""interop.parse.libvirt: hand-written domain XML gives exactly the expected domains.

Each directory of tests/unit/interop_cases/libvirt/ is a case: its XML files, ``case.json``
(the path to parse, the hypervisor) and ``expected.txt``: per domain a line
``file:line name cores=.. memory_mib=.. hypervisor=..`` then its disks and NICs indented, or
one problem ``file:line: message`` per line. tests/daemons/test_interop_fixtures_dns_virt.py
proves the good files pass libvirt's schema. The last tests parse uniform's own rendered
domain XML back to the inventory's VMs.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inventory
from connectors.local import write_tree
from interop.parse import ParseError, libvirt
from interop.records import Site
from inventory import lifecycle
from inventory.model import Inventory
from payloads import render_customer
from tests.helpers.cases import case_dirs, customer_dir, load_case

CASES = Path(__file__).parent / "interop_cases" / "libvirt"
ROOT = Path(__file__).resolve().parents[2]


def _cases() -> list[Path]:
    return sorted(p.parent for p in CASES.glob("*/case.json"))


def _lines(site: Site) -> list[str]:
    out = []
    for d in site.domains:
        out.append(f"{d.source} {d.name} cores={d.cores} memory_mib={d.memory_mib} hypervisor={d.hypervisor}")
        out += [f"  disk {k.name} size_gib={k.size_gib} pool={k.pool}" for k in d.disks]
        out += [f"  nic {n.mac} bridge={n.bridge} network={n.network} model={n.model}" for n in d.nics]
    return out


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.name)
def test_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case)  # relative paths, as an operator types them
    spec = json.loads((case / "case.json").read_text())
    try:
        site = libvirt.parse(spec["path"], spec["hypervisor"])
    except ParseError as e:
        got = [f"{src}: {msg}" for src, msg in e.problems]
    else:
        assert not site.reservations and not site.subnets and not site.records
        got = _lines(site)
    assert got == (case / "expected.txt").read_text().splitlines()


def test_every_kind_of_case_exists() -> None:
    kinds = {(case / "expected.txt").read_text().split(" ", 1)[0].endswith(":") for case in _cases()}
    assert kinds == {True, False}


@pytest.mark.parametrize(
    ("value", "unit", "mib"),
    [
        ("1024", None, 1),
        ("1024", "KiB", 1),
        ("1024", "k", 1),
        ("1024", "K", 1),
        ("1", "M", 1),
        ("1", "mib", 1),
        ("1", "MB", 1),  # 1,000,000 bytes: rounded up
        ("2", "G", 2048),
        ("2", "GiB", 2048),
        ("2", "GB", 1908),  # 2e9 bytes = 1907.3 MiB
        ("1", "T", 1048576),
        ("1", "TB", 953675),
        ("1", "PiB", 1073741824),
        ("1048576", "b", 1),
        ("1048577", "bytes", 2),
        ("3", "KB", 1),
        (" 4096 ", "MiB", 4096),
        ("1", "b", 1),
    ],
)
def test_memory_units(value: str, unit: str | None, mib: int) -> None:
    assert libvirt.memory_mib(value, unit) == mib


@pytest.mark.parametrize(
    ("value", "unit", "problem"),
    [
        ("1.5", "GiB", "<memory> '1.5' is not a whole number"),
        ("", None, "<memory> '' is not a whole number"),
        ("0", "GiB", "<memory> is 0"),
        ("1", "GiBs", "<memory> unit 'GiBs' is not a libvirt unit (b, KB, KiB, MB, MiB, GB, GiB, ...)"),
        ("1", "Q", "<memory> unit 'Q' is not a libvirt unit (b, KB, KiB, MB, MiB, GB, GiB, ...)"),
    ],
)
def test_memory_problems(value: str, unit: str | None, problem: str) -> None:
    assert libvirt.memory_mib(value, unit) == problem


def test_a_single_file_and_a_missing_one(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as e:
        libvirt.parse(tmp_path / "gone.xml")
    assert (
        str(e.value) == f"{tmp_path}/gone.xml:0: cannot read {tmp_path}/gone.xml: No such file or directory"
    )


def _inventories() -> list[tuple[str, Inventory]]:
    invs = [(f"stack-{p.name}", inventory.load(p)) for p in sorted((ROOT / "stacks").iterdir()) if p.is_dir()]
    invs += [(f"golden-{c.name}", load_case(customer_dir(c))) for c in case_dirs()]
    # networks without a bridge: uniform renders <interface type='network'> for them
    demo = next(inv for name, inv in invs if name == "stack-demo")
    nets = {k: dataclasses.replace(n, bridge=None) for k, n in demo.networks.items()}
    invs.append(("stack-demo-no-bridge", dataclasses.replace(demo, networks=nets)))
    return [(name, inv) for name, inv in invs if inv.with_role("hypervisor")]


@pytest.mark.parametrize("inv", [pytest.param(inv, id=name) for name, inv in _inventories()])
def test_uniform_rendered_domains_parse_back(inv: Inventory, tmp_path: Path) -> None:
    """Each hypervisor's rendered /etc/uniform/libvirt gives back exactly its VMs: name, cores,
    memory, disks with their sizes (from the disk script beside the XML; a staged VM's read-only
    seed disk is no disk of its own), MACs and bridges (a network without a bridge is rendered
    as a libvirt network of the same name), and the hypervisor's virtualization (domain type)."""
    write_tree(render_customer(inv), tmp_path)
    checked = 0
    for hv in inv.with_role("hypervisor"):
        want = []
        for vm in inv.vms_on(hv.name):
            if not lifecycle.on_hypervisor(vm.state):
                continue
            nics = []
            for nic in vm.nics:
                net = inv.networks[nic.attachments[0].network] if nic.attachments else None
                bridge = net.bridge if net and net.bridge else None
                network = None if bridge else (net.name if net else "default")
                nics.append((nic.mac, bridge or network, network))
            disks = [(f"vd{chr(ord('a') + i)}", d.size_gib) for i, d in enumerate(vm.disks)]
            want.append((vm.name, hv.name, vm.cores, vm.memory_mib, disks, nics, hv.virtualization))
        folder = tmp_path / hv.name / "etc/uniform/libvirt"
        if not want:
            continue
        site = libvirt.parse(folder, hv.name)
        got = [
            (
                d.name,
                d.hypervisor,
                d.cores,
                d.memory_mib,
                [(k.name, k.size_gib) for k in d.disks],
                [(n.mac, n.bridge, n.network) for n in d.nics],
                d.virtualization,
            )
            for d in site.domains
        ]
        assert sorted(got) == sorted(want)
        checked += len(want)
    assert checked


def test_a_directory_without_domain_xml(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("no XML here\n")
    with pytest.raises(ParseError) as e:
        libvirt.parse(tmp_path)
    assert str(e.value) == f"{tmp_path}:0: no domain XML (*.xml) in {tmp_path}"


# -- property: several domains in one file, in any quoting and layout, come back whole ------------

_UNITS = {"KiB": 2**10, "k": 2**10, "MiB": 2**20, "M": 2**20, "GiB": 2**30, "G": 2**30, "b": 1, "bytes": 1}


@st.composite
def _domains(draw: st.DrawFn) -> tuple[str, list[str]]:
    q = draw(st.sampled_from(["'", '"']))
    nl = draw(st.sampled_from(["\n", "\n  ", "\n\t\t"]))
    text, expected, line = "", [], 1
    names = draw(
        st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), min_size=1, max_size=5, unique=True)
    )
    for name in names:
        unit = draw(st.sampled_from([*_UNITS, None]))
        amount = draw(st.integers(1, 1 << 40 if (unit or "KiB") in ("b", "bytes") else 1 << 24))
        mib = -(-amount * _UNITS[unit or "KiB"] // 2**20)  # rounded up
        cores = draw(st.integers(1, 256))
        macs = draw(st.lists(st.integers(0, 2**48 - 1), max_size=4, unique=True))
        unit_attr = f" unit={q}{unit}{q}" if unit else ""
        parts = [
            f"<domain type={q}kvm{q}>",
            f"<name>{name}</name>",
            f"<memory{unit_attr}>{amount}</memory>",
            f"<vcpu placement={q}static{q}>{cores}</vcpu>",
            "<devices>",
        ]
        nics = []
        for m in macs:
            mac = ":".join(f"{(m >> s) & 255:02x}" for s in range(40, -1, -8))
            shown = draw(st.sampled_from([mac, mac.upper()]))
            parts.append(
                f"<interface type={q}bridge{q}><mac address={q}{shown}{q}/><source bridge={q}br0{q}/>"
            )
            parts.append("</interface>")
            nics.append(f"  nic {mac} bridge=br0 network=None model=None")
        parts += ["</devices>", "</domain>"]
        if draw(st.booleans()):
            parts.insert(1, "<!-- a comment with <domain> in it -->")
        expected.append(f"all.xml:{line} {name} cores={cores} memory_mib={mib} hypervisor=hv")
        expected += nics
        body = nl.join(parts) + "\n"
        text += body
        line += body.count("\n")
    return text, expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_domains())
def test_any_layout_gives_the_same_domains(doms: tuple[str, list[str]]) -> None:
    text, expected = doms
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "all.xml").write_text(text)
        site = libvirt.parse(Path(tmp) / "all.xml", "hv")
    got = [line.replace(f"{Path(tmp)}/", "") for line in _lines(site)]
    assert got == expected, text


_WEB1 = (CASES / "running-dump" / "web1.xml").read_text()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(_WEB1)), st.integers(0, 40), st.text(alphabet="<>/='\"&;!-[] ax0", max_size=10))
def test_a_damaged_dump_is_a_parse_error(at: int, cut: int, insert: str) -> None:
    """Any cut or insertion in a real dump gives domains or problems, never a traceback."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "x.xml").write_text(_WEB1[:at] + insert + _WEB1[at + cut :])
        try:
            libvirt.parse(Path(tmp) / "x.xml")
        except ParseError as e:
            assert e.problems and all(src.file == f"{tmp}/x.xml" for src, _ in e.problems)
