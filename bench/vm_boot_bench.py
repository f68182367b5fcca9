"""A VM's first boot under TCG, timed and profiled (docs/lab.md "Where a first boot spends its time").

Boots base images the way tests/lab/test_image_boot.py does -- an overlay, uniform's rendered
NoCloud seed of stacks/lab's vm1 (staged; its host key filled in as delivery fills it), QEMU
TCG, 1 vCPU, 512 MiB, the NIC on a QEMU hub with no other port -- with one line added to the
seed's user-data: a ``runcmd`` that prints ``systemd-analyze time``/``critical-chain``/``blame``
and ``cloud-init analyze show``/``blame`` on the serial console once systemd reports the boot
finished.  Several images are booted in turn, ``--runs`` times (alternating, so that the
machine's changing load falls on all of them alike); printed per boot: QEMU start to
cloud-init's final message, the guest's uptime then, the load average; with ``--profile``
also the analysis of the last boot of each image.

    sudo .venv/bin/python -m bench.vm_boot_bench [--runs N] [--profile] [IMAGE ...]

Without IMAGE: the image of the current recipe (built first if not cached).  Needs root,
QEMU, genisoimage; the seed is rendered from this checkout (payloads).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import inventory
import payloads
from harness import image
from payloads import secrets
from payloads.roles.hypervisor import LIBVIRT_DIR

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
VM = "vm1"
PROFILE = (
    "runcmd:\n"
    "  - [sh, -c, '(while ! systemd-analyze time >/dev/null 2>&1; do sleep 1; done;"
    ' echo "=== PROFILE"; systemd-analyze time; systemd-analyze critical-chain --no-pager;'
    " systemd-analyze blame --no-pager | head -20; cloud-init analyze show; cloud-init analyze blame"
    ' | head -20; echo "=== END PROFILE") >/dev/ttyS0 2>&1 &\']\n'
)


def _seed(work: Path) -> tuple[Path, str]:
    """vm1's seed ISO (stacks/lab, vm1 staged) with the profiling runcmd; vm1's MAC."""
    root = work / "inv" / "lab"
    shutil.copytree(ROOT / "stacks" / "lab", root)
    vm_file = root / "machines" / f"{VM}.yaml"
    vm_file.write_text(
        vm_file.read_text().replace(
            "\nstate: active\nhistory: [planned, staged]\n", "\nstate: staged\nhistory: [planned]\n"
        )
    )
    inv = inventory.load(root)
    hv = payloads.render_customer(inv)[inv.machines[VM].hypervisor or ""]
    key = work / "hostkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    private, public = secrets.host_key_names(VM)
    values = {private: key.read_text(), public: key.with_suffix(".pub").read_text().strip()}
    seed = work / "seed"
    seed.mkdir()
    for name in ("meta-data", "user-data", "network-config"):
        text = secrets.substitute(hv.file(f"{LIBVIRT_DIR}/{VM}.seed/{name}").content, values)
        (seed / name).write_text(text + (PROFILE if name == "user-data" else ""))
    iso = work / "seed.iso"
    files = [str(seed / n) for n in ("meta-data", "user-data", "network-config")]
    subprocess.run(
        ["genisoimage", "-quiet", "-output", iso, "-volid", "cidata", "-joliet", "-rock", *files], check=True
    )
    return iso, inv.machines[VM].nics[0].mac


def _boot(base: Path, iso: Path, mac: str, work: Path, profile: bool) -> tuple[float, float, str]:
    disk = work / "disk.qcow2"
    disk.unlink(missing_ok=True)
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, disk, "10G"], check=True
    )
    serial = work / "serial.log"
    serial.unlink(missing_ok=True)
    started = time.monotonic()
    proc = image.boot(disk, serial, seed=iso, macs=[mac])
    try:
        done = image.wait_serial(serial, r"Cloud-init v\. \S+ finished at .*Up ([0-9.]+) seconds", proc, 400)
        took = time.monotonic() - started
        if profile:
            image.wait_serial(serial, r"=== END PROFILE", proc, 120)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    text = serial.read_text(errors="replace").replace("\r", "")
    prof = text.split("=== PROFILE", 1)[-1].split("=== END PROFILE", 1)[0] if profile else ""
    return took, float(done.group(1)), re.sub(r"\x1b\[[0-9;]*m", "", prof)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.vm_boot_bench", description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="*", type=Path, help="base images (qcow2); default: the current recipe's")
    ap.add_argument("--runs", type=int, default=1, help="boots per image, alternating (default 1)")
    ap.add_argument("--profile", action="store_true", help="print systemd-analyze and cloud-init analyze")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.vm_boot_bench: needs root (QEMU, the image build)", file=sys.stderr)
        return 2
    images = args.images or [image.ensure_base_image()]
    with tempfile.TemporaryDirectory(prefix="vmboot-") as tmp:
        work = Path(tmp)
        iso, mac = _seed(work)
        last: dict[Path, str] = {}
        for run in range(1, args.runs + 1):
            for img in images:
                load = os.getloadavg()[0]
                took, uptime, prof = _boot(img.resolve(), iso, mac, work, args.profile)
                print(f"run {run} {img.name}: cloud-init final {took:.1f} s after QEMU start"
                      f" (guest uptime {uptime:.1f} s), load {load:.1f}", flush=True)  # fmt: skip
                last[img] = prof
        for img, prof in last.items():
            if prof:
                print(f"\n--- {img.name} (last boot)\n{prof.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
