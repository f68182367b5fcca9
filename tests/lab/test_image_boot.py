"""The base image boots what uniform renders for a staged VM (docs/lab.md "The base image").

1. ``harness.image.ensure_base_image()`` builds the Debian base image from Debian packages
   (or reuses the cached one: ~/.cache/uniform, UNIFORM_IMAGE_CACHE);
2. the lab inventory (a copy of stacks/lab) with ``vm1`` staged and the customer's
   ``provisioning.base_image`` naming that image is rendered; hv1's rendered ``vm1.disks.sh``
   runs for real with its paths moved under tmp: real ``qemu-img create -f qcow2 -F qcow2 -b``
   makes vm1's root disk an overlay on the base image, and genisoimage builds the NoCloud seed
   ISO (volume cidata) from the rendered seed files;
3. QEMU boots the overlay directly -- TCG, 1 vCPU, 512 MiB, QEMU's default CPU, as the rendered
   ``<domain type='qemu'>`` of hv1 (``virtualization: qemu``) says -- with the seed as a
   read-only virtio disk and vm1's NIC (its inventory MAC) on a QEMU hub with no other port:
   nothing leaves QEMU;
4. from the serial console (ttyS0): SeaBIOS booted extlinux from the disk, cloud-init found
   uniform's seed (``DataSourceNoCloud [seed=/dev/vdb]``: the virtio disk the domain XML
   names), the getty shows the hostname vm1, the NIC got the inventory's name (eth0, by
   ``set-name``) and static address from the seed's network-config, the host key in the
   seed (filled in as delivery does) is the VM's, uniform's user-data passes cloud-init's schema
   and its customer key is authorized, and cloud-init reached its final stage.
   The time from power-on to that point is printed (docs/lab.md).

Needs root, qemu-system-x86_64 and the image build's tools: skipped without them, failed when
UNIFORM_REQUIRE_LAB=1.  QEMU is killed (by its PID) in a finally.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import inventory
import payloads
from harness import image
from payloads import secrets
from payloads.provision import base_image_path
from payloads.roles.hypervisor import IMAGES_DIR, LIBVIRT_DIR
from tests.helpers.lab import unavailable

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.lab]
VM = "vm1"
#: power-on to cloud-init's final message; measured ~90 s on the shared 2-core machine
BOOT_TIMEOUT = 300.0


@pytest.fixture(scope="module")
def base() -> Path:
    if os.geteuid() != 0:
        unavailable("the base image build needs root")
    tools = ("qemu-system-x86_64", "qemu-img", "mmdebstrap", "extlinux", "sfdisk", "mkfs.ext4", "genisoimage")
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        unavailable(f"missing {', '.join(missing)} (tools/debian-packages.txt)")
    return image.ensure_base_image()


def _keygen(path: Path, comment: str) -> str:
    """A fresh ed25519 key pair at ``path``; its public line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path], check=True)
    return path.with_suffix(".pub").read_text().strip()


def _fingerprint(public: str) -> str:
    """cloud-init's fingerprint of an authorized key: sha256 of the key blob, hex pairs."""
    digest = hashlib.sha256(base64.b64decode(public.split()[1])).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _staged_inventory(tmp: Path, base: Path, deploy_key: str) -> inventory.Inventory:
    """A copy of stacks/lab with vm1 staged and a deploy key (the lab harness adds its own the
    same way); the customer names the base image unless it does."""
    root = tmp / "inv" / "lab"
    shutil.copytree(ROOT / "stacks" / "lab", root)
    cust = root / "customer.yaml"
    assert "  authorized_keys: []\n" in cust.read_text()
    cust.write_text(
        cust.read_text().replace("  authorized_keys: []\n", f'  authorized_keys: ["{deploy_key}"]\n')
    )
    vm = root / "machines" / f"{VM}.yaml"
    text = vm.read_text()
    assert "\nstate: active\nhistory: [planned, staged]\n" in text
    vm.write_text(
        text.replace("\nstate: active\nhistory: [planned, staged]\n", "\nstate: staged\nhistory: [planned]\n")
    )
    if inventory.load(root).customer.provisioning.base_image is None:
        with (root / "customer.yaml").open("a") as f:
            f.write(f"provisioning:\n  base_image: {base.name}\n")
    return inventory.load(root)


def _redirect(text: str, tmp: Path, base_on_hv: str) -> str:
    """A rendered hypervisor script with its paths under ``tmp`` (the base image: tmp/base.qcow2)."""
    text = text.replace(base_on_hv, str(tmp / "base.qcow2"))
    return text.replace(LIBVIRT_DIR, str(tmp / "libvirt")).replace(IMAGES_DIR, str(tmp / "images"))


def test_base_image_boots_uniforms_seed(base: Path, tmp_path: Path) -> None:
    deploy = _keygen(tmp_path / "deploy", "uniform-deploy")
    inv = _staged_inventory(tmp_path, base, deploy)
    vm = inv.machines[VM]
    hv = payloads.render_customer(inv)[vm.hypervisor or ""]
    base_on_hv = base_image_path(inv, IMAGES_DIR)
    assert base_on_hv is not None
    (tmp_path / "base.qcow2").symlink_to(base)
    (tmp_path / "images").mkdir()
    seed_dir = tmp_path / "libvirt" / f"{VM}.seed"
    seed_dir.mkdir(parents=True)
    # the seed's host key placeholders filled as delivery fills them (components/delivery.py),
    # with a key made here instead of in Pulumi state
    key = tmp_path / "hostkey"
    private, public = secrets.host_key_names(VM)
    values = {public: _keygen(key, f"{VM}-host"), private: key.read_text()}
    for name in ("meta-data", "user-data", "network-config"):
        content = hv.file(f"{LIBVIRT_DIR}/{VM}.seed/{name}").content
        (seed_dir / name).write_text(secrets.substitute(content, values))
    script = tmp_path / f"{VM}.disks.sh"
    script.write_text(_redirect(hv.file(f"{LIBVIRT_DIR}/{VM}.disks.sh").content, tmp_path, base_on_hv))
    subprocess.run(["sh", "-e", str(script)], check=True, timeout=60)

    # the overlay is what a real hypervisor gets: qcow2 on the base image, the inventory's size
    disk = tmp_path / "images" / f"{VM}-{vm.disks[0].name}.qcow2"
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(disk)], capture_output=True, check=True
        ).stdout
    )
    assert (info["format"], info["backing-filename"]) == ("qcow2", str(tmp_path / "base.qcow2"))
    assert info["virtual-size"] == vm.disks[0].size_gib << 30
    seed = tmp_path / "images" / f"{VM}-seed.iso"
    assert seed.is_file()

    # how the rendered domain runs it: type qemu (hv1's virtualization), the seed's virtio name
    dom = ET.fromstring(hv.file(f"{LIBVIRT_DIR}/{VM}.xml").content)
    assert dom.get("type") == "qemu" and dom.find("cpu") is None
    seed_dev = next(
        d.find("target").get("dev")  # type: ignore[union-attr]
        for d in dom.iter("disk")
        if d.find("readonly") is not None and d.find("source").get("file", "").endswith("-seed.iso")  # type: ignore[union-attr]
    )
    macs = [m.get("address", "") for m in dom.iter("mac")]
    assert macs == [vm.nics[0].mac]

    serial = tmp_path / "serial.log"
    started = time.monotonic()
    proc = image.boot(disk, serial, seed=seed, macs=macs, memory_mib=512)
    try:
        done = image.wait_serial(
            serial,
            r"Cloud-init v\. \S+ finished at .*Datasource (\S+) \[seed=([^]\s]+)\].*Up ([0-9.]+) seconds",
            proc,
            BOOT_TIMEOUT,
        )
        took = time.monotonic() - started
        login = image.wait_serial(serial, r"^(\S+) login:", proc, 60)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    log = serial.read_text(errors="replace")
    assert "SYSLINUX" in log or "EXTLINUX" in log, "not booted by the disk's extlinux"
    assert done.group(1) == "DataSourceNoCloud" and done.group(2) == f"/dev/{seed_dev}"
    assert login.group(1) == VM
    # the real cloud-init in the image takes uniform's user-data whole (its schema check passes)
    # and installs the customer's key for ssh.user (it prints the fingerprints it installed)
    assert "Invalid cloud-config" not in log, "cloud-init found schema errors in uniform's user-data"
    assert _fingerprint(deploy) in log, "the customer's key is not authorized on the VM"
    # the host key uniform hands over in the seed (cloud-init ssh_keys) is the VM's: cloud-init
    # prints the VM's public host keys to the console, and made none of its own
    if secrets.names(hv.file(f"{LIBVIRT_DIR}/{VM}.seed/user-data").content):
        assert values[public].split()[1] in log, "the seed's host key is not the VM's"
        assert "Generating public/private" not in log
    att = vm.nics[0].attachments[0]
    row = (
        rf"\|\s*{vm.nics[0].name}\s*\|\s*True\s*\|\s*{re.escape(att.ipv4 or '')}\s*\|\s*255\.255\.255\.0\s*\|"
    )
    assert re.search(row + rf".*{vm.nics[0].mac}", log), "the seed's network-config was not applied"
    print(
        f"\nbase image {base.name}: cloud-init final {took:.1f} s after QEMU start"
        f" (guest uptime {done.group(3)} s)"
    )
