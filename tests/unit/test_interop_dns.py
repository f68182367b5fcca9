"""interop.parse.bind: hand-written zone files and named.conf give exactly the expected records.

Each directory of tests/unit/interop_cases/dns/ is a case: its input files, ``case.json``
(which zones to read, with which origin; or a named.conf) and ``expected.txt`` (one record
``file:line TYPE name value`` per line, or one problem ``file:line: message`` per line).
tests/daemons/test_interop_fixtures_dns_virt.py proves the good cases load in named.
The last test parses uniform's own rendered BIND zones back to the inventory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import inventory
from connectors.local import write_tree
from interop.parse import ParseError, bind
from interop.records import Site
from payloads import render_customer

CASES = Path(__file__).parent / "interop_cases" / "dns"
ROOT = Path(__file__).resolve().parents[2]


def _cases() -> list[Path]:
    return sorted(p.parent for p in CASES.glob("*/case.json"))


def _read(spec: dict[str, Any]) -> Site:
    if "named_conf" in spec:
        zones = bind.parse_named_conf(spec["named_conf"], root=spec.get("root"))
        assert [[name, str(path)] for name, path in zones] == spec["named_zones"]
        return bind.parse_named(spec["named_conf"], root=spec.get("root"))
    site = Site()
    for file, origin in spec["zones"]:
        site.extend(bind.parse(file, origin))
    return site


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.name)
def test_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # relative paths, as an operator types them: sources read "db.example.com:12"
    monkeypatch.chdir(case)
    spec = json.loads((case / "case.json").read_text())
    expected = (case / "expected.txt").read_text().splitlines()
    try:
        site = _read(spec)
    except ParseError as e:
        got = [f"{src}: {msg}" for src, msg in e.problems]
    else:
        assert not site.reservations and not site.subnets and not site.domains
        got = [f"{r.source} {r.type} {r.name} {r.value}" for r in site.records]
    assert got == expected


def test_every_kind_of_case_exists() -> None:
    """Good and bad cases both exist, so neither half of test_case is vacuous."""
    kinds = {(case / "expected.txt").read_text().split(" ", 1)[0].endswith(":") for case in _cases()}
    assert kinds == {True, False}


@pytest.mark.parametrize(
    ("name", "origin"),
    [
        ("db.example.com", "example.com"),
        ("db.Example.COM", "example.com"),
        ("example.com.zone", "example.com"),
        ("example.com.db", "example.com"),
        ("db.192.168.1", "1.168.192.in-addr.arpa"),
        ("db.10", "10.in-addr.arpa"),
        ("db.127", "127.in-addr.arpa"),
        ("db.64-26.2.0.192", None),
        ("db.1.2.3.4", None),
        ("named.conf", None),
        ("records.txt", None),
        ("db.", None),
    ],
)
def test_origin_from_filename(name: str, origin: str | None) -> None:
    assert bind.origin_from_filename(name) == origin


def test_origin_argument_wins_over_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "db.example.com").write_text("www IN A 192.0.2.1\n@ IN AAAA 2001:db8::1\n")
    site = bind.parse(tmp_path / "db.example.com", "Other.Example.")
    assert [(r.name, r.value) for r in site.records] == [
        ("www.other.example", "192.0.2.1"),
        ("other.example", "2001:db8::1"),
    ]


def test_include_directory_and_root(tmp_path: Path) -> None:
    """Relative $INCLUDE files come from named's directory when given; absolute ones under root."""
    (tmp_path / "zones").mkdir()
    (tmp_path / "etc").mkdir()
    (tmp_path / "zones" / "a.inc").write_text("a IN A 192.0.2.1\n")
    (tmp_path / "etc" / "b.inc").write_text("b IN A 192.0.2.2\n")
    zone = tmp_path / "db.example.com"
    zone.write_text("$INCLUDE a.inc\n$INCLUDE /etc/b.inc\n")
    site = bind.parse(zone, directory=tmp_path / "zones", root=tmp_path)
    assert [(str(r.source), r.name) for r in site.records] == [
        (f"{tmp_path}/zones/a.inc:1", "a.example.com"),
        (f"{tmp_path}/etc/b.inc:1", "b.example.com"),
    ]


def test_a_missing_zone_file_names_the_zone_statement(tmp_path: Path) -> None:
    (tmp_path / "named.conf").write_text('\n\nzone "x.example" { type primary; file "db.x"; };\n')
    with pytest.raises(ParseError) as e:
        bind.parse_named(tmp_path / "named.conf")
    assert str(e.value) == f"{tmp_path}/named.conf:3: cannot read {tmp_path}/db.x: No such file or directory"


@pytest.mark.parametrize("stack", ["acme", "demo"])
def test_uniform_rendered_zones_parse_back(stack: str, tmp_path: Path) -> None:
    """Every address uniform puts in DNS comes back as an A/AAAA and a PTR with the machine's
    name on that network's domain, and nothing else does (the seed of the round-trip)."""
    from inventory import lifecycle

    inv = inventory.load(ROOT / "stacks" / stack)
    assert inv.customer.services.dns == "bind"
    write_tree(render_customer(inv), tmp_path)
    servers = inv.with_role("dns")
    assert servers
    forward, reverse = set(), set()
    for m in inv.machines.values():
        if not lifecycle.in_dns(m.state):
            continue
        for nic in m.nics:
            for att in nic.attachments:
                net = inv.networks[att.network]
                for addr, prefix, rtype in ((att.ipv4, net.ipv4, "A"), (att.ipv6, net.ipv6, "AAAA")):
                    if addr:
                        forward.add((rtype, f"{m.name}.{net.domain}", addr))
                        if prefix:
                            reverse.add(("PTR", f"{m.name}.{net.domain}", addr))
    assert forward and reverse
    for server in servers:
        conf = tmp_path / server.name / "etc/bind/uniform/named.conf.uniform"
        site = bind.parse_named(conf, root=tmp_path / server.name)
        got = {(r.type, r.name, r.value) for r in site.records}
        assert got == forward | reverse
