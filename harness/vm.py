"""A real VM in the lab: planned -> staged -> active -> decommissioning -> retired (docs/lab.md).

The lab's hypervisor host runs a real libvirtd (harness/libvirt.py).  This module adds one
VM to the lab project's inventory -- no stand-in namespace: libvirt boots it under QEMU from
the base image (vmimage's harness/image.py) -- and drives it through its lifecycle the way
an operator does: ``uniform transition`` and ``pulumi up``.  What the harness does here,
and nothing more: it puts the base image where ``provisioning.base_image`` says on the
hypervisor (as an operator copies an image onto a hypervisor), writes the planned machine
file, and observes (ssh, dig, DHCP, virsh list).  The domain XML, disks.sh, the NoCloud
seed, the DHCP reservation and DNS names are uniform's, delivered by ``pulumi up``.

Used by tests/lab/test_vm_lab.py and by the demo (``python -m harness.lab demo``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import libvirt
from harness.netns import LabError, run

if TYPE_CHECKING:
    from harness.lab import Lab

__all__ = [
    "VM",
    "VmAddress",
    "add_vm",
    "console_log",
    "address",
    "demo",
    "boot_timeline",
    "console_host_key",
    "keyscan",
    "place_image",
    "ssh",
    "transition",
    "wait_ssh",
]

ROOT = Path(__file__).resolve().parents[1]

#: the lab's real VM (stacks/lab's vm1/vm2 are network-namespace stand-ins)
VM = "web1"

# 1 vCPU, 512 MiB: the machine has 2 cores shared with other work; TCG (hv1 says qemu)
VM_YAML = """\
# added by the lab (harness/vm.py): a real VM, booted by libvirt on hv1 from the base
# image; no MAC or address here: the inventory allocates both, staged pins them
name: {name}
kind: vm
hypervisor: {hypervisor}
cores: 1
memory: 512MiB
disks: [{{name: root, size: {disk_gib}GiB}}]
nics:
  - name: eth0
    networks: [{{network: lan}}]
state: planned
"""


@dataclass
class VmAddress:
    mac: str
    ipv4: str
    fqdn: str


def place_image(lab: Lab, hypervisor: str, image: Path) -> Path:
    """The base image on the hypervisor, in its /var/lib/libvirt/images (a hard link into the
    host's lab directory when the cache is on the same file system, else a copy).  QEMU opens a
    backing file read-only: the overlays disks.sh makes never write to it."""
    dest = libvirt.libvirt_dir(lab.host_dir(hypervisor)) / "lib" / "images" / image.name
    dest.unlink(missing_ok=True)
    try:
        os.link(image, dest)
    except OSError:
        shutil.copyfile(image, dest)
    return dest


def add_vm(lab: Lab, image: Path, *, name: str = VM, hypervisor: str = "hv1", disk_gib: int = 4) -> None:
    """A planned VM in the lab project's inventory, on ``hypervisor``, booting from ``image``
    (``provisioning.base_image`` names it; the image is placed on the hypervisor)."""
    (lab.inv_dir / "machines" / f"{name}.yaml").write_text(
        VM_YAML.format(name=name, hypervisor=hypervisor, disk_gib=disk_gib)
    )

    def base_image(doc: Any) -> None:
        doc.setdefault("provisioning", {})["base_image"] = image.name

    lab._edit_customer(base_image)
    place_image(lab, hypervisor, image)


def transition(lab: Lab, name: str, state: str) -> None:
    """``uniform transition <name> <state>`` on the lab project's inventory, as an operator runs it."""

    python = str(ROOT / ".venv" / "bin" / "python")
    run([python, "-m", "cli", "transition", "--dir", str(lab.inv_dir), name, state], cwd=ROOT, timeout=60)


def address(lab: Lab, name: str = VM) -> VmAddress:
    import inventory

    inv = inventory.load(lab.inv_dir)
    m = inv.machines[name]
    ip = m.nics[0].attachments[0].ipv4
    assert ip is not None, f"{name} holds no IPv4 address"
    return VmAddress(m.nics[0].mac, ip, inv.fqdn(m))


def ssh(
    lab: Lab, ip: str, host_key: str, command: str, *, timeout: float = 30, user: str = "root"
) -> subprocess.CompletedProcess[str]:
    """``command`` on the VM over SSH from the controller: the deploy key, ``host_key`` pinned
    (StrictHostKeyChecking yes: another key fails the login)."""
    from connectors.ssh import Endpoint, known_hosts_line, ssh_command

    known = lab.run_dir / f"known_hosts.{ip}"
    known.write_text(known_hosts_line(ip, 22, host_key))
    to = Endpoint(host=ip, port=22, user=user, host_key=host_key)
    cmd = ssh_command(to, known, command, connect_timeout=5, identity=str(lab.client_key))
    return run(["ip", "netns", "exec", lab.ctl, *cmd], timeout=timeout, check=False)


def wait_ssh(lab: Lab, ip: str, host_key: str, *, since: float, timeout: float = 300) -> float:
    """Poll until the VM answers SSH with ``host_key``; the seconds from ``since`` (monotonic)."""

    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        proc = ssh(lab, ip, host_key, "true", timeout=20)
        if proc.returncode == 0:
            return time.monotonic() - since
        last = proc.stderr.strip()
        time.sleep(1)
    raise LabError(f"{ip}: no SSH after {timeout:.0f}s: {last}")


def keyscan(lab: Lab, ip: str) -> str | None:
    """The VM's ed25519 host key as ssh-keyscan reports it (None while it does not answer)."""

    scan = ["ip", "netns", "exec", lab.ctl, "ssh-keyscan", "-T", "3", "-t", "ed25519", ip]
    out = run(scan, timeout=15, check=False).stdout.split()
    return f"{out[1]} {out[2]}" if len(out) >= 3 and out[1] == "ssh-ed25519" else None


def console_log(lab: Lab, hypervisor: str, name: str = VM) -> Path:
    """The VM's serial console as hv1's virtlogd keeps it (the domain XML's ``<log>``, under
    /var/log/libvirt/qemu/, i.e. the hypervisor's lab directory): boot, cloud-init, getty."""
    return libvirt.libvirt_dir(lab.host_dir(hypervisor)) / "log" / "qemu" / f"{name}-serial0.log"


def console_host_key(lab: Lab, hypervisor: str, name: str = VM, *, timeout: float = 300) -> str:
    """The VM's ed25519 host key as cloud-init prints it on the serial console (its
    ``keys_to_console`` block), read out of band on the hypervisor (:func:`console_log`): the
    tests compare it with the key uniform made and pinned."""

    log = console_log(lab, hypervisor, name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        after = text.split("-----BEGIN SSH HOST KEY KEYS-----", 1)[-1]
        block = after.split("-----END SSH HOST KEY KEYS-----")
        if len(block) > 1:
            for line in block[0].splitlines():
                fields = line.strip().split()
                if len(fields) >= 2 and fields[0] == "ssh-ed25519":
                    return f"{fields[0]} {fields[1]}"
        time.sleep(1)
    raise LabError(f"{name}: no host key on its serial console within {timeout:.0f} s ({log})")


def boot_timeline(lab: Lab, hypervisor: str, name: str = VM) -> dict[str, float]:
    """Guest-clock seconds (the kernel's ``[  12.345]`` stamps) of a few first-boot
    milestones, from the serial console log."""
    import re

    log = console_log(lab, hypervisor, name)
    text = log.read_text(errors="replace") if log.exists() else ""
    marks = {
        "cloud-init init-local": "running 'init-local'",
        "cloud-init init (network up)": "running 'init' at",
        "cloud-init modules:final": "running 'modules:final'",
        "cloud-init finished": "finished at",
    }
    found: dict[str, float] = {}
    for label, needle in marks.items():
        for line in text.splitlines():
            m = re.search(r"\[\s*(\d+\.\d+)\]", line)
            if m and needle in line:
                found[label] = float(m.group(1))
                break
    return found


def demo(lab: Lab, eng: Any, out: Any = print) -> bool:
    """``make lab``'s VM part: a real VM staged, booted, on the network, then active (its files
    over SSH).  The lab is up and its stack converged."""
    from harness import image

    out(f"\n== a real VM: {VM} on hv1 (libvirt, QEMU TCG, 1 vCPU, 512 MiB) ==")
    img = Path(image.ensure_base_image())
    out(f"  base image {img} ({img.stat().st_size >> 20} MiB), placed on hv1 as provisioning.base_image")
    add_vm(lab, img)
    transition(lab, VM, "staged")
    a = address(lab)
    out(f"  uniform transition {VM} staged: MAC {a.mac}, address {a.ipv4}")
    t0 = time.monotonic()
    proc = eng.run("up", "--yes", "--skip-preview", check=False, timeout=600)
    out(f"  pulumi up (domain XML, disks.sh, NoCloud seed to hv1; reservation and names to svc1): "
        f"exit {proc.returncode}, {time.monotonic() - t0:.0f} s")  # fmt: skip
    if proc.returncode != 0:
        out(proc.stdout[-3000:])
        return False
    out(f"  hv1: virsh list --all: {lab.vms_defined('hv1')}")
    lease = lab.probe_dhcp(a.mac)
    out(f"  DHCP reservation on svc1 (a probe with its MAC): {lease['ip'] if lease else 'NO LEASE'}")
    fwd, rev = lab.dig("10.77.0.10", a.fqdn), lab.dig("10.77.0.10", a.ipv4, reverse=True)
    out(f"  DNS: {a.fqdn} -> {','.join(fwd) or '-'}   {a.ipv4} -> {','.join(rev) or '-'}")
    key = json.loads(eng.run("stack", "output", "--json").stdout)["hostKeys"][VM]
    out(f"  its host key, made by uniform (Pulumi state, handed over in the seed): {key[:40]}...")
    out(f"  booting (cloud-init reads uniform's seed; serial console: {console_log(lab, 'hv1')}) ...")
    up_to_ssh = wait_ssh(lab, a.ipv4, key, since=t0)
    on_console = console_host_key(lab, "hv1", timeout=30)
    out(f"  the key cloud-init printed on the console is the pinned one: {key.startswith(on_console)}")
    marks = ", ".join(f"{k} {v:.0f} s" for k, v in boot_timeline(lab, "hv1").items())
    out(f"  first boot (guest clock, serial console): {marks}")
    who = ssh(lab, a.ipv4, key, "hostname; ip -4 -o addr show eth0 | awk '{print $4}'").stdout.split()
    out(f"  SSH answers {up_to_ssh:.0f} s after pulumi up: hostname {who[:1]}, eth0 {who[1:]}")
    transition(lab, VM, "active")
    t1 = time.monotonic()
    proc = eng.run("up", "--yes", "--skip-preview", check=False, timeout=600)
    files = ssh(lab, a.ipv4, key, "cat /etc/uniform/manifest.d/base.json").stdout
    paths = [f["path"] for f in json.loads(files)["files"]] if files.strip() else []
    took = time.monotonic() - t1
    out(f"  uniform transition {VM} active + pulumi up: exit {proc.returncode}, {took:.0f} s")
    out(f"  delivered to {VM} over SSH (its manifest): {', '.join(paths) or 'NOTHING'}")
    ok = (
        proc.returncode == 0
        and lease is not None
        and lease["ip"] == a.ipv4
        and fwd == [a.ipv4]
        and rev == [a.fqdn + "."]
        and who[:1] == [VM]
        and "/etc/hostname" in paths
        and key.startswith(on_console)
    )
    return ok
