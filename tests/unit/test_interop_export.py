"""``interop.export``: golden files of the checkout's stacks, properties of random inventories
read back by independent parsers (PyYAML as Ansible reads YAML, ``json``, ``csv``, a plain
ssh_config reader), hostile values, and the ``uniform export`` command.

The real tools (ansible-inventory, promtool, ``ssh -G``) read the same output in
tests/daemons/test_export_tools.py.  Golden files: tests/unit/interop_cases/export/README.md.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import ipaddress
import json
import os
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml  # PyYAML: the YAML 1.1 reader Ansible itself uses (ansible-core, dev extra)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.exitcodes import Exit
from cli.main import main
from interop.export import (
    DEFAULT_STATES,
    ExportError,
    Selection,
    ansible,
    csv_table,
    prometheus,
    select,
    ssh_config,
)
from interop.export.yamltext import scalar
from inventory import InventoryError, load
from inventory.model import Attachment, Customer, Inventory, Kind, Machine, Nic, Ssh, State
from payloads import ROLE_NAMES
from tests.helpers import hostile
from tests.helpers.models import LAN, MGMT
from tests.helpers.stacks import STACKS

CASES = Path(__file__).with_name("interop_cases") / "export"
UPDATE = os.environ.get("UNIFORM_UPDATE_GOLDEN") == "1"
KNOWN_HOSTS = "/home/ops/.ssh/uniform/{customer}/known_hosts"
GOLDEN_STACKS = ["demo", "acme"]


def outputs(inv: Inventory) -> dict[str, str]:
    """Every file the exports make for ``inv`` with each format's default selection."""
    kh = KNOWN_HOSTS.format(customer=inv.customer.name)
    return {
        "ansible.yml": ansible.render(inv, select(inv, "ansible")),
        "prometheus.json": prometheus.render(inv, select(inv, "prometheus")),
        "ssh_config": ssh_config.render(inv, select(inv, "ssh"), known_hosts_file=kh),
        "known_hosts": ssh_config.known_hosts(inv, select(inv, "ssh")),
        "machines.csv": csv_table.render(inv, select(inv, "csv")),
    }


@pytest.mark.parametrize("stack", GOLDEN_STACKS)
def test_golden(stack: str) -> None:
    got = outputs(load(STACKS / stack))
    want_dir = CASES / stack
    if UPDATE:
        want_dir.mkdir(parents=True, exist_ok=True)
        for name, text in got.items():
            (want_dir / name).write_bytes(text.encode())
    # bytes: the CSV's CRLF line ends are part of what is checked
    want = {p.name: p.read_bytes().decode() for p in sorted(want_dir.iterdir())}
    assert set(want) == set(got)
    for name in got:
        assert got[name] == want[name], (
            f"{stack}/{name} differs from {want_dir / name} (UNIFORM_UPDATE_GOLDEN=1 to accept)"
        )


# ------------------------------------------------------------------ readers, independent of the writers


def read_ansible(text: str) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]]:
    """(hostvars by host, hosts by group) as Ansible's YAML inventory plugin sees the file."""
    doc = yaml.safe_load(text)
    hosts = doc["all"].get("hosts") or {}
    groups = {
        g: set((body or {}).get("hosts") or {}) for g, body in (doc["all"].get("children") or {}).items()
    }
    return {str(h): v or {} for h, v in hosts.items()}, groups


def read_ssh_config(text: str) -> dict[str, dict[str, str]]:
    """Host line -> {keyword: argument} (keywords lower-cased, as ssh treats them)."""
    blocks: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, value = line.split(None, 1)
        if key.lower() == "host":
            current = blocks.setdefault(value, {})
        else:
            assert current is not None, line
            assert key.lower() not in current, f"{key} twice in one block"
            current[key.lower()] = value
    return blocks


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def first_address(m: Machine) -> str | None:
    """The address uniform delivers to, restated: the first IPv4 of any NIC, else the first IPv6."""
    v4 = [a.ipv4 for n in m.nics for a in n.attachments if a.ipv4]
    v6 = [a.ipv6 for n in m.nics for a in n.attachments if a.ipv6]
    return (v4 or v6 or [None])[0]


def ident(value: str) -> str:
    """Ansible's rule for a group name, restated: only ASCII letters, digits and '_'."""
    return "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in value)


def check_all(inv: Inventory, ms: list[Machine]) -> None:
    """Every property the four formats promise, for ``ms`` of ``inv``."""
    names = {m.name for m in ms}
    # ansible: every machine once, its address, the customer's user/port, its groups
    hostvars, groups = read_ansible(ansible.render(inv, ms))
    assert set(hostvars) == names
    for g in groups:
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", g), g
        assert groups[g] <= names
    for m in ms:
        hv = hostvars[m.name]
        assert hv.get("ansible_host") == first_address(m)
        assert (hv["ansible_user"], hv["ansible_port"]) == (inv.customer.ssh.user, inv.customer.ssh.port)
        assert hv["uniform_macs"] == [n.mac for n in m.nics]
        assert hv["uniform_ipv4"] == [a.ipv4 for n in m.nics for a in n.attachments if a.ipv4]
        assert hv["uniform_tags"] == list(m.tags) and hv["uniform_roles"] == list(m.roles)
        assert (hv["uniform_cores"], hv["uniform_memory_mib"]) == (m.cores, m.memory_mib)
        assert (hv["uniform_fqdn"], hv.get("uniform_location")) == (inv.fqdn(m), m.location)
        assert hv["uniform_customer"] == inv.customer.name
        assert m.name in groups[f"state_{m.state.value}"] and m.name in groups[f"kind_{m.kind.value}"]
        for role in m.roles:
            assert m.name in groups[f"role_{ident(role)}"]
        for tag in m.tags:
            assert m.name in groups[f"tag_{ident(tag)}"]
        if m.hypervisor is not None:
            assert m.name in groups[f"hypervisor_{ident(m.hypervisor)}"]
    for g, members in groups.items():
        if g.startswith("hypervisor_"):  # only VMs, and only those placed there
            assert {ident(str(inv.machines[h].hypervisor)) for h in members} == {g[11:]}
        if g.startswith("state_"):
            assert {inv.machines[h].state.value for h in members} == {g[6:]}
    # prometheus: a group per machine with an address, targets host:port, valid label names
    tg = json.loads(prometheus.render(inv, ms, ports=[9100, 9256]))
    assert [t["labels"]["name"] for t in tg] == sorted(m.name for m in ms if first_address(m))
    for t in tg:
        m = inv.machines[t["labels"]["name"]]
        addr = first_address(m)
        host = f"[{addr}]" if ":" in str(addr) else addr
        assert t["targets"] == [f"{host}:9100", f"{host}:9256"]
        for target in t["targets"]:
            h, _, port = target.rpartition(":")
            ipaddress.ip_address(h.strip("[]"))
            assert 0 < int(port) < 65536
        assert all(re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", k) and not k.startswith("__") for k in t["labels"])
        assert t["labels"]["customer"] == inv.customer.name and t["labels"]["state"] == m.state.value
        assert t["labels"]["fqdn"] == inv.fqdn(m)
        assert t["labels"].get("hypervisor") == m.hypervisor
        assert all(v for v in t["labels"].values())
        for role in m.roles:
            assert f",{role}," in t["labels"]["role"]
    # ssh: a block per machine with an address, the address, the key alias
    blocks = read_ssh_config(ssh_config.render(inv, ms, known_hosts_file="/k h/known_hosts"))
    assert set(blocks) == {f"{m.name} {inv.fqdn(m)}" for m in ms if first_address(m)}
    for m in ms:
        if first_address(m):
            b = blocks[f"{m.name} {inv.fqdn(m)}"]
            assert b["hostname"] == first_address(m) and b["hostkeyalias"] == inv.fqdn(m)
            assert b["stricthostkeychecking"] == "yes" and b["userknownhostsfile"] == '"/k h/known_hosts"'
    keys = dict(inv.customer.ssh.host_keys)
    kh = ssh_config.known_hosts(inv, ms).splitlines()
    assert kh == [f"{inv.fqdn(m)} {keys[m.name]}" for m in ms if m.name in keys and first_address(m)]
    # csv: the header, one row per machine, every cell of it
    rows = read_csv(csv_table.render(inv, ms))
    assert csv_table.render(inv, ms).splitlines()[0] == ",".join(csv_table.COLUMNS)
    assert [r["name"] for r in rows] == [m.name for m in ms]
    for r, m in zip(rows, ms, strict=True):
        assert list(r) == list(csv_table.COLUMNS)
        assert r["address"] == (first_address(m) or "") and r["state"] == m.state.value
        assert r["macs"].split() == [n.mac for n in m.nics] and int(r["cores"]) == m.cores
        assert r["customer"] == inv.customer.name and r["fqdn"] == inv.fqdn(m)
        loc = m.location or ""
        assert r["location"] == ("'" + loc if loc.startswith(("=", "+", "-", "@", "\t", "\r")) else loc)


@pytest.mark.parametrize("stack", sorted(p.parent.name for p in STACKS.glob("*/customer.yaml")))
@pytest.mark.parametrize("states", ["default", "all"])
def test_properties_of_the_checkout_stacks(stack: str, states: str) -> None:
    inv = load(STACKS / stack)
    for fmt in ("ansible", "prometheus", "ssh", "csv"):
        sel = Selection(states=frozenset(State) if states == "all" else None)
        ms = select(inv, fmt, sel)
        assert {m.state for m in ms} <= (set(State) if states == "all" else DEFAULT_STATES[fmt])
        check_all(inv, ms)


#: (format, selection, the demo machines it picks): demo has db1 planned (VM), hv1 and svc1 active
#: (hw; svc1 dhcp+dns), web1 and web2 active (VMs on hv1, tag web)
SELECTIONS: list[tuple[str, Selection, list[str]]] = [
    ("ansible", Selection(), ["hv1", "svc1", "web1", "web2"]),
    ("ssh", Selection(), ["hv1", "svc1", "web1", "web2"]),
    ("prometheus", Selection(), ["hv1", "svc1", "web1", "web2"]),
    ("csv", Selection(), ["db1", "hv1", "svc1", "web1", "web2"]),
    ("ansible", Selection(states=frozenset({State.PLANNED})), ["db1"]),
    ("csv", Selection(states=frozenset({State.RETIRED})), []),
    ("csv", Selection(names=("web1", "db1")), ["db1", "web1"]),
    ("csv", Selection(tags=("web",)), ["web1", "web2"]),
    ("csv", Selection(tags=("web", "infra")), []),  # repeated tags: all of them
    ("csv", Selection(roles=("dhcp", "dns")), ["svc1"]),
    ("csv", Selection(hypervisors=("hv1",)), ["db1", "web1", "web2"]),
    ("csv", Selection(kinds=("hw",)), ["hv1", "svc1"]),
    ("csv", Selection(kinds=("hw", "vm")), ["db1", "hv1", "svc1", "web1", "web2"]),
    ("csv", Selection(networks=("lan",), states=frozenset({State.ACTIVE})), ["hv1", "svc1", "web1", "web2"]),
    ("csv", Selection(networks=("mgmt",)), []),
    ("ansible", Selection(kinds=("vm",), states=frozenset(State)), ["db1", "web1", "web2"]),
]


@pytest.mark.parametrize(("fmt", "sel", "want"), SELECTIONS)
def test_selection(fmt: str, sel: Selection, want: list[str]) -> None:
    assert [m.name for m in select(load(STACKS / "demo"), fmt, sel)] == want


def test_no_machines_is_still_a_valid_file() -> None:
    inv = load(STACKS / "demo")
    assert yaml.safe_load(ansible.render(inv, [])) == {"all": {}}
    assert json.loads(prometheus.render(inv, [])) == []
    assert read_csv(csv_table.render(inv, [])) == [] and csv_table.render(inv, []).startswith("customer,")
    assert read_ssh_config(ssh_config.render(inv, [], known_hosts_file="/k")) == {}
    assert ssh_config.known_hosts(inv, []) == ""


# ------------------------------------------------------------------ random inventories

#: DNS labels, with the ones a careless YAML writer breaks: booleans, nulls, numbers, hex
labels = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True),
    st.sampled_from(["no", "yes", "on", "off", "null", "true", "y", "n", "1", "0x1f", "1e5", "0o7", "12-34"]),
)
tags = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:/=+-]{0,8}", fullmatch=True)


@st.composite
def inventories(draw: st.DrawFn) -> Inventory:
    names = draw(st.lists(labels, min_size=1, max_size=8, unique=True))
    hvs = [n for n in names if draw(st.booleans())]
    machines = []
    for i, name in enumerate(names):
        vm = name not in hvs and bool(hvs) and draw(st.booleans())
        atts = []
        for net, (v4, v6) in (("lan", ("10.1.0.", "fd00:1::")), ("mgmt", ("10.2.1.", None))):
            if draw(st.booleans()):
                atts.append(
                    Attachment(
                        net,
                        f"{v4}{i + 10}" if draw(st.booleans()) else None,
                        f"{v6}{i + 10:x}" if v6 and draw(st.booleans()) else None,
                    )
                )
        nics = tuple(Nic(f"eth{k}", f"52:54:00:00:{k:02x}:{i:02x}", True, (a,)) for k, a in enumerate(atts))
        # one tag per machine: two tags that become one Ansible group are refused (tested below)
        machines.append(
            Machine(
                name=name,
                kind=Kind.VM if vm else Kind.HW,
                cores=draw(st.integers(1, 64)),
                memory_mib=draw(st.integers(256, 1 << 20)),
                state=draw(st.sampled_from(list(State))),
                file=f"machines/{name}.yaml",
                nics=nics,
                tags=(draw(tags),) if draw(st.booleans()) else (),
                roles=tuple(draw(st.sets(st.sampled_from(["dhcp", "dns", "hypervisor"])))),
                hypervisor=draw(st.sampled_from(hvs)) if vm else None,
                location=draw(st.one_of(st.none(), st.text(max_size=12))),
            )
        )
    keyed = draw(st.sets(st.sampled_from(names)))
    cust = Customer(
        name=draw(st.sampled_from(["t", "no", "a b", "x.y"])),
        domain="t.example",
        ssh=Ssh(
            user=draw(st.sampled_from(["root", "ops", "no"])),
            port=draw(st.integers(1, 65535)),
            host_keys=tuple((n, f"ssh-ed25519 AAAAC3Nza{n.replace('-', '')}") for n in sorted(keyed)),
        ),
    )
    return Inventory(
        customer=cust, networks={"lan": LAN, "mgmt": MGMT}, machines={m.name: m for m in machines}
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inv=inventories())
def test_properties_of_random_inventories(inv: Inventory) -> None:
    ms = sorted(inv.machines.values(), key=lambda m: m.name)
    try:
        check_all(inv, ms)
    except ExportError as e:  # two tags that become one group name: the only refusal
        assert all("become the group tag_" in p for p in e.problems), e.problems


@given(st.text())
def test_yaml_scalars_read_back_as_written(value: str) -> None:
    # PyYAML refuses some code points even escaped (lone surrogates); nothing uniform accepts
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        return
    assert yaml.safe_load(f"k: {scalar(value)}\n") == {"k": value}
    assert yaml.safe_load(f"- [{scalar(value)}]\n") == [[value]]


@pytest.mark.parametrize("path", ["/home/ops/.ssh/uniform/acme/known_hosts", "/a b/it's %h"])
def test_ansible_pins_host_keys_with_ssh_args(path: str) -> None:
    """Ansible splits ansible_ssh_common_args like a shell; each -o is then one ssh config line."""
    inv = load(STACKS / "acme")
    ms = select(inv, "ansible", Selection(states=frozenset(State)))
    hostvars, _ = read_ansible(ansible.render(inv, ms, known_hosts_file=path))
    assert "ansible_ssh_common_args" not in read_ansible(ansible.render(inv, ms))[0]["web1"]
    for m in ms:
        args = hostvars[m.name].get("ansible_ssh_common_args")
        if m.ssh_address is None:
            assert args is None
            continue
        assert shlex.split(args) == [
            "-o",
            f"HostKeyAlias={inv.fqdn(m)}",
            "-o",
            f"UserKnownHostsFile={ssh_config.known_hosts_path(path)}",
            "-o",
            "StrictHostKeyChecking=yes",
        ]


def test_two_tags_that_become_one_group_are_refused_naming_both() -> None:
    inv = load(STACKS / "demo")
    ms = [m for m in inv.machines.values()]
    ms[0] = dataclasses.replace(ms[0], tags=("web.prod",))
    ms[1] = dataclasses.replace(ms[1], tags=("web-prod",))
    with pytest.raises(ExportError) as e:
        ansible.render(inv, ms)
    assert e.value.problems == [
        f"ansible: 'web-prod' ({ms[1].name}) and 'web.prod' ({ms[0].name}) all become the group "
        "tag_web_prod: Ansible group names take only letters, digits and '_'; rename one of them"
    ]


# ------------------------------------------------------------------ hostile values

#: the fields of tests/helpers/hostile.py whose values reach an export
EXPORTED = [
    f
    for f in hostile.FIELDS
    if f[0]
    in {
        "customer.yaml:domain",
        "customer.yaml:ssh.user",
        "customer.yaml:ssh.host_keys.value",
        "customer.yaml:networks.lan.domain",
        "hv1:roles",
        *(
            f"db1:{k}"
            for k in (
                "name",
                "tags",
                "location",
                "hypervisor",
                "nics[0].name",
                "nics[0].mac",
                "nics[0].networks[0].ipv4",
                "nics[0].networks[0].ipv6",
                "disks[0].name",
            )
        ),
    }
]
assert len(EXPORTED) == 14, [f[0] for f in EXPORTED]


@pytest.mark.parametrize("value", sorted(hostile.VALUES))
@pytest.mark.parametrize("field", EXPORTED, ids=lambda f: f[0])
def test_hostile_values_are_refused_or_read_back_exactly(
    field: tuple[str, str, list[Any]], value: str, tmp_path: Path
) -> None:
    """Each hostile value is refused by validation, or every format reads it back unchanged (no
    second YAML key, JSON member, CSV cell or ssh_config option appears: check_all reads every
    field back; ssh_config raises on a value that is not one word, which fails the test)."""
    _, file, path = field
    doc = hostile.base()
    bad = hostile.VALUES[value](hostile.get(doc, file, path))
    root = hostile.write(hostile.mutated(doc, file, path, bad), tmp_path / "acme")
    try:
        inv = load(root, known_roles=ROLE_NAMES)  # as the CLI loads
    except InventoryError:
        return
    check_all(inv, select(inv, "csv"))  # every state


#: the fields written into an ssh_config line, and the values that would split or end it
SSH_WORD_FIELDS = [
    "customer.yaml:domain",
    "customer.yaml:ssh.user",
    "customer.yaml:networks.lan.domain",
    "db1:name",
]
SSH_BREAKERS = ["space", "newline", "trailing_newline", "cr", "comment", "dquote", "squote", "nul", "u2028"]


@pytest.mark.parametrize("value", SSH_BREAKERS)
@pytest.mark.parametrize("fid", SSH_WORD_FIELDS)
def test_validation_refuses_what_would_break_an_ssh_config_line(fid: str, value: str, tmp_path: Path) -> None:
    """The proof that the ssh export never meets such a value from a customer's files."""
    (_, file, path) = next(f for f in hostile.FIELDS if f[0] == fid)
    doc = hostile.base()
    bad = hostile.VALUES[value](hostile.get(doc, file, path))
    root = hostile.write(hostile.mutated(doc, file, path, bad), tmp_path / "acme")
    with pytest.raises(InventoryError):
        load(root, known_roles=ROLE_NAMES)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "web1\n    ProxyCommand touch /tmp/PWNED"),
        ("name", "web 1"),
        ("name", "web*"),
        ("name", "#web"),
        ("address", "10.0.0.1 -oProxyCommand=x"),
        ("user", 'root"x'),
        ("fqdn", "web1.example\n"),
    ],
)
def test_ssh_config_refuses_what_is_not_one_word_even_past_validation(field: str, value: str) -> None:
    """A model built without validation (a future loader, a test) cannot inject an option."""
    address = value if field == "address" else "10.1.0.5"
    nic = Nic("eth0", "52:54:00:00:00:01", True, (Attachment("lan", address),))
    m = Machine(value if field == "name" else "web1", Kind.HW, 1, 1024, State.ACTIVE, "m.yaml", nics=(nic,))
    net = {"lan": dataclasses.replace(LAN, domain=value) if field == "fqdn" else LAN}
    cust = Customer("t", "t.example", ssh=Ssh(user=value if field == "user" else "root"))
    inv = Inventory(cust, net, {m.name: m})
    with pytest.raises(ExportError, match="not one ssh_config word"):
        ssh_config.render(inv, [m], known_hosts_file="/k")
    # the other formats quote the same value and read it back
    hostvars, _ = read_ansible(ansible.render(inv, [m]))
    assert list(hostvars) == [m.name]


@pytest.mark.parametrize("path", ['/a"b/kh', "/a\\b", "/a\nb", "/a\x00b"])
def test_ssh_known_hosts_path_refused(path: str) -> None:
    with pytest.raises(ExportError):
        ssh_config.known_hosts_path(path)


@pytest.mark.parametrize(
    ("path", "written"), [("/a/kh", "/a/kh"), ("/a b/kh", '"/a b/kh"'), ("/a%h/kh", "/a%%h/kh")]
)
def test_ssh_known_hosts_path_quoted(path: str, written: str) -> None:
    assert ssh_config.known_hosts_path(path) == written


@pytest.mark.parametrize("cell", ['=HYPERLINK("x")', "+1", "-1", "@SUM(A1)", "\tx"])
def test_csv_cells_a_spreadsheet_would_run_are_defused(cell: str) -> None:
    inv = load(STACKS / "demo")
    m = dataclasses.replace(inv.machines["hv1"], location=cell)
    (row,) = read_csv(csv_table.render(inv, [m]))
    assert row["location"] == "'" + cell


# ------------------------------------------------------------------ the command


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    shutil.copytree(STACKS / "demo", root)
    return root


def test_cli_writes_the_golden_files(demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for fmt, name in (("ansible", "ansible.yml"), ("prometheus", "prometheus.json"), ("csv", "machines.csv")):
        assert main(["export", fmt, str(demo), "-o", str(tmp_path / name)]) == Exit.OK
        assert (tmp_path / name).read_bytes() == (CASES / "demo" / name).read_bytes()
        assert main(["export", fmt, "--dir", str(demo)]) == Exit.OK
        assert capsys.readouterr().out == (CASES / "demo" / name).read_bytes().decode()
    assert main(["export", "ssh", str(demo), "-o", str(tmp_path / "ssh")]) == Exit.OK
    assert (tmp_path / "ssh" / "known_hosts").read_text() == (CASES / "demo" / "known_hosts").read_text()
    want = (CASES / "demo" / "ssh_config").read_text()
    want = want.replace(KNOWN_HOSTS.format(customer="demo"), str(tmp_path / "ssh" / "known_hosts"))
    assert (tmp_path / "ssh" / "config").read_text() == want
    assert not list((tmp_path / "ssh").glob(".*"))  # no temporary file left


def test_cli_selection_and_states(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "csv", str(demo), "--kind", "vm", "--state", "active"]) == Exit.OK
    assert [r["name"] for r in read_csv(capsys.readouterr().out)] == ["web1", "web2"]
    assert main(["export", "ansible", str(demo), "--state", "all", "--hypervisor", "hv1"]) == Exit.OK
    hostvars, groups = read_ansible(capsys.readouterr().out)
    assert set(hostvars) == {"db1", "web1", "web2"} and groups["state_planned"] == {"db1"}
    assert main(["export", "prometheus", str(demo), "--role", "dns", "--port", "9153"]) == Exit.OK
    (t,) = json.loads(capsys.readouterr().out)
    assert t["targets"] == ["10.20.0.10:9153"] and t["labels"]["role"] == ",dhcp,dns,"
    assert (
        main(["export", "ssh", str(demo), "--machine", "web1", "--known-hosts", "/k", "--user", "ops"]) == 0
    )
    assert read_ssh_config(capsys.readouterr().out)["web1 web1.demo.example"]["user"] == "ops"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["csv", "-o", "{T}"], " is a directory: name the file to write"),
        (["ansible", "-o", "{T}/plain-file/x.yml"], "cannot write "),
        (["ssh", "-o", "{T}/plain-file"], "not a directory (the config and known_hosts go in it)"),
        (["ssh"], "give -o DIR, or --known-hosts FILE"),
        (["csv", "--machine", "nope"], "--machine: not in the inventory: nope"),
        (["prometheus", "--port", "0"], "--port 0: a port is 1-65535"),
        (["ansible", "--port", "70000"], "--port 70000: a port is 1-65535"),
    ],
)
def test_cli_usage_errors_write_nothing(
    argv: list[str], message: str, demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plain-file").write_text("x")
    before = sorted(tmp_path.rglob("*"))
    assert main(["export", *(a.replace("{T}", str(tmp_path)) for a in argv), str(demo)]) == Exit.USAGE
    out = capsys.readouterr()
    assert message in out.err and out.out == ""
    assert sorted(tmp_path.rglob("*")) == before


def test_cli_ansible_known_hosts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kh = tmp_path / "keys" / "acme"
    out = tmp_path / "acme.yml"
    assert (
        main(["export", "ansible", "--dir", str(STACKS / "acme"), "--known-hosts", str(kh), "-o", str(out)])
        == 0
    )
    assert kh.read_bytes() == (CASES / "acme" / "known_hosts").read_bytes()
    hostvars, _ = read_ansible(out.read_text())
    assert f"UserKnownHostsFile={kh}" in hostvars["web1"]["ansible_ssh_common_args"]
    assert capsys.readouterr().err.endswith(f"-> {kh}, {out}\n")


def test_cli_refusal_writes_nothing(demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, tag in (("web1", "web.prod"), ("web2", "web-prod")):
        f = demo / "machines" / f"{name}.yaml"
        f.write_text(f.read_text().replace("tags: [web]", f"tags: [{tag}]"))
    out = tmp_path / "a.yml"
    assert main(["export", "ansible", str(demo), "-o", str(out)]) == Exit.PROBLEMS
    err = capsys.readouterr().err
    assert "demo: ansible: 'web-prod' (web2) and 'web.prod' (web1) all become the group tag_web_prod" in err
    assert not out.exists()


def test_cli_invalid_inventory_exit_1(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (demo / "machines" / "web1.yaml").write_text("name: web1\nkind: vm\n")
    assert main(["export", "csv", str(demo)]) == Exit.PROBLEMS
    out = capsys.readouterr()
    assert "web1" in out.err and out.out == ""


def test_no_private_key_or_secret_in_any_output() -> None:
    for stack in sorted(p.parent.name for p in STACKS.glob("*/customer.yaml")):
        inv = load(STACKS / stack)
        for text in outputs(inv).values():
            assert "PRIVATE KEY" not in text and "passphrase" not in text.lower()
