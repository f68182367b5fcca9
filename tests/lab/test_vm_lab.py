"""A real VM from planned to retired, managed exactly like the lab's hardware (issue 15, item 4).

The lab (stacks/lab: svc1 serving DHCP and DNS, hv1 the hypervisor running a real libvirtd
in its own namespaces, app1 and the VM stand-ins vm1/vm2) plus one VM, ``web1``, that
nothing stands in for: libvirt boots it under QEMU (TCG: hv1 says ``virtualization:
qemu``) from the Debian base image (vmimage's harness/image.py, cached outside the
repository), with 1 vCPU and 512 MiB.  One boot, one test function:

  1. staged: ``uniform transition web1 staged`` + ``pulumi up`` deliver the domain XML,
     disks.sh and the NoCloud seed to hv1; libvirt defines and starts the VM for real;
     the DHCP server holds its reservation (a real exchange with its MAC), its name
     resolves forward and reverse in uniform's DNS; real cloud-init reads the seed
     (hostname, keys, the static address by MAC) and the VM answers SSH as ssh.user with
     the deploy key, its host key pinned.  The time from `pulumi up` to SSH is printed.
  2. active: ``pulumi up`` delivers its base files over SSH (the same Files resource as
     the hardware hosts), the seed goes; ``uniform verify`` is clean, then names a file
     edited by hand on the VM as drift.
  3. leaving: decommissioning undefines it for real (``virsh list --all`` on hv1), its
     reservation and names go; retired releases its address.

Needs root, namespaces, libvirt, QEMU and the base image (built once, a few minutes):
skipped without them, failed when UNIFORM_REQUIRE_LAB=1 (CI).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import inventory
import payloads
from harness import lab as L
from harness import vm as V
from tests.helpers.lab import running, unavailable

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.lab]

T0 = time.monotonic()
FIGURES: dict[str, float] = {}


def base_image() -> Path:
    """The Debian base image (built once into the cache), or unavailable()."""
    from harness import image

    try:
        return image.ensure_base_image()
    except Exception as e:  # the builder names what is missing (mmdebstrap, the archive, ...)
        unavailable(f"cannot build the base image: {e}")
        raise


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("vmlab")
    lab = L.Lab(tmp / "lab", prefix=f"uw{os.getpid() % 100000}-")
    with running(lab, tmp):
        yield lab
    FIGURES["module_s"] = time.monotonic() - T0
    print(f"\nVM lab figures: {json.dumps({k: round(v, 1) for k, v in FIGURES.items()})}")


@pytest.fixture(scope="module")
def eng(lab: Any) -> Any:
    image = base_image()
    eng = lab.init_stack()
    lab.guard()
    eng.run("up", "--yes", "--skip-preview")  # the lab as it is, before the VM
    V.add_vm(lab, image)
    return eng


def verify(lab: Any, *args: str) -> tuple[int, dict[str, Any]]:
    cmd = [
        "ip", "netns", "exec", lab.ctl, str(ROOT / ".venv" / "bin" / "python"), "-m", "cli", "verify",
        "--dir", str(lab.inv_dir), "--identity", str(lab.client_key), "--host-keys",
        str(lab.run_dir / "hostKeys.json"), "--json", *args,
    ]  # fmt: skip
    proc = L.run(cmd, check=False, timeout=120, cwd=ROOT)
    assert proc.returncode in (0, 1, 3), proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_vm_planned_to_retired(lab: Any, eng: Any) -> None:
    """One test for the one boot: tools/run-tests runs pytest -n 2, and tests sharing a
    module fixture may land on both workers (each would build its own lab and VM)."""
    state: dict[str, Any] = {}
    staged(lab, eng, state)
    active(lab, eng, state)
    leaving(lab, eng, state)


def staged(lab: Any, eng: Any, state: dict[str, Any]) -> None:
    V.transition(lab, V.VM, "staged")
    addr = V.address(lab)
    state["addr"] = addr
    t0 = time.monotonic()
    eng.run("up", "--yes", "--skip-preview")
    FIGURES["staged_up_s"] = time.monotonic() - t0

    # libvirt defined and started it, from uniform's XML, on the overlay disks.sh made
    assert lab.vms_defined("hv1").get(V.VM) == "running"
    xml = lab.in_host("hv1", ["virsh", "dumpxml", V.VM], timeout=30).stdout
    assert "<domain type='qemu'" in xml and "host-passthrough" not in xml
    assert f"/var/lib/libvirt/images/{V.VM}-seed.iso" in xml and f"<mac address='{addr.mac}'/>" in xml
    disk = f"/var/lib/libvirt/images/{V.VM}-root.qcow2"  # -U: QEMU holds its lock
    info = lab.in_host("hv1", ["qemu-img", "info", "-U", "--output=json", disk], timeout=30).stdout
    base = inventory.load(lab.inv_dir).customer.provisioning.base_image
    assert json.loads(info)["backing-filename"] == f"/var/lib/libvirt/images/{base}"

    # the DHCP server's reservation (a real exchange carrying its MAC, from a throwaway
    # namespace while the VM is still booting) and its names in uniform's DNS
    lease = lab.probe_dhcp(addr.mac)
    assert lease is not None and lease["ip"] == addr.ipv4, lease
    assert lab.dig("10.77.0.10", addr.fqdn) == [addr.ipv4]
    assert lab.dig("10.77.0.10", addr.ipv4, reverse=True) == [addr.fqdn + "."]

    # first boot: SSH as ssh.user with the deploy key, its host key pinned before the first
    # login: the key uniform made (Pulumi state, handed to cloud-init in the seed), the
    # public half from the stack's outputs; the serial console (virtlogd's log on hv1) shows
    # cloud-init took it
    host_key = json.loads(eng.run("stack", "output", "--json").stdout)["hostKeys"][V.VM]
    state["host_key"] = host_key
    FIGURES["up_to_ssh_s"] = V.wait_ssh(lab, addr.ipv4, host_key, since=t0)
    assert V.console_host_key(lab, "hv1") == " ".join(host_key.split()[:2])
    assert V.keyscan(lab, addr.ipv4) == " ".join(host_key.split()[:2])  # the only key it serves
    for mark, at in V.boot_timeline(lab, "hv1").items():
        FIGURES[f"guest {mark}"] = at
    print(f"\n{V.VM}: pulumi up -> SSH answers: {FIGURES['up_to_ssh_s']:.1f} s")

    # real cloud-init read uniform's seed: hostname, static address by MAC (not a lease)
    out = V.ssh(
        lab, addr.ipv4, host_key, "hostname; ip -4 -o addr show eth0; cat /sys/class/net/eth0/address"
    ).stdout.splitlines()
    assert out[0] == V.VM
    assert f"inet {addr.ipv4}/24" in out[1] and "dynamic" not in out[1], out
    assert out[2] == addr.mac
    t = time.monotonic()
    cmd = "cloud-init status --wait >/dev/null; cat /run/cloud-init/result.json"
    ds = V.ssh(lab, addr.ipv4, host_key, cmd, timeout=300)
    FIGURES["ssh_to_cloud_init_done_s"] = time.monotonic() - t
    result = json.loads(ds.stdout)["v1"]
    assert result["errors"] == [] and "NoCloud" in result["datasource"], result


def active(lab: Any, eng: Any, state: dict[str, Any]) -> None:
    addr, host_key = state["addr"], state["host_key"]
    V.transition(lab, V.VM, "active")
    eng.run("up", "--yes", "--skip-preview")
    inv = inventory.load(lab.inv_dir)
    for f in payloads.render_customer(inv)[V.VM].files:
        got = V.ssh(lab, addr.ipv4, host_key, f"cat {f.path}")
        assert got.returncode == 0 and got.stdout == f.content, f"{V.VM}:{f.path}"
    # the seed is gone: its files, its ISO, its disk in the definition
    assert lab.read_file("hv1", f"/var/lib/libvirt/images/{V.VM}-seed.iso") is None
    assert lab.read_file("hv1", f"/etc/uniform/libvirt/{V.VM}.seed/user-data") is None
    inactive = lab.in_host("hv1", ["virsh", "dumpxml", "--inactive", V.VM], timeout=30).stdout
    assert "seed.iso" not in inactive
    eng.run("preview", "--expect-no-changes")

    # verify pins the key uniform made, as `pulumi stack output hostKeys --json` prints it
    keys = lab.run_dir / "hostKeys.json"
    keys.write_text(eng.run("stack", "output", "hostKeys", "--json").stdout)
    code, res = verify(lab, "--machine", V.VM)
    assert code == 0 and [h["status"] for h in res["hosts"]] == ["clean"], res
    V.ssh(lab, addr.ipv4, host_key, "echo '10.77.0.99 intruder' >> /etc/hosts")
    code, res = verify(lab, "--machine", V.VM)
    assert code == 1
    assert [(c["path"], c["detail"]) for c in res["hosts"][0]["changed"]] == [("/etc/hosts", "content")]


def leaving(lab: Any, eng: Any, state: dict[str, Any]) -> None:
    addr = state["addr"]
    V.transition(lab, V.VM, "decommissioning")
    eng.run("up", "--yes", "--skip-preview")
    assert V.VM not in lab.vms_defined("hv1")  # virsh list --all
    for conf in ("uniform-dhcp.conf", "uniform-dns.conf"):
        text = lab.read_file("svc1", f"/etc/dnsmasq.d/{conf}") or ""
        assert addr.mac not in text and f"{V.VM}." not in text
    assert lab.probe_dhcp(addr.mac) is None
    assert lab.dig("10.77.0.10", addr.fqdn) == [] and lab.dig("10.77.0.10", addr.ipv4, reverse=True) == []

    V.transition(lab, V.VM, "retired")
    eng.run("up", "--yes", "--skip-preview")
    eng.run("preview", "--expect-no-changes")
    att = inventory.load(lab.inv_dir).machines[V.VM].nics[0].attachments[0]
    assert att.ipv4 is None, f"retired {V.VM} still holds {att.ipv4}"
