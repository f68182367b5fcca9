"""The merge of live facts into an inventory: one YAML case per rule in interop_cases/merge/.

Each case gives the parsers' records (``sites``, in command-line order), optionally the
demo customer as the inventory, and the EXACT conflicts (kind, subject, message, every
file:line, the --force choice), machines created and changes made. See the README there.
The write is tested in test_interop_write.py-style cases below: comments survive, a
failed load restores every byte, a new customer loads."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from interop import known_hosts
from interop.known_hosts import HostKey
from interop.merge import CONFLICT_KINDS, Options, merge
from interop.parse import ParseError
from interop.plan import Conflict, MachinePlan, Plan, render_json, render_text, source_text
from interop.records import DnsRecord, Domain, DomainDisk, DomainNic, Reservation, Site, Source, Subnet
from inventory import load
from payloads import ROLE_NAMES

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).parent / "interop_cases" / "merge"


def src(at: str) -> Source:
    file, _, line = at.rpartition(":")
    return Source(file, int(line))


def site_of(d: dict[str, Any]) -> Site:
    s = Site()
    for r in d.get("reservations", []):
        s.reservations.append(
            Reservation(src(r["at"]), r.get("mac"), r.get("ipv4"), r.get("ipv6"), r.get("name"))
        )
    for n in d.get("subnets", []):
        pool = tuple(n["pool"]) if n.get("pool") else None
        s.subnets.append(
            Subnet(
                src(n["at"]),
                n["prefix"],
                pool,
                n.get("gateway"),
                tuple(n.get("dns_servers", [])),
                n.get("domain"),
                n.get("inferred", False),
            )  # type: ignore[arg-type]
        )
    for r in d.get("records", []):
        s.records.append(DnsRecord(src(r["at"]), r["type"], r["name"], r["value"]))
    for x in d.get("domains", []):
        s.domains.append(
            Domain(
                src(x["at"]),
                x["name"],
                x.get("cores", 2),
                x.get("memory_mib", 2048),
                tuple(DomainDisk(k["name"], k.get("size_gib"), k.get("pool")) for k in x.get("disks", [])),
                tuple(DomainNic(n["mac"], n.get("bridge")) for n in x.get("nics", [])),
                x.get("hypervisor"),
                x.get("virtualization"),
            )
        )
    return s


def conflict_line(c: Conflict) -> str:
    return (
        f"{c.kind}: {c.subject}: {c.message} [{', '.join(source_text(s) for s in c.sources)}] -> {c.choice}"
    )


def machine_line(m: MachinePlan) -> str:
    where = f" on {m.hypervisor}" if m.hypervisor else ""
    nics = "; ".join(
        f"{n.name} {n.mac} "
        + " ".join(f"{a.network} {a.ipv4 or 'none'} {a.ipv6 or 'none'}" for a in n.attachments)
        for n in m.nics
    )
    roles = f" roles {','.join(m.roles)}" if m.roles else ""
    virt = f" virtualization {m.virtualization}" if m.virtualization else ""
    return f"{m.name} {m.kind}{where} {m.cores}c {m.memory_mib}MiB{roles}{virt}: {nics}"


def case_files() -> list[Path]:
    return sorted(CASES.glob("*.yaml"))


def demo(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    shutil.copytree(ROOT / "stacks" / "demo", root)
    return root


def run_case(case: dict[str, Any], tmp_path: Path) -> Plan:
    inv = load(demo(tmp_path), known_roles=ROLE_NAMES) if case.get("inventory") == "demo" else None
    sites = [site_of(s) for s in case["sites"]]
    o = case.get("options") or {}
    keys = [HostKey(src(k["at"]), tuple(k["hosts"]), (), k["key"]) for k in o.get("known_hosts", [])] or None
    opts = Options(
        customer="demo" if inv is not None else "acme",
        domain=o.get("domain", None if inv is not None else "acme.example"),
        network_names=o.get("network_names", {}),
        known_hosts=keys,
        force=o.get("force", False),
    )
    return merge(inv, sites, opts)


@pytest.mark.parametrize("path", case_files(), ids=lambda p: p.stem)
def test_case(path: Path, tmp_path: Path) -> None:
    case = YAML(typ="safe").load(path.read_text())
    plan = run_case(case, tmp_path)
    want = case["expect"]
    assert [conflict_line(c) for c in plan.conflicts] == want.get("conflicts", [])
    if "created" in want:
        assert [machine_line(m) for m in plan.created] == want["created"]
    if "updated" in want:
        got = [f"{name}: {c.describe()}" for name, _, changes in plan.updated for c in changes]
        assert got == want["updated"]
    if "unchanged" in want:
        assert plan.unchanged == want["unchanged"]
    if "networks" in want:
        got_nets = [
            f"{n.name} {n.ipv4 or '-'} {n.ipv6 or '-'} {n.domain} {n.bridge or '-'}" for n in plan.networks
        ]
        assert got_nets == want["networks"]
    if "host_keys" in want:
        assert plan.host_keys == want["host_keys"]
    for note in want.get("notes", []):
        assert note in plan.notes, plan.notes
    assert plan.blocked == bool(plan.conflicts and not plan.force)
    # the report names every conflict's every source
    text = render_text(plan)
    for c in plan.conflicts:
        assert all(source_text(s) in text for s in c.sources)
    assert '"conflicts"' in render_json(plan)


def test_every_conflict_kind_has_a_case() -> None:
    seen: set[str] = set()
    for path in case_files():
        case = YAML(typ="safe").load(path.read_text())
        seen |= {line.split(":", 1)[0] for line in case["expect"].get("conflicts", [])}
    assert seen == set(CONFLICT_KINDS)


SITE = CASES / "site"


def test_known_hosts_plain_hashed_ports_and_markers() -> None:
    plain = known_hosts.parse(SITE / "known_hosts")
    lines = known_hosts.parse(SITE / "known_hosts_hashed")
    assert [k.source.line for k in lines if k.revoked] == [5]
    hashed = known_hosts.Index([k for k in lines if not k.revoked])
    k1 = next(k.key for k in plain if "hv1" in k.hosts)
    k2 = next(k.key for k in plain if "web9.demo.example" in k.hosts)
    # hashed by ssh-keygen -H: found by any name that was hashed, the port in brackets
    assert [k.key for k in hashed.match(["web1"])] == [k1]
    assert [k.key for k in hashed.match(["10.20.0.5"])] == [k1]
    assert [k.key for k in hashed.match(["10.20.0.6"], port=2222)] == [k2]
    assert hashed.match(["10.20.0.6"]) == []  # port 22 is another host entry
    # @revoked and @cert-authority lines pin nothing; wildcard and negated patterns match no machine
    assert hashed.match(["web9", "gw.demo.example", "x.demo.example"]) == []
    assert [k.key for k in known_hosts.Index(plain).match(["web9.demo.example"])] == [k2]
    # a key revoked anywhere is pinned for no host: k1 is revoked on line 5 of the hashed file
    both = known_hosts.Index([*plain, *lines])
    assert both.match(["hv1", "web1"]) == []
    assert [k.key for k in both.match(["10.20.0.6"], port=2222)] == [k2]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("web1 ssh-ed25519\n", "2: expected: hosts keytype base64-key [comment]"),
        ("web1 ssh-ed25519 not*base64\n", "2: the key of ssh-ed25519 is not base64"),
        ("|1|nope ssh-ed25519 AAAA\n", "2: a hashed host name that is not |1|salt|hash"),
    ],
)
def test_known_hosts_problems_name_the_line(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "known_hosts"
    path.write_text("# first line\n" + text)
    with pytest.raises(ParseError) as e:
        known_hosts.parse(path)
    assert str(e.value) == f"{path}:{problem}"
