"""The DHCP parsers of ``uniform import`` against hand-written configurations.

Each directory in interop_cases/dhcp/ is one case: configuration files written from the
daemon's own documentation (man dnsmasq, dhcpd.conf(5), the Kea ARM) and ``case.yaml``
naming the parser, the file to start from and the EXACT result: every reservation, subnet
and DNS record with its file:line, or every problem message. The parser runs in the case
directory, so relative includes resolve there, as they do for the daemon started there
(tests/daemons/test_interop_fixtures_dhcp.py runs the real daemons on the same files).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interop.parse import ParseError, dnsmasq, iscdhcp, kea
from interop.records import Source
from tests.helpers.interop_cases import case_dirs, load_case, result

PARSERS = {"dnsmasq": dnsmasq.parse, "iscdhcp": iscdhcp.parse, "kea": kea.parse}


@pytest.mark.parametrize("d", case_dirs(), ids=lambda d: d.name)
def test_case(d: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = load_case(d)
    monkeypatch.chdir(d)
    kw = {"root": case["root"]} if "root" in case else {}  # relative to the case directory
    parse = functools.partial(PARSERS[case["format"]], **kw)
    if "problems" in case:
        with pytest.raises(ParseError) as info:
            parse(case["entry"])
        assert [f"{src}: {msg}" for src, msg in info.value.problems] == case["problems"]
        assert str(info.value).splitlines() == case["problems"]
        return
    expect = {k: list(case["expect"].get(k) or []) for k in ("reservations", "subnets", "records")}
    assert result(parse(case["entry"])) == expect


def test_every_format_has_good_and_bad_cases() -> None:
    seen = {(load_case(d)["format"], "problems" in load_case(d)) for d in case_dirs()}
    assert seen == {(f, bad) for f in PARSERS for bad in (False, True)}


TEXT_PARSERS = {"dnsmasq": dnsmasq.parse_text, "iscdhcp": iscdhcp.parse_text, "kea": kea.parse_text}


@pytest.mark.parametrize("d", [d for d in case_dirs() if "expect" in load_case(d)], ids=lambda d: d.name)
def test_parse_text_reads_like_parse(d: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = load_case(d)
    monkeypatch.chdir(d)
    text = Path(case["entry"]).read_text()
    kw = {"root": case["root"]} if "root" in case else {}  # relative to the case directory
    got = result(TEXT_PARSERS[case["format"]](text, case["entry"], **kw))
    assert got == result(PARSERS[case["format"]](case["entry"], **kw))


# (format, main file with the include's name as {}, the start of the included file)
INCLUDES = [
    ("dnsmasq", "conf-file={}\n", "dhcp-host=52:54:00:00:00:01,10.0.0.1,a\n"),
    (
        "iscdhcp",
        'include "{}";\n',
        "host x { hardware ethernet 52:54:00:00:00:01; fixed-address 10.0.0.1; }\n",
    ),
    (
        "kea",
        '{{"Dhcp4": {{"reservations": [\n<?include "{}"?>]}}}}',
        '{"hw-address": "52:54:00:00:00:01",\n',
    ),
]


@pytest.mark.parametrize(("fmt", "main", "inc"), INCLUDES, ids=[i[0] for i in INCLUDES])
@pytest.mark.parametrize("how", ["root", "base"])
def test_include_resolves_under_root_or_base(
    fmt: str, main: str, inc: str, how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``root`` maps an absolute include into a copied tree; ``base`` stands for the daemon's
    working directory for a relative one. The current directory plays no part."""
    site = tmp_path / "site"
    (site / "etc/conf.d").mkdir(parents=True)
    written = "/etc/conf.d/inc" if how == "root" else "etc/conf.d/inc"
    (site / "etc/main").write_text(main.format(written))
    body = inc + ('"ip-address": "10.0.0.1", "hostname": "a"}' if fmt == "kea" else "")
    (site / "etc/conf.d/inc").write_text(body)
    monkeypatch.chdir(tmp_path)
    kw = {"root": site} if how == "root" else {"base": site}
    got = PARSERS[fmt](site / "etc/main", **kw).reservations
    assert [(r.source, r.mac, r.ipv4) for r in got] == [
        (Source(str(site / "etc/conf.d/inc"), 1), "52:54:00:00:00:01", "10.0.0.1")
    ]


# Pieces of each format, glued at random: any text gives a Site or a ParseError (file:line
# problems), never another exception (a traceback in front of the operator).
_GLUE = [",", ",", " ", "\n", '"', "#", "\\", "/"]
PIECES = {
    "dnsmasq": _GLUE
    + """dhcp-host= dhcp-range= dhcp-option= domain= host-record= conf-dir= dhcp-hostsfile= 52:54:00:aa:bb:cc
    1.2.3.4 1.2.3.0 255.255.255.0 [fd00::1] [::5/126] fd00:: :: set:a tag:a id:01:02 * - option:router
    option6:dns-server 3 6 static ra-only constructor:eth0 64 12h infinite ignore x 06-""".split(),
    "iscdhcp": _GLUE
    + [
        w + " "
        for w in "host subnet subnet6 netmask range range6 pool shared-network group include x".split()
    ]
    + """{ } ; hardware ethernet fixed-address fixed-address6 option routers host-name 1.2.3.4 1.2.3.0
    255.255.255.0 fd00::/64 fd00::1 52:54:00:aa:bb:cc deny booting temporary""".split(),
    "kea": _GLUE
    + [f'"{w}"' for w in "Dhcp4 Dhcp6 subnet4 subnet6 subnet pools pool reservations hw-address".split()]
    + [f'"{w}"' for w in "ip-address ip-addresses option-data name data code routers dns-servers".split()]
    + [f'"{w}"' for w in "shared-networks 1.2.3.0/24 fd00::/64 52:54:00:aa:bb:cc 1.2.3.4".split()]
    + ['"1.2.3.4 - 1.2.3.9"', *"{ } [ ] : 3 00 null // /* */ <?".split()],
}


@pytest.mark.parametrize("fmt", sorted(PIECES))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_text_parses_or_names_its_problems(fmt: str, data: st.DataObject, tmp_path: Path) -> None:
    text = "".join(data.draw(st.lists(st.sampled_from(PIECES[fmt]), max_size=40)))
    try:
        TEXT_PARSERS[fmt](text, "f", base=tmp_path)
    except ParseError as e:
        assert e.problems and all(isinstance(src, Source) and msg for src, msg in e.problems)
