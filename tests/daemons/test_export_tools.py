"""``uniform export`` read by the real tools: ``ansible-inventory --list`` (ansible-core, from the dev
extra), ``promtool check config`` on a config whose ``file_sd_configs`` names the exported file
(Debian ``prometheus``), and OpenSSH's own ``ssh -G`` and ``ssh-keygen -F`` on the exported
config and known_hosts.  A missing tool skips, or fails with UNIFORM_REQUIRE_DAEMONS=1 (CI).

Each runs on the checkout's stacks and on an inventory of awkward names: machine names YAML
1.1 reads as booleans, nulls and numbers (``no``, ``null``, ``1e5``, ``0x1f``), tags with the
characters Ansible patterns treat as operators (``web:prod``, ``a=b/c+d``), a customer name
with a space, an IPv6-only machine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from interop.export import Selection, ansible, prometheus, select, ssh_config
from inventory import load
from inventory.model import Inventory, State
from tests.helpers.daemons import run, tool
from tests.helpers.stacks import STACKS

pytestmark = pytest.mark.slow

ALL = Selection(states=frozenset(State))


def awkward() -> Inventory:
    """acme with its machines renamed and re-tagged awkwardly (a model: validation would refuse
    nothing here but the renamed hypervisors' VM references, which are renamed along)."""
    inv = load(STACKS / "acme")
    rename = {"web1": "no", "web2": "null", "db1": "1e5", "hv1": "0x1f", "ns1": "on"}
    tags = {"web1": ("web:prod", "Blue.Green"), "web2": ("a=b/c+d", "web:prod"), "ns1": ("x",)}
    machines = {}
    for m in inv.machines.values():
        new = dataclasses.replace(
            m,
            name=rename.get(m.name, m.name),
            tags=tags.get(m.name, m.tags),
            hypervisor=rename.get(m.hypervisor, m.hypervisor) if m.hypervisor else None,
        )
        if m.name == "web2":  # IPv6 only: a bracketed target, an IPv6 ansible_host and HostName
            nics = tuple(
                dataclasses.replace(
                    n, attachments=tuple(dataclasses.replace(a, ipv4=None) for a in n.attachments)
                )
                for n in new.nics
            )
            new = dataclasses.replace(new, nics=nics)
        machines[new.name] = new
    keys = tuple((rename.get(n, n), k) for n, k in inv.customer.ssh.host_keys)
    cust = dataclasses.replace(
        inv.customer, name="a b", ssh=dataclasses.replace(inv.customer.ssh, host_keys=keys, port=2222)
    )
    return dataclasses.replace(inv, customer=cust, machines=dict(sorted(machines.items())))


def inventories() -> dict[str, Inventory]:
    out = {p.parent.name: load(p.parent) for p in sorted(STACKS.glob("*/customer.yaml"))}
    out["awkward"] = awkward()
    return out


INVENTORIES = inventories()


def ssh_g(argv: list[str]) -> dict[str, str]:
    """``ssh -G``'s resolved options (lower-case keyword -> value)."""
    return dict(line.split(" ", 1) for line in run(*argv).splitlines() if " " in line)


def ansible_inventory() -> str:
    path = Path(sys.executable).with_name("ansible-inventory")
    if path.is_file():
        return str(path)
    msg = f"ansible-inventory not next to {sys.executable} (ansible-core, the dev extra of pyproject.toml)"
    if os.environ.get("UNIFORM_REQUIRE_DAEMONS") == "1":
        pytest.fail(msg + " but UNIFORM_REQUIRE_DAEMONS=1")
    pytest.skip(msg)


@pytest.mark.parametrize("name", sorted(INVENTORIES))
def test_ansible_inventory_lists_hosts_groups_and_addresses(name: str, tmp_path: Path) -> None:
    inv = INVENTORIES[name]
    ms = select(inv, "ansible", ALL)
    f = tmp_path / "inventory.yml"
    kh = tmp_path / "with space" / "known_hosts"  # the pinned keys, checked by each host's ssh
    kh.parent.mkdir()
    kh.write_text(ssh_config.known_hosts(inv, ms))
    f.write_text(ansible.render(inv, ms, known_hosts_file=str(kh)))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),  # no ~/.ansible of the user's, nothing written there
        "ANSIBLE_CONFIG": str(tmp_path / "none.cfg"),
        "ANSIBLE_INVENTORY_ENABLED": "yaml",  # the YAML plugin only: no fallback to the ini reader
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
    }
    out = run(ansible_inventory(), "-i", str(f), "--list", "--output", str(tmp_path / "list.json"), env=env)
    assert "WARNING" not in out, out  # e.g. "Invalid characters were found in group names"
    listed: dict[str, Any] = json.loads((tmp_path / "list.json").read_text())
    hostvars = listed["_meta"]["hostvars"]
    assert set(hostvars) == {m.name for m in ms}
    for m in ms:
        hv = hostvars[m.name]
        assert hv.get("ansible_host") == m.ssh_address
        assert (hv["ansible_user"], hv["ansible_port"]) == (inv.customer.ssh.user, inv.customer.ssh.port)
        assert hv["uniform_fqdn"] == inv.fqdn(m) and hv["uniform_state"] == m.state.value

    # the ssh Ansible runs: its ssh_common_args split as Ansible splits them (shlex), then ssh -G
    keys = dict(inv.customer.ssh.host_keys)
    for m in ms:
        if m.ssh_address is None:
            continue
        hv = hostvars[m.name]
        argv = [tool("ssh"), "-G", "-F", "/dev/null", *shlex.split(hv["ansible_ssh_common_args"])]
        got = ssh_g([*argv, "-l", hv["ansible_user"], "-p", str(hv["ansible_port"]), hv["ansible_host"]])
        assert got["hostname"] == m.ssh_address and got["hostkeyalias"] == inv.fqdn(m)
        assert got["userknownhostsfile"] == str(kh) and got["stricthostkeychecking"] == "true"
        if m.name in keys:
            assert keys[m.name].split()[1] in run(tool("ssh-keygen"), "-F", inv.fqdn(m), "-f", str(kh))

    def hosts(group: str) -> set[str]:
        return set(listed.get(group, {}).get("hosts", []))

    assert set(listed["all"]["children"]) - {"ungrouped"} == set(ansible.groups(inv, ms))
    for m in ms:
        assert m.name in hosts(f"state_{m.state.value}") and m.name in hosts(f"kind_{m.kind.value}")
        for tag in m.tags:
            assert m.name in hosts(ansible.group_name("tag", tag))
        for role in m.roles:
            assert m.name in hosts(f"role_{role}")
    for hv in {m.hypervisor for m in ms if m.hypervisor}:
        assert hosts(ansible.group_name("hypervisor", str(hv))) == {v.name for v in ms if v.hypervisor == hv}
    if name == "awkward":  # the names YAML 1.1 would have turned into false, None, 100000.0, 31
        assert ":" in hostvars["null"]["ansible_host"]
        assert {"no", "null", "1e5", "0x1f", "on"} <= set(hostvars)
        assert hosts("tag_web_prod") == {"no", "null"} and hosts("tag_a_b_c_d") == {"null"}
        assert hosts("customer_a_b") == set(hostvars)


def check_file_sd_shape(doc: Any) -> None:
    """The documented file_sd shape: a list of {"targets": [str], "labels": {name: str}}."""
    assert isinstance(doc, list)
    for group in doc:
        assert set(group) <= {"targets", "labels"} and isinstance(group["targets"], list)
        assert all(isinstance(t, str) and t for t in group["targets"])
        for k, v in group.get("labels", {}).items():
            assert prometheus.LABEL_NAME.match(k) and not k.startswith("__") and isinstance(v, str)


def promtool_check(tmp_path: Path, targets: str) -> tuple[int, str]:
    sd = tmp_path / "targets.json"
    sd.write_text(targets)
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 15s}\n"
        "scrape_configs:\n"
        "  - job_name: node\n"
        f"    file_sd_configs: [{{files: [{json.dumps(str(sd))}]}}]\n"
    )
    p = subprocess.run([tool("promtool"), "check", "config", str(cfg)], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize("name", sorted(INVENTORIES))
def test_prometheus_file_sd_passes_promtool(name: str, tmp_path: Path) -> None:
    inv = INVENTORIES[name]
    text = prometheus.render(inv, select(inv, "prometheus", ALL), ports=[9100, 9256])
    check_file_sd_shape(json.loads(text))
    if name == "awkward":
        assert any(t.startswith("[fd00:10::") for g in json.loads(text) for t in g["targets"])
    rc, out = promtool_check(tmp_path, text)
    assert rc == 0 and "SUCCESS" in out, out


@pytest.mark.parametrize(
    "bad",
    [
        '[{"targets": ["10.0.0.1:9100"], "labels": {"bad-name": "x"}}]',
        '[{"targets": ["10.0.0.1:9100"], "labels": {"name": 5}}]',
        '{"targets": ["10.0.0.1:9100"]}',
    ],
)
def test_promtool_does_read_the_targets_file(bad: str, tmp_path: Path) -> None:
    """The check above would prove nothing if promtool ignored the file: a wrong one fails."""
    rc, out = promtool_check(tmp_path, bad)
    assert rc != 0, out


@pytest.mark.parametrize("name", sorted(INVENTORIES))
def test_ssh_reads_the_config_and_the_pinned_keys(name: str, tmp_path: Path) -> None:
    inv = INVENTORIES[name]
    ms = select(inv, "ssh", ALL)
    d = tmp_path / "with space"  # a known_hosts path with a space: quoted in the config
    d.mkdir()
    kh = d / "known_hosts"
    kh.write_text(ssh_config.known_hosts(inv, ms))
    cfg = d / "config"
    cfg.write_text(ssh_config.render(inv, ms, known_hosts_file=str(kh)))
    ssh = tool("ssh")
    keys = dict(inv.customer.ssh.host_keys)
    for m in ms:
        if m.ssh_address is None:
            continue
        for typed in (m.name, inv.fqdn(m)):
            got = ssh_g([ssh, "-G", "-F", str(cfg), typed])
            assert got["hostname"] == m.ssh_address, (typed, got)
            assert (got["user"], got["port"]) == (inv.customer.ssh.user, str(inv.customer.ssh.port))
            assert got["hostkeyalias"] == inv.fqdn(m) and got["stricthostkeychecking"] == "true"
            assert got["userknownhostsfile"] == str(kh)
        if m.name in keys:  # ssh-keygen finds the pinned key under the alias ssh will look up
            found = run(tool("ssh-keygen"), "-F", inv.fqdn(m), "-f", str(kh))
            assert keys[m.name].split()[1] in found
    # a name with no block is not caught by another machine's block
    out = run(ssh, "-G", "-F", str(cfg), "not-a-machine.invalid")
    assert "hostname not-a-machine.invalid" in out.splitlines()
