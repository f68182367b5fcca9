"""1,000 machines in one stack, 50 of them lab hosts over real SSH (issue 17, item 3).

The lab gives 50 machines a host each (network namespace, sshd, private /etc; harness/lab.py);
the other 950 are delivered into a local tree. One customer has one delivery mode, so the lab
project's program (tests/lab/mixed_main.py) is uniform's own with one difference: a machine
whose host key is pinned goes over SSH, every other one into the local tree. Same inventory,
payloads, components and dynamic provider, in the real engine, with uniform's default
``PULUMI_SKIP_CHECKPOINTS=true``.

  1. the first ``up`` delivers all 1,000: each lab host holds its payload byte for byte and
     mode for mode, the local tree holds the other 950 exactly;
  2. a no-change ``up`` contacts no host (each sshd's "Accepted publickey" count is unchanged)
     and rewrites no local file (inode and mtime unchanged); the preview shows no change;
  3. one lab host's change (its MAC, so its .link file) contacts exactly that host, once,
     and writes no local file;
  4. one local machine's change contacts no host and writes only that machine's file.

Needs root and namespaces: skipped without them, failed when UNIFORM_REQUIRE_LAB=1 (CI).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

import inventory
import payloads
from harness import lab as L
from tests.helpers.lab import running

pytestmark = [pytest.mark.slow, pytest.mark.lab]

HERE = Path(__file__).resolve().parent
STACK = "scale"
N_SSH = 50
N_TOTAL = 1000


def customer_yaml() -> str:
    return (
        "# tests/lab/test_scale_ssh_lab.py: generated\n"
        f"customer: {STACK}\n"
        "domain: scale.test\n"
        'mac_prefix: "52:54:00"\n'
        f"delivery: {{mode: ssh, local_root: out/{STACK}}}\n"
        "ssh:\n"
        "  user: root\n"
        "  port: 22\n"
        "  authorized_keys: []\n"
        "  host_keys: {}\n"
        "networks:\n"
        "  lan:\n"  # the lab's switch: the controller is 10.77.0.2
        "    ipv4: 10.77.0.0/24\n"
        '    reserved: ["10.77.0.1-10.77.0.9"]\n'
        "    dns_servers: [10.77.0.1]\n"
        "  rest:\n"  # machines delivered locally: no lab host
        "    ipv4: 10.78.0.0/16\n"
        '    reserved: ["10.78.0.1-10.78.0.9"]\n'
        "    dns_servers: [10.78.0.1]\n"
    )


def machine_yaml(name: str, mac: str, network: str, ipv4: str) -> str:
    return (
        f"name: {name}\nkind: hw\ncores: 1\nmemory: 1GiB\ndisks: [{{name: root, size: 10GiB}}]\n"
        f'nics:\n  - name: eth0\n    mac: "{mac}"\n    networks:\n      - network: {network}\n'
        f"        ipv4: {ipv4}\nstate: active\nhistory: [planned, staged]\n"
    )


def write_lab_machines(dest: Path) -> None:
    """customer.yaml and the 50 machines with a lab host (10.77.0.10-59)."""
    (dest / "machines").mkdir(parents=True)
    (dest / "customer.yaml").write_text(customer_yaml())
    for i in range(1, N_SSH + 1):
        (dest / "machines" / f"s{i:02d}.yaml").write_text(
            machine_yaml(f"s{i:02d}", f"0c:c4:7a:78:00:{i:02x}", "lan", f"10.77.0.{9 + i}")
        )


def write_local_machines(dest: Path) -> None:
    """The other 950, delivered locally (10.78.0.10 on)."""
    for i in range(N_TOTAL - N_SSH):
        ip = 10 + i
        (dest / "machines" / f"l{i:04d}.yaml").write_text(
            machine_yaml(
                f"l{i:04d}",
                f"0c:c4:7a:79:{i >> 8:02x}:{i & 0xFF:02x}",
                "rest",
                f"10.78.{ip >> 8}.{ip & 0xFF}",
            )
        )


def local_stamps(out: Path) -> dict[str, tuple[int, int]]:
    """path -> (inode, mtime_ns) of every file under ``out``: a rewrite changes both."""
    return {
        str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in out.rglob("*")
        if p.is_file()
    }


def logins(lab: L.Lab) -> dict[str, int]:
    return {name: lab.ssh_logins(name) for name in lab.hosts}


def assert_hosts_hold(lab: L.Lab, rendered: dict[str, payloads.MachinePayload], names: list[str]) -> None:
    """Each lab host holds its payload byte for byte, mode for mode."""
    for name in names:
        files = rendered[name].files
        for f in files:
            assert lab.read_file(name, f.path) == f.content, f"{name}:{f.path} differs from the payload"
        modes = lab.in_host(name, ["stat", "-c", "%a %n", *(f.path for f in files)], timeout=10).stdout
        got = {line.split(" ", 1)[1]: int(line.split(" ", 1)[0], 8) for line in modes.splitlines()}
        assert got == {f.path: f.mode for f in files}, name


def assert_local_tree(out: Path, rendered: dict[str, payloads.MachinePayload], ssh: set[str]) -> None:
    """The local tree holds exactly the payloads of the machines without a lab host."""
    want = {
        f"{name}{f.path}": (f.content.encode(), f.mode)
        for name, pl in rendered.items()
        if name not in ssh
        for f in pl.files
    }
    got = {
        str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mode & 0o7777)
        for p in out.rglob("*")
        if p.is_file()
    }
    assert got.keys() == want.keys(), sorted(got.keys() ^ want.keys())[:10]
    assert got == want


def set_mac(path: Path, mac: str) -> None:
    path.write_text(re.sub(r'mac: "[^"]+"', f'mac: "{mac}"', path.read_text()))


@pytest.fixture
def lab(tmp_path: Path):
    src = tmp_path / "customer"
    write_lab_machines(src)
    lab = L.Lab(
        tmp_path / "lab",
        prefix=f"us{os.getpid() % 100000}-",
        stack=STACK,
        source=src,
        program=HERE / "mixed_main.py",
    )
    with running(lab, tmp_path):
        yield lab


def test_1000_machines_50_over_ssh_contacts_only_what_changed(lab: L.Lab) -> None:
    eng = lab.init_stack()
    assert eng.env["PULUMI_SKIP_CHECKPOINTS"] == "true"  # uniform's default (harness.engine_env)
    write_local_machines(lab.inv_dir)  # after lab.up(): the lab makes hosts for the first 50 only
    inv = inventory.load(lab.inv_dir)
    ssh = set(dict(inv.customer.ssh.host_keys))
    assert len(inv.machines) == N_TOTAL and ssh == set(lab.hosts) and len(ssh) == N_SSH
    out = lab.project / "out" / STACK
    seconds = {}

    def up(label: str) -> None:
        t = time.perf_counter()
        eng.run("up", "--yes", "--skip-preview", timeout=1800)
        seconds[label] = round(time.perf_counter() - t, 1)

    # 1. everything delivered
    up("first up")
    rendered = payloads.render_customer(inv)
    assert_hosts_hold(lab, rendered, sorted(ssh))
    assert_local_tree(out, rendered, ssh)

    # 2. nothing changed: no host contacted, no local file written
    before, stamps = logins(lab), local_stamps(out)
    up("no-change up")
    assert logins(lab) == before, "a no-change up contacted hosts"
    assert local_stamps(out) == stamps, "a no-change up rewrote local files"
    t = time.perf_counter()
    eng.run("preview", "--expect-no-changes", timeout=1800)
    seconds["no-change preview"] = round(time.perf_counter() - t, 1)
    assert logins(lab) == before, "a preview contacted hosts"

    # 3. one lab host changes: exactly that host is contacted, once
    changed = "s07"
    set_mac(lab.inv_dir / "machines" / f"{changed}.yaml", "0c:c4:7a:78:10:07")
    up("one-host change up")
    after = logins(lab)
    assert {n: after[n] - before[n] for n in after if after[n] != before[n]} == {changed: 1}
    assert local_stamps(out) == stamps, "a one-host change rewrote local files"
    inv = inventory.load(lab.inv_dir)
    rendered = payloads.render_customer(inv)
    assert_hosts_hold(lab, rendered, [changed])

    # 4. one local machine changes: no host contacted, only its own files written
    set_mac(lab.inv_dir / "machines" / "l0500.yaml", "0c:c4:7a:7a:00:01")
    before = after
    up("one-local change up")
    assert logins(lab) == before, "a local machine's change contacted hosts"
    now = local_stamps(out)
    assert {p.split("/", 1)[0] for p in now if now[p] != stamps.get(p)} == {"l0500"}
    assert_local_tree(out, payloads.render_customer(inventory.load(lab.inv_dir)), ssh)
    eng.run("preview", "--expect-no-changes", timeout=1800)
    print(f"{N_TOTAL} machines, {N_SSH} over ssh: {seconds}")
