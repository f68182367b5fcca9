"""The DHCP parsers of ``uniform import`` against hand-written configurations.

Each directory in interop_cases/dhcp/ is one case: configuration files written from the
daemon's own documentation (man dnsmasq, dhcpd.conf(5), the Kea ARM) and ``case.yaml``
naming the parser, the file to start from and the EXACT result: every reservation, subnet
and DNS record with its file:line, or every problem message. The parser runs in the case
directory, so relative includes resolve there, as they do for the daemon started there
(tests/daemons/test_interop_fixtures_dhcp.py runs the real daemons on the same files).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interop.parse import ParseError, dnsmasq, iscdhcp, kea
from tests.helpers.interop_cases import case_dirs, load_case, result

PARSERS = {"dnsmasq": dnsmasq.parse, "iscdhcp": iscdhcp.parse, "kea": kea.parse}


@pytest.mark.parametrize("d", case_dirs(), ids=lambda d: d.name)
def test_case(d: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = load_case(d)
    monkeypatch.chdir(d)
    parse = PARSERS[case["format"]]
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
