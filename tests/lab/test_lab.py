"""The lab end to end: `pulumi up` over real SSH turns the lab inventory into a working network.

Real daemons, no mocks: hosts are network namespaces with their own sshd and a
private view of /etc, /root, /var, /run (harness/lab.py, docs/lab.md); dnsmasq
serves DHCP and DNS with the files `pulumi up` delivered; udhcpc and dig
check the result from the hosts and the controller.

  1. fault first: app1's sshd is down during the first `up`: the others converge,
     the error names app1, and after sshd is back a rerun completes
  2. every host: its files (byte for byte the rendered payload), its hostname,
     its DHCP lease by MAC, its name forward and reverse, VMs defined on hv1
  3. a new VM: preview and up touch only it, its hypervisor and the DHCP/DNS host;
     it gets its lease and its name
  4. retire app1 (reachable) and vm2 (its host already gone): no wedge, their
     files, leases and names disappear
The real machine's /etc/hostname and hostname are unchanged, and nothing of the
lab is left behind (namespaces, mounts), even on failure.

Needs root and namespaces: skipped without them, failed when UNIFORM_REQUIRE_LAB=1 (CI).
"""

from __future__ import annotations

import json
import os
import socket
import textwrap
from pathlib import Path

import pytest

import inventory
import payloads
from harness import lab as L
from inventory.lifecycle import State
from tests.helpers.engine import custom_steps
from tests.helpers.lab import running

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.lab]

NEW_VM = textwrap.dedent("""\
    # added by tests/lab: no MAC, no address: the inventory allocates both, and the
    # transition to staged pins them
    name: vm3
    kind: vm
    hypervisor: hv1
    cores: 1
    memory: 1GiB
    disks: [{name: root, size: 10GiB}]
    nics:
      - name: eth0
        networks: [{network: lan}]
    state: planned
    """)


def _real_hostname_file() -> bytes | None:
    p = Path("/etc/hostname")
    return p.read_bytes() if p.exists() else None


@pytest.fixture
def lab(tmp_path: Path):
    lab = L.Lab(tmp_path / "lab", prefix=f"ul{os.getpid() % 100000}-")
    real_hostname_file = _real_hostname_file()
    real_hostname = socket.gethostname()
    try:
        with running(lab, tmp_path):
            yield lab
    finally:
        # every namespace shared the real filesystem: nothing reached the real /etc or hostname
        assert _real_hostname_file() == real_hostname_file
        assert socket.gethostname() == real_hostname
        assert not Path("/etc/uniform").exists() and not Path("/etc/dnsmasq.d/uniform-dhcp.conf").exists()


def sessions(lab, name: str) -> int:
    """SSH sessions host ``name`` accepted so far (its sshd log)."""
    log = lab.host_dir(name) / "sshd.log"
    return log.read_text().count("Accepted publickey") if log.exists() else 0


def assert_files(lab, inv, names) -> None:
    """Each host holds its rendered payload byte for byte, and runs under its own name."""
    rendered = payloads.render_customer(inv)
    for name in names:
        for f in rendered[name].files:
            got = lab.read_file(name, f.path)
            assert got == f.content, f"{name}:{f.path} differs from the rendered payload"
            mode = lab.in_host(name, ["stat", "-c", "%a", f.path], timeout=10).stdout.strip()
            assert int(mode, 8) == f.mode, f"{name}:{f.path} mode {mode}"
        assert lab.hostname(name) == name
        # its delivered networkd files configured it (lab/shims/netapply.py): live == files
        net = lab.in_host(
            name, ["python3", "/usr/local/sbin/netapply.py", "--check"], check=False, timeout=20
        )
        assert net.returncode == 0, f"{name}: live network differs from its files:\n{net.stdout}{net.stderr}"


def assert_on_network(lab, inv, names, dns: str) -> None:
    """A real DHCP exchange gives each host (by its MAC) its address; its name resolves both ways."""
    for name in names:
        m = inv.machines[name]
        ip = m.nics[0].attachments[0].ipv4
        if "dhcp" not in m.roles:  # the DHCP server itself has its address statically
            lease = lab.dhcp(name)
            assert lease is not None, f"{name} ({m.nics[0].mac}): no DHCP lease"
            assert lease["ip"] == ip, f"{name}: leased {lease['ip']}, inventory says {ip}"
            assert lease["domain"] == "lab.test" and lease["dns"] == dns
        fqdn = inv.fqdn(m)
        assert lab.dig(dns, fqdn) == [ip], f"{fqdn} A"
        assert lab.dig(dns, ip, reverse=True) == [fqdn + "."], f"{ip} PTR"


def assert_gone(lab, inv_before, name: str, dns: str, *, host_alive: bool) -> list[str]:
    """No DHCP lease for its MAC, nothing of it in the delivered DNS config; the names that
    still resolve (returned: see the end of the test)."""
    m = inv_before.machines[name]
    ip, mac = m.nics[0].attachments[0].ipv4, m.nics[0].mac
    lease = lab.dhcp(name) if host_alive else lab.probe_dhcp(mac)
    assert lease is None, f"{name} ({mac}) still gets a lease: {lease}"
    for conf in ("uniform-dhcp.conf", "uniform-dns.conf"):
        assert mac not in (lab.read_file("svc1", f"/etc/dnsmasq.d/{conf}") or "")
        assert f"{name}." not in (lab.read_file("svc1", f"/etc/dnsmasq.d/{conf}") or "")
    stale = []
    if lab.dig(dns, inv_before.fqdn(m)):
        stale.append(inv_before.fqdn(m))
    if lab.dig(dns, ip, reverse=True):
        stale.append(ip)
    return stale


def test_lab_end_to_end(lab) -> None:
    eng = lab.init_stack()
    inv_dir = lab.inv_dir
    inv = inventory.load(inv_dir)
    dns = next(m for m in inv.machines.values() if "dns" in m.roles).nics[0].attachments[0].ipv4
    everyone = sorted(lab.hosts)
    assert everyone == ["app1", "hv1", "svc1", "vm1", "vm2"]
    lab.guard()

    # 1. fault: app1's sshd is down during `pulumi up`
    lab.stop_sshd("app1")
    proc = eng.run("up", "--yes", "--skip-preview", "--continue-on-error", check=False)
    assert proc.returncode != 0
    diagnostics = (proc.stdout + proc.stderr).split("Diagnostics:", 1)[1]
    failed = [line for line in proc.stdout.splitlines() if "failed**" in line and "uniform:Files" in line]
    assert [line.split("uniform:Files ", 1)[1].split()[0] for line in failed] == ["app1-base"], proc.stdout
    assert "pulumi-python:dynamic/uniform:Files (app1-base):" in diagnostics
    refused = "root@10.77.0.12:22: ssh failed: ssh: connect to host 10.77.0.12 port 22: Connection refused"
    assert refused in diagnostics
    others = [n for n in everyone if n != "app1"]
    assert_files(lab, inv, others)  # the others converged
    assert lab.read_file("app1", "/etc/uniform/manifest.d/base.json") is None
    lab.start_sshd("app1")
    eng.run("up", "--yes", "--skip-preview")
    eng.run("preview", "--expect-no-changes")

    # 2. every host is configured and on the network
    assert_files(lab, inv, everyone)
    assert_on_network(lab, inv, everyone, dns)
    assert lab.vms_defined("hv1") == {"vm1": "running", "vm2": "running"}
    assert "systemctl restart dnsmasq" in (lab.host_dir("svc1") / "state" / "shims.log").read_text()

    # 3. a new VM: only it, its hypervisor and the DHCP/DNS host are touched
    (inv_dir / "machines" / "vm3.yaml").write_text(NEW_VM)
    inventory.transition(inv_dir, "vm3", State.STAGED)
    lab.add_host("vm3")  # a booted VM with sshd, its host key recorded (ssh-keyscan)
    before = {n: sessions(lab, n) for n in lab.hosts}
    steps = custom_steps(eng.preview_json())
    assert {k: v for k, v in steps.items() if not k.endswith("-base")} == {
        "hv1-hypervisor-files": "update",
        "svc1-dhcp-files": "update",
        "svc1-dns-files": "update",
    }
    assert steps["vm3-base"] == "create"
    assert {k.split("-")[0] for k in steps} == {"vm3", "hv1", "svc1"}, steps
    eng.run("up", "--yes", "--skip-preview")
    untouched = {n for n in before if sessions(lab, n) == before[n]}
    assert untouched == {"app1", "vm1", "vm2"}, "only vm3, hv1 and svc1 may be contacted"
    inv = inventory.load(inv_dir)
    assert_files(lab, inv, ["vm3", "hv1", "svc1"])
    assert_on_network(lab, inv, ["vm3"], dns)
    assert lab.vms_defined("hv1") == {"vm1": "running", "vm2": "running", "vm3": "running"}
    eng.run("preview", "--expect-no-changes")

    # 4. retire app1 (reachable) and vm2, whose host is already gone
    lab.remove_host("vm2")
    inv_before = inv
    for name in ("app1", "vm2"):
        inventory.transition(inv_dir, name, State.DECOMMISSIONING)
    proc = eng.run("up", "--yes", "--skip-preview")  # must not wedge on vm2
    text = proc.stdout + proc.stderr
    assert (
        "warning: ssh:root@10.77.0.22:22:base: host unreachable, dropping it from the stack without cleanup: "
        "root@10.77.0.22:22: ssh failed: ssh: connect to host 10.77.0.22 port 22:" in text
    ), text
    assert lab.read_file("app1", "/etc/hostname") is None  # app1's files were removed from app1
    assert lab.read_file("app1", "/etc/uniform/manifest.d/base.json") is None
    assert lab.vms_defined("hv1") == {"vm1": "running", "vm3": "running"}
    stale = assert_gone(lab, inv_before, "app1", dns, host_alive=True)
    stale += assert_gone(lab, inv_before, "vm2", dns, host_alive=False)
    leases = lab.leases("svc1")
    for name in ("app1", "vm2"):
        inventory.transition(inv_dir, name, State.RETIRED)
    eng.run("up", "--yes", "--skip-preview")
    eng.run("preview", "--expect-no-changes")
    machines = json.loads(eng.run("stack", "output", "--json").stdout)["machines"]
    assert sorted(machines) == ["hv1", "svc1", "vm1", "vm3"]
    inv = inventory.load(inv_dir)
    assert_on_network(lab, inv, ["hv1", "svc1", "vm1", "vm3"], dns)

    # A retired host's name must not resolve (docs/lab.md "What the lab found": dnsmasq
    # publishes the names of its DHCP leases; with DHCP and DNS on one dnsmasq it keeps
    # no lease file, leasefile-ro).  A regression of that fix fails here.
    assert not stale, f"retired names still resolve: {stale}; dnsmasq leases on svc1:\n{leases}"
