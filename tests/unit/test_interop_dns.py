"""interop.parse.bind: hand-written zone files and named.conf give exactly the expected records.

Each directory of tests/unit/interop_cases/dns/ is a case: its input files, ``case.json``
(which zones to read, with which origin; or a named.conf) and ``expected.txt`` (one record
``file:line TYPE name value`` per line, or one problem ``file:line: message`` per line).
tests/daemons/test_interop_fixtures_dns_virt.py proves the good cases load in named.
The last test parses uniform's own rendered BIND zones back to the inventory.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import netaddr
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# -- property: any spelling the master-file format allows gives the same records -------------

_SEP = st.sampled_from([" ", "\t", "  ", " \t "])


@st.composite
def _zone(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A zone written in randomly chosen, equally valid spellings; the records it must give."""
    lines = ["$ORIGIN Example.COM.", "@ IN SOA ns1 hostmaster ( 1 ; serial", "  2 3 4 5 )", "  IN NS ns1"]
    expected: list[str] = []
    owner = "example.com"
    for _ in range(draw(st.integers(1, 25))):
        label = draw(st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{0,6}", fullmatch=True))
        name = f"{label}.example.com".lower()
        if name == owner and draw(st.booleans()):
            head = draw(_SEP)  # the blank owner: the previous one again
        else:
            head = draw(st.sampled_from([label, f"{label}.example.com.", f"{label}.EXAMPLE.com."]))
            owner = name
        ttl = draw(st.sampled_from(["", "300", "1h30m", "2D"]))
        cls = draw(st.sampled_from(["", "IN", "in"]))
        middle = [ttl, cls] if draw(st.booleans()) else [cls, ttl]
        kind = draw(st.sampled_from(["A", "AAAA", "TXT", "MX"]))
        if kind == "A":
            n = draw(st.integers(0, 2**32 - 1))
            value = ".".join(str((n >> s) & 255) for s in (24, 16, 8, 0))
            expected.append(f"{len(lines) + 1} A {owner} {value}")
            rdata = value
        elif kind == "AAAA":
            n = draw(st.integers(0, 2**128 - 1))
            full = ":".join(f"{(n >> s) & 0xFFFF:x}" for s in range(112, -1, -16))
            value = str(netaddr.IPAddress(n, 6))  # the project's normal form (records.py)
            expected.append(f"{len(lines) + 1} AAAA {owner} {value}")
            rdata = draw(st.sampled_from([full, full.upper(), value]))
        elif kind == "TXT":
            rdata = '"a; b" "(c)"'
        else:
            rdata = "10 mail"
        rtype = draw(st.sampled_from([kind, kind.lower()]))
        sep = draw(_SEP)
        fields = (
            sep.join([head, *[m for m in middle if m], rtype])
            if head.strip()
            else head + sep.join([*[m for m in middle if m], rtype])
        )
        form = draw(st.sampled_from(["plain", "parens", "split"]))
        comment = draw(st.sampled_from(["", " ; a comment", ';"quoted" ; ( )']))
        if form == "plain":
            lines.append(f"{fields}{sep}{rdata}{comment}")
        elif form == "parens":
            lines.append(f"{fields}{sep}( {rdata} ){comment}")
        else:  # the data on the next line, inside parentheses
            lines += [f"{fields} ({comment}", f"{sep}{rdata}", ")"]
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "; only a comment", "   "])))
    return "\n".join(lines) + "\n", expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_zone())
def test_any_spelling_gives_the_same_records(zone: tuple[str, list[str]]) -> None:
    text, expected = zone
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "zone"
        path.write_text(text)
        site = bind.parse(path)
    assert [f"{r.source.line} {r.type} {r.name} {r.value}" for r in site.records] == expected, text


# -- property: garbage gives problems, never a traceback -------------------------------------------

_ZONE_BITS = [*'@$();" \t\n\\.0123456789abcdefAIN:/-*', "$ORIGIN ", "$INCLUDE ", "$GENERATE ", "$TTL "]
_ZONE_BITS += [" PTR ", " A ", " AAAA ", "in-addr.arpa.", "ip6.arpa.", "${", "}", ","]
_CONF_BITS = [*'{};"/*#\n ab.', "zone ", "include ", "options ", "view ", "directory ", "type ", "primary"]
_CONF_BITS += ["file ", '"x"', "//", "/*", "*/", "in-view "]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_ZONE_BITS), max_size=80).map("".join),
    st.lists(st.sampled_from(_CONF_BITS), max_size=60).map("".join),
)
def test_garbage_is_a_parse_error(zone: str, conf: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "zone").write_text(zone)
        (Path(tmp) / "named.conf").write_text(conf)
        for read in (
            lambda: bind.parse(Path(tmp) / "zone", "example.com"),
            lambda: bind.parse_named(Path(tmp) / "named.conf"),
        ):
            try:
                read()
            except ParseError as e:
                assert e.problems and all(src.file.startswith(tmp) for src, _ in e.problems)
