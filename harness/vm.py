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

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import libvirt

if TYPE_CHECKING:
    from harness.lab import Lab

__all__ = ["VM", "VmAddress", "add_vm", "address", "place_image", "ssh", "transition", "wait_ssh"]

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
    from harness.lab import run

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
    from harness.lab import run

    known = lab.run_dir / f"known_hosts.{ip}"
    known.write_text(known_hosts_line(ip, 22, host_key))
    to = Endpoint(host=ip, port=22, user=user, host_key=host_key)
    cmd = ssh_command(to, known, command, connect_timeout=5, identity=str(lab.client_key))
    return run(["ip", "netns", "exec", lab.ctl, *cmd], timeout=timeout, check=False)


def wait_ssh(lab: Lab, ip: str, host_key: str, *, since: float, timeout: float = 300) -> float:
    """Poll until the VM answers SSH with ``host_key``; the seconds from ``since`` (monotonic)."""
    from harness.lab import LabError

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
    from harness.lab import run

    scan = ["ip", "netns", "exec", lab.ctl, "ssh-keyscan", "-T", "3", "-t", "ed25519", ip]
    out = run(scan, timeout=15, check=False).stdout.split()
    return f"{out[1]} {out[2]}" if len(out) >= 3 and out[1] == "ssh-ed25519" else None
