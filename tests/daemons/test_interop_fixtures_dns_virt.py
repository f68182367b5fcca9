"""The hand-written import fixtures are real: named and libvirt's schema accept them, and named
reads the same records from them as interop.parse.bind does.

* every good zone of tests/unit/interop_cases/dns/ loads in ``named-checkzone``, and the A,
  AAAA and PTR records ``named-compilezone`` prints (named's own reading, $INCLUDE, $GENERATE
  and all) are exactly the ones the parser returns;
* every named.conf case passes ``named-checkconf`` (and, as root, ``-z -t`` loads its zones);
* every good domain of tests/unit/interop_cases/libvirt/ passes ``virt-xml-validate ... domain``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import netaddr
import pytest

from interop.parse import bind
from tests.helpers.daemons import run, tool

pytestmark = pytest.mark.slow

CASES = Path(__file__).resolve().parents[1] / "unit" / "interop_cases"


def _good(kind: str) -> list[Path]:
    """Cases whose expected.txt lists results, not problems."""
    out = []
    for spec in sorted((CASES / kind).glob("*/case.json")):
        first = (spec.parent / "expected.txt").read_text().split(" ", 1)[0]
        if not first.endswith(":"):
            out.append(spec.parent)
    return out


def _run(argv: list[str], cwd: Path) -> str:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"{' '.join(argv)} (in {cwd}) exited {p.returncode}:\n{out}"
    return p.stdout


def _zones() -> list[tuple[Path, str, str, str]]:
    return [
        (case, origin, file, cwd)
        for case in _good("dns")
        for origin, file, cwd in json.loads((case / "case.json").read_text())["checkzone"]
    ]


def _named_reverse(owner: str) -> str | None:
    """The address named's PTR owner stands for, read independently of the parser: the octets
    (dropping an RFC 2317 ``64/26`` label) or the 32 nibbles; None for any other owner."""
    if owner.endswith(".in-addr.arpa"):
        labels = [x for x in owner.removesuffix(".in-addr.arpa").split(".") if "/" not in x and "-" not in x]
        return ".".join(reversed(labels)) if len(labels) == 4 else None
    if owner.endswith(".ip6.arpa"):
        labels = owner.removesuffix(".ip6.arpa").split(".")
        return str(netaddr.IPAddress(int("".join(reversed(labels)), 16), 6)) if len(labels) == 32 else None
    return None


def test_every_zone_case_is_checked() -> None:
    assert len(_zones()) >= 5


@pytest.mark.parametrize(("case", "origin", "file", "cwd"), _zones(), ids=lambda v: str(v).rsplit("/", 1)[-1])
def test_named_reads_the_zone_as_the_parser_does(case: Path, origin: str, file: str, cwd: str) -> None:
    here = case / cwd
    _run([tool("named-checkzone"), "-i", "full", "-k", "fail", origin, file], here)
    dump = _run([tool("named-compilezone"), "-q", "-i", "none", "-o", "-", origin, file], here)
    named = set()
    for line in dump.splitlines():
        owner, _ttl, _cls, rtype, value = line.split(None, 4)
        owner = owner.rstrip(".").lower()
        if rtype in ("A", "AAAA") and not owner.startswith("*"):
            named.add((rtype, owner, value))
        elif rtype == "PTR" and (addr := _named_reverse(owner)) is not None:
            named.add((rtype, value.rstrip(".").lower(), addr))
    old = Path.cwd()
    os.chdir(here)
    try:
        site = bind.parse(file, origin)
    finally:
        os.chdir(old)
    assert named
    assert {(r.type, r.name, r.value) for r in site.records} == named


NAMED_CONF = [c for c in _good("dns") if (c / "named.conf").exists()]


@pytest.mark.parametrize("case", NAMED_CONF, ids=lambda p: p.name)
def test_named_conf_cases_pass_named_checkconf(case: Path) -> None:
    _run([tool("named-checkconf"), "named.conf"], case)
    if os.geteuid() == 0:  # -t chroots into the case: every zone loads at its path there
        out = _run([tool("named-checkconf"), "-z", "-t", str(case), "/named.conf"], case)
        zones = bind.parse_named_conf(case / "named.conf", root=case)
        assert out.count("loaded serial") == len(zones) >= 2


def _domains() -> list[tuple[Path, str]]:
    return [
        (case, file)
        for case in _good("libvirt")
        for file in json.loads((case / "case.json").read_text())["validate"]
    ]


def test_every_domain_case_is_checked() -> None:
    """Every good case lists each of its XML files for validation."""
    for case in _good("libvirt"):
        listed = json.loads((case / "case.json").read_text())["validate"]
        assert sorted(listed) == sorted(p.name for p in case.glob("*.xml"))
    assert len(_domains()) >= 5


@pytest.mark.parametrize(("case", "file"), _domains(), ids=lambda v: str(v).rsplit("/", 1)[-1])
def test_libvirt_schema_accepts_the_domain(case: Path, file: str, tmp_path: Path) -> None:
    """virt-xml-validate takes one document: a file of several dumps is checked dump by dump."""
    validate = tool("virt-xml-validate")
    tool("xmllint")  # virt-xml-validate runs it
    text = (case / file).read_text()
    docs = re.findall(r"<domain\b.*?</domain>", text, re.DOTALL)
    expected = (case / "expected.txt").read_text().splitlines()
    assert len(docs) == sum(line.startswith(f"{file}:") for line in expected)
    for i, doc in enumerate(docs):
        one = tmp_path / f"{i}-{file}"
        one.write_text(doc + "\n")
        out = run(validate, str(one), "domain")
        assert "validates" in out
