"""The ``uniform`` command line: every edit keeps comments and order and reloads; bad input is
refused with a clear message and leaves every file as it was; selection; list; render; policy."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
from pathlib import Path

import pytest

from cli.main import main
from inventory import load
from inventory.model import State

BASE = Path(__file__).parent / "inventory_cases" / "_base"

#: a hand-written file with comments, in a key order of its own
WEB2 = """\
# web2: the second web server
name: web2   # short name
kind: vm
hypervisor: hv1
cores: 1
memory: 512MiB
nics:
  - name: eth0   # virtio
    mac: "52:54:00:00:00:03"
    networks:
      - network: lan
        ipv4: 10.0.0.30   # pinned
tags: [web]   # the web tier
state: planned
location: dc1   # rack unknown
"""

#: a group file: two machines in one YAML list
TIER = """\
# the app tier
- name: app1   # first
  kind: vm
  hypervisor: hv1
  cores: 1
  memory: 1GiB
  tags: [app]
  state: planned

# second, pinned
- name: app2
  kind: vm
  hypervisor: hv1
  cores: 1
  memory: 1GiB
  state: planned
"""

MGMT = "  mgmt:\n    ipv4: 10.9.0.0/24\n"


@pytest.fixture
def acme(tmp_path: Path) -> Path:
    root = tmp_path / "acme"
    shutil.copytree(BASE, root)
    (root / "customer.yaml").write_text((root / "customer.yaml").read_text() + MGMT)
    (root / "machines" / "web2.yaml").write_text(WEB2)
    (root / "machines" / "tier.yaml").write_text(TIER)
    return root


def run(acme: Path, *argv: str) -> int:
    return main([*argv, "--dir", str(acme)])


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def lines_kept_in_order(before: str, after: str, edited: tuple[str, ...] = ()) -> bool:
    """Every line of ``before`` (but the ``edited`` keys') is in ``after``, in the same order,
    comments included (ruamel may normalise the spaces before a comment)."""

    def norm(text: str) -> list[str]:
        return [re.sub(r"\s+#", " #", line) for line in text.splitlines()]

    rest = norm(after)
    pos = 0
    for line in norm(before):
        if line.strip().split(":")[0].lstrip("- ") in edited:
            continue
        try:
            pos = rest.index(line, pos) + 1
        except ValueError:
            return False
    return True


# ------------------------------------------------------------------ edits keep comments and reload


@pytest.mark.parametrize(
    "argv, file, check",
    [
        (["tag", "add", "web2", "prod", "blue"], "web2", lambda m: m.tags == ("web", "prod", "blue")),
        (["role", "add", "web2", "dns"], "web2", lambda m: m.roles == ("dns",)),
        (["nic", "add", "web2", "eth1", "--network", "mgmt"], "web2", lambda m: m.nics[1].name == "eth1"),
        (
            [
                "nic",
                "add",
                "web2",
                "eth1",
                "--network",
                "mgmt",
                "--mac",
                "52-54-00-AA-00-01",
                "--ipv4",
                "10.9.0.7",
            ],
            "web2",
            lambda m: m.nics[1].mac == "52:54:00:aa:00:01" and m.nics[1].attachments[0].ipv4 == "10.9.0.7",
        ),
        (["transition", "web2", "staged"], "web2", lambda m: m.state is State.STAGED),
        (["tag", "add", "app1", "blue"], "tier", lambda m: m.name == "app1" and m.tags == ("app", "blue")),
        (["role", "add", "app2", "dns"], "tier", lambda m: m.name == "app2" and m.roles == ("dns",)),
        (["nic", "add", "app2", "eth0", "--network", "lan"], "tier", lambda m: m.nics[0].name == "eth0"),
        (["transition", "app2", "staged"], "tier", lambda m: m.name == "app2" and m.state is State.STAGED),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_edit_keeps_comments_and_order_and_reloads(acme: Path, argv: list[str], file: str, check) -> None:
    path = acme / "machines" / f"{file}.yaml"
    before = path.read_text()
    assert run(acme, *argv) == 0
    after = path.read_text()
    assert after != before
    assert lines_kept_in_order(before, after, ("tags", "state")), after
    assert "# " in after and after.count("#") == before.count("#")
    inv = load(acme)
    assert check(inv.machines[argv[1] if argv[0] == "transition" else argv[2]])


def test_tag_remove_and_role_remove(acme: Path) -> None:
    assert run(acme, "tag", "add", "web2", "prod") == 0
    assert run(acme, "tag", "remove", "web2", "web") == 0
    assert load(acme).machines["web2"].tags == ("prod",)
    assert run(acme, "tag", "remove", "web2", "prod") == 0  # the last one: the key goes
    text = (acme / "machines" / "web2.yaml").read_text()
    assert "tags" not in text and "# short name" in text and "# rack unknown" in text
    assert run(acme, "role", "add", "web2", "dns", "dhcp") == 0
    assert run(acme, "role", "remove", "web2", "dhcp") == 0
    assert load(acme).machines["web2"].roles == ("dns",)


def test_tag_add_is_idempotent(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(acme)
    assert run(acme, "tag", "add", "web2", "web") == 0
    assert "nothing to add" in capsys.readouterr().out
    assert snapshot(acme) == before


def test_machine_add_writes_house_style_and_reloads(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "machine", "add", "web3", "--kind", "vm", "--hypervisor", "hv1", "--cores", "2", "--memory", "4GiB",
        "--disk", "root=20GiB", "--disk", "data=100", "--nic", "eth0:lan", "--nic", "eth1:lan,mgmt",
        "--tag", "web", "--role", "dns", "--state", "planned", "--location", "dc1/r4",
    ]  # fmt: skip
    assert run(acme, *argv) == 0
    assert (acme / "machines" / "web3.yaml").read_text() == (
        "name: web3\nkind: vm\nhypervisor: hv1\ncores: 2\nmemory: 4GiB\n"
        "disks: [{name: root, size: 20GiB}, {name: data, size: 100}]\n"
        "nics:\n  - name: eth0\n    networks:\n      - network: lan\n"
        "  - name: eth1\n    networks:\n      - network: lan\n      - network: mgmt\n"
        "tags: [web]\nroles: [dns]\nstate: planned\nlocation: dc1/r4\n"
    )
    m = load(acme).machines["web3"]
    assert [d.size_gib for d in m.disks] == [20, 100] and m.roles == ("dns",) and m.memory_mib == 4096
    out = capsys.readouterr().out
    assert out.startswith("web3: added to machines/web3.yaml (vm, planned): eth0 52:54:00:")
    assert "run `uniform pin`" in out


@pytest.mark.parametrize(
    ("roles", "rc", "want"),
    [
        (["--role", "hypervisor"], 0, "roles: [hypervisor]\nvirtualization: qemu\nstate: planned\n"),
        ([], 1, "virtualization: only a machine with role hypervisor has a virtualization type"),
    ],
    ids=["hypervisor", "not-a-hypervisor"],
)
def test_machine_add_virtualization(
    acme: Path, capsys: pytest.CaptureFixture[str], roles: list[str], rc: int, want: str
) -> None:
    argv = ["machine", "add", "hv3", "--kind", "hw", "--cores", "8", "--memory", "16GiB", *roles]
    assert run(acme, *argv, "--virtualization", "qemu") == rc
    path = acme / "machines" / "hv3.yaml"
    if rc == 0:
        assert path.read_text().endswith(want)
        assert load(acme).machines["hv3"].virtualization == "qemu"
    else:
        assert want in capsys.readouterr().err and not path.exists()


def test_machine_add_to_a_group_file_and_remove_from_it(acme: Path) -> None:
    before = (acme / "machines" / "tier.yaml").read_text()
    argv = ["machine", "add", "app3", "--kind", "hw", "--cores", "4", "--memory", "8GiB", "--group", "tier"]
    assert run(acme, *argv) == 0
    text = (acme / "machines" / "tier.yaml").read_text()
    assert text.startswith(before.replace("app1   # first", "app1 # first")) and text.endswith(
        "- name: app3\n  kind: hw\n  cores: 4\n  memory: 8GiB\n  state: planned\n"
    )
    assert load(acme).machines["app3"].file == "machines/tier.yaml"
    assert run(acme, "machine", "remove", "app3") == 0
    assert (acme / "machines" / "tier.yaml").read_text() == before.replace("app1   # first", "app1 # first")
    assert run(acme, "machine", "remove", "app1") == 0  # the comment before app2 stays
    assert (
        acme / "machines" / "tier.yaml"
    ).read_text() == "# the app tier\n\n# second, pinned\n" + TIER.split("# second, pinned\n")[1]
    assert sorted(load(acme).machines) == ["app2", "hv1", "web1", "web2"]


def test_machine_remove_a_file_and_its_host_key(acme: Path) -> None:
    cust = acme / "customer.yaml"
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRlbW8tYWRtaW4ta2V5LWZvci1kb2NzLW9ubHkAAAA"
    cust.write_text(cust.read_text() + f'ssh:\n  host_keys:\n    web2: "{key}"   # web2\n    hv1: "{key}"\n')
    assert run(acme, "machine", "remove", "web2") == 0
    assert not (acme / "machines" / "web2.yaml").exists()
    assert "web2" not in cust.read_text() and f'hv1: "{key}"' in cust.read_text()
    assert "web2" not in load(acme).machines


def test_machine_remove_active_needs_force(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(acme, "machine", "remove", "web1") == 1
    assert "is active: retire it first" in capsys.readouterr().err
    assert (acme / "machines" / "web1.yaml").exists()
    assert run(acme, "machine", "remove", "web1", "--force") == 0
    assert "web1" not in load(acme).machines


def test_machine_move(acme: Path) -> None:
    hv2 = (acme / "machines" / "hv1.yaml").read_text().replace("hv1", "hv2").replace(":01", ":11")
    (acme / "machines" / "hv2.yaml").write_text(hv2.replace("10.0.0.11", "10.0.0.12"))
    before = (acme / "machines" / "web2.yaml").read_text()
    assert run(acme, "machine", "move", "web2", "--hypervisor", "hv2") == 0
    assert (acme / "machines" / "web2.yaml").read_text() == before.replace(
        "hypervisor: hv1", "hypervisor: hv2"
    )
    assert load(acme).machines["web2"].hypervisor == "hv2"


def test_mac_generate_predicts_the_assigned_mac(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(acme, "mac", "generate", "web2", "eth1") == 0
    predicted = capsys.readouterr().out.strip()
    assert run(acme, "nic", "add", "web2", "eth1", "--network", "mgmt") == 0
    assert load(acme).machines["web2"].nics[1].mac == predicted
    capsys.readouterr()
    assert run(acme, "mac", "generate", "web2", "eth0") == 0  # an existing NIC: its pinned MAC
    out = capsys.readouterr()
    assert out.out == "52:54:00:00:00:03\n" and "pinned" in out.err
    assert run(acme, "mac", "generate", "new9") == 0  # a machine that does not exist yet, eth0
    assert capsys.readouterr().out.startswith("52:54:00:")


def test_pin_and_unpinned_with_progress(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(acme, "nic", "add", "web2", "eth1", "--network", "mgmt") == 0
    capsys.readouterr()
    assert run(acme, "unpinned") == 1
    assert run(acme, "pin", "--progress") == 0
    out = capsys.readouterr()
    assert "pinned web2: nics[1].mac = 52:54:00:" in out.out
    assert "pinning: files 1/1" in out.err and "loading" in out.err
    assert "# short name" in (acme / "machines" / "web2.yaml").read_text()
    assert run(acme, "unpinned") == 0


# ------------------------------------------------------------------ refusals leave every file as it was

HV_ERR = "acme: machines/web2.yaml: web2: hypervisor: "
ERRORS = [
    (["tag", "add", "nope", "x"], 1, "acme: machines: nope: no machine named 'nope'"),
    (["tag", "remove", "web2", "blue"], 1, "web2: tags: has no tag 'blue' (has: web)"),
    (["role", "add", "web2", "mail"], 1, "roles"),
    (["machine", "move", "web2", "--hypervisor", "nope"], 1, HV_ERR + "no machine named 'nope'"),
    (
        ["machine", "move", "web2", "--hypervisor", "web1"],
        1,
        HV_ERR + "'web1' does not have the role hypervisor",
    ),
    (["machine", "move", "web2", "--hypervisor", "hv1"], 1, HV_ERR + "already runs on hv1"),
    (["machine", "move", "hv1", "--hypervisor", "hv1"], 1, "hv1: hypervisor: is hardware (kind hw)"),
    (["machine", "move", "nope", "--hypervisor", "hv1"], 1, "no machine named 'nope'"),
    (
        ["nic", "add", "web2", "eth1", "--network", "lan", "--mac", "52:54:00:zz:00:01"],
        1,
        "invalid MAC '52:54:00:zz:00:01'",
    ),
    (["nic", "add", "web2", "eth1", "--network", "lan", "--mac", "52:54:00:00:00:02"], 1, "duplicate"),
    (["nic", "add", "web2", "eth0", "--network", "lan"], 1, "already has a NIC named 'eth0'"),
    (["nic", "add", "web2", "eth1", "--network", "dmz"], 1, "unknown network 'dmz' (known: lan, mgmt)"),
    (["nic", "add", "web2", "eth1", "--network", "lan", "--ipv4", "10.0.0.20"], 1, "10.0.0.20"),
    (["nic", "add", "web2", "eth1", "--network", "lan", "--ipv4", "10.9.9.9"], 1, "10.9.9.9"),
    (
        ["nic", "add", "web2", "eth1", "--network", "lan", "--network", "mgmt", "--ipv4", "10.0.0.5"],
        1,
        "an IPv4 address needs exactly one network",
    ),
    (
        ["machine", "add", "web1", "--kind", "vm", "--hypervisor", "hv1", "--cores", "1", "--memory", "1GiB"],
        1,
        "a machine named 'web1' already exists (machines/web1.yaml)",
    ),
    (
        ["machine", "add", "app1", "--kind", "hw", "--cores", "1", "--memory", "1GiB"],
        1,
        "a machine named 'app1' already exists (machines/tier.yaml)",
    ),
    (["machine", "add", "Bad_Name", "--kind", "hw", "--cores", "1", "--memory", "1GiB"], 1, "Bad_Name"),
    (
        ["machine", "add", "vm9", "--kind", "vm", "--cores", "1", "--memory", "1GiB"],
        1,
        "a VM needs --hypervisor",
    ),
    (
        ["machine", "add", "hw9", "--kind", "hw", "--hypervisor", "hv1", "--cores", "1", "--memory", "1GiB"],
        1,
        "only a VM (--kind vm) has a hypervisor",
    ),
    (
        ["machine", "add", "vm9", "--kind", "vm", "--hypervisor", "hvx", "--cores", "1", "--memory", "1GiB"],
        1,
        "no machine named 'hvx'",
    ),
    (
        ["machine", "add", "vm9", "--kind", "vm", "--hypervisor", "hv1", "--cores", "99", "--memory", "1GiB"],
        1,
        "overcommitted",
    ),
    (
        ["machine", "add", "vm9", "--kind", "vm", "--hypervisor", "hv1", "--cores", "1", "--memory", "lots"],
        1,
        "memory",
    ),
    (
        [
            "machine",
            "add",
            "vm9",
            "--kind",
            "vm",
            "--hypervisor",
            "hv1",
            "--cores",
            "1",
            "--memory",
            "1G",
            "--nic",
            "eth0",
        ],
        2,
        "--nic 'eth0': expected NAME:NETWORK",
    ),
    (
        [
            "machine",
            "add",
            "vm9",
            "--kind",
            "vm",
            "--hypervisor",
            "hv1",
            "--cores",
            "1",
            "--memory",
            "1G",
            "--disk",
            "root",
        ],
        2,
        "--disk 'root': expected NAME=SIZE",
    ),
    (["machine", "remove", "nope"], 1, "no machine named 'nope'"),
    (["machine", "remove", "hv1", "--force"], 1, "VMs still run on it: app1, app2, web1, web2"),
    (
        ["transition", "web2", "active"],
        1,
        "cannot move from planned to active (allowed from planned: retired, staged)",
    ),
    (["transition", "web2", "gone"], 1, "unknown state 'gone'"),
    (["transition", "nope", "staged"], 1, "no machine named 'nope'"),
]


@pytest.mark.parametrize("argv, code, message", ERRORS, ids=[" ".join(a) for a, _, _ in ERRORS])
def test_refused_with_a_clear_error_and_nothing_changed(
    acme: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    before = snapshot(acme)
    assert run(acme, *argv) == code
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err
    assert snapshot(acme) == before
    load(acme)


def test_transition_that_invalidates_the_inventory_is_undone(
    acme: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An allowed move whose result is invalid (a hypervisor leaving while VMs use it) restores the file."""
    for state in ("decommissioning",):
        assert run(acme, "transition", "hv1", state) == 0
    before = snapshot(acme)
    assert run(acme, "transition", "hv1", "retired") == 1
    assert "retired" in capsys.readouterr().err
    assert snapshot(acme) == before


def test_argparse_errors_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["machine", "add", "x", "--kind", "box", "--cores", "1", "--memory", "1"])
    assert e.value.code == 2 and "invalid choice: 'box'" in capsys.readouterr().err
    commands = [
        [], ["check"], ["unpinned"], ["pin"], ["transition"], ["machine"], ["nic"], ["mac"], ["tag"],
        ["role"], ["machine", "add"], ["machine", "remove"],
        ["machine", "move"], ["nic", "add"], ["mac", "generate"], ["tag", "add"], ["tag", "remove"],
        ["role", "add"], ["role", "remove"], ["list"], ["render"], ["policy"], ["review"],
    ]  # fmt: skip
    for argv in commands:
        with pytest.raises(SystemExit) as e:
            main([*argv, "--help"])
        assert e.value.code == 0
        assert "example" in capsys.readouterr().out, argv


# ------------------------------------------------------------------ selection


@pytest.fixture
def project(tmp_path: Path, acme: Path) -> Path:
    proj = tmp_path / "proj"
    (proj / "stacks").mkdir(parents=True)
    (proj / "Pulumi.yaml").write_text("name: uniform\nruntime: python\nstackConfigDir: stacks\n")
    shutil.copytree(acme, proj / "stacks" / "acme")
    (proj / "stacks" / "Pulumi.prod.yaml").write_text("config:\n  uniform:inventory: acme\n")
    (proj / "stacks" / "Pulumi.bare.yaml").write_text("config: {}\n")
    return proj


def test_selection(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project / "stacks")  # the project is found upwards
    ok = "acme: 5 machines, 2 networks: ok\n"
    for argv in (["check", "--customer", "acme"], ["--stack", "prod", "check"], ["check", "-s", "prod"]):
        assert main(argv) == 0 and capsys.readouterr().out == ok
    assert main(["check", str(project / "stacks" / "acme")]) == 0  # the positional form
    assert main(["check", "--project", str(project), "--dir", str(project / "stacks" / "acme")]) == 0
    capsys.readouterr()
    cases = [
        (["check", "-C", "nope"], "no customer 'nope': "),
        (["check", "--stack", "nope"], "no stack 'nope': "),
        (["check", "--stack", "bare"], "stack 'bare': "),
        (["check", "-C", "acme", "--stack", "prod"], "choose one of --customer / --stack"),
        (["check", "--dir", str(project)], "is not a customer directory"),
    ]
    for argv, message in cases:
        assert main(argv) == 2 and message in capsys.readouterr().err, argv
    assert main(["check", "-C", "nope"]) == 2 and "(known: acme)" in capsys.readouterr().err
    assert main(["check", "-s", "nope"]) == 2 and "(known stacks: bare, prod)" in capsys.readouterr().err


def test_selection_from_the_selected_pulumi_stack(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert main(["check"]) == 2
    assert "no customer chosen: pass --customer NAME, --stack NAME or --dir PATH" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.chdir(project)
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n[ \"$2 $3\" = 'stack --show-name' ] && echo prod\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert main(["check"]) == 0 and capsys.readouterr().out.startswith("acme: 5 machines")


# ------------------------------------------------------------------ list, render, policy


def test_list_filters_table_and_json(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(acme, "nic", "add", "app1", "eth0", "--network", "mgmt") == 0
    capsys.readouterr()

    def names(*argv: str) -> list[str]:
        assert run(acme, "list", "--json", *argv) == 0
        return [m["name"] for m in json.loads(capsys.readouterr().out)]

    assert names() == ["app1", "app2", "hv1", "web1", "web2"]
    assert names("--tag", "web") == ["web2"]
    assert names("--role", "hypervisor") == ["hv1"]
    assert names("--state", "planned") == ["app1", "app2", "web2"]
    assert names("--state", "active", "--kind", "vm") == ["web1"]
    assert names("--hypervisor", "hv1", "--tag", "app") == ["app1"]
    assert names("--network", "mgmt") == ["app1"]
    assert names("--kind", "hw") == ["hv1"]
    assert run(acme, "list", "--json", "--tag", "web") == 0
    (web2,) = json.loads(capsys.readouterr().out)
    assert web2["nics"][0] == {
        "name": "eth0",
        "mac": "52:54:00:00:00:03",
        "mac_pinned": True,
        "attachments": [
            {
                "network": "lan",
                "ipv4": "10.0.0.30",
                "ipv6": "fd00::5054:ff:fe00:3",
                "ipv4_pinned": True,
                "ipv6_pinned": False,
            }
        ],
    }
    assert web2["state"] == "planned" and web2["memory_mib"] == 512 and web2["location"] == "dc1"
    assert run(acme, "list", "--role", "hypervisor") == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        "NAME  KIND  STATE   CORES  MEMORY  HYPERVISOR  ADDRESSES                       TAGS  ROLES",
        "hv1   hw    active  4      16 GiB  -           10.0.0.11 fd00::5054:ff:fe00:1  -     hypervisor",
    ]
    assert out.err == "1 of 5 machines\n"


def test_render(acme: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tree"
    assert main(["render", str(acme), str(out)]) == 0
    assert (out / "web1" / "etc" / "hostname").read_text() == "web1\n"
    assert not (out / "web2").exists()  # planned: nothing delivered
    assert capsys.readouterr().out.splitlines()[0].startswith("hv1\t")
    assert main(["render", "--dir", str(acme), str(tmp_path / "tree2")]) == 0
    assert (tmp_path / "tree2" / "hv1" / "etc" / "hostname").exists()


def test_policy(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(acme, "policy") == 0
    assert capsys.readouterr().out == "acme: 3 rules, no violations\n"
    # a NIC added to an active machine is pinned by the same edit (its address never moves)
    assert run(acme, "nic", "add", "web1", "eth1", "--network", "mgmt") == 0
    web1 = load(acme).machines["web1"]
    assert web1.nics[1].mac_pinned and web1.nics[1].attachments[0].ipv4_pinned
    # a staged VM on a hypervisor that receives no files
    assert run(acme, "transition", "app1", "staged") == 0
    hv2 = (acme / "machines" / "hv1.yaml").read_text().replace("hv1", "hv2").replace(":01", ":11")
    hv2 = hv2.replace("10.0.0.11", "10.0.0.12").replace("state: active\nhistory: [planned, staged]\n", "")
    (acme / "machines" / "hv2.yaml").write_text(hv2)
    # app1 is staged, so defined on hv1 with its disks: the move says what happens to them
    assert run(acme, "machine", "move", "app1", "--hypervisor", "hv2") == 1
    assert run(acme, "machine", "move", "app1", "--hypervisor", "hv2", "--fresh-disk") == 0
    assert load(acme).machines["app1"].move == ("hv2", "fresh")
    capsys.readouterr()
    assert run(acme, "policy") == 1
    assert capsys.readouterr().out.splitlines() == [
        "acme: [vm-on-live-hypervisor] app1: is staged but its hypervisor hv2 is planned "
        "(its VM definitions are not delivered)",
    ]


def test_policy_pinned_rule_directly(acme: Path) -> None:
    """The pinned-addresses rule (load already refuses an unpinned active machine, and edits
    pin; the pack checks it again on an inventory loaded without that check)."""
    from inventory import InventoryError
    from inventory.policy import pinned_addresses

    path = acme / "machines" / "web1.yaml"
    path.write_text(path.read_text().replace('    mac: "52:54:00:00:00:02"\n', ""))
    with pytest.raises(InventoryError, match=r"web1: nics\[0\]\.mac: 52:54:00:\S+ is generated, not pinned"):
        load(acme)
    inv = load(acme, require_pinned=False)
    assert [str(v) for v in pinned_addresses(inv)] == [
        f"[pinned-addresses] web1: is active with unpinned nics[0].mac = {inv.machines['web1'].nics[0].mac} "
        "(run `uniform pin`)"
    ]


def test_policy_capacity_rule_directly(acme: Path) -> None:
    """The capacity rule (load already refuses an overcommit; the pack checks it again)."""
    import dataclasses

    from inventory.policy import hypervisor_capacity

    inv = load(acme)
    small = dataclasses.replace(inv.machines["hv1"], cores=1, memory_mib=1024)
    inv = dataclasses.replace(inv, machines={**inv.machines, "hv1": small})
    assert [str(v) for v in hypervisor_capacity(inv)] == [
        "[hypervisor-capacity] hv1: VMs use 5 cores; 1 cores x cpu overcommit 4 allows 4",
        "[hypervisor-capacity] hv1: VMs use 6656 MiB memory; 1024 MiB x memory overcommit 1 allows 1024",
    ]


def test_a_broken_inventory_is_reported_not_edited(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (acme / "machines" / "web2.yaml").write_text(WEB2.replace("cores: 1", "cores: many"))
    before = snapshot(acme)
    assert run(acme, "machine", "add", "x1", "--kind", "hw", "--cores", "1", "--memory", "1GiB") == 1
    err = capsys.readouterr().err
    assert "acme: machines/web2.yaml:5: web2: cores: expected an integer" in err
    assert snapshot(acme) == before


def test_module_runs_as_a_script() -> None:
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "uniform review --base origin/main" in proc.stdout


def test_the_reload_after_an_edit_never_reads_a_stale_parse(
    acme: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Edits re-load through a parse cache keyed by (mtime, size).  On a file system with coarse
    timestamps a same-size edit could keep the key: simulate one, the invalid result is still seen."""
    import inventory.edit as edit

    real = edit._atomic_write

    def coarse(path: Path, data: bytes) -> None:
        st = path.stat() if path.exists() else None
        real(path, data)
        if st is not None:
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same second, same mtime

    monkeypatch.setattr(edit, "_atomic_write", coarse)
    monkeypatch.delenv("UNIFORM_INVENTORY_CACHE", raising=False)
    small = (acme / "machines" / "hv1.yaml").read_text().replace("hv1", "hv2").replace(":01", ":11")
    (acme / "machines" / "hv2.yaml").write_text(
        small.replace("10.0.0.11", "10.0.0.12").replace("cores: 4", "cores: 1")
    )
    big = "name: web2\nkind: vm\nhypervisor: hv1\ncores: 9\nmemory: 512MiB\nstate: planned\n"
    (acme / "machines" / "web2.yaml").write_text(big)  # house style: the rewrite has the same size
    before = snapshot(acme)
    assert run(acme, "machine", "move", "web2", "--hypervisor", "hv2") == 1  # same size: hv1 -> hv2
    assert snapshot(acme) == before
    assert load(acme).machines["web2"].hypervisor == "hv1"


def test_an_interrupted_pin_is_undone(
    acme: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import cli.progress
    from inventory import edit

    assert run(acme, "nic", "add", "web2", "eth1", "--network", "mgmt") == 0
    assert run(acme, "nic", "add", "app1", "eth0", "--network", "lan") == 0
    before = snapshot(acme)

    def counter(self: object, label: str):
        def tick(done: int, total: int) -> None:
            assert total == 2
            if done == 2:  # the first file is written by now
                raise KeyboardInterrupt

        return tick

    monkeypatch.setattr(cli.progress.Progress, "counter", counter)
    assert run(acme, "pin") == 130
    assert "interrupted" in capsys.readouterr().err
    assert snapshot(acme) == before
    assert len(edit.unpinned(load(acme))) == 4
